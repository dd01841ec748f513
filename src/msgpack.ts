// The msgpack flowstore reads: exactly the subset it writes, and nothing of msgpackr's extras.
//
// msgpackr decodes more than plain msgpack, whatever its options say: structured-clone
// references (ext 0x69/0x70, which let ~540 bytes describe a value of 2^40 nodes), record
// definitions (ext 0x72), string bundles (0x62), Set, Error, RegExp, typed arrays, BigInt, the
// reserved byte 0xc1. Its extension table is module-wide, so it cannot be narrowed per decoder
// without changing msgpackr for the whole process. Instead:
//
//  - every decoder flowstore makes turns off what its options can (structuredClone: false
//    makes ext 0x69/0x70 throw; no records, no int64 BigInts on the stored-value path);
//  - a stored value is scanned before msgpackr sees it (scanStoredValue): one linear pass that
//    accepts only what a store writes and bounds the decode work by the byte count;
//  - a socket message is checked after decoding (WireDecoder) for record definitions and any
//    type the protocol never sends, and refused as a protocol error.
//
// What a store writes (msgpackr with useRecords: false): nil, booleans, integers up to 32 bits,
// float64 (and float32 from other writers: it decodes exactly), strings of valid UTF-8, bin,
// arrays, maps with string keys, undefined (fixext 1 of type 0) and Date (ext type -1 with 1,
// 4, 8 or 12 bytes of data).

import { isUtf8 } from 'node:buffer'
import type { Options } from 'msgpackr'
import { UnpackrStream } from 'msgpackr'
import { MAX_DEPTH } from './domain.ts'

/**
 * Options for a msgpackr Packr/Unpackr that decodes flows: plain maps as objects, no records,
 * no structured-clone references, binaries copied out of the source (so that a decoded
 * Uint8Array never aliases a cached record). A fresh object each time (msgpackr keeps it).
 */
export function flowDecoderOptions (): Options {
  return { useRecords: false, mapsAsObjects: true, copyBuffers: true, structuredClone: false }
}

/** Foreign msgpack: bytes a store never writes. `offset` is where in the value it is. */
export class ForeignMsgpack extends Error {
  constructor (readonly offset: number, what: string) {
    super(`at byte ${offset}, ${what}`)
  }
}

const EXT_UNDEFINED = 0x00
const EXT_TIMESTAMP = 0xff
const PROTO_KEY = Buffer.from('__proto__')

/** What msgpackr would build from the extension types it knows (for messages). */
const EXTENSION_NAMES: Readonly<Record<number, string>> = {
  0x42: 'a BigInt',
  0x62: 'a string bundle',
  0x65: 'an Error',
  0x69: 'a structured-clone reference target',
  0x70: 'a structured-clone reference',
  0x72: 'a record definition',
  0x73: 'a Set',
  0x74: 'a typed array',
  0x78: 'a RegExp'
}

function extensionName (type: number): string {
  return `msgpack extension type 0x${type.toString(16).padStart(2, '0')} (${EXTENSION_NAMES[type] ?? 'unknown'})`
}

/**
 * Checks that `bytes` hold exactly one msgpack value of the kind a store writes (see the
 * header) and returns how many values it holds (the top one, every array element and every
 * map value; keys not counted). Every value takes at least one byte, so the count is at most
 * bytes.length: a decoder that builds a tree from these bytes does work linear in their size.
 * Throws ForeignMsgpack otherwise: an extension a store never writes, a map key that is not a
 * string or is "__proto__", a string that is not valid UTF-8, a 64-bit integer, nesting deeper
 * than MAX_DEPTH, a value cut short, or bytes after the value.
 */
export function scanStoredValue (bytes: Uint8Array): number {
  const scanner = new Scanner(bytes)
  scanner.value(0)
  if (scanner.position !== bytes.length) throw new ForeignMsgpack(scanner.position, `${bytes.length - scanner.position} byte(s) after the value`)
  return scanner.values
}

class Scanner {
  position = 0
  values = 0
  readonly #bytes: Uint8Array

  constructor (bytes: Uint8Array) {
    this.#bytes = bytes
  }

