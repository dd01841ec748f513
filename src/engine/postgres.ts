// PostgresEngine: a store in PostgreSQL, shared by every process (on any host) that opens
// it. Each process keeps its own cache; this engine commits its batches, reads the changes
// other writers made, and tells the store when there are some (postgres-notify.ts).
//
// A commit is ONE transaction: it bumps the store row's version (the UPDATE takes that row's
// lock, so commits run one at a time and version order is commit order), checks ifVersion
// entries under that lock, writes the flow rows (tombstones for deletions) with the new
// version, records this writer's commit number, and sends NOTIFY, which PostgreSQL delivers
// only once the transaction has committed. A connection lost before COMMIT was sent means
// the commit did not happen, and it is tried again on a fresh connection; one lost while
// COMMIT was on its way is looked up afterwards by the commit number (after taking the row
// lock, so the old transaction has ended): a commit is never applied twice.
//
// Tombstones older than the retention (option retainChanges) are pruned in the background
// (postgres-prune.ts); <table>_horizon says up to which version, and changesSince() /
// snapshot changes below it are refused with FLOWSTORE_CHANGES_PRUNED.
//
// `pg` (node-postgres) is imported when a PostgreSQL store is opened, never before: LevelDB
// users do not need it installed.

import { randomUUID } from 'node:crypto'
import type pg from 'pg'
import { FlowStoreError } from '../errors.ts'
import { writeVersion } from '../layout.ts'
import { disconnected, errorText, isConnectionError, readFailed } from './postgres-errors.ts'
import { ChangeWatcher } from './postgres-notify.ts'
import { TombstonePruner, type WithClient } from './postgres-prune.ts'
import { ensureSchema, type TableNames, tableNames } from './postgres-schema.ts'
import { describeSettings, describeUrl, parsePostgresUrl } from './postgres-url.ts'
import { prunedError, resolveRetainChanges } from './retention.ts'
import type { CommitEntry, CommitResult, Engine, EngineChange, EngineChanges, EngineSnapshot, EngineState } from './types.ts'

/** The part of a node-postgres `Pool` the engine uses (a `pg.Pool` is one). */
export interface PostgresPool {
  connect (): Promise<PostgresPoolClient>
  on (event: 'error', listener: (err: Error) => void): unknown
  /** The pool's settings: the engine makes its LISTEN connection from them. */
  readonly options?: object
}

/** The part of a node-postgres pool client the engine uses. */
export interface PostgresPoolClient {
  query (config: { text: string, values?: unknown[], rowMode?: 'array' }): Promise<{ rows: unknown[] }>
  release (err?: Error | boolean): void
  on (event: 'error', listener: (err: Error) => void): unknown
}

export interface PostgresOptions {
  /**
   * Where the database is: `postgres://user:password@host:port/database` (any form
   * node-postgres accepts). Its `schema` and `table` query parameters, if any, are
   * flowstore's (see below; the options win) and are not sent to the server. Give this or
   * `pool`.
   */
  connectionString?: string
  /**
   * A node-postgres `Pool` you made, used for commits and reads; `close()` does not end it.
   * The notification connection (LISTEN) is a separate client made from `pool.options`.
   */
  pool?: PostgresPool
  /**
   * The schema the store's tables are in; created on first open when missing.
   * @default 'public'
   */
  schema?: string
  /**
   * The name of the flows table; the store also uses `<table>_store`, `<table>_writers` and `<table>_horizon`.
   * Several stores can share a schema under different names.
   * @default 'flowstore'
   */
  table?: string
  /**
   * Create the tables when there is no store yet. With `false`, opening a missing store
   * fails with FLOWSTORE_OPEN_FAILED.
   * @default true
   */
  create?: boolean
  /**
   * How often the store version is read to find other writers' commits when a notification
   * was lost (the notification connection down, or an intermediary that drops NOTIFY).
   * @default 1000
   */
  pollIntervalMs?: number
  /**
   * Connections in the pool the engine makes from `connectionString`.
   * @default 4
   */
  poolSize?: number
  /**
   * How long to wait for a connection before failing (FLOWSTORE_OPEN_FAILED at open,
   * FLOWSTORE_DISCONNECTED later).
   * @default 10000
   */
  connectTimeoutMs?: number
  /**
   * How many changes the store's change record keeps at least, counted in rows (one per id,
   * at its latest change): tombstones (rows of deleted ids) older than the newest
   * `retainChanges` rows are pruned in the background, and changesSince() or a changed-only
   * backup since a version below the pruned horizon fails with FLOWSTORE_CHANGES_PRUNED.
   * Infinity keeps every tombstone. FlowStore.open(url, { retainChanges }) passes it on.
   * @default 100000
   */
  retainChanges?: number
}

/** One row of fillEmpty(): an id with its version and record, or undefined for a deletion. */
export interface RestoreRow {
  readonly id: string
  readonly version: number
  readonly record: Uint8Array | undefined
}

