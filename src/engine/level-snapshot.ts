// Reading a LevelDB store as of one moment: the store version and identity, every flow
// record, and the change record after a version (with the records of the saved flows),
// all through one explicit LevelDB snapshot, so they agree with each other while commits go
// on. Backups read through it (engine.snapshot()), and so does changesSince().

import { FlowStoreError } from '../errors.ts'
import {
  decodeLogEntry, decodeVersion, FLOW_RANGE, flowKey, HORIZON_KEY, keyString, logAfterRange, logKeyVersion, STORE_ID_KEY, VERSION_KEY
} from '../layout.ts'
import { prunedError } from './level-log.ts'
import type { Database } from './level-location.ts'
import type { EngineChange, EngineSnapshot } from './types.ts'

// As the open-time scan: a large read-ahead buffer and many entries per nextv().
const SCAN_HIGH_WATER_MARK_BYTES = 4 * 1024 * 1024
const SCAN_BATCH = 1000
/** Changes per batch handed out, and so flows fetched per getMany(). */
const CHANGE_BATCH = 256
/** Change-log entries (commits) read per step. */
const LOG_BATCH = 64

interface NextvIterator<K, V> {
  nextv (size: number): Promise<Array<[K, V]>>
  close (): Promise<void>
}

type Snapshot = ReturnType<Database['snapshot']>

export class LevelSnapshot implements EngineSnapshot {
  readonly version: number
  readonly storeId: string
  /** Every change-log entry at or below this version was pruned. */
  readonly horizon: number
  readonly #db: Database
  /** Undefined on a database without explicit snapshots: reads see the latest state. */
  readonly #snapshot: Snapshot | undefined

  private constructor (db: Database, snapshot: Snapshot | undefined, version: number, storeId: string, horizon: number) {
    this.#db = db
    this.#snapshot = snapshot
    this.version = version
    this.storeId = storeId
    this.horizon = horizon
  }

  /**
   * Takes a snapshot of `db` and reads its version and identity. `explicit`: the snapshot is
   * required (a backup); otherwise a database without explicit snapshots is read as it is
   * (changesSince()). `storeId` stands in for a missing identity.
   */
  static async take (db: Database, explicit: boolean, storeId: string): Promise<LevelSnapshot> {
    if (explicit && db.supports.explicitSnapshots !== true) {
      throw new TypeError('backup() needs a database with explicit snapshots (classic-level and memory-level have them)')
    }
    const snapshot = db.supports.explicitSnapshots === true ? db.snapshot() : undefined
    try {
      const version = decodeVersion(await db.get(VERSION_KEY, { keyEncoding: 'utf8', valueEncoding: 'view', snapshot } as never) as Uint8Array | undefined) ?? 0
      const id = await db.get(STORE_ID_KEY, { keyEncoding: 'utf8', valueEncoding: 'utf8', snapshot } as never) as string | undefined
      const horizon = decodeVersion(await db.get(HORIZON_KEY, { keyEncoding: 'utf8', valueEncoding: 'view', snapshot } as never) as Uint8Array | undefined) ?? 0
      return new LevelSnapshot(db, snapshot, version, id ?? storeId, horizon)
    } catch (err) {
      await snapshot?.close()
      throw err
    }
  }