  value (depth: number): void {
    this.values++
    const at = this.position
    const token = this.#byte()
    if (token < 0x80 || token >= 0xe0) return // fixint
    if (token < 0x90) return this.#map(token & 0x0f, depth, at)
    if (token < 0xa0) return this.#array(token & 0x0f, depth, at)
    if (token < 0xc0) return this.#string(token & 0x1f, false)
    switch (token) {
      case 0xc0: case 0xc2: case 0xc3: return
      case 0xc4: return this.#skip(this.#uint(1))
      case 0xc5: return this.#skip(this.#uint(2))
      case 0xc6: return this.#skip(this.#uint(4))
      case 0xc7: return this.#extension(this.#uint(1), at)
      case 0xc8: return this.#extension(this.#uint(2), at)
      case 0xc9: return this.#extension(this.#uint(4), at)
      case 0xca: case 0xce: case 0xd2: return this.#skip(4)
      case 0xcb: return this.#skip(8)
      case 0xcc: case 0xd0: return this.#skip(1)
      case 0xcd: case 0xd1: return this.#skip(2)
      case 0xd4: return this.#extension(1, at)
      case 0xd5: return this.#extension(2, at)
      case 0xd6: return this.#extension(4, at)
      case 0xd7: return this.#extension(8, at)
      case 0xd8: return this.#extension(16, at)
      case 0xd9: return this.#string(this.#uint(1), false)
      case 0xda: return this.#string(this.#uint(2), false)
      case 0xdb: return this.#string(this.#uint(4), false)
      case 0xdc: return this.#array(this.#uint(2), depth, at)
      case 0xdd: return this.#array(this.#uint(4), depth, at)
      case 0xde: return this.#map(this.#uint(2), depth, at)
      case 0xdf: return this.#map(this.#uint(4), depth, at)
      case 0xcf: case 0xd3:
        // A store writes integers beyond 32 bits as float64; msgpackr reads these as BigInt.
        throw new ForeignMsgpack(at, 'a 64-bit integer, which a store never writes')
      default:
        throw new ForeignMsgpack(at, `the byte 0x${token.toString(16)}, which a store never writes`)
    }
  }

  #array (length: number, depth: number, at: number): void {
    if (depth >= MAX_DEPTH) throw new ForeignMsgpack(at, `values nest deeper than ${MAX_DEPTH} levels`)
    if (length > this.#bytes.length - this.position) this.#cutShort(at)
    for (let i = 0; i < length; i++) this.value(depth + 1)
  }

  #map (length: number, depth: number, at: number): void {
    if (depth >= MAX_DEPTH) throw new ForeignMsgpack(at, `values nest deeper than ${MAX_DEPTH} levels`)
    if (length > (this.#bytes.length - this.position) / 2) this.#cutShort(at)
    for (let i = 0; i < length; i++) {
      this.#key()
      this.value(depth + 1)
    }
  }

  #key (): void {
    const at = this.position
    const token = this.#byte()
    if (token >= 0xa0 && token < 0xc0) this.#string(token & 0x1f, true)
    else if (token === 0xd9) this.#string(this.#uint(1), true)
    else if (token === 0xda) this.#string(this.#uint(2), true)
    else if (token === 0xdb) this.#string(this.#uint(4), true)
    // msgpackr would turn a number, boolean or nil key into a string: a different key.
    else throw new ForeignMsgpack(at, 'a map key that is not a string, which a store never writes')
  }

