// Flow <-> record bytes. A record is the layout header followed by the flow's msgpack
// encoding. Encoding checks the value domain in the same walk that writes the bytes
// (record-writer.ts), so what is stored decodes to a value deep-equal to what was saved;
// decoding checks it again and freezes the result. Decoding reads only the msgpack a store
// writes and does work linear in the record's size, whatever the bytes: the one-walk reader
// (record-reader.ts) gives up on anything unusual, and the hardened path (msgpack.ts: a scan
// before msgpackr, a bounded freeze walk) then decodes it or says exactly what is wrong, so
// foreign or hostile bytes give FLOWSTORE_DECODE_ERROR.

import { Packr } from 'msgpackr'
import { checkValue, DomainViolation } from './domain.ts'
import { FlowStoreError } from './errors.ts'
import { freezeDecoded } from './freeze.ts'
import { HEADER_BYTES, RECORD_FORMAT } from './layout.ts'
import { flowDecoderOptions, ForeignMsgpack, scanStoredValue } from './msgpack.ts'
import { FALLBACK, RecordReader } from './record-reader.ts'
import { RecordWriter } from './record-writer.ts'

export interface CodecLimits {
  readonly maxFlowBytes: number
  readonly maxIdBytes: number
}

export interface Decoded {
  readonly value: object
  /** The value holds Uint8Arrays, which cannot be frozen: decode it afresh for each reader. */
  readonly hasBinary: boolean
}

export class FlowCodec {
  // One Packr per store: plain msgpack maps (no records, no structured-clone references),
  // binaries copied out of the source so that a decoded Uint8Array never aliases the record.
  readonly #packr = new Packr(flowDecoderOptions())
  // Checks the domain and writes the bytes msgpackr would, in one walk (record-writer.ts).
  readonly #writer = new RecordWriter()
  readonly #reader = new RecordReader()
  readonly #limits: CodecLimits

  constructor (limits: CodecLimits) {
    this.#limits = limits
  }

  /** Checks an id; returns it as a flat string (a sliced string would slow Map lookups). */
  checkId (id: unknown): string {
    if (typeof id !== 'string' || id.length === 0) {
      throw new FlowStoreError('FLOWSTORE_INVALID_FLOW', `A flow id must be a non-empty string, got ${describe(id)}`)
    }
    if (!id.isWellFormed()) {
      throw new FlowStoreError('FLOWSTORE_INVALID_FLOW', `Flow id ${JSON.stringify(id)} is not valid Unicode (it has a lone surrogate)`, { id })
    }
    const bytes = Buffer.from(id, 'utf8')
    if (bytes.length > this.#limits.maxIdBytes) {
      throw new FlowStoreError('FLOWSTORE_INVALID_FLOW', `Flow id is ${bytes.length} bytes long; the limit is ${this.#limits.maxIdBytes} (option maxIdBytes)`, { id })
    }
    return bytes.toString('utf8')
  }

  /**
   * Checks a flow and encodes it into a new record (header version 0). `scratch`: the record
   * is only valid until the next encode() (the caller copies it, see record-writer.ts).
   */
  encode (flow: unknown, scratch = false): { id: string, record: Uint8Array } {
    if (typeof flow !== 'object' || flow === null || Object.getPrototypeOf(flow) !== Object.prototype) {
      throw new FlowStoreError('FLOWSTORE_INVALID_FLOW', `A flow must be a plain object with a string id, got ${describe(flow)}`)
    }
    const id = this.checkId((flow as { id?: unknown }).id)
    let record: Uint8Array | undefined
    try {
      record = this.#writer.encode(flow, scratch)
    } catch (cause) {
      throw new FlowStoreError('FLOWSTORE_INVALID_FLOW', `Flow ${JSON.stringify(id)} could not be encoded`, { id, cause })
    }
    if (record === undefined) {
      // Outside the domain: the domain check says where and why.
      const violation = checkValue(flow, 0, []) ?? new DomainViolation('a value cannot be stored exactly')
      throw new FlowStoreError('FLOWSTORE_INVALID_FLOW', `Flow ${JSON.stringify(id)} cannot be stored exactly: at flow${violation.where}, ${violation.reason}`, { id, cause: violation })
    }
    if (record.length - HEADER_BYTES > this.#limits.maxFlowBytes) {
      throw new FlowStoreError('FLOWSTORE_INVALID_FLOW', `Flow ${JSON.stringify(id)} encodes to ${record.length - HEADER_BYTES} bytes; the limit is ${this.#limits.maxFlowBytes} (option maxFlowBytes)`, { id })
    }
    return { id, record }
  }

