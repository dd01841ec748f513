// LevelEngine: a store in one LevelDB directory (opened with classic-level) or in an
// abstract-level database the caller built (memory-level, a sublevel…): the embedded default.
// The layout is layout.ts's (f!/l!/m! keys). This process is the only writer of the
// database (level-location.ts refuses a second open), so the engine's own version counter is
// the store's, commits never find another writer's work in between, and watch() never fires.
// The change log is kept to `retainChanges` changes by pruning in the background
// (level-log.ts).

import { FlowStoreError } from '../errors.ts'
import { flowKey, recordVersion } from '../layout.ts'
import { isLevelCorruption, levelCorruptionError } from '../leveldb/corruption.ts'
import { commitOperations } from './level-batch.ts'
import { loadState } from './level-load.ts'
import { ChangeLog } from './level-log.ts'
import { type Database, isDatabase, type OpenedLocation, openLocation } from './level-location.ts'
import { LevelSnapshot } from './level-snapshot.ts'
import { resolveRetainChanges } from './retention.ts'
import type { CommitEntry, CommitResult, Engine, EngineChange, EngineChanges, EngineSnapshot, EngineState } from './types.ts'

export interface LevelEngineOptions {
  /**
   * How many changes (one per flow saved or deleted in a commit) the change log keeps at
   * least, for changesSince() and changed-only backups; older ones are pruned in the
   * background. Infinity keeps every change.
   * @default 100000
   */
  readonly retainChanges?: number
}

export { DEFAULT_RETAIN_CHANGES } from './retention.ts'

/**
 * A commit writing more record bytes than this is followed by a flush of LevelDB's memtable
 * (see commit()): LevelDB would otherwise keep it in its write-ahead log only, and replay it
 * at the next open (a million flows in one saveMany made the next open take three times as
 * long as a later one). LevelDB's own memtable holds 4 MiB.
 */
const BULK_COMMIT_BYTES = 8 * 1024 * 1024

// classic-level's batch option (not in abstract-level's types).
const SYNC = Object.freeze({ sync: true }) as object

const NEW = 0
const LOADING = 1
const OPEN = 2
const CLOSED = 3

export class LevelEngine implements Engine {
  readonly kind = 'level'
  readonly #location: string | Database
  readonly #retain: number
  #state = NEW
  #opened: OpenedLocation | undefined
  #log: ChangeLog | undefined
  #version = 0
  #storeId = ''
  /** A batch failed with an I/O error: reopen before the next one (see commit()). */
  #needsRecovery = false
  /** The memtable flush after a bulk commit, while it runs (close() waits for it). */
  #flushing: Promise<void> | undefined

  /** `location`: a directory (created if missing) or an abstract-level database. */
  constructor (location: string | Database, options: LevelEngineOptions = {}) {
    this.#retain = resolveRetainChanges(options.retainChanges)
    if (typeof location === 'string') {
      if (location.length === 0) throw new TypeError('FlowStore.open() needs a non-empty directory path')
    } else if (!isDatabase(location)) {
      throw new TypeError(`A LevelEngine takes a directory path or an abstract-level database, got ${typeof location}`)
    }
    this.#location = location
  }

  get directory (): string | undefined {
    return this.#opened?.directory
  }

