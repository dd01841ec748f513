// One cache entry: a flow's record (as stored) and, once read, its decoded frozen value.
// The record is usually a view into a slab of records (record-slab.ts): the entry tells the
// slabs when it is replaced or deleted (release()), and takes a copy elsewhere when its slab
// is compacted (rehome()). In `preload: 'keys'` mode (record-cache.ts) an entry may hold no
// record yet: it is read from storage the first time it is needed, and dropped again when
// the entry is evicted (evict()).
//
// Once a committed flow is decoded, its record is let go when encoding the value gives the
// very same bytes (checked then, once): the value alone is kept, and the record, when asked
// for again (lazy(id).bytes, a FlowService answer), is encoded afresh from it. A decoded flow
// then costs its value, not its value and its record.

import type { FlowCodec } from './codec.ts'
import { FlowStoreError } from './errors.ts'
import { HEADER_BYTES, recordVersion, writeVersion } from './layout.ts'
import { type LoadedRecords, VALUE_WEIGHT } from './record-cache.ts'
import type { RecordSlabs, Slab, SlabRecord } from './record-slab.ts'
import type { Flow, FlowShape, Frozen, LazyFlow } from './types.ts'

const NOT_DECODED = 0
const CACHED = 1
/** Holds Uint8Arrays, which cannot be frozen: every read gets its own decoded copy. */
const PER_READ = 2
/** The version of an entry whose record was never read (preload: 'keys'). */
const UNKNOWN = -1
const EMPTY = new Uint8Array(0)

/** What every entry of one store shares. */
export interface CacheContext {
  readonly codec: FlowCodec
  /** Where records are copied; without, a record is kept as it was given. */
  readonly slabs?: RecordSlabs | undefined
  /** preload: 'keys': where records are read from, and the bounded list of those loaded. */
  readonly loaded?: LoadedRecords | undefined
  /** preload: 'keys': an entry was evicted (the cache may let it go). */
  readonly forget?: ((entry: object) => void) | undefined
}

const contexts = new WeakMap<FlowCodec, CacheContext>()

/** The context of entries that only have a codec (a FlowService's cache). */
function codecContext (codec: FlowCodec): CacheContext {
  let context = contexts.get(codec)
  if (context === undefined) {
    context = { codec }
    contexts.set(codec, context)
  }
  return context
}

export class CachedFlow<F extends FlowShape = Flow> implements LazyFlow<F>, SlabRecord {
  readonly id: string
  // The record: #length bytes at #offset of #buffer (its slab's bytes, or an array of its
  // own), kept as numbers rather than a view object per flow (a view costs ~70 bytes).
  // Undefined until read (preload: 'keys') or after an eviction.
  #buffer: Uint8Array | undefined
  #offset = 0
  #length = 0
  #version: number
  #mode = NOT_DECODED
  #value: Frozen<F> | undefined
  readonly #context: CacheContext
  /** The slab holding the record, while the entry is in the cache. */
  #slab: Slab | undefined
  #released = false

  /**
   * `record`: undefined for an entry whose record is read from storage when first needed
   * (preload: 'keys'; its version is then unknown until that read). `context`: a codec, or
   * the store's context (the record is then copied into its slabs).
   */
  constructor (id: string, record: Uint8Array | undefined, version: number, context: FlowCodec | CacheContext) {
    this.id = id
    this.#context = 'codec' in context ? context : codecContext(context)
    if (record === undefined) {
      this.#version = UNKNOWN
      return
    }
    this.#version = version
    this.#keep(record)
    // A new record (a save) is counted in the bounded list as soon as it exists.
    this.#context.loaded?.hold(this, record.length)
  }

  /** The record as stored: header + msgpack. Internal: never hand it out. */
  get record (): Uint8Array {
    const buffer = this.#buffer
    if (buffer === undefined) return this.#value !== undefined ? this.#encoded(this.#value) : this.#load()
    return this.#offset === 0 && this.#length === buffer.length ? buffer : buffer.subarray(this.#offset, this.#offset + this.#length)
  }

  holds (slab: Slab): boolean {
    return this.#slab === slab
  }

