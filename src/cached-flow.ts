// One cache entry: a flow's record (as stored) and, once read, its decoded frozen value.

import type { FlowCodec } from './codec.ts'
import { HEADER_BYTES } from './layout.ts'
import type { Flow, FlowShape, Frozen, LazyFlow } from './types.ts'

const NOT_DECODED = 0
const CACHED = 1
/** Holds Uint8Arrays, which cannot be frozen: every read gets its own decoded copy. */
const PER_READ = 2

export class CachedFlow<F extends FlowShape = Flow> implements LazyFlow<F> {
  readonly id: string
  /** The record as stored: header + msgpack. Internal: never hand it out. */
  readonly record: Uint8Array
  #version: number
  #mode = NOT_DECODED
  #value: Frozen<F> | undefined
  readonly #codec: FlowCodec

  constructor (id: string, record: Uint8Array, version: number, codec: FlowCodec) {
    this.id = id
    this.record = record
    this.#version = version
    this.#codec = codec
  }

  get version (): number {
    return this.#version
  }

  get bytes (): Uint8Array {
    // A plain Uint8Array copy whatever the backend returned (Buffer.slice would be a view).
    const bytes = new Uint8Array(this.record.length - HEADER_BYTES)
    bytes.set(this.record.subarray(HEADER_BYTES))
    return bytes
  }

  get decoded (): boolean {
    return this.#mode !== NOT_DECODED
  }

  get value (): Frozen<F> {
    const value = this.#value
    if (value !== undefined) return value
    const decoded = this.#codec.decode(this.id, this.record)
    if (decoded.hasBinary) {
      this.#mode = PER_READ
    } else {
      this.#mode = CACHED
      this.#value = decoded.value as Frozen<F>
    }
    return decoded.value as Frozen<F>
  }

  /** Marks the record committed under `version`. */
  committed (version: number): void {
    this.#version = version
  }
}
