// Encoding a flow into a record in ONE walk: the value domain (domain.ts) is checked while the
// msgpack bytes are written, right after the record header, into a buffer kept between calls;
// the record is then copied out at its exact size. Before, a save walked the flow twice (the
// domain check, then msgpackr's pack) and copied msgpackr's output behind a header.
//
// The bytes are the ones msgpackr writes for the same value with the store's options
// (useRecords: false, mapsAsObjects: true), byte for byte (test/record-writer.test.ts checks
// this on generated values): plain objects as map16, integers in their smallest form, other
// numbers as float64, Dates as msgpack timestamps, Uint8Arrays as bin, undefined as fixext1
// 0/0. So every reader of msgpackr reads them, and records written before read the same.
//
// A value outside the domain stops the walk: encode() returns undefined, and the codec runs
// the domain check (checkValue) to say where and why.

import { isDate, MAX_DEPTH } from './domain.ts'
import { HEADER_BYTES, RECORD_FORMAT } from './layout.ts'

/** Thrown inside the walk when a value is outside the domain (never escapes this file). */
const OUTSIDE = Symbol('outside the value domain')
const TOO_LARGE = Symbol('an object with more than 65535 keys')

const INITIAL_BYTES = 64 * 1024
const hasOwn = Object.prototype.hasOwnProperty

export class RecordWriter {
  #target: Buffer = Buffer.allocUnsafe(INITIAL_BYTES)
  #view = new DataView(this.#target.buffer, this.#target.byteOffset, this.#target.byteLength)
  #position = 0
  readonly #ancestors: object[] = []
  #busy = false