const DEFAULT_SCHEMA = 'public'
const DEFAULT_TABLE = 'flowstore'
const DEFAULT_POLL_MS = 1000
const DEFAULT_POOL_SIZE = 4
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000
/** Rows per FETCH from a cursor (open, backups). */
const FETCH_ROWS = 2000
/** Rows per INSERT statement (two parameters each; PostgreSQL allows 65,535). */
const WRITE_ROWS = 10_000
/** Attempts of a commit that provably did not happen because the connection was lost. */
const COMMIT_ATTEMPTS = 3
const RETRY_FIRST_MS = 50
const RETRY_MAX_MS = 1000
/**
 * A transaction left open by a client that vanished holds the version row: the server ends it
 * after this long, so other writers are not held up for the TCP keepalive timeout (hours).
 */
const IDLE_IN_TRANSACTION_MS = 60_000

type PgModule = typeof pg

/** A PostgreSQL engine for `FlowStore.open({ engine })` (see README "PostgreSQL"). */
export function postgres (options: PostgresOptions): PostgresEngine {
  return new PostgresEngine(options)
}

/**
 * The engine for a `postgres://` or `postgresql://` URL (what FlowStore.open() uses for one).
 * Its `schema` and `table` query parameters choose the tables.
 */
export function openPostgresEngine (url: string, options: Omit<PostgresOptions, 'connectionString' | 'pool'> = {}): PostgresEngine {
  return new PostgresEngine({ ...options, connectionString: url })
}

interface ResolvedPostgresOptions {
  readonly connectionString: string | undefined
  readonly pool: PostgresPool | undefined
  readonly names: TableNames
  readonly create: boolean
  readonly pollIntervalMs: number
  readonly poolSize: number
  readonly connectTimeoutMs: number
  readonly retainChanges: number
}

function resolvePostgresOptions (options: PostgresOptions): ResolvedPostgresOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError(`postgres() takes an options object, got ${String(options)}`)
  const { connectionString, pool } = options
  if ((connectionString === undefined) === (pool === undefined)) {
    throw new TypeError('postgres() needs exactly one of connectionString (a postgres:// URL) and pool (a pg Pool)')
  }
  if (connectionString !== undefined && (typeof connectionString !== 'string' || connectionString.length === 0)) {
    throw new TypeError(`Option connectionString must be a non-empty string, got ${String(connectionString)}`)
  }
  if (pool !== undefined && (typeof pool !== 'object' || pool === null || typeof pool.connect !== 'function')) {
    throw new TypeError(`Option pool must be a pg Pool, got ${String(pool)}`)
  }
  const create = options.create ?? true
  if (typeof create !== 'boolean') throw new TypeError(`Option create must be a boolean, got ${String(create)}`)
  const url = connectionString === undefined ? undefined : parsePostgresUrl(connectionString)
  return {
    connectionString: url?.connectionString,
    pool,
    names: tableNames(options.schema ?? url?.schema ?? DEFAULT_SCHEMA, options.table ?? url?.table ?? DEFAULT_TABLE),
    create,
    pollIntervalMs: positive('pollIntervalMs', options.pollIntervalMs ?? DEFAULT_POLL_MS),
    poolSize: positive('poolSize', options.poolSize ?? DEFAULT_POOL_SIZE),
    connectTimeoutMs: positive('connectTimeoutMs', options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS),
    retainChanges: resolveRetainChanges(options.retainChanges)
  }
}

function positive (name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new TypeError(`Option ${name} must be a positive integer, got ${String(value)}`)
  return value
}

async function loadPg (): Promise<PgModule> {
  try {
    const module = await import('pg') as { default?: PgModule } & PgModule
    return module.default ?? module
  } catch (cause) {
    throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', 'A PostgreSQL store needs the pg package (node-postgres): npm install pg', { cause })
  }
}

/** Where a commit attempt stopped: before COMMIT was sent, nothing can have been written. */
type Stage = 'connecting' | 'writing' | 'committing'

class CommitAttemptError extends Error {
  constructor (readonly stage: Stage, readonly reason: unknown) {
    super(errorText(reason))
  }
}

export class PostgresEngine implements Engine {
  readonly kind = 'postgres'
  readonly directory = undefined
  readonly description: string
  readonly #options: ResolvedPostgresOptions
  readonly #names: TableNames
  /** This engine's identity in the writers table and in its notifications. */
  readonly #writerId = randomUUID()
  #pg: PgModule | undefined
  #pool: PostgresPool | undefined
  #ownPool: pg.Pool | undefined
  #watcher: ChangeWatcher | undefined
  readonly #listeners = new Set<(version: number) => void>()
  #loadStarted = false
  #loaded = false
  #closed = false
  #commitSeq = 0
  /** Commits in flight, and a counter bumped when one starts or ends: see #readHead. */
  #committing = 0
  #commitEpoch = 0
  /** The highest version this engine committed (or loaded). */
  #lastOwn = 0
  #cursors = 0
  /** Pool clients given an 'error' listener (see #connect). */
  readonly #guarded = new WeakSet<PostgresPoolClient>()
  /**
   * Whether the store has its horizon table: false only for a store made before it existed,
   * opened by a role that may not add it (then nothing prunes through this engine, and reads
   * look for the table again: another process may add it and prune).
   */
  #horizonTable = true
  #pruner: TombstonePruner | undefined

