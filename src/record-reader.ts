// Decoding a record into the frozen value the store hands out, in ONE walk, built to be small
// in memory: a decoded flow is kept for as long as the store is open, and a million of them
// decoded by msgpackr measured 3.2x their JSON text (slices of shared strings, objects grown
// key by key with room to spare). Here:
//   - every string is flat (its own characters), and short strings (keys above all) are
//     shared through a small cache of recent ones, found by their bytes (as msgpackr finds
//     keys), so equal strings decoded often are one string in memory;
//   - an object is built by a constructor made once per set of keys (its prototype is
//     Object.prototype, so the object is a plain object), so V8 sizes it to its keys;
//   - values are checked against the domain and frozen on the way (Dates read-only).
//
// It reads what the record writer (and msgpackr, with the store's options) writes. Anything
// else, such as damaged or foreign bytes, an extension it does not know, a value outside the
// domain, makes it give up (FALLBACK): the codec then decodes with msgpackr and freezeDecoded,
// which say what is wrong exactly as before.

import { isUtf8 } from 'node:buffer'
import { MAX_DEPTH } from './domain.ts'
import { freezeDate } from './readonly-date.ts'

/** Returned when the reader gives up (see above). */
export const FALLBACK = Symbol('decode with msgpackr')

const GIVE_UP = Symbol('give up')

/** Strings this long or shorter (in bytes) are looked up in the cache of recent strings. */
const SHARED_STRING_BYTES = 24
/**
 * Slots of the cache of recent strings, found by a hash of their bytes (a string's bytes are
 * compared, no string is made, on a hit); a string that hashes to a taken slot replaces it.
 */
const SHARED_SLOTS = 4096
/** Object shapes (sets of keys) given a constructor of their own; more are built as {}. */
const MAX_SHAPES = 4096

interface Shape {
  readonly next: Map<string, Shape>
  make: (new () => Record<string, unknown>) | undefined
}

export interface ReadRecord {
  readonly value: object
  /** The value holds Uint8Arrays (which cannot be frozen). */
  readonly hasBinary: boolean
}

export class RecordReader {
  #src: Uint8Array = new Uint8Array(0)
  #view: DataView = new DataView(new ArrayBuffer(0))
  #buffer: Buffer = Buffer.alloc(0)
  #position = 0
  #end = 0
  #hasBinary = false
  #id = ''
  readonly #sharedStrings: Array<string | undefined> = new Array<string | undefined>(SHARED_SLOTS)
  /** Byte length + 1 of each slot's string (0: empty), and its bytes, SHARED_STRING_BYTES apart. */
  readonly #sharedLengths = new Uint8Array(SHARED_SLOTS)
  readonly #sharedBytes = new Uint8Array(SHARED_SLOTS * SHARED_STRING_BYTES)
  readonly #shapes: Shape = { next: new Map(), make: undefined }
  #shapeCount = 0
  // Keys and values of the objects being read (a stack shared by every level, #top deep).
  readonly #keys: string[] = []
  readonly #values: unknown[] = []
  #top = 0