  #string (length: number, isKey: boolean): void {
    const bytes = this.#bytes
    const start = this.position
    const end = start + length
    if (end > bytes.length) this.#cutShort(start)
    // Most strings are ASCII: one pass without branches tells, before the native check.
    let high = 0
    for (let i = start; i < end; i++) high |= bytes[i]!
    // msgpackr replaces invalid UTF-8 with U+FFFD: a different string, silently.
    if (high >= 0x80 && !isUtf8(bytes.subarray(start, end))) throw new ForeignMsgpack(start, 'a string that is not valid UTF-8')
    // msgpackr renames a "__proto__" key to "__proto_" (a store refuses such keys at save).
    if (isKey && length === PROTO_KEY.length && PROTO_KEY.equals(bytes.subarray(start, end))) {
      throw new ForeignMsgpack(start, 'a "__proto__" key, which a store never writes')
    }
    this.position = end
  }

  #extension (length: number, at: number): void {
    const type = this.#byte()
    if (type === EXT_UNDEFINED && length === 1 && this.#bytes[at] === 0xd4) return this.#skip(1)
    if (type === EXT_TIMESTAMP && (length === 1 || length === 4 || length === 8 || length === 12)) return this.#skip(length)
    throw new ForeignMsgpack(at, `${type === EXT_TIMESTAMP ? `a timestamp of ${length} bytes` : extensionName(type)}, which a store never writes`)
  }

  #byte (): number {
    const byte = this.#bytes[this.position]
    if (byte === undefined) this.#cutShort(this.position)
    this.position++
    return byte
  }

  #uint (size: 1 | 2 | 4): number {
    const bytes = this.#bytes
    const at = this.position
    if (at + size > bytes.length) this.#cutShort(at)
    this.position = at + size
    if (size === 1) return bytes[at]!
    if (size === 2) return (bytes[at]! << 8) | bytes[at + 1]!
    return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0
  }

  #skip (length: number): void {
    if (length > this.#bytes.length - this.position) this.#cutShort(this.position)
    this.position += length
  }

  #cutShort (at: number): never {
    throw new ForeignMsgpack(at, 'the value is cut short')
  }
}

// ---------------------------------------------------------------------------------------
// Socket messages

/**
 * What a socket message holds that the protocol never sends, or undefined when it is fine:
 * the protocol sends maps, arrays, strings, numbers, booleans, nil, undefined, binaries and
 * Dates. Bounded by the message: references are refused by the decoder (structuredClone:
 * false), so the decoded message is a tree of at most its byte count in values.
 */
export function wireProblem (value: unknown, depth = 0): string | undefined {
  switch (typeof value) {
    case 'string': case 'number': case 'boolean': case 'undefined':
      return undefined
    case 'object': {
      if (value === null) return undefined
      const proto = Object.getPrototypeOf(value)
      if (proto === Uint8Array.prototype || proto === Buffer.prototype || proto === Date.prototype) return undefined
      if (proto !== Array.prototype && proto !== Object.prototype) {
        return `${(proto as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'a null-prototype object'}, which the protocol never sends`
      }
      if (depth >= MAX_DEPTH) return `values nest deeper than ${MAX_DEPTH} levels`
      for (const item of Object.values(value)) {
        const problem = wireProblem(item, depth + 1)
        if (problem !== undefined) return problem
      }
      return undefined
    }
    default:
      return `a ${typeof value}, which the protocol never sends`
  }
}

/**
 * The decoder of a socket: msgpackr's UnpackrStream with references, record definitions and
 * every type the protocol never sends refused (a stream error, which closes that connection
 * as a protocol violation). Record definitions would otherwise persist for the connection's
 * life, each as large as a message: the protocol never sends them.
 */
export class WireDecoder extends UnpackrStream {
  #problem: Error | undefined

  constructor (maxMessageBytes: number) {
    super({ useRecords: false, mapsAsObjects: true, structuredClone: false, maxIncompleteBufferSize: maxMessageBytes })
  }

  override push (chunk: unknown, encoding?: BufferEncoding): boolean {
    if (this.#problem !== undefined) return false
    // null ends the stream; a message that is nil arrives as Symbol.for(null) (msgpackr).
    if (chunk !== null && typeof chunk !== 'symbol') {
      const problem = this.#definesRecords() ? 'a msgpackr record definition, which the protocol never sends' : wireProblem(chunk)
      if (problem !== undefined) {
        this.#problem = new Error(`a message holds ${problem}`)
        return false
      }
    }
    return super.push(chunk, encoding)
  }

  override _transform (chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    super._transform(chunk, encoding, (err?: Error | null) => { callback(err ?? this.#problem) })
  }

  /** Whether the messages so far defined records (msgpackr keeps them in its `structures`). */
  #definesRecords (): boolean {
    const structures = (this as unknown as { unpackr?: { structures?: object } }).unpackr?.structures
    if (structures === undefined) throw new Error('msgpackr UnpackrStream no longer has unpackr.structures')
    // Record ids are array indices, negative ones included (msgpackr's two-byte ids).
    return Object.keys(structures).some((key) => /^-?\d+$/.test(key))
  }
}