  /** Decodes a record read under `id`; throws FLOWSTORE_DECODE_ERROR naming the id. */
  decode (id: string, record: Uint8Array): Decoded {
    if (record.length <= HEADER_BYTES || record[0] !== RECORD_FORMAT) {
      throw decodeError(id, 'its record header is damaged')
    }
    // A plain Uint8Array view (not a Buffer) so that binaries decode as Uint8Array.
    const body = new Uint8Array(record.buffer, record.byteOffset + HEADER_BYTES, record.byteLength - HEADER_BYTES)
    // The compact one-walk reader; msgpackr for anything it does not read (record-reader.ts).
    const read = this.#reader.read(body, id)
    if (read !== FALLBACK) {
      if ((read.value as { id?: unknown }).id !== id) {
        throw decodeError(id, `it decoded to a flow whose id is ${describe((read.value as { id?: unknown }).id)}`)
      }
      return read
    }
    return this.decodeBody(id, body)
  }

  /**
   * Decodes a flow's msgpack encoding (a record without its header, a plain Uint8Array);
   * throws FLOWSTORE_DECODE_ERROR naming the id.
   */
  decodeBody (id: string, body: Uint8Array): Decoded {
    // Before msgpackr sees the bytes: anything a store never writes is refused here, and the
    // count of values bounds the walk below.
    let values: number
    try {
      values = scanStoredValue(body)
    } catch (err) {
      if (!(err instanceof ForeignMsgpack)) throw err
      throw decodeError(id, `its msgpack bytes are not what a store writes (${err.message})`, err)
    }
    let value: unknown
    try {
      value = this.#packr.unpack(body)
    } catch (cause) {
      throw decodeError(id, 'its msgpack bytes are invalid', cause)
    }
    if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) {
      throw decodeError(id, `it decoded to ${describe(value)}, not a flow object`)
    }
    if ((value as { id?: unknown }).id !== id) {
      throw decodeError(id, `it decoded to a flow whose id is ${describe((value as { id?: unknown }).id)}`)
    }
    const walk = { budget: values, visited: 0 }
    let flags: number
    try {
      flags = freezeDecoded(value, 0, walk)
    } catch (err) {
      if (!(err instanceof DomainViolation)) throw err
      throw decodeError(id, `at flow${err.where}, ${err.reason}`, err)
    }
    // Fewer values than the bytes hold: a map repeated a key, and msgpackr kept the last one.
    if (walk.visited !== values) throw decodeError(id, `a map holds the same key twice (${values - walk.visited} value(s) would be lost)`)
    return { value, hasBinary: flags !== 0 }
  }
}

function decodeError (id: string, what: string, cause?: unknown): FlowStoreError {
  return new FlowStoreError('FLOWSTORE_DECODE_ERROR', `Stored flow ${JSON.stringify(id)} cannot be decoded: ${what}. Other flows are unaffected; save the flow again or delete it`, { id, cause })
}

/** A short description of a value for error messages. */
export function describe (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return value.length > 40 ? `a string of length ${value.length}` : JSON.stringify(value)
  if (typeof value === 'object') return `an object (${(Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'null prototype'})`
  return `${typeof value} ${String(value)}`
}
