// The bounded part of the cache in `preload: 'keys'` mode: the open reads ids only, a flow's
// record is read (synchronously, engine.readSync) the first time it is needed, and the
// records and decoded values read so are kept in a least-recently-used list of at most
// `maxCachedBytes`. A record counts its bytes; a decoded value is counted as twice its
// record's bytes (what one measured here: compact values take ~1.8x their msgpack bytes).
// Entries not committed yet (a save waiting for its flush) are never evicted: their record
// is not in storage yet.

/** A cache entry, as the list sees it. */
export interface Evictable {
  /** Drops the entry's record and value; false when it must stay (not committed yet). */
  evict (): boolean
}

/** A decoded value is counted as this many times its record's bytes. */
export const VALUE_WEIGHT = 2

export class LoadedRecords {
  readonly #read: (id: string) => Uint8Array | undefined
  readonly #maxBytes: number
  /** Loaded entries, least recently used first (a Map keeps insertion order). */
  readonly #lru = new Map<Evictable, number>()
  #bytes = 0
  /** Records read from storage since the store opened. */
  reads = 0
  /** Entries evicted since the store opened. */
  evictions = 0

  constructor (read: (id: string) => Uint8Array | undefined, maxBytes: number) {
    this.#read = read
    this.#maxBytes = maxBytes
  }

  /** Bytes counted for the loaded entries now. */
  get bytes (): number {
    return this.#bytes
  }

  /** Entries loaded now. */
  get size (): number {
    return this.#lru.size
  }

  /** Reads the committed record of `id` from storage. */
  read (id: string): Uint8Array | undefined {
    this.reads++
    return this.#read(id)
  }

  /** `entry` was used: it becomes the most recently used. */
  touch (entry: Evictable): void {
    const bytes = this.#lru.get(entry)
    if (bytes === undefined) return
    this.#lru.delete(entry)
    this.#lru.set(entry, bytes)
  }

  /** `entry` now holds `bytes` (its record, and its value if decoded); evicts others to fit. */
  hold (entry: Evictable, bytes: number): void {
    const before = this.#lru.get(entry)
    if (before !== undefined) {
      this.#bytes -= before
      this.#lru.delete(entry)
    }
    this.#lru.set(entry, bytes)
    this.#bytes += bytes
    if (this.#bytes > this.#maxBytes) this.#evict(entry)
  }

  /** `entry` left the cache (replaced, deleted) or was evicted. */
  drop (entry: Evictable): void {
    const bytes = this.#lru.get(entry)
    if (bytes === undefined) return
    this.#lru.delete(entry)
    this.#bytes -= bytes
  }

  #evict (keep: Evictable): void {
    // Each entry is looked at once at most: pinned ones (not committed) go to the back.
    let budget = this.#lru.size
    for (const entry of this.#lru.keys()) {
      if (this.#bytes <= this.#maxBytes || budget-- === 0) return
      if (entry === keep) continue
      if (!entry.evict()) {
        this.touch(entry)
        continue
      }
      this.evictions++
    }
  }
}
