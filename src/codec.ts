// Flow <-> record bytes. A record is the layout header followed by the flow's msgpack
// encoding. Encoding checks the value domain first, so what is stored decodes to a value
// deep-equal to what was saved; decoding checks it again and freezes the result. Decoding
// reads only the msgpack a store writes (msgpack.ts) and does work linear in the record's
// size, whatever the bytes: foreign or hostile bytes give FLOWSTORE_DECODE_ERROR.

import { Packr } from 'msgpackr'
import { checkValue, DomainViolation } from './domain.ts'
import { FlowStoreError } from './errors.ts'
import { freezeDecoded } from './freeze.ts'
import { HEADER_BYTES, RECORD_FORMAT } from './layout.ts'
import { flowDecoderOptions, ForeignMsgpack, scanStoredValue } from './msgpack.ts'

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

  /** Checks a flow and encodes it into a new record (header version 0). */
  encode (flow: unknown): { id: string, record: Uint8Array } {
    if (typeof flow !== 'object' || flow === null || Object.getPrototypeOf(flow) !== Object.prototype) {
      throw new FlowStoreError('FLOWSTORE_INVALID_FLOW', `A flow must be a plain object with a string id, got ${describe(flow)}`)
    }
    const id = this.checkId((flow as { id?: unknown }).id)
    const violation = checkValue(flow, 0, [])
    if (violation !== undefined) {
      throw new FlowStoreError('FLOWSTORE_INVALID_FLOW', `Flow ${JSON.stringify(id)} cannot be stored exactly: at flow${violation.where}, ${violation.reason}`, { id, cause: violation })
    }
    let packed: Uint8Array
    try {
      packed = this.#packr.pack(flow)
    } catch (cause) {
      throw new FlowStoreError('FLOWSTORE_INVALID_FLOW', `Flow ${JSON.stringify(id)} could not be encoded`, { id, cause })
    }
    if (packed.length > this.#limits.maxFlowBytes) {
      throw new FlowStoreError('FLOWSTORE_INVALID_FLOW', `Flow ${JSON.stringify(id)} encodes to ${packed.length} bytes; the limit is ${this.#limits.maxFlowBytes} (option maxFlowBytes)`, { id })
    }
    const record = new Uint8Array(HEADER_BYTES + packed.length)
    record[0] = RECORD_FORMAT
    record.set(packed, HEADER_BYTES)
    return { id, record }
  }

  /** Decodes a record read under `id`; throws FLOWSTORE_DECODE_ERROR naming the id. */
  decode (id: string, record: Uint8Array): Decoded {
    if (record.length <= HEADER_BYTES || record[0] !== RECORD_FORMAT) {
      throw decodeError(id, 'its record header is damaged')
    }
    // A plain Uint8Array view (not a Buffer) so that binaries decode as Uint8Array.
    return this.decodeBody(id, new Uint8Array(record.buffer, record.byteOffset + HEADER_BYTES, record.byteLength - HEADER_BYTES))
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
