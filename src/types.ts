// Public types: what a flow is, what the store hands back, and the store's options.

/**
 * A flow: a plain object with a string `id`. Its other fields must be in the value domain
 * (see README "Value domain"); the store checks this at save time.
 */
export interface Flow {
  readonly id: string
  readonly [key: string]: unknown
}

/**
 * What a flow type must have: a string `id`. Your own flow interfaces (which have no index
 * signature) satisfy this; `Flow` is the default when you give no type.
 */
export interface FlowShape {
  readonly id: string
}

/** A deeply read-only view of a stored value: what reads hand out (frozen at run time too). */
export type Frozen<T> =
  T extends Date | Uint8Array ? T
    : T extends readonly (infer U)[] ? readonly Frozen<U>[]
      : T extends object ? { readonly [K in keyof T]: Frozen<T[K]> }
        : T

/** A flow as kept in the cache: its stored bytes, decoded on first access. */
export interface LazyFlow<F extends FlowShape = Flow> {
  /** The flow id (the LevelDB key without the store's prefix). */
  readonly id: string
  /** A copy of the flow's msgpack encoding, exactly as stored. */
  readonly bytes: Uint8Array
  /** Whether the value has been decoded yet. */
  readonly decoded: boolean
  /** The flow, decoded on first access (then kept), frozen. */
  readonly value: Frozen<F>
  /** The store version that last changed this flow; 0 while the change is not committed. */
  readonly version: number
}

/** One entry of the change record: a flow saved or deleted at a store version. */
export interface Change {
  readonly id: string
  readonly version: number
  readonly deleted: boolean
}

/** Options of one write: `store.save()`, `store.delete()`, and `tx.save()` / `tx.delete()`. */
export interface WriteOptions {
  /**
   * Optimistic concurrency: write only if the flow's committed version is still this one
   * (`store.lazy(id).version` as you read it; 0: the flow must not exist). Otherwise the write
   * is refused with FLOWSTORE_CONFLICT and nothing of it is committed.
   * @default undefined (no condition: the last write wins)
   */
  ifVersion?: number
}

/** When dirty changes are written to storage. */
export type FlushMode = 'auto' | 'manual' | { readonly intervalMs: number }

export interface FlowStoreOptions {
  /**
   * When saves are written: `'auto'` coalesces everything saved in one event-loop turn into
   * one batch; `{ intervalMs }` writes behind, every `intervalMs`; `'manual'` writes only on
   * `flush()`, `close()` and at the end of a transaction.
   * @default 'auto'
   */
  flush?: FlushMode
  /**
   * fsync each batch before acknowledging it. `false` survives a process crash; `true` also
   * survives a power loss or kernel crash (see README "Durability").
   * @default false
   */
  sync?: boolean
  /**
   * The largest encoded flow accepted, in bytes; at most 16777216 (16 MiB), the largest flow
   * a backup record holds, so that every flow a store accepts can be backed up and restored.
   * @default 16777216 (16 MiB)
   */
  maxFlowBytes?: number
  /**
   * The longest id accepted, in UTF-8 bytes; at most 16384 (16 KiB), the longest id a backup
   * record and the owner's socket carry.
   * @default 1024
   */
  maxIdBytes?: number
  /**
   * How many changes (one per flow saved or deleted in a commit) the change log keeps at
   * least, for `changesSince()` and changed-only backups. Older changes are pruned in the
   * background; `changesSince(v)` for a `v` before them rejects with
   * FLOWSTORE_CHANGES_PRUNED. `Infinity` keeps every change. For a directory, an
   * abstract-level database or a postgres:// URL (there the tombstones of deleted flows are
   * pruned, counted in rows: one per id at its latest change; see docs/postgres.md); an
   * engine you pass in has its own (`postgres({ retainChanges })`).
   * @default 100000
   */
  retainChanges?: number
  /**
   * What the open reads into memory. `'all'`: every flow's record (reads never touch
   * storage). `'keys'`: the ids only, for stores larger than memory: a flow's record is read
   * (synchronously) the first time it is needed, and the records and values read are kept
   * within `maxCachedBytes`, the least recently used dropped first.
   * @default 'all'
   */
  preload?: 'all' | 'keys'
  /**
   * With `preload: 'keys'`: the bytes of records and decoded values kept in memory (a decoded
   * value counts twice its record's bytes). Flows saved and not yet committed are kept
   * whatever this says.
   * @default 268435456 (256 MiB)
   */
  maxCachedBytes?: number
}
