// Pruning the tombstones of a PostgreSQL store. Its change record is the flows table itself:
// one row per id at its latest change, so a deleted id stays as a tombstone row (record NULL)
// until it is pruned here. What is kept, counted in rows (one per id, at its latest change):
// tombstones at or below the version of the (retain+1)-th newest row are removed (so at most
// `retain` rows are newer than any removed one), and <table>_horizon records the highest version
// removed, in the same transaction. "Changes since V" for V below the horizon is refused
// (FLOWSTORE_CHANGES_PRUNED); from the horizon on it is complete, since every removed
// tombstone is at or below it. A reader that is behind by fewer than `retain` changes (any
// count: one id changed twice counts once here) can always still catch up.
//
// Runs in the background after this engine's commits (and once after open), in batches of at
// most PRUNE_STEP rows, each:
//   1. a plain read (no locks) of the next tombstones in the version range not scanned yet
//      (<table>_horizon.scanned: tombstones are only ever written at new versions, so a
//      range scanned once needs no second look, by any process);
//   2. one short transaction: an advisory try-lock (one pruner per store at a time: another
//      process pruning means nothing to do here), then DELETE of those rows locked with
//      FOR UPDATE SKIP LOCKED, and the horizon moved up (GREATEST) in the horizon table.
// It never touches the store row (the version row every commit locks) nor the writers table
// (the commit-number lookup after a lost COMMIT), and never waits for a row a commit holds
// (SKIP LOCKED: such a row is being given a new version anyway). A commit that rewrites a
// row locked by a batch waits for that batch's COMMIT only: one statement and a COMMIT. A
// batch that fails (a lost connection, a role without DELETE) changed nothing.

import type { TableNames } from './postgres-schema.ts'

/** Tombstones removed per transaction. */
const PRUNE_STEP = 500
/** At most this many of this engine's changes between two pruning passes. */
const MAX_SLACK = 4096
/**
 * A batch's transaction left open by a client cut off from the server holds the rows it locked
 * (a commit rewriting one of them would wait, holding the version row): the server ends it
 * after this long.
 */
const IDLE_IN_TRANSACTION_MS = 5000

/** What the pruner needs of the engine: a pool client for one piece of work. */
export type WithClient = <T>(work: (query: Query) => Promise<T>) => Promise<T>
export type Query = (text: string, values?: unknown[]) => Promise<unknown[][]>

export class TombstonePruner {
  readonly #retain: number
  readonly #names: TableNames
  readonly #withClient: WithClient
  readonly #slack: number
  /**
   * Tombstones at or below this version were looked for already (they only get newer). Not
   * the horizon: a batch that stopped within a version leaves tombstones of that version.
   */
  #scanned = 0
  #horizon: number
  #changes = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  #running: Promise<void> | undefined
  #closed = false
  #denied = false
  /** Tombstones this engine removed (for tests and stats). */
  removed = 0

  constructor (retain: number, names: TableNames, horizon: number, withClient: WithClient) {
    this.#retain = retain
    this.#names = names
    this.#withClient = withClient
    this.#horizon = horizon
    this.#slack = Math.max(1, Math.min(MAX_SLACK, Math.floor(retain / 16)))
  }

  /** The highest version this engine knows to be pruned. */
  get horizon (): number {
    return this.#horizon
  }

