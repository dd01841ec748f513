// Reading a LevelDB store as of one moment: the store version and identity, every flow
// record, and the change record after a version (with the records of the saved flows),
// all through one explicit LevelDB snapshot, so they agree with each other while commits go
// on. Backups read through it (engine.snapshot()), and so does changesSince().

import { FlowStoreError } from '../errors.ts'
import {
  changesAfterRange, decodeVersion, FLOW_RANGE, flowKey, keyString, parseChange, STORE_ID_KEY, VERSION_KEY
} from '../layout.ts'
import type { Database } from './level-location.ts'
import type { EngineChange, EngineSnapshot } from './types.ts'

// As the open-time scan: a large read-ahead buffer and many entries per nextv().
const SCAN_HIGH_WATER_MARK_BYTES = 4 * 1024 * 1024
const SCAN_BATCH = 1000
/** Change-record entries per step, and so flows fetched per getMany(). */
const CHANGE_BATCH = 256

interface NextvIterator<K, V> {
  nextv (size: number): Promise<Array<[K, V]>>
  close (): Promise<void>
}

type Snapshot = ReturnType<Database['snapshot']>

export class LevelSnapshot implements EngineSnapshot {
  readonly version: number
  readonly storeId: string
  readonly #db: Database
  /** Undefined on a database without explicit snapshots: reads see the latest state. */
  readonly #snapshot: Snapshot | undefined

  private constructor (db: Database, snapshot: Snapshot | undefined, version: number, storeId: string) {
    this.#db = db
    this.#snapshot = snapshot
    this.version = version
    this.storeId = storeId
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
      return new LevelSnapshot(db, snapshot, version, id ?? storeId)
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
   * The change record after `version`, in version order, in batches; with `records`, each
   * saved flow's record (undefined when it is missing: a damaged store).
   */
  async * changes (version: number, records: boolean): AsyncGenerator<EngineChange[]> {
    const iterator = this.#db.iterator({
      ...changesAfterRange(version),
      keyEncoding: 'view',
      valueEncoding: 'view',
      snapshot: this.#snapshot
    } as never) as unknown as NextvIterator<Uint8Array, Uint8Array>
    try {
      for (;;) {
        const entries = await this.#step(iterator, CHANGE_BATCH)
        if (entries.length === 0) break
        const changes: EngineChange[] = entries.map(([key, value]) => parseChange(key, value))
        yield records ? await this.#withRecords(changes) : changes
      }
    } finally {
      await iterator.close()
    }
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