  /** Every flow record, in key order, in batches. */
  async * flows (): AsyncGenerator<Array<readonly [string, Uint8Array]>> {
    const iterator = this.#db.iterator({
      gte: Buffer.from(FLOW_RANGE.gte),
      lt: Buffer.from(FLOW_RANGE.lt),
      keyEncoding: 'view',
      valueEncoding: 'view',
      highWaterMarkBytes: SCAN_HIGH_WATER_MARK_BYTES,
      snapshot: this.#snapshot
    } as never) as unknown as NextvIterator<Uint8Array, Uint8Array>
    try {
      for (;;) {
        const entries = await this.#step(iterator, SCAN_BATCH)
        if (entries.length === 0) break
        yield entries.map(([key, value]) => [keyString(key, FLOW_RANGE.gte.length), value] as const)
      }
    } finally {
      await iterator.close()
    }
  }

  changesSince (version: number): AsyncGenerator<EngineChange[]> {
    return this.changes(version, true)
  }

  /**
   * The changes after `version`, in version order, each id once (its latest change), in
   * batches; with `records`, each saved flow's record (undefined when it is missing: a damaged
   * store). Rejects with FLOWSTORE_CHANGES_PRUNED when the log no longer reaches `version`.
   */
  async * changes (version: number, records: boolean): AsyncGenerator<EngineChange[]> {
    if (version < this.horizon) throw prunedError(version, this.horizon)
    // The log lists every change of every commit: an id changed again later is moved to its
    // latest place (a Map keeps insertion order).
    const latest = new Map<string, EngineChange>()
    const iterator = this.#db.iterator({
      ...logAfterRange(version),
      keyEncoding: 'view',
      valueEncoding: 'view',
      snapshot: this.#snapshot
    } as never) as unknown as NextvIterator<Uint8Array, Uint8Array>
    try {
      for (;;) {
        const entries = await this.#step(iterator, LOG_BATCH)
        if (entries.length === 0) break
        for (const [key, value] of entries) {
          const at = logKeyVersion(key)
          const entry = decodeLogEntry(value)
          if (at === undefined || entry === undefined) {
            throw new FlowStoreError('FLOWSTORE_CORRUPT', `The change-log entry ${keyString(key, 0)} is damaged; run "flowstore check" on the store`)
          }
          // Within one commit, ids in key order (as layout 1 answered).
          const { ids, deleted } = entry
          const order = ids.map((_, i) => i).sort((a, b) => compareIds(ids[a]!, ids[b]!))
          for (const i of order) {
            latest.delete(ids[i]!)
            latest.set(ids[i]!, { id: ids[i]!, version: at, deleted: deleted[i]! })
          }
        }
      }
    } finally {
      await iterator.close()
    }
    let batch: EngineChange[] = []
    for (const change of latest.values()) {
      batch.push(change)
      if (batch.length === CHANGE_BATCH) {
        yield records ? await this.#withRecords(batch) : batch
        batch = []
      }
    }
    if (batch.length > 0) yield records ? await this.#withRecords(batch) : batch
  }

  async close (): Promise<void> {
    await this.#snapshot?.close()
  }

  async #withRecords (changes: EngineChange[]): Promise<EngineChange[]> {
    const saved = changes.filter((change) => !change.deleted)
    if (saved.length === 0) return changes
    let values: Array<Uint8Array | undefined>
    try {
      values = await this.#db.getMany(saved.map((change) => flowKey(change.id)), { keyEncoding: 'utf8', valueEncoding: 'view', snapshot: this.#snapshot } as never) as Array<Uint8Array | undefined>
    } catch (err) {
      throw this.#readError(err)
    }
    let next = 0
    return changes.map((change) => change.deleted ? change : { ...change, record: values[next++] })
  }

  async #step (iterator: NextvIterator<Uint8Array, Uint8Array>, size: number): Promise<Array<[Uint8Array, Uint8Array]>> {
    try {
      return await iterator.nextv(size)
    } catch (err) {
      throw this.#readError(err)
    }
  }

  /** A read that failed because the database was closed under it says so. */
  #readError (err: unknown): unknown {
    if (this.#db.status === 'open' || err instanceof FlowStoreError) return err
    return new FlowStoreError('FLOWSTORE_CLOSED', 'The database was closed while the store was being read', { cause: err })
  }
}

/** Orders ids as their UTF-8 bytes (LevelDB's key order): by code point, not UTF-16 unit. */
function compareIds (a: string, b: string): number {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) {
    let x = a.charCodeAt(i)
    let y = b.charCodeAt(i)
    if (x === y) continue
    // Surrogates (astral code points) sort after U+E000..U+FFFF in code point order.
    if (x >= 0xd800) x = x >= 0xe000 ? x - 0x800 : x + 0x2000
    if (y >= 0xd800) y = y >= 0xe000 ? y - 0x800 : y + 0x2000
    return x - y
  }
  return a.length - b.length
}
