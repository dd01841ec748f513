// The bounded change log of a LevelDB store (layout.ts, l! entries): how many changes it
// holds, and the pruning that keeps it to the engine's retention. Pruning runs in the
// background after commits, in small batches (at most PRUNE_STEP log entries, one LevelDB
// batch each, the event loop free between them), so a commit never waits for it. It removes
// the oldest entries while at least `retain` changes stay, and moves m!horizon up to the last
// version it removed, in the same batch: "changes since V" below the horizon is refused
// (FLOWSTORE_CHANGES_PRUNED) rather than answered without the deletions it forgot.

import { encodeVersion, HORIZON_KEY, LOG_RANGE, logEntryHeader, logKeyVersion } from '../layout.ts'
import { del, type Operation, put } from './level-batch.ts'
import type { Database } from './level-location.ts'

export { prunedError } from './retention.ts'

/** Log entries (commits) removed per pruning batch. */
const PRUNE_STEP = 256

interface NextvIterator {
  nextv (size: number): Promise<Array<[Uint8Array, Uint8Array]>>
  close (): Promise<void>
}

export interface LogState {
  /** Changes logged since the store began (the `before` + `count` of the newest entry). */
  readonly logged: number
  /** The `before` of the oldest entry kept (= logged when the log is empty). */
  readonly oldest: number
  /** Every log entry at or below this version was pruned. */
  readonly horizon: number
}

export class ChangeLog {
  readonly #retain: number
  #logged: number
  #oldest: number
  #horizon: number
  #db: Database | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  #running: Promise<void> | undefined
  #closed = false

  /** `retain`: how many changes the log keeps at least (Infinity: never prune). */
  constructor (retain: number, state: LogState) {
    this.#retain = retain
    this.#logged = state.logged
    this.#oldest = state.oldest
    this.#horizon = state.horizon
  }

  /** Changes logged before the next commit (that commit's entry `before`). */
  get logged (): number {
    return this.#logged
  }

  /** Changes the log holds now. */
  get size (): number {
    return this.#logged - this.#oldest
  }

  /** The version up to which the log was pruned. */
  get horizon (): number {
    return this.#horizon
  }

  /** A commit of `count` changes was written; prunes in the background when the log is over. */
  committed (count: number, db: Database): void {
    this.#logged += count
    this.#db = db
    if (this.#over()) this.#schedule()
  }

  /** Waits for a pruning batch in flight (before the database is reopened or closed). */
  async idle (): Promise<void> {
    await this.#running
  }

  /** Stops pruning; resolves once a batch in flight is done. */
  async close (): Promise<void> {
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#running
  }

  // A little slack, so that pruning runs in batches rather than after every commit.
  #over (): boolean {
    return this.size - this.#retain >= Math.min(PRUNE_STEP, Math.max(1, this.#retain / 16))
  }

  #schedule (): void {
    if (this.#closed || this.#timer !== undefined || this.#running !== undefined) return
    // unref'd: pruning is housekeeping; a process may exit with it still to do.
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      const run = this.#prune().catch(() => {
        // A failed batch (the database closing or reopening, a full disk) changed nothing;
        // the next commit tries again.
      })
      this.#running = run.finally(() => { this.#running = undefined })
    }, 0)
    this.#timer.unref()
  }

  async #prune (): Promise<void> {
    while (!this.#closed && this.#over()) {
      const removed = await this.#step()
      if (!removed) return
      // Let commits and reads run between batches.
      await new Promise((resolve) => setImmediate(resolve))
    }
  }

  /** One batch: removes the oldest entries that leave at least `retain` changes. */
  async #step (): Promise<boolean> {
    const db = this.#db
    if (db === undefined || db.status !== 'open') return false
    const iterator = db.iterator({
      gte: Buffer.from(LOG_RANGE.gte),
      lt: Buffer.from(LOG_RANGE.lt),
      keyEncoding: 'view',
      valueEncoding: 'view'
    } as never) as unknown as NextvIterator
    const ops: Operation[] = []
    let oldest = this.#oldest
    let horizon = this.#horizon
    try {
      const entries = await iterator.nextv(PRUNE_STEP)
      for (const [key, value] of entries) {
        const version = logKeyVersion(key)
        const header = logEntryHeader(value)
        if (version === undefined || header === undefined) break
        const next = header.before + header.count
        if (this.#logged - next < this.#retain) break
        ops.push(del(Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('utf8')))
        oldest = next
        horizon = version
      }
    } finally {
      await iterator.close()
    }
    if (ops.length === 0) return false
    ops.push(put(HORIZON_KEY, encodeVersion(horizon)))
    await db.batch(ops as never)
    this.#oldest = oldest
    this.#horizon = horizon
    return true
  }
}
