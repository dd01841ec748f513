// The engine interface: the one seam between the store (cache, flusher, reads) and what
// persists it. Two implementations: LevelEngine (one LevelDB directory or an abstract-level
// database: the embedded default) and PostgresEngine (several processes on several hosts share
// one store). The store never talks to LevelDB or PostgreSQL directly, only through this.
//
// A record is what the store caches for a flow: the layout header (format byte + 6-byte
// version, see layout.ts) followed by the flow's msgpack encoding. The engine stores records
// verbatim, except that commit() writes the version it assigns into each record's header.
//
// Versions: one store-wide counter. Every commit bumps it by one, and version order is commit
// order (so "changes since V" never misses a commit, whichever process made it).

/** What load() hands back, besides the records it streams to `onFlow`. */
export interface EngineState {
  /** The store's identity: a random UUID made when the store was created (see layout.ts). */
  readonly storeId: string
  /** The last committed store version (0 for a new store). */
  readonly version: number
  /**
   * Deleted ids with the version that deleted them, as far as the engine still records them
   * and reads them at load (LevelEngine does not: its deletions live in its change log).
   */
  readonly tombstones?: Map<string, number>
}

/** One id's change in a commit. */
export interface CommitEntry {
  readonly id: string
  /**
   * The new record (header + msgpack), or undefined to delete the flow. commit() writes the
   * version it assigns into bytes 1..6 of the header before the record is persisted, so the
   * caller's array (the cached record) carries the committed version afterwards.
   */
  readonly record: Uint8Array | undefined
  /**
   * Optimistic concurrency: commit only if the id's last committed version is still this
   * (0: the id must not exist). Undefined: last writer wins.
   */
  readonly ifVersion?: number | undefined
}

export interface CommitResult {
  /** The version this commit was given. */
  readonly version: number
  /**
   * The version the engine was at just before this commit. When it is not the version the
   * store last knew, other writers committed in between: the store catches up with
   * changesSince(known) (LevelEngine, being the only writer, always returns version - 1).
   */
  readonly previous: number
}

/** One entry of the change record. */
export interface EngineChange {
  readonly id: string
  readonly version: number
  readonly deleted: boolean
  /** The record, when changesSince() was asked for records and the flow is saved. */
  readonly record?: Uint8Array | undefined
}

export interface EngineChanges {
  /** The version the answer is complete up to. */
  readonly version: number
  /** One entry per id changed after the asked version (its latest change), in version order. */
  readonly changes: EngineChange[]
}

/** One consistent view of the store for a backup (LevelDB snapshot, REPEATABLE READ tx…). */
export interface EngineSnapshot {
  readonly version: number
  readonly storeId: string
  /** Every flow: batches of [id, record]. */
  flows (): AsyncIterable<Array<readonly [string, Uint8Array]>>
  /**
   * The changes after `version` as of this snapshot, saved ones with their records; rejects
   * with FLOWSTORE_CHANGES_PRUNED as engine.changesSince() does.
   */
  changesSince (version: number): AsyncIterable<EngineChange[]>
  /** Releases the snapshot (always called, in a finally). */
  close (): Promise<void>
}

export interface Engine {
  /** 'level' or 'postgres': for messages and stats. */
  readonly kind: string
  /** The directory of a LevelDB store, undefined otherwise. */
  readonly directory: string | undefined
  /** Where the store lives, for messages (a directory, or a URL without its password). */
  readonly description: string

  /**
   * Opens what the engine stands for (a directory, a connection…), reads every flow's record
   * (streamed to `onFlow`, nothing decoded) and the store's state; creates the store (layout,
   * identity) when it is new. The only full read a store makes. An engine serves one store:
   * load() is called once, first; if it rejects, the store calls close() and gives up, except
   * after a TypeError, which load() throws only for misuse (such as a second load() of an
   * engine already serving a store), before it opened anything. `keyProblem` is set for a
   * stored key that names no id exactly (foreign bytes: empty, or not valid UTF-8): the store
   * lists it under `id` and reading it fails with FLOWSTORE_DECODE_ERROR, unless a flow stored
   * under exactly `id` is there too (that one wins).
   */
  load (onFlow: (id: string, record: Uint8Array, keyProblem?: string) => void): Promise<EngineState>

  /**
   * Optional: as load(), but hands out the ids only, leaving the records in storage (the
   * store's `preload: 'keys'` mode, for stores larger than memory): each id as its UTF-8
   * bytes, `key` from `start` to its end, valid only during the call (the store copies them
   * into its index of ids, with no string or view made per id). A key that no id names exactly goes to `onUnreadable` with its
   * record, as load() would hand it over. An engine that has it has readSync() too.
   */
  loadIds? (onId: (key: Uint8Array, start: number) => void, onUnreadable?: (id: string, record: Uint8Array, keyProblem: string | undefined) => void): Promise<EngineState>

  /**
   * Optional (with loadIds): the committed record of `id`, read synchronously (reads stay
   * synchronous in `preload: 'keys'` mode); undefined when there is none.
   */
  readSync? (id: string): Uint8Array | undefined

  /**
   * Commits every entry in ONE atomic write that bumps the version by one and records the
   * changes. Rejects with FLOWSTORE_CONFLICT (nothing written; the error's `ids` lists every
   * entry whose ifVersion did not hold) or FLOWSTORE_WRITE_FAILED / FLOWSTORE_DISCONNECTED
   * (nothing written, or provably not: never a double apply). The store never runs two
   * commits at once, and never holds two entries of one id in a commit.
   */
  commit (entries: readonly CommitEntry[], options: { readonly sync: boolean }): Promise<CommitResult>

  /**
   * What changed after `version`, from the persisted change record (never a full scan).
   * Rejects with FLOWSTORE_CHANGES_PRUNED (its `horizon`: the oldest version it can answer
   * from) when the record no longer reaches back to `version`: the engine keeps a bounded
   * record, and the caller reads the whole store instead.
   */
  changesSince (version: number, options?: { readonly records?: boolean }): Promise<EngineChanges>

  /** A consistent snapshot for backups, taken while writers go on. */
  snapshot (): Promise<EngineSnapshot>

  /**
   * Calls `listener` with the new version whenever ANOTHER writer committed (LISTEN/NOTIFY,
   * or a poll as fallback); never for this engine's own commits. Returns an unsubscribe
   * function. The store subscribes right after load(): a commit made in between must be
   * reported too. A version the store already shows is ignored, so reporting one twice (or
   * one of this engine's own commits) costs nothing but a comparison. LevelEngine, being the
   * only writer of its directory, never calls it.
   */
  watch (listener: (version: number) => void): () => void

  /**
   * Closes what the engine opened (connections, the database it opened itself; an
   * abstract-level database passed in stays open). Called once, by the store's close() or
   * after a failed load(); nothing else is called after it.
   */
  close (): Promise<void>
}