  constructor (options: PostgresOptions) {
    this.#options = resolvePostgresOptions(options)
    this.#names = this.#options.names
    const where = this.#options.connectionString !== undefined
      ? describeUrl(this.#options.connectionString)
      : describeSettings(this.#options.pool?.options as Parameters<typeof describeSettings>[0])
    this.description = `${where} (table ${this.#names.label})`
  }

  /** True while the notification connection is listening (false before the first watch()). */
  get listening (): boolean {
    return this.#watcher?.listening ?? false
  }

  /** Notification connections made so far: more than one after a lost connection was made again. */
  get notificationConnections (): number {
    return this.#watcher?.connections ?? 0
  }

  /** The version up to which tombstones were pruned, as last seen by this engine (0: none). */
  get horizon (): number {
    return this.#pruner?.horizon ?? 0
  }

  /** Tombstones this engine pruned since it was opened. */
  get prunedTombstones (): number {
    return this.#pruner?.removed ?? 0
  }

  /** Resolves once the pruning pass in flight, if any, is done (for tests). */
  async pruneIdle (): Promise<void> {
    await this.#pruner?.idle()
  }

  async load (onFlow: (id: string, record: Uint8Array) => void): Promise<EngineState> {
    if (this.#closed) throw closedError()
    if (this.#loadStarted) throw new TypeError('A PostgresEngine serves one store: load() may be called once (make a new engine with postgres() for another store)')
    this.#loadStarted = true
    const pg = this.#pg ??= await loadPg()
    this.#pool ??= this.#makePool(pg)
    let client: PostgresPoolClient
    try {
      client = await this.#connect()
    } catch (cause) {
      throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', `Cannot connect to PostgreSQL at ${this.description}: ${errorText(cause)}`, { cause })
    }
    let failed: unknown
    try {
      const { horizonTable } = await ensureSchema(client as unknown as pg.ClientBase, this.#names, this.#options.create)
      this.#horizonTable = horizonTable
      // Writer rows are needed only for moments after a lost connection (see #landed). Best
      // effort: a role without DELETE on the table still opens the store.
      await client.query({ text: `DELETE FROM ${this.#names.writers} WHERE committed_at < now() - interval '7 days'` }).catch(() => {})
      // One snapshot for the store row and every flow row.
      await client.query({ text: 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' })
      const head = await client.query({ text: `SELECT version, store_id::text, ${this.#horizonSql()} FROM ${this.#names.store}`, rowMode: 'array' })
      const [version, storeId, horizon] = head.rows[0] as [string, string, string]
      const tombstones = new Map<string, number>()
      for await (const rows of this.#cursor(client, `SELECT id, version, record FROM ${this.#names.flows} ORDER BY id`, [])) {
        for (const [id, rowVersion, record] of rows as Array<[Buffer, string, Buffer | null]>) {
          const key = id.toString('utf8')
          if (record === null) tombstones.set(key, Number(rowVersion))
          else onFlow(key, record)
        }
      }
      await client.query({ text: 'COMMIT' })
      this.#loaded = true
      this.#lastOwn = Number(version)
      if (this.#horizonTable && this.#options.retainChanges !== Infinity) {
        this.#pruner = new TombstonePruner(this.#options.retainChanges, this.#names, Number(horizon), this.#withClient)
        // Tombstones left from before (or from processes that stopped): pruned once after open.
        this.#pruner.schedule()
      }
      if (this.#listeners.size > 0) this.#startWatching()
      return { storeId, version: Number(version), tombstones }
    } catch (err) {
      failed = err
      if (err instanceof FlowStoreError) throw err
      throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', `Opening the store in PostgreSQL at ${this.description} failed: ${errorText(err)}`, { cause: err })
    } finally {
      if (failed !== undefined) await client.query({ text: 'ROLLBACK' }).catch(() => {})
      client.release(failed !== undefined && isConnectionError(failed) ? toError(failed) : undefined)
      if (failed !== undefined) await this.#endPool()
    }
  }

  async commit (entries: readonly CommitEntry[], options: { readonly sync: boolean }): Promise<CommitResult> {
    if (this.#closed) throw closedError()
    if (!this.#loaded) throw new TypeError('PostgresEngine.commit() before load()')
    this.#committing++
    this.#commitEpoch++
    try {
      let retryMs = RETRY_FIRST_MS
      for (let attempt = 1; ; attempt++) {
        const seq = ++this.#commitSeq
        let version: number | undefined
        let failure: CommitAttemptError
        try {
          version = await this.#attempt(entries, options.sync, seq)
        } catch (err) {
          if (!(err instanceof CommitAttemptError)) throw err
          failure = err
          // COMMIT was sent: it may have landed. Find out before doing anything else.
          if (err.stage === 'committing') version = await this.#landed(seq, err.reason)
        }
        if (version !== undefined) {
          if (version > this.#lastOwn) this.#lastOwn = version
          this.#pruner?.committed(entries.length)
          return { version, previous: version - 1 }
        }
        // Provably not committed.
        if (!isConnectionError(failure!.reason)) {
          throw new FlowStoreError('FLOWSTORE_WRITE_FAILED', `Writing ${entries.length} changed flow(s) to PostgreSQL at ${this.description} failed: ${failure!.message}; nothing was written`, { cause: failure!.reason })
        }
        if (attempt >= COMMIT_ATTEMPTS || this.#closed) {
          throw disconnected(`Writing ${entries.length} changed flow(s) to PostgreSQL at ${this.description} failed: the connection was lost or refused (${failure!.message}); nothing was written`, failure!.reason)
        }
        await delay(retryMs)
        retryMs = Math.min(retryMs * 4, RETRY_MAX_MS)
      }
    } finally {
      this.#committing--
      this.#commitEpoch++
    }
  }

  /** One commit transaction; its version, or a CommitAttemptError saying how far it got. */
  async #attempt (entries: readonly CommitEntry[], sync: boolean, seq: number): Promise<number> {
    const names = this.#names
    let client: PostgresPoolClient
    try {
      client = await this.#connect()
    } catch (cause) {
      throw new CommitAttemptError('connecting', cause)
    }
    let stage: Stage = 'writing'
    let broken: unknown
    try {
      // One round trip: the lock on the version row is taken (and waited for) by the UPDATE.
      const begun = await client.query({
        text: `BEGIN; SET LOCAL idle_in_transaction_session_timeout = ${IDLE_IN_TRANSACTION_MS};${sync ? ' SET LOCAL synchronous_commit = on;' : ''} UPDATE ${names.store} SET version = version + 1 RETURNING version`,
        rowMode: 'array'
      }) as unknown as Array<{ rows: unknown[][] }> | { rows: unknown[][] }
      const last = Array.isArray(begun) ? begun[begun.length - 1]! : begun
      const version = Number(last.rows[0]![0])

      const expected = entries.filter((entry) => entry.ifVersion !== undefined)
      if (expected.length > 0) {
        const conflicts = await this.#conflicts(client, expected)
        if (conflicts.length > 0) {
          await client.query({ text: 'ROLLBACK' })
          throw conflictError(conflicts, this.description)
        }
      }

      for (const entry of entries) if (entry.record !== undefined) writeVersion(entry.record, 1, version)
      for (let start = 0; start < entries.length; start += WRITE_ROWS) {
        const chunk = entries.slice(start, start + WRITE_ROWS)
        const lastChunk = start + WRITE_ROWS >= entries.length
        await client.query(lastChunk ? this.#finalWrite(chunk, version, seq) : this.#write(chunk, version))
      }
      if (entries.length === 0) await client.query(this.#finalWrite([], version, seq))
      stage = 'committing'
      await client.query({ text: 'COMMIT' })
      return version
    } catch (err) {
      if (err instanceof FlowStoreError) throw err
      broken = err
      if (stage === 'writing' && !isConnectionError(err)) await client.query({ text: 'ROLLBACK' }).catch(() => {})
      throw new CommitAttemptError(stage, err)
    } finally {
      // A client whose connection failed is destroyed, not returned to the pool.
      client.release(broken !== undefined && isConnectionError(broken) ? toError(broken) : undefined)
    }
  }

  /** The ids whose ifVersion does not hold, read under the version row's lock. */
  async #conflicts (client: PostgresPoolClient, expected: readonly CommitEntry[]): Promise<string[]> {
    const ids = expected.map((entry) => Buffer.from(entry.id, 'utf8'))
    const result = await client.query({
      text: `SELECT id, version, record IS NULL FROM ${this.#names.flows} WHERE id = ANY($1::bytea[])`,
      values: [ids],
      rowMode: 'array'
    })
    const current = new Map<string, number>()
    for (const [id, version, deleted] of result.rows as Array<[Buffer, string, boolean]>) {
      if (!deleted) current.set(id.toString('utf8'), Number(version))
    }
    return expected.filter((entry) => (current.get(entry.id) ?? 0) !== entry.ifVersion).map((entry) => entry.id)
  }

  #write (entries: readonly CommitEntry[], version: number): { text: string, values: unknown[] } {
    const values: unknown[] = []
    const rows: string[] = []
    for (const entry of entries) {
      values.push(Buffer.from(entry.id, 'utf8'), entry.record === undefined ? null : asBuffer(entry.record))
      rows.push(`($${values.length - 1}::bytea, ${version}, $${values.length}::bytea)`)
    }
    return {
      text: `INSERT INTO ${this.#names.flows} (id, version, record) VALUES ${rows.join(', ')} ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, record = EXCLUDED.record`,
      values
    }
  }

  /** The last write of a commit, with the writer's commit number and the notification. */
  #finalWrite (entries: readonly CommitEntry[], version: number, seq: number): { text: string, values: unknown[] } {
    const names = this.#names
    const flows = entries.length === 0 ? undefined : this.#write(entries, version)
    const values = flows?.values ?? []
    const first = values.length + 1
    values.push(this.#writerId, seq, names.channel, `${version}:${this.#writerId}`)
    return {
      text: `WITH ${flows === undefined ? '' : `written AS (${flows.text}), `}writer AS (
  INSERT INTO ${names.writers} (writer_id, commit_seq, version) VALUES ($${first}::uuid, $${first + 1}::bigint, ${version})
  ON CONFLICT (writer_id) DO UPDATE SET commit_seq = EXCLUDED.commit_seq, version = EXCLUDED.version, committed_at = now()
) SELECT pg_notify($${first + 2}, $${first + 3})`,
      values
    }
  }

  /**
   * Whether commit number `seq`, whose COMMIT was sent when the connection failed, landed:
   * its version, or undefined. Waits for the version row's lock first, so the transaction
   * that sent it has ended one way or the other; tries until the server answers.
   */
  async #landed (seq: number, cause: unknown): Promise<number | undefined> {
    let retryMs = RETRY_FIRST_MS
    for (;;) {
      if (this.#closed) {
        throw disconnected(`The store was closed while the outcome of a commit to PostgreSQL at ${this.description} was unknown (the connection was lost as it committed: ${errorText(cause)}); reopen the store to see whether it landed`, cause)
      }
      let client: PostgresPoolClient | undefined
      let broken: unknown
      try {
        client = await this.#connect()
        await client.query({ text: 'BEGIN' })
        await client.query({ text: `SELECT version FROM ${this.#names.store} FOR SHARE` })
        const result = await client.query({
          text: `SELECT commit_seq, version FROM ${this.#names.writers} WHERE writer_id = $1::uuid`,
          values: [this.#writerId],
          rowMode: 'array'
        })
        await client.query({ text: 'COMMIT' })
        const row = result.rows[0] as [string, string] | undefined
        return row !== undefined && Number(row[0]) === seq ? Number(row[1]) : undefined
      } catch (err) {
        broken = err
        if (!isConnectionError(err)) {
          await client?.query({ text: 'ROLLBACK' }).catch(() => {})
          throw new FlowStoreError('FLOWSTORE_WRITE_FAILED', `Checking whether a commit to PostgreSQL at ${this.description} landed failed: ${errorText(err)}`, { cause: err })
        }
      } finally {
        client?.release(broken !== undefined && isConnectionError(broken) ? toError(broken) : undefined)
      }
      await delay(retryMs)
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS)
    }
  }

  async changesSince (version: number, options: { readonly records?: boolean } = {}): Promise<EngineChanges> {
    if (this.#closed) throw closedError()
    const records = options.records === true
    let client: PostgresPoolClient | undefined
    let broken: unknown
    let inTransaction = false
    try {
      client = await this.#connect()
      if (!this.#horizonTable) {
        // The table may have been added (and tombstones pruned) by another process since
        // open: looked for within the read's own snapshot (see #lookForHorizonTable).
        await client.query({ text: 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' })
        inTransaction = true
        await this.#lookForHorizonTable(client)
      }
      // One statement, one snapshot: the head version, the horizon, and every change up to
      // the head (none when the horizon is above `version`: the answer is refused).
      const result = await client.query({
        text: `SELECT s.version, h.horizon, f.id, f.version, f.record IS NULL${records ? ', f.record' : ''}
FROM ${this.#names.store} s CROSS JOIN (SELECT ${this.#horizonSql()} AS horizon) h
LEFT JOIN ${this.#names.flows} f ON f.version > $1 AND h.horizon <= $1
ORDER BY f.version, f.id`,
        values: [version],
        rowMode: 'array'
      })
      if (inTransaction) {
        inTransaction = false
        await client.query({ text: 'COMMIT' })
      }
      const rows = result.rows as Array<[string, string, Buffer | null, string | null, boolean | null, Buffer | null]>
      const head = rows.length === 0 ? version : Number(rows[0]![0])
      const horizon = rows.length === 0 ? 0 : Number(rows[0]![1])
      if (version < horizon) throw prunedError(version, horizon)
      const changes: EngineChange[] = []
      for (const [, , id, changed, deleted, record] of rows) {
        if (id === null) continue
        const change: EngineChange = records && deleted !== true
          ? { id: id.toString('utf8'), version: Number(changed), deleted: false, record: record ?? undefined }
          : { id: id.toString('utf8'), version: Number(changed), deleted: deleted === true }
        changes.push(change)
      }
      return { version: head, changes }
    } catch (err) {
      if (err instanceof FlowStoreError) throw err
      broken = err
      if (inTransaction && !isConnectionError(err)) await client?.query({ text: 'ROLLBACK' }).catch(() => {})
      throw readFailed('Reading the changes', this.description, err)
    } finally {
      client?.release(broken !== undefined && isConnectionError(broken) ? toError(broken) : undefined)
    }
  }

  async snapshot (): Promise<EngineSnapshot> {
    if (this.#closed) throw closedError()
    let client: PostgresPoolClient
    try {
      client = await this.#connect()
    } catch (err) {
      throw readFailed('Starting a backup', this.description, err)
    }
    let state: [string, string, string]
    try {
      await client.query({ text: 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' })
      if (!this.#horizonTable) await this.#lookForHorizonTable(client)
      const head = await client.query({ text: `SELECT version, store_id::text, ${this.#horizonSql()} FROM ${this.#names.store}`, rowMode: 'array' })
      state = head.rows[0] as [string, string, string]
    } catch (err) {
      await client.query({ text: 'ROLLBACK' }).catch(() => {})
      client.release(isConnectionError(err) ? toError(err) : undefined)
      throw readFailed('Starting a backup', this.description, err)
    }
    const names = this.#names
    const description = this.description
    const cursor = this.#cursor.bind(this)
    let closed = false
    let broken: unknown
    const horizon = Number(state[2])
    return {
      version: Number(state[0]),
      storeId: state[1],
      async * flows () {
        try {
          for await (const rows of cursor(client, `SELECT id, record FROM ${names.flows} WHERE record IS NOT NULL ORDER BY id`, [])) {
            yield (rows as Array<[Buffer, Buffer]>).map(([id, record]) => [id.toString('utf8'), record] as const)
          }
        } catch (err) {
          broken ??= err
          throw readFailed('Reading the flows for a backup', description, err)
        }
      },
      async * changesSince (version: number) {
        // The snapshot's horizon: tombstones pruned later are still in this snapshot.
        if (version < horizon) throw prunedError(version, horizon)
        try {
          for await (const rows of cursor(client, `SELECT id, version, record FROM ${names.flows} WHERE version > $1 ORDER BY version, id`, [version])) {
            yield (rows as Array<[Buffer, string, Buffer | null]>).map(([id, changed, record]): EngineChange => record === null
              ? { id: id.toString('utf8'), version: Number(changed), deleted: true }
              : { id: id.toString('utf8'), version: Number(changed), deleted: false, record })
          }
        } catch (err) {
          broken ??= err
          throw readFailed('Reading the changes for a backup', description, err)
        }
      },
      async close () {
        if (closed) return
        closed = true
        await client.query({ text: 'COMMIT' }).catch((err: unknown) => { broken ??= err })
        client.release(broken !== undefined && isConnectionError(broken) ? toError(broken) : undefined)
      }
    }
  }

  /**
   * Fills this store, which must be empty (version 0, no rows), in ONE transaction that holds
   * the version row throughout: `fill` hands rows to `write` (ids with the versions and
   * records they had, undefined for a deletion); then the store version becomes `version`
   * and the store gets a new identity. If anything fails, nothing is written
   * (FLOWSTORE_TARGET_NOT_EMPTY when the store is not empty). Returns the flow count.
   * `horizon`: the version from which the rows hold every deletion (a full backup's version:
   * the deletions before it are not in it); changes since an earlier one are refused.
   */
  async fillEmpty (version: number, fill: (write: (rows: readonly RestoreRow[]) => Promise<void>) => Promise<void>, horizon = 0): Promise<number> {
    if (this.#closed) throw closedError()
    if (!this.#loaded) throw new TypeError('PostgresEngine.fillEmpty() before load()')
    const names = this.#names
    let client: PostgresPoolClient
    try {
      client = await this.#connect()
    } catch (err) {
      throw readFailed('Restoring', this.description, err)
    }
    let broken: unknown
    try {
      await client.query({ text: 'BEGIN' })
      const [row] = (await client.query({ text: `SELECT version, EXISTS (SELECT 1 FROM ${names.flows}) FROM ${names.store} FOR UPDATE`, rowMode: 'array' })).rows as Array<[string, boolean]>
      if (row === undefined || Number(row[0]) !== 0 || row[1]) {
        throw new FlowStoreError('FLOWSTORE_TARGET_NOT_EMPTY', `The PostgreSQL store ${this.description} is not empty; restore into a new one (another table or schema: ?table=… or ?schema=… in the URL). flowstore never deletes a PostgreSQL store's rows`)
      }
      await fill(async (rows) => {
        const unique = [...new Map(rows.map((one) => [one.id, one])).values()]
        for (let start = 0; start < unique.length; start += WRITE_ROWS) {
          const values: unknown[] = []
          const tuples: string[] = []
          for (const one of unique.slice(start, start + WRITE_ROWS)) {
            values.push(Buffer.from(one.id, 'utf8'), one.version, one.record === undefined ? null : asBuffer(one.record))
            tuples.push(`($${values.length - 2}::bytea, $${values.length - 1}::bigint, $${values.length}::bytea)`)
          }
          await client.query({
            text: `INSERT INTO ${names.flows} (id, version, record) VALUES ${tuples.join(', ')} ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, record = EXCLUDED.record`,
            values
          })
        }
      })
      await client.query({ text: `UPDATE ${names.store} SET version = $1, store_id = $2::uuid`, values: [version, randomUUID()] })
      if (horizon > 0) {
        if (!this.#horizonTable) throw new FlowStoreError('FLOWSTORE_WRITE_FAILED', `The PostgreSQL store ${this.description} has no table ${names.plain.horizon} (made before it existed, and this role may not add it): it cannot record that the restored store knows no deletions before version ${horizon}. Open it once with a role that may create tables, then restore`)
        await client.query({
          text: `INSERT INTO ${names.horizon} AS h (singleton, horizon) VALUES (true, $1) ON CONFLICT (singleton) DO UPDATE SET horizon = GREATEST(h.horizon, EXCLUDED.horizon), pruned_at = now()`,
          values: [horizon]
        })
      }
      await client.query({ text: 'SELECT pg_notify($1, $2)', values: [names.channel, `${version}:${this.#writerId}`] })
      const [count] = (await client.query({ text: `SELECT count(*) FROM ${names.flows} WHERE record IS NOT NULL`, rowMode: 'array' })).rows as Array<[string]>
      await client.query({ text: 'COMMIT' })
      this.#lastOwn = Math.max(this.#lastOwn, version)
      return Number(count![0])
    } catch (err) {
      broken = err
      await client.query({ text: 'ROLLBACK' }).catch(() => {})
      if (err instanceof FlowStoreError) throw err
      if (isConnectionError(err)) throw disconnected(`Restoring into PostgreSQL at ${this.description} failed: the connection was lost (${errorText(err)}); nothing was restored`, err)
      throw new FlowStoreError('FLOWSTORE_WRITE_FAILED', `Restoring into PostgreSQL at ${this.description} failed: ${errorText(err)}; nothing was restored`, { cause: err })
    } finally {
      client.release(broken !== undefined && isConnectionError(broken) ? toError(broken) : undefined)
    }
  }

  watch (listener: (version: number) => void): () => void {
    if (typeof listener !== 'function') throw new TypeError(`watch() takes a function, got ${String(listener)}`)
    this.#listeners.add(listener)
    if (this.#loaded && !this.#closed) {
      if (this.#watcher === undefined) this.#startWatching()
      else this.#watcher.poll()
    }
    return () => { this.#listeners.delete(listener) }
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#listeners.clear()
    await whileHeld(async () => {
      await this.#pruner?.close()
      await this.#watcher?.stop()
      this.#watcher = undefined
      await this.#endPool()
    })
  }

  /** The horizon as an SQL expression (0 for a store without the horizon table). */
  #horizonSql (): string {
    return this.#horizonTable ? `(SELECT COALESCE(max(horizon), 0) FROM ${this.#names.horizon})` : '0'
  }

  /**
   * For a store opened without the horizon table: whether another process added it since.
   * Called as the first statement of a REPEATABLE READ transaction: its snapshot is taken
   * before the catalog is looked at, so when the table is not there yet, no pruning it would
   * record is in the snapshot either.
   */
  async #lookForHorizonTable (client: PostgresPoolClient): Promise<void> {
    const result = await client.query({ text: 'SELECT to_regclass($1) IS NOT NULL', values: [this.#names.horizon], rowMode: 'array' })
    if ((result.rows[0] as [boolean])[0]) this.#horizonTable = true
  }

  /** Runs `work` with a pool client (the pruner's queries). */
  readonly #withClient: WithClient = async (work) => {
    if (this.#closed) throw closedError()
    const client = await this.#connect()
    let broken: unknown
    try {
      // Without values: the simple protocol, which runs several statements (and then has no rows).
      return await work(async (text, values) => ((await client.query(values === undefined ? { text, rowMode: 'array' } : { text, values, rowMode: 'array' })).rows as unknown[][] | undefined) ?? [])
    } catch (err) {
      broken = err
      throw err
    } finally {
      client.release(broken !== undefined && isConnectionError(broken) ? toError(broken) : undefined)
    }
  }

  async #endPool (): Promise<void> {
    const own = this.#ownPool
    this.#ownPool = undefined
    if (own !== undefined) await whileHeld(async () => { await own.end().catch(() => {}) })
  }

  /**
   * A client from the pool. A checked-out client whose connection drops emits 'error' besides
   * failing its query; without a listener that would crash the process (the pool listens only
   * while the client is idle). The failed query reports the error.
   */
  async #connect (): Promise<PostgresPoolClient> {
    const client = await this.#pool!.connect()
    if (!this.#guarded.has(client)) {
      this.#guarded.add(client)
      client.on('error', () => {})
    }
    return client
  }

  #makePool (pg: PgModule): PostgresPool {
    if (this.#options.pool !== undefined) {
      // An idle client that loses its connection emits 'error' on the pool: without a
      // listener that would crash the process. The pool drops that client by itself.
      this.#options.pool.on('error', () => {})
      return this.#options.pool
    }
    const pool = new pg.Pool({
      connectionString: this.#options.connectionString,
      max: this.#options.poolSize,
      connectionTimeoutMillis: this.#options.connectTimeoutMs,
      keepAlive: true,
      // An open store does not keep the process alive by its idle connections (as LevelDB).
      allowExitOnIdle: true,
      application_name: 'flowstore'
    })
    pool.on('error', () => {})
    this.#ownPool = pool
    return pool
  }

  #startWatching (): void {
    const pg = this.#pg!
    const settings = this.#options.connectionString !== undefined
      ? { connectionString: this.#options.connectionString }
      : { ...(this.#options.pool?.options ?? {}) }
    const watcher = new ChangeWatcher({
      connect: async () => {
        const client = new pg.Client({ ...settings, keepAlive: true, connectionTimeoutMillis: this.#options.connectTimeoutMs, application_name: 'flowstore-listen' })
        // Until the watcher attaches its own: an error during connect() rejects it instead.
        client.on('error', () => {})
        try {
          await client.connect()
        } catch (err) {
          await client.end().catch(() => {})
          throw err
        }
        return client
      },
      channel: this.#names.channel,
      writerId: this.#writerId,
      pollIntervalMs: this.#options.pollIntervalMs,
      readHead: async () => await this.#readHead(),
      onNotified: (version) => { this.#deliver(version) },
      onPolled: (head) => { this.#deliver(head) }
    })
    this.#watcher = watcher
    watcher.start()
  }

  /**
   * The store version, or undefined when a commit of this engine ran meanwhile: the answer
   * could then include that commit before its acknowledgement was seen here, and it must not
   * be reported as another writer's.
   */
  async #readHead (): Promise<number | undefined> {
    if (this.#committing > 0 || this.#closed) return undefined
    const epoch = this.#commitEpoch
    let client: PostgresPoolClient | undefined
    let broken: unknown
    try {
      client = await this.#connect()
      const result = await client.query({ text: `SELECT version FROM ${this.#names.store}`, rowMode: 'array' })
      const head = Number((result.rows[0] as [string])[0])
      return epoch === this.#commitEpoch && this.#committing === 0 ? head : undefined
    } catch (err) {
      broken = err
      throw err
    } finally {
      client?.release(broken !== undefined && isConnectionError(broken) ? toError(broken) : undefined)
    }
  }

  /**
   * Tells the listeners about `version` when the last commit is another writer's. The poll
   * repeats it while that holds: a store whose catch-up failed (the server was away) tries
   * again, and one that is up to date ignores it.
   */
  #deliver (version: number): void {
    if (this.#closed || version <= this.#lastOwn) return
    for (const listener of [...this.#listeners]) {
      try {
        listener(version)
      } catch (err) {
        process.emitWarning(`A flowstore engine watch listener threw: ${String(err)}`, { code: 'FLOWSTORE_LISTENER_ERROR' })
      }
    }
  }

  /** Reads a query's rows in batches through a cursor (inside the client's transaction). */
  async * #cursor (client: PostgresPoolClient, sql: string, values: unknown[]): AsyncGenerator<unknown[][]> {
    const name = `flowstore_cursor_${++this.#cursors}`
    await client.query({ text: `DECLARE ${name} NO SCROLL CURSOR FOR ${sql}`, values })
    let complete = false
    try {
      for (;;) {
        const result = await client.query({ text: `FETCH ${FETCH_ROWS} FROM ${name}`, rowMode: 'array' })
        if (result.rows.length > 0) yield result.rows as unknown[][]
        if (result.rows.length < FETCH_ROWS) break
      }
      complete = true
    } finally {
      // Stopped early (a consumer that broke off): free the cursor, if the connection lives.
      if (!complete) await client.query({ text: `CLOSE ${name}` }).catch(() => {})
    }
  }
}

function asBuffer (bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/**
 * Runs `work` with the process held alive. Idle connections do not keep the process alive
 * (their sockets are unref'd, as an open LevelDB store does not either), so without this a
 * process awaiting their end at close could run out of work and exit half way.
 */
async function whileHeld<T> (work: () => Promise<T>): Promise<T> {
  const hold = setInterval(() => {}, 60_000)
  try {
    return await work()
  } finally {
    clearInterval(hold)
  }
}

function toError (err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

// Not unref'd: a commit waiting to be tried again keeps the process alive, as a pending save does.
function delay (ms: number): Promise<void> {
  return new Promise((resolve) => { setTimeout(resolve, ms) })
}

function closedError (): FlowStoreError {
  return new FlowStoreError('FLOWSTORE_CLOSED', 'The PostgreSQL engine is closed')
}

function conflictError (ids: readonly string[], where: string): FlowStoreError {
  const list = ids.slice(0, 10).map((id) => JSON.stringify(id)).join(', ') + (ids.length > 10 ? ` and ${ids.length - 10} more` : '')
  return new FlowStoreError('FLOWSTORE_CONFLICT', `Another writer changed ${list} since the version given as ifVersion (PostgreSQL at ${where}); nothing was written. Read the flow again and retry`, { ids })
}