  /** This engine committed `count` changes: prunes in the background now and then. */
  committed (count: number): void {
    this.#changes += count
    if (this.#changes >= this.#slack) this.schedule()
  }

  /** Starts a pass in the background (unless one runs or pruning is off). */
  schedule (): void {
    if (this.#closed || this.#denied || this.#retain === Infinity || this.#timer !== undefined || this.#running !== undefined) return
    this.#changes = 0
    // unref'd: pruning is housekeeping; a process may exit with it still to do.
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      const run = this.#pass().catch((err: unknown) => {
        // insufficient_privilege: a role without DELETE on the flows table (or INSERT, UPDATE
        // on the horizon table) keeps its tombstones (as before pruning existed); said once,
        // then not tried again.
        if ((err as { code?: unknown } | undefined)?.code === '42501') {
          this.#denied = true
          process.emitWarning(`flowstore cannot prune the tombstones of ${this.#names.label}: ${String((err as Error).message)}. Give this role DELETE on ${this.#names.plain.flows} and INSERT, UPDATE on ${this.#names.plain.horizon}, or set retainChanges: Infinity`, { code: 'FLOWSTORE_PRUNE_DENIED' })
        }
        // Anything else (the server away, the store closing) changed nothing: the next
        // commit tries again.
      })
      this.#running = run.finally(() => { this.#running = undefined })
    }, 0)
    this.#timer.unref()
  }

  /** Resolves once a pass in flight is done (tests, close). */
  async idle (): Promise<void> {
    while (this.#timer !== undefined || this.#running !== undefined) {
      if (this.#running !== undefined) await this.#running
      else await new Promise((resolve) => setImmediate(resolve))
    }
  }

  async close (): Promise<void> {
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#running
  }

  async #pass (): Promise<void> {
    const { flows, horizon } = this.#names
    const bound = await this.#withClient(async (query) => {
      const [scanned] = await query(`SELECT COALESCE(max(scanned), 0) FROM ${horizon}`)
      this.#scanned = Math.max(this.#scanned, Number(scanned![0]))
      const rows = await query(`SELECT version FROM ${flows} ORDER BY version DESC OFFSET $1 LIMIT 1`, [this.#retain])
      return rows.length === 0 ? undefined : Number(rows[0]![0])
    })
    while (!this.#closed && bound !== undefined && bound > this.#scanned) {
      const from = this.#scanned
      const victims = await this.#withClient(async (query) => await query(
        `SELECT id, version FROM ${flows} WHERE version > $1 AND version <= $2 AND record IS NULL ORDER BY version LIMIT ${PRUNE_STEP}`,
        [from, bound]
      )) as Array<[Buffer, string]>
      if (victims.length === 0) {
        await this.#scannedTo(bound)
        return
      }
      const removed = await this.#withClient(async (query) => {
        // Simple protocol (no parameters): both statements in one round trip.
        await query(`BEGIN; SET LOCAL idle_in_transaction_session_timeout = ${IDLE_IN_TRANSACTION_MS}`)
        try {
          const locked = await query('SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))', [`flowstore-prune:${this.#names.label}`])
          if (locked[0]?.[0] !== true) {
            await query('ROLLBACK')
            return undefined
          }
          const rows = await query(`WITH locked AS (
  SELECT id FROM ${flows} WHERE id = ANY($1::bytea[]) AND record IS NULL AND version <= $2 FOR UPDATE SKIP LOCKED
), gone AS (
  DELETE FROM ${flows} f USING locked WHERE f.id = locked.id RETURNING f.version
), counted AS (
  SELECT count(*) AS removed, max(version) AS top FROM gone
), moved AS (
  INSERT INTO ${horizon} AS h (singleton, horizon) SELECT true, top FROM counted WHERE removed > 0
  ON CONFLICT (singleton) DO UPDATE SET horizon = GREATEST(h.horizon, EXCLUDED.horizon), pruned_at = now()
  RETURNING h.horizon
) SELECT counted.removed, (SELECT horizon FROM moved) FROM counted`, [victims.map(([id]) => id), bound]) as Array<[string, string | null]>
          await query('COMMIT')
          const [count, top] = rows[0]!
          if (top !== null) this.#horizon = Math.max(this.#horizon, Number(top))
          return Number(count)
        } catch (err) {
          await query('ROLLBACK').catch(() => {})
          throw err
        }
      })
      // Another process is pruning this store: it does the rest.
      if (removed === undefined) return
      this.removed += removed
      // Rows of the last version read may go on past this batch: scan that version again.
      if (victims.length < PRUNE_STEP) await this.#scannedTo(bound)
      else this.#scanned = Math.max(from, Number(victims[victims.length - 1]![1]) - 1)
      // Every row was locked by commits (being given new versions): try again later.
      if (removed === 0 && victims.length === PRUNE_STEP) return
      // Let commits and reads run between batches.
      await new Promise((resolve) => setImmediate(resolve))
    }
  }

  /** No tombstone is left up to `version` (but rows commits held): recorded for every process. */
  async #scannedTo (version: number): Promise<void> {
    this.#scanned = Math.max(this.#scanned, version)
    await this.#withClient(async (query) => await query(
      `INSERT INTO ${this.#names.horizon} AS h (singleton, horizon, scanned) VALUES (true, 0, $1)
ON CONFLICT (singleton) DO UPDATE SET scanned = GREATEST(h.scanned, EXCLUDED.scanned)`,
      [version]
    ))
  }
}