  get description (): string {
    if (this.#opened?.directory !== undefined) return this.#opened.directory
    return typeof this.#location === 'string' ? this.#location : 'an abstract-level database'
  }

  /** Changes the change log holds now (at least `retainChanges` once it has that many). */
  get loggedChanges (): number {
    return this.#log?.size ?? 0
  }

  /** The version up to which the change log was pruned (changesSince() answers from it on). */
  get horizon (): number {
    return this.#log?.horizon ?? 0
  }

  async load (onFlow: (id: string, record: Uint8Array, keyProblem?: string) => void): Promise<EngineState> {
    return await this.#load(onFlow, undefined)
  }

  /** load() reading keys only (a keys-only scan: LevelDB still reads every block). */
  async loadIds (onId: (key: Uint8Array, start: number) => void, onUnreadable?: (id: string, record: Uint8Array, keyProblem: string | undefined) => void): Promise<EngineState> {
    return await this.#load(onUnreadable, onId)
  }

  readSync (id: string): Uint8Array | undefined {
    const { db } = this.#open()
    try {
      return db.getSync(flowKey(id), { keyEncoding: 'utf8', valueEncoding: 'view' }) as Uint8Array | undefined
    } catch (cause) {
      throw new FlowStoreError('FLOWSTORE_DECODE_ERROR', `Reading flow ${JSON.stringify(id)} from LevelDB failed`, { id, cause })
    }
  }

  async #load (onFlow: ((id: string, record: Uint8Array, keyProblem: string | undefined) => void) | undefined, onId: ((key: Uint8Array, start: number) => void) | undefined): Promise<EngineState> {
    if (this.#state !== NEW) throw new TypeError('This engine already served a store: an engine serves one store, make a new one for another')
    this.#state = LOADING
    this.#opened = await openLocation(this.#location)
    if (onId !== undefined && (this.#opened.db.supports as { getSync?: boolean }).getSync !== true) {
      throw new TypeError('preload: \'keys\' needs a database that reads synchronously (getSync): classic-level and memory-level do')
    }
    const state = await loadState(this.#opened.db, onFlow, onId)
    this.#log = new ChangeLog(this.#retain, state.log)
    this.#version = state.version
    this.#storeId = state.storeId
    this.#state = OPEN
    return { storeId: state.storeId, version: state.version }
  }

  async commit (entries: readonly CommitEntry[], options: { readonly sync: boolean }): Promise<CommitResult> {
    const { db, log } = this.#open()
    const conflicts = await this.#conflicts(db, entries)
    if (conflicts.length > 0) throw conflictError(conflicts)
    const previous = this.#version
    const version = previous + 1
    try {
      // LevelDB 1.20 keeps appending to its log after a failed append (a full disk, say),
      // behind a torn record that recovery would stop at, dropping later acknowledged batches.
      // Reopening first replays the log up to the torn (never acknowledged) record, writes
      // it out and starts a fresh log.
      if (this.#needsRecovery) {
        await log.idle()
        await this.#flushing
        await this.#opened!.reopen()
        this.#needsRecovery = false
      }
      const operations = commitOperations(entries, version, log.logged) as never
      await (options.sync ? db.batch(operations, SYNC) : db.batch(operations))
    } catch (cause) {
      if (hasCode(cause, 'LEVEL_IO_ERROR')) this.#needsRecovery = true
      throw new FlowStoreError('FLOWSTORE_WRITE_FAILED', `Writing ${entries.length} changed flow(s) to LevelDB failed`, { cause })
    }
    this.#version = version
    log.committed(entries.length, db)
    if (this.#flushing === undefined && recordBytes(entries) > BULK_COMMIT_BYTES) this.#flushMemtable(db)
    return { version, previous }
  }

  async changesSince (version: number, options: { readonly records?: boolean } = {}): Promise<EngineChanges> {
    const snapshot = await LevelSnapshot.take(this.#open().db, false, this.#storeId)
    try {
      const changes: EngineChange[] = []
      for await (const batch of snapshot.changes(version, options.records === true)) {
        for (const change of batch) changes.push(change)
      }
      return { version: snapshot.version, changes }
    } catch (err) {
      // A damaged table block met while reading the change record.
      if (isLevelCorruption(err)) throw levelCorruptionError(this.directory, err)
      throw err
    } finally {
      await snapshot.close()
    }
  }

  async snapshot (): Promise<EngineSnapshot> {
    return await LevelSnapshot.take(this.#open().db, true, this.#storeId)
  }

  watch (): () => void {
    // The only writer of its database: no other writer's commit to report.
    return () => {}
  }

  async close (): Promise<void> {
    if (this.#state === CLOSED) return
    this.#state = CLOSED
    await this.#log?.close()
    await this.#flushing
    await this.#opened?.close()
  }

  #open (): { db: Database, log: ChangeLog } {
    if (this.#state !== OPEN) throw new FlowStoreError('FLOWSTORE_CLOSED', 'The LevelDB engine is not open')
    return { db: this.#opened!.db, log: this.#log! }
  }

  /**
   * Has LevelDB write its memtable out to a table file and drop the write-ahead log that held
   * it, in the background (commits go on meanwhile). A compaction of a range no key sorts in
   * does exactly that and nothing more (LevelDB flushes the memtable before every manual
   * compaction). Only a database with compactRange (classic-level) is asked; a failure only
   * leaves the log to be replayed at the next open.
   */
  #flushMemtable (db: Database): void {
    const compact = (db as { compactRange?: (start: string, end: string, options: object) => Promise<void> }).compactRange
    if (typeof compact !== 'function') return
    const done = compact.call(db, '\u0000', '\u0000', { keyEncoding: 'utf8' }).catch(() => {})
    this.#flushing = done.finally(() => { this.#flushing = undefined })
  }

  /**
   * The entries whose ifVersion does not hold. The committed versions are read from the flow
   * records' headers (only for entries with a condition: nothing per id is kept in memory).
   */
  async #conflicts (db: Database, entries: readonly CommitEntry[]): Promise<string[]> {
    const guarded = entries.filter((entry) => entry.ifVersion !== undefined)
    if (guarded.length === 0) return []
    let records: Array<Uint8Array | undefined>
    try {
      records = await db.getMany(guarded.map((entry) => flowKey(entry.id)), { keyEncoding: 'utf8', valueEncoding: 'view' } as never) as Array<Uint8Array | undefined>
    } catch (cause) {
      throw new FlowStoreError('FLOWSTORE_WRITE_FAILED', 'Reading the committed versions of conditional writes failed', { cause })
    }
    const conflicts: string[] = []
    guarded.forEach((entry, i) => {
      const record = records[i]
      // A damaged header counts as version 0, as the cache shows it.
      const committed = record === undefined ? 0 : recordVersion(record) ?? 0
      if (committed !== entry.ifVersion) conflicts.push(entry.id)
    })
    return conflicts
  }
}

function recordBytes (entries: readonly CommitEntry[]): number {
  let bytes = 0
  for (const entry of entries) bytes += entry.record?.length ?? 0
  return bytes
}

function conflictError (ids: readonly string[]): FlowStoreError {
  const listed = ids.slice(0, 3).map((id) => JSON.stringify(id)).join(', ') + (ids.length > 3 ? ` and ${ids.length - 3} more` : '')
  return new FlowStoreError('FLOWSTORE_CONFLICT', `Flow ${listed} changed since the version given as ifVersion; nothing was written`, { ids })
}

function hasCode (err: unknown, code: string): boolean {
  for (let e = err as { code?: unknown, cause?: unknown } | undefined, depth = 0; e != null && depth < 4; e = e.cause as typeof e, depth++) {
    if (e.code === code) return true
  }
  return false
}
