// One cache entry: a flow's record (as stored) and, once read, its decoded frozen value.
// The record is usually a view into a slab of records (record-slab.ts): the entry tells the
// slabs when it is replaced or deleted (release()), and takes a copy elsewhere when its slab
// is compacted (rehome()).

import type { FlowCodec } from './codec.ts'
import { HEADER_BYTES } from './layout.ts'
import type { RecordSlabs, Slab, SlabRecord } from './record-slab.ts'
import type { Flow, FlowShape, Frozen, LazyFlow } from './types.ts'

const NOT_DECODED = 0
const CACHED = 1
/** Holds Uint8Arrays, which cannot be frozen: every read gets its own decoded copy. */
const PER_READ = 2

export class CachedFlow<F extends FlowShape = Flow> implements LazyFlow<F>, SlabRecord {
  readonly id: string
  #record: Uint8Array
  #version: number
  #mode = NOT_DECODED
  #value: Frozen<F> | undefined
  readonly #codec: FlowCodec
  #slabs: RecordSlabs | undefined
  #slab: Slab | undefined

  /**
   * `slabs`: the record is copied into them (and the entry kept there, see above); without,
   * `record` is used as it is.
   */
  constructor (id: string, record: Uint8Array, version: number, codec: FlowCodec, slabs?: RecordSlabs) {
    this.id = id
    this.#version = version
    this.#codec = codec
    if (slabs === undefined) {
      this.#record = record
    } else {
      const { view, slab } = slabs.copy(record)
      this.#record = view
      if (slab !== undefined) {
        this.#slabs = slabs
        this.#slab = slab
        slabs.hold(slab, this)
      }
    }
  }

  /** The record as stored: header + msgpack. Internal: never hand it out. */
  get record (): Uint8Array {
    return this.#record
  }

  get released (): boolean {
    return this.#slabs === undefined
  }

  /** The entry left the cache (replaced or deleted): its bytes in its slab are dead. */
  release (): void {
    const slabs = this.#slabs
    if (slabs === undefined) return
    this.#slabs = undefined
    slabs.release(this.#slab!, this)
    this.#slab = undefined
  }

  rehome (record: Uint8Array, slab: Slab | undefined): void {
    this.#record = record
    this.#slab = slab
    if (slab === undefined) this.#slabs = undefined
  }

  get version (): number {
    return this.#version
  }

  get bytes (): Uint8Array {
    // A plain Uint8Array copy whatever the backend returned (Buffer.slice would be a view).
    const bytes = new Uint8Array(this.#record.length - HEADER_BYTES)
    bytes.set(this.#record.subarray(HEADER_BYTES))
    return bytes
  }

  get decoded (): boolean {
    return this.#mode !== NOT_DECODED
  }

  get value (): Frozen<F> {
    const value = this.#value
    if (value !== undefined) return value
    const decoded = this.#codec.decode(this.id, this.#record)
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