  /** The entry left the cache (replaced or deleted): its bytes in its slab are dead. */
  release (): void {
    if (this.#released) return
    this.#released = true
    this.#context.loaded?.drop(this)
    const slab = this.#slab
    this.#slab = undefined
    if (slab !== undefined) this.#context.slabs!.release(slab, this)
  }

  rehome (record: Uint8Array, slab: Slab | undefined): void {
    this.#set(record, slab)
  }

  /**
   * Drops the record and the value, which are read again when next needed (preload:
   * 'keys'); false when the entry must stay (its change is not committed yet).
   */
  evict (): boolean {
    if (this.#version <= 0 || (this.#buffer === undefined && this.#value === undefined)) return false
    this.#context.loaded!.drop(this)
    const slab = this.#slab
    this.#slab = undefined
    if (slab !== undefined) this.#context.slabs!.release(slab, this)
    this.#buffer = undefined
    this.#value = undefined
    this.#mode = NOT_DECODED
    this.#context.forget?.(this)
    return true
  }

  get version (): number {
    if (this.#version === UNKNOWN) this.#load()
    return this.#version
  }

  get bytes (): Uint8Array {
    const record = this.record
    // A plain Uint8Array copy whatever the backend returned (Buffer.slice would be a view).
    const bytes = new Uint8Array(Math.max(0, record.length - HEADER_BYTES))
    bytes.set(record.subarray(HEADER_BYTES))
    return bytes
  }

  get decoded (): boolean {
    return this.#mode !== NOT_DECODED
  }

  get value (): Frozen<F> {
    const value = this.#value
    if (value !== undefined) {
      this.#context.loaded?.touch(this)
      return value
    }
    const record = this.record
    const decoded = this.#context.codec.decode(this.id, record)
    if (decoded.hasBinary) {
      this.#mode = PER_READ
    } else {
      this.#mode = CACHED
      this.#value = decoded.value as Frozen<F>
      const kept = this.#dropRecord(decoded.value, record) ? 0 : record.length
      if (!this.#released) this.#context.loaded?.hold(this, kept + record.length * VALUE_WEIGHT)
    }
    return decoded.value as Frozen<F>
  }

  /** Marks the record committed under `version`. */
  committed (version: number): void {
    this.#version = version
  }

  /**
   * Lets the record of a committed, decoded flow go when encoding `value` gives the same
   * bytes (see above); returns whether it did.
   */
  #dropRecord (value: object, record: Uint8Array): boolean {
    if (this.#version <= 0 || this.#released || this.#context.slabs === undefined) return false
    let again: Uint8Array
    try {
      again = this.#context.codec.encode(value, true).record
    } catch {
      return false
    }
    if (!sameBody(again, record)) return false
    const slab = this.#slab
    this.#slab = undefined
    if (slab !== undefined) this.#context.slabs.release(slab, this)
    this.#buffer = undefined
    return true
  }

  /** The record of a decoded flow whose record was let go: encoded afresh, with its version. */
  #encoded (value: object): Uint8Array {
    const record = this.#context.codec.encode(value).record
    writeVersion(record, 1, this.#version)
    return record
  }

  /** Copies `record` into the context's slabs (when it has them) and holds it there. */
  #keep (record: Uint8Array): Uint8Array {
    const slabs = this.#context.slabs
    if (slabs === undefined) {
      this.#set(record, undefined)
      return record
    }
    const { view, slab } = slabs.copy(record)
    // Set before hold(), which reads it.
    this.#set(view, slab)
    if (slab !== undefined) slabs.hold(slab, this)
    return view
  }

  #set (record: Uint8Array, slab: Slab | undefined): void {
    this.#slab = slab
    if (slab !== undefined) {
      this.#buffer = slab.bytes
      this.#offset = record.byteOffset - slab.bytes.byteOffset
    } else {
      this.#buffer = record
      this.#offset = 0
    }
    this.#length = record.length
  }

  /** Reads the committed record from storage (preload: 'keys'). */
  #load (): Uint8Array {
    const loaded = this.#context.loaded
    const stored = loaded?.read(this.id)
    if (stored === undefined) {
      // No record (a damaged store): reading the value says so (FLOWSTORE_DECODE_ERROR).
      if (this.#version === UNKNOWN) this.#version = 0
      return EMPTY
    }
    if (this.#version === UNKNOWN) this.#version = recordVersion(stored) ?? 0
    if (this.#released) return stored
    const record = this.#keep(stored)
    loaded!.hold(this, record.length)
    return record
  }
}

/** Whether two records hold the same msgpack bytes (their headers aside). */
function sameBody (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  return Buffer.from(a.buffer, a.byteOffset + HEADER_BYTES, a.length - HEADER_BYTES)
    .equals(Buffer.from(b.buffer, b.byteOffset + HEADER_BYTES, b.length - HEADER_BYTES))
}

/**
 * A flow record stored under a key no id names exactly (an empty id, or bytes that are not
 * UTF-8: foreign writes). Listed under the id read from its key; reading it fails with
 * FLOWSTORE_DECODE_ERROR instead of handing out a flow under an id it was not stored under.
 */
export class UnreadableFlow<F extends FlowShape = Flow> extends CachedFlow<F> {
  readonly #problem: string

  constructor (id: string, record: Uint8Array, version: number, codec: FlowCodec, problem: string) {
    super(id, record, version, codec)
    this.#problem = problem
  }

  override get value (): Frozen<F> {
    throw new FlowStoreError('FLOWSTORE_DECODE_ERROR', `Stored flow ${JSON.stringify(this.id)} cannot be read: its key holds ${this.#problem}, which no id names exactly. Other flows are unaffected; "flowstore check" lists such keys`, { id: this.id })
  }
}
