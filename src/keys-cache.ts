// The cache map of a store opened with preload: 'keys': the ids the open found live in an
// IdIndex (bytes, no object per id); a cache entry (CachedFlow) exists only for the ids in
// use, made when first asked for, and let go again once its record and value are evicted.
// It answers as the Map of a fully loaded store does: get/has/set/delete/size, and iteration
// in Map order (the ids of the open in key order, then ids added since in insertion order; an
// id deleted and saved again moves to the end, as in a Map).

import type { CachedFlow } from './cached-flow.ts'
import type { IdIndex } from './id-index.ts'
import type { FlowShape } from './types.ts'

/** What the store and its view use of a cache map. */
export interface CacheMap<F extends FlowShape> {
  readonly size: number
  get (id: string): CachedFlow<F> | undefined
  has (id: string): boolean
  set (id: string, entry: CachedFlow<F>): this
  delete (id: string): boolean
  keys (): IterableIterator<string>
  values (): IterableIterator<CachedFlow<F>>
  entries (): IterableIterator<[string, CachedFlow<F>]>
  [Symbol.iterator] (): IterableIterator<[string, CachedFlow<F>]>
}

export class KeysCache<F extends FlowShape> implements CacheMap<F> {
  readonly #index: IdIndex
  readonly #make: (id: string) => CachedFlow<F>
  /** Entries in use: made for an id of the index, or set since the open. */
  readonly #entries = new Map<string, CachedFlow<F>>()
  /** Per id of the index: 1 once it left the cache (deleted; saved again, it counts as new). */
  readonly #gone: Uint8Array
  #live: number
  /** Entries whose id is not a live id of the index. */
  #extra = 0

  /** `make`: a new entry for an id of the index, whose record is read when needed. */
  constructor (index: IdIndex, make: (id: string) => CachedFlow<F>) {
    this.#index = index
    this.#make = make
    this.#gone = new Uint8Array(index.count)
    this.#live = index.count
  }

  get size (): number {
    return this.#live + this.#extra
  }

  get (id: string): CachedFlow<F> | undefined {
    const entry = this.#entries.get(id)
    if (entry !== undefined) return entry
    if (!this.#isLive(this.#index.find(id))) return undefined
    const made = this.#make(id)
    this.#entries.set(id, made)
    return made
  }

  has (id: string): boolean {
    return this.#entries.has(id) || this.#isLive(this.#index.find(id))
  }

  set (id: string, entry: CachedFlow<F>): this {
    if (!this.#entries.has(id) && !this.#isLive(this.#index.find(id))) this.#extra++
    this.#entries.set(id, entry)
    return this
  }

  delete (id: string): boolean {
    const index = this.#index.find(id)
    const live = this.#isLive(index)
    const had = this.#entries.delete(id)
    if (live) {
      this.#gone[index] = 1
      this.#live--
      return true
    }
    if (had) this.#extra--
    return had
  }

  /**
   * Lets an entry go that only stood for its id of the index (its record and value were
   * evicted): the next get() makes a new one. Entries of ids added since stay.
   */
  forget (entry: CachedFlow<F>): void {
    if (this.#entries.get(entry.id) === entry && this.#isLive(this.#index.find(entry.id))) this.#entries.delete(entry.id)
  }

  * entries (): IterableIterator<[string, CachedFlow<F>]> {
    for (const id of this.keys()) {
      const entry = this.get(id)
      if (entry !== undefined) yield [id, entry]
    }
  }

  * values (): IterableIterator<CachedFlow<F>> {
    for (const [, entry] of this.entries()) yield entry
  }

  * keys (): IterableIterator<string> {
    const gone = this.#gone
    for (let index = 0; index < gone.length; index++) {
      if (gone[index] === 0) yield this.#index.id(index)
    }
    for (const id of this.#entries.keys()) {
      if (!this.#isLive(this.#index.find(id))) yield id
    }
  }

  [Symbol.iterator] (): IterableIterator<[string, CachedFlow<F>]> {
    return this.entries()
  }

  #isLive (index: number): boolean {
    return index >= 0 && this.#gone[index] === 0
  }
}