  /**
   * The frozen value of msgpack `body` (a record without its header), or FALLBACK. `id`: the
   * flow's id, whose string the value's `id` then shares.
   */
  read (body: Uint8Array, id: string): ReadRecord | typeof FALLBACK {
    this.#src = body
    this.#view = new DataView(body.buffer, body.byteOffset, body.byteLength)
    this.#buffer = Buffer.from(body.buffer, body.byteOffset, body.byteLength)
    this.#position = 0
    this.#end = body.length
    this.#hasBinary = false
    this.#id = id
    this.#top = 0
    try {
      const value = this.#value(0)
      if (this.#position !== this.#end || typeof value !== 'object' || value === null || Array.isArray(value)) return FALLBACK
      return { value, hasBinary: this.#hasBinary }
    } catch (err) {
      if (err === GIVE_UP || err instanceof RangeError) return FALLBACK
      throw err
    } finally {
      // Let go of what this record's objects held.
      this.#values.fill(undefined)
      this.#src = new Uint8Array(0)
      this.#buffer = Buffer.alloc(0)
    }
  }

  #need (bytes: number): void {
    if (this.#position + bytes > this.#end) throw GIVE_UP
  }

  #value (depth: number): unknown {
    this.#need(1)
    const token = this.#src[this.#position++]!
    if (token < 0x80) return token
    if (token < 0x90) return this.#map(token - 0x80, depth)
    if (token < 0xa0) return this.#array(token - 0x90, depth)
    if (token < 0xc0) return this.#string(token - 0xa0)
    if (token >= 0xe0) return token - 0x100
    const view = this.#view
    let at = this.#position
    switch (token) {
      case 0xc0: return null
      case 0xc2: return false
      case 0xc3: return true
      case 0xc4: this.#need(1); this.#position = at + 1; return this.#binary(this.#src[at]!)
      case 0xc5: this.#need(2); this.#position = at + 2; return this.#binary(view.getUint16(at))
      case 0xc6: this.#need(4); this.#position = at + 4; return this.#binary(view.getUint32(at))
      case 0xc7: return this.#ext8()
      case 0xca: {
        this.#need(4)
        this.#position = at + 4
        const value = view.getFloat32(at)
        if (value === 0 && 1 / value < 0) throw GIVE_UP // -0: a store never writes it
        return value
      }
      case 0xcb: {
        this.#need(8)
        this.#position = at + 8
        const value = view.getFloat64(at)
        if (value === 0 && 1 / value < 0) throw GIVE_UP // -0: a store never writes it
        return value
      }
      case 0xcc: this.#need(1); return this.#src[this.#position++]
      case 0xcd: this.#need(2); this.#position = at + 2; return view.getUint16(at)
      case 0xce: this.#need(4); this.#position = at + 4; return view.getUint32(at)
      case 0xd0: this.#need(1); this.#position = at + 1; return view.getInt8(at)
      case 0xd1: this.#need(2); this.#position = at + 2; return view.getInt16(at)
      case 0xd2: this.#need(4); this.#position = at + 4; return view.getInt32(at)
      case 0xd4: {
        this.#need(2)
        const type = this.#src[at]
        const data = this.#src[at + 1]
        this.#position = at + 2
        if (type === 0) return undefined
        if (type === 0xff && data === 0xff) return this.#date(new Date('invalid'))
        throw GIVE_UP
      }
      case 0xd6: {
        this.#need(5)
        if (this.#src[at] !== 0xff) throw GIVE_UP
        at++
        this.#position = at + 4
        return this.#date(new Date(view.getUint32(at) * 1000))
      }
      case 0xd7: {
        this.#need(9)
        if (this.#src[at] !== 0xff) throw GIVE_UP
        const d = this.#src
        at++
        this.#position = at + 8
        // As msgpackr reads it (unpack.js, extension 0xff).
        return this.#date(new Date(
          ((d[at]! << 22) + (d[at + 1]! << 14) + (d[at + 2]! << 6) + (d[at + 3]! >> 2)) / 1000000 +
          ((d[at + 3]! & 0x3) * 0x100000000 + d[at + 4]! * 0x1000000 + (d[at + 5]! << 16) + (d[at + 6]! << 8) + d[at + 7]!) * 1000))
      }
      case 0xd9: this.#need(1); this.#position = at + 1; return this.#string(this.#src[at]!)
      case 0xda: this.#need(2); this.#position = at + 2; return this.#string(view.getUint16(at))
      case 0xdb: this.#need(4); this.#position = at + 4; return this.#string(view.getUint32(at))
      case 0xdc: this.#need(2); this.#position = at + 2; return this.#array(view.getUint16(at), depth)
      case 0xdd: this.#need(4); this.#position = at + 4; return this.#array(view.getUint32(at), depth)
      case 0xde: this.#need(2); this.#position = at + 2; return this.#map(view.getUint16(at), depth)
      case 0xdf: this.#need(4); this.#position = at + 4; return this.#map(view.getUint32(at), depth)
      default: throw GIVE_UP
    }
  }

  /** ext 8: only the 96-bit timestamp (12 bytes, type -1). */
  #ext8 (): Date {
    this.#need(14)
    const d = this.#src
    const at = this.#position
    if (d[at] !== 12 || d[at + 1] !== 0xff) throw GIVE_UP
    const p = at + 2
    this.#position = p + 12
    // As msgpackr reads it (unpack.js, extension 0xff).
    return this.#date(new Date(
      ((d[p]! << 24) + (d[p + 1]! << 16) + (d[p + 2]! << 8) + d[p + 3]!) / 1000000 +
      (((d[p + 4]! & 0x80) ? -0x1000000000000 : 0) + d[p + 6]! * 0x10000000000 + d[p + 7]! * 0x100000000 + d[p + 8]! * 0x1000000 + (d[p + 9]! << 16) + (d[p + 10]! << 8) + d[p + 11]!) * 1000))
  }

  #date (date: Date): Date {
    freezeDate(date)
    return date
  }

  #binary (length: number): Uint8Array {
    this.#need(length)
    const at = this.#position
    this.#position = at + length
    this.#hasBinary = true
    return this.#src.slice(at, at + length)
  }

  #string (length: number): string {
    this.#need(length)
    const at = this.#position
    const end = at + length
    this.#position = end
    const src = this.#src
    let slot = -1
    if (length <= SHARED_STRING_BYTES) {
      if (length === 0) return ''
      let hash = length
      for (let i = at; i < end; i++) hash = (Math.imul(hash, 31) + src[i]!) | 0
      slot = (hash ^ (hash >>> 12)) & (SHARED_SLOTS - 1)
      if (this.#sharedLengths[slot] === length + 1) {
        const bytes = this.#sharedBytes
        let i = 0
        const base = slot * SHARED_STRING_BYTES
        while (i < length && bytes[base + i] === src[at + i]) i++
        if (i === length) return this.#sharedStrings[slot]!
      }
    }
    let string: string | undefined
    if (length <= 12) {
      // Short ASCII strings without a call into the Buffer machinery.
      let ascii = true
      for (let i = at; i < end; i++) if (src[i]! >= 0x80) { ascii = false; break }
      if (ascii) {
        switch (length) {
          case 1: string = String.fromCharCode(src[at]!); break
          case 2: string = String.fromCharCode(src[at]!, src[at + 1]!); break
          case 3: string = String.fromCharCode(src[at]!, src[at + 1]!, src[at + 2]!); break
          case 4: string = String.fromCharCode(src[at]!, src[at + 1]!, src[at + 2]!, src[at + 3]!); break
          default: string = String.fromCharCode.apply(null, src.subarray(at, end) as unknown as number[])
        }
      }
    }
    if (string === undefined) {
      // Invalid UTF-8 would decode to U+FFFD silently: the hardened path refuses it.
      if (!isUtf8(src.subarray(at, end))) throw GIVE_UP
      string = this.#buffer.toString('utf8', at, end)
    }
    if (slot >= 0) {
      this.#sharedLengths[slot] = length + 1
      this.#sharedBytes.set(src.subarray(at, end), slot * SHARED_STRING_BYTES)
      this.#sharedStrings[slot] = string
    }
    return string
  }

  #array (length: number, depth: number): unknown[] {
    if (depth >= MAX_DEPTH) throw GIVE_UP
    // Each item takes at least one byte: a damaged length cannot allocate much.
    this.#need(length)
    const array = new Array<unknown>(length)
    for (let i = 0; i < length; i++) array[i] = this.#value(depth + 1)
    return Object.freeze(array) as unknown[]
  }

  #map (size: number, depth: number): object {
    if (depth >= MAX_DEPTH) throw GIVE_UP
    this.#need(size * 2)
    const keys = this.#keys
    const values = this.#values
    const base = this.#top
    let shape: Shape | undefined = this.#shapes
    for (let i = 0; i < size; i++) {
      this.#need(1)
      const token = this.#src[this.#position++]!
      let key: string
      if (token >= 0xa0 && token < 0xc0) key = this.#string(token - 0xa0)
      else if (token === 0xd9) { this.#need(1); key = this.#string(this.#src[this.#position++]!) }
      else if (token === 0xda) { this.#need(2); const length = this.#view.getUint16(this.#position); this.#position += 2; key = this.#string(length) }
      else throw GIVE_UP // a key that is not a string: a store never writes one
      if (key === '__proto__') throw GIVE_UP
      let value = this.#value(depth + 1)
      // The flow's own id shares the cache key's string.
      if (depth === 0 && key === 'id' && value === this.#id) value = this.#id
      keys[this.#top] = key
      values[this.#top++] = value
      if (shape !== undefined) {
        let next: Shape | undefined = shape.next.get(key)
        if (next === undefined && this.#shapeCount < MAX_SHAPES) {
          next = { next: new Map(), make: undefined }
          shape.next.set(key, next)
          this.#shapeCount++
        }
        shape = next
      }
    }
    let object: Record<string, unknown>
    if (shape !== undefined && size > 0) {
      // A key set is checked for a repeated key once, when its constructor is made: a set
      // that repeats one never gets a constructor, so it is checked (and refused) each time.
      if (shape.make === undefined) {
        if (repeatsKey(keys, base, size)) throw GIVE_UP
        shape.make = plainConstructor()
      }
      object = new shape.make()
    } else {
      object = {}
    }
    for (let i = base; i < base + size; i++) object[keys[i]!] = values[i]
    // A repeated key would keep only its last value (msgpackr does the same): the hardened
    // path refuses it.
    if (shape === undefined && Object.keys(object).length !== size) throw GIVE_UP
    this.#top = base
    return Object.freeze(object)
  }
}

function repeatsKey (keys: readonly string[], base: number, size: number): boolean {
  return new Set(keys.slice(base, base + size)).size !== size
}

/**
 * A constructor of plain objects (prototype Object.prototype): V8 sizes the objects one
 * constructor makes to the properties they get (in-object slack tracking), where objects made
 * by {} keep room for four and grow in steps.
 */
function plainConstructor (): new () => Record<string, unknown> {
  const Plain = function (this: Record<string, unknown>) {} as unknown as new () => Record<string, unknown>
  Plain.prototype = Object.prototype
  return Plain
}