  /**
   * The record of `flow` (header with version 0, then msgpack), or undefined when a value is
   * outside the domain; throws a RangeError for an object with more than 65,535 keys.
   * `scratch`: the record is a view of this writer's buffer, valid until its next call (the
   * caller copies it, into a slab); otherwise an array of its own.
   */
  encode (flow: object, scratch = false): Uint8Array | undefined {
    // A getter in the flow may save another flow: that nested call gets a writer of its own.
    if (this.#busy) return new RecordWriter().encode(flow)
    this.#busy = true
    try {
      this.#position = HEADER_BYTES
      this.#value(flow, 0)
      if (scratch) {
        const view = this.#target.subarray(0, this.#position)
        view.fill(0, 0, HEADER_BYTES)
        view[0] = RECORD_FORMAT
        return view
      }
      const record = new Uint8Array(this.#position)
      record.set(this.#target.subarray(HEADER_BYTES, this.#position), HEADER_BYTES)
      // The version bytes stay 0 (a new array is zeroed): the commit stamps them.
      record[0] = RECORD_FORMAT
      return record
    } catch (err) {
      if (err === OUTSIDE) return undefined
      if (err === TOO_LARGE) throw new RangeError('an object has more than 65535 keys, which a record cannot hold')
      throw err
    } finally {
      this.#ancestors.length = 0
      this.#busy = false
      // Do not keep a buffer grown for one huge flow.
      if (this.#target.length > 16 * INITIAL_BYTES) this.#resize(INITIAL_BYTES)
    }
  }

  #value (value: unknown, depth: number): void {
    switch (typeof value) {
      case 'string': return this.#string(value)
      case 'number': return this.#number(value)
      case 'boolean':
        this.#room(1)
        this.#target[this.#position++] = value ? 0xc3 : 0xc2
        return
      case 'undefined':
        this.#room(3)
        this.#target[this.#position++] = 0xd4
        this.#target[this.#position++] = 0
        this.#target[this.#position++] = 0
        return
      case 'object':
        if (value === null) {
          this.#room(1)
          this.#target[this.#position++] = 0xc0
          return
        }
        return this.#object(value, depth)
      default:
        throw OUTSIDE
    }
  }

  #number (value: number): void {
    this.#room(9)
    const target = this.#target
    if (value >>> 0 === value) {
      if (value === 0 && 1 / value < 0) throw OUTSIDE // -0 would come back as 0
      if (value < 0x80) {
        target[this.#position++] = value
      } else if (value < 0x100) {
        target[this.#position++] = 0xcc
        target[this.#position++] = value
      } else if (value < 0x10000) {
        target[this.#position++] = 0xcd
        target[this.#position++] = value >> 8
        target[this.#position++] = value & 0xff
      } else {
        target[this.#position++] = 0xce
        this.#view.setUint32(this.#position, value)
        this.#position += 4
      }
    } else if (value >> 0 === value) {
      if (value >= -0x20) {
        target[this.#position++] = 0x100 + value
      } else if (value >= -0x80) {
        target[this.#position++] = 0xd0
        target[this.#position++] = value + 0x100
      } else if (value >= -0x8000) {
        target[this.#position++] = 0xd1
        this.#view.setInt16(this.#position, value)
        this.#position += 2
      } else {
        target[this.#position++] = 0xd2
        this.#view.setInt32(this.#position, value)
        this.#position += 4
      }
    } else {
      target[this.#position++] = 0xcb
      this.#view.setFloat64(this.#position, value)
      this.#position += 8
    }
  }

  #string (value: string): void {
    const length = value.length
    const headerSize = length < 0x20 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5
    // + 4: the header may grow by 2 once the UTF-8 length is known.
    this.#room(headerSize + length * 3 + 4)
    const target = this.#target
    const start = this.#position
    let at = start + headerSize
    if (length < 0x40) {
      for (let i = 0; i < length; i++) {
        let c1 = value.charCodeAt(i)
        if (c1 < 0x80) {
          target[at++] = c1
        } else if (c1 < 0x800) {
          target[at++] = c1 >> 6 | 0xc0
          target[at++] = c1 & 0x3f | 0x80
        } else if ((c1 & 0xf800) === 0xd800) {
          const c2 = value.charCodeAt(i + 1)
          // A lone surrogate would come back as U+FFFD: outside the domain.
          if ((c1 & 0xfc00) !== 0xd800 || (c2 & 0xfc00) !== 0xdc00) throw OUTSIDE
          c1 = 0x10000 + ((c1 & 0x03ff) << 10) + (c2 & 0x03ff)
          i++
          target[at++] = c1 >> 18 | 0xf0
          target[at++] = c1 >> 12 & 0x3f | 0x80
          target[at++] = c1 >> 6 & 0x3f | 0x80
          target[at++] = c1 & 0x3f | 0x80
        } else {
          target[at++] = c1 >> 12 | 0xe0
          target[at++] = c1 >> 6 & 0x3f | 0x80
          target[at++] = c1 & 0x3f | 0x80
        }
      }
    } else {
      if (!value.isWellFormed()) throw OUTSIDE
      at += target.write(value, at, 'utf8')
    }
    const bytes = at - start - headerSize
    if (bytes < 0x20) {
      target[start] = 0xa0 | bytes
      this.#position = start + 1 + bytes
    } else if (bytes < 0x100) {
      if (headerSize < 2) target.copyWithin(start + 2, start + 1, start + 1 + bytes)
      target[start] = 0xd9
      target[start + 1] = bytes
      this.#position = start + 2 + bytes
    } else if (bytes < 0x10000) {
      if (headerSize < 3) target.copyWithin(start + 3, start + headerSize, start + headerSize + bytes)
      target[start] = 0xda
      target[start + 1] = bytes >> 8
      target[start + 2] = bytes & 0xff
      this.#position = start + 3 + bytes
    } else {
      if (headerSize < 5) target.copyWithin(start + 5, start + headerSize, start + headerSize + bytes)
      target[start] = 0xdb
      this.#view.setUint32(start + 1, bytes)
      this.#position = start + 5 + bytes
    }
  }

  #object (value: object, depth: number): void {
    const proto = Object.getPrototypeOf(value)
    if (proto === Uint8Array.prototype) return this.#binary(value as Uint8Array)
    if (isDate(value, proto)) return this.#date(value as Date)
    if (depth >= MAX_DEPTH) throw OUTSIDE
    const ancestors = this.#ancestors
    for (let i = 0; i < depth; i++) if (ancestors[i] === value) throw OUTSIDE
    ancestors[depth] = value
    if (proto === Array.prototype) {
      const array = value as unknown[]
      const length = array.length
      this.#room(5)
      const target = this.#target
      if (length < 0x10) {
        target[this.#position++] = 0x90 | length
      } else if (length < 0x10000) {
        target[this.#position++] = 0xdc
        target[this.#position++] = length >> 8
        target[this.#position++] = length & 0xff
      } else {
        target[this.#position++] = 0xdd
        this.#view.setUint32(this.#position, length)
        this.#position += 4
      }
      for (let i = 0; i < length; i++) {
        const item = array[i]
        if (item === undefined && !(i in array)) throw OUTSIDE // a hole
        this.#value(item, depth + 1)
      }
      return
    }
    if (proto !== Object.prototype || Object.getOwnPropertySymbols(value).length !== 0) throw OUTSIDE
    // As msgpackr: map16 always, its size written once the keys are counted.
    this.#room(3)
    const sizeAt = this.#position + 1
    this.#target[this.#position] = 0xde
    this.#position += 3
    let size = 0
    const record = value as Record<string, unknown>
    for (const key in record) {
      if (!hasOwn.call(record, key)) continue
      if (key === '__proto__') throw OUTSIDE
      this.#string(key)
      this.#value(record[key], depth + 1)
      size++
    }
    if (size > 0xffff) throw TOO_LARGE
    this.#target[sizeAt] = size >> 8
    this.#target[sizeAt + 1] = size & 0xff
  }

  #binary (bytes: Uint8Array): void {
    const length = bytes.byteLength
    this.#room(length + 5)
    const target = this.#target
    if (length < 0x100) {
      target[this.#position++] = 0xc4
      target[this.#position++] = length
    } else if (length < 0x10000) {
      target[this.#position++] = 0xc5
      target[this.#position++] = length >> 8
      target[this.#position++] = length & 0xff
    } else {
      target[this.#position++] = 0xc6
      this.#view.setUint32(this.#position, length)
      this.#position += 4
    }
    target.set(bytes, this.#position)
    this.#position += length
  }

  /** A msgpack timestamp, as msgpackr writes it (32, 64 or 96 bits; an invalid Date as d4 ff ff). */
  #date (date: Date): void {
    this.#room(15)
    const target = this.#target
    const view = this.#view
    const time = date.getTime()
    const seconds = time / 1000
    const milliseconds = date.getMilliseconds()
    if (milliseconds === 0 && seconds >= 0 && seconds < 0x100000000) {
      target[this.#position++] = 0xd6
      target[this.#position++] = 0xff
      view.setUint32(this.#position, seconds)
      this.#position += 4
    } else if (seconds > 0 && seconds < 0x400000000) {
      target[this.#position++] = 0xd7
      target[this.#position++] = 0xff
      view.setUint32(this.#position, milliseconds * 4000000 + ((seconds / 0x100000000) >> 0))
      view.setUint32(this.#position + 4, seconds)
      this.#position += 8
    } else if (Number.isNaN(seconds)) {
      target[this.#position++] = 0xd4
      target[this.#position++] = 0xff
      target[this.#position++] = 0xff
    } else {
      target[this.#position++] = 0xc7
      target[this.#position++] = 12
      target[this.#position++] = 0xff
      view.setUint32(this.#position, milliseconds * 1000000)
      view.setBigInt64(this.#position + 4, BigInt(Math.floor(seconds)))
      this.#position += 12
    }
  }

  /** Makes room for `bytes` more bytes after the current position. */
  #room (bytes: number): void {
    const needed = this.#position + bytes
    if (needed > this.#target.length) this.#resize(Math.max(needed, this.#target.length * 2))
  }

  #resize (size: number): void {
    const next = Buffer.allocUnsafe(size)
    next.set(this.#target.subarray(0, Math.min(this.#position, size)))
    this.#target = next
    this.#view = new DataView(next.buffer, next.byteOffset, next.byteLength)
  }
}
