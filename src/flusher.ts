// The dirty set and the flushes: every change waits here until the engine commits it, with
// every other change of its flush, in ONE atomic commit that bumps the store version and
// records the changes. Flushes run one at a time; changes made while one is in flight go into
// the next. A failed flush puts its changes back (a newer change to the same id wins) and
// rejects its waiters. Nothing here knows which engine it writes to.

import type { CachedFlow } from './cached-flow.ts'
import { Deferred, noop } from './deferred.ts'
import type { CommitEntry, Engine } from './engine/types.ts'
import { FlowStoreError } from './errors.ts'
import type { FlowShape } from './types.ts'

interface Pending<F extends FlowShape> {
  /** The new record, or undefined for a deletion. */
  flow: CachedFlow<F> | undefined
}

export interface CommittedBatch {
  readonly version: number
  readonly saved: readonly string[]
  readonly deleted: readonly string[]
}

export interface FlusherOptions {
  readonly engine: Engine
  readonly sync: boolean
  readonly version: number
  readonly onCommit?: (batch: CommittedBatch) => void
}

export class Flusher<F extends FlowShape> {
  readonly #engine: Engine
  readonly #sync: boolean
  readonly #onCommit: ((batch: CommittedBatch) => void) | undefined
  #version: number
  #dirty = new Map<string, Pending<F>>()
  #inflight: Map<string, Pending<F>> | undefined
  #next: Deferred | undefined
  #tail: Promise<void> = Promise.resolve()
  #lastError: FlowStoreError | undefined
  #batches = 0

  constructor (options: FlusherOptions) {
    this.#engine = options.engine
    this.#sync = options.sync
    this.#version = options.version
    this.#onCommit = options.onCommit
  }

  /** The last committed store version. */
  get version (): number {
    return this.#version
  }

  /** Changes not yet committed (dirty plus in flight). */
  get pendingCount (): number {
    return this.#dirty.size + (this.#inflight?.size ?? 0)
  }

  get dirtyCount (): number {
    return this.#dirty.size
  }

  /** Batches committed since open. */
  get batches (): number {
    return this.#batches
  }

  /** The error of the last flush, until a flush succeeds. */
  get lastError (): FlowStoreError | undefined {
    return this.#lastError
  }

  isPending (id: string): boolean {
    return this.#dirty.has(id) || this.#inflight?.has(id) === true
  }

  /**
   * Records that `id` now holds `flow` (undefined: deleted). Returns the promise of the batch
   * that will commit it.
   */
  mark (id: string, flow: CachedFlow<F> | undefined): Promise<void> {
    const existing = this.#dirty.get(id)
    if (existing !== undefined) existing.flow = flow
    else this.#dirty.set(id, { flow })
    return this.commitPromise()
  }

  /** The promise of the next batch to commit (resolved at once when nothing is dirty). */
  commitPromise (): Promise<void> {
    if (this.#dirty.size === 0) return this.#tail
    this.#next ??= new Deferred()
    return this.#next.promise
  }

  /** Writes everything dirty now (after any flush in flight); resolves once committed. */
  flush (): Promise<void> {
    const run = this.#tail.then(async () => { await this.#run() })
    this.#tail = run.catch(noop)
    return run
  }

  async #run (): Promise<void> {
    if (this.#dirty.size === 0) return
    const batch = this.#dirty
    const waiters = this.#next
    this.#dirty = new Map()
    this.#next = undefined
    this.#inflight = batch
    let version: number
    try {
      const entries: CommitEntry[] = []
      for (const [id, pending] of batch) entries.push({ id, record: pending.flow?.record })
      version = (await this.#engine.commit(entries, { sync: this.#sync })).version
    } catch (cause) {
      this.#inflight = undefined
      this.#restore(batch)
      const err = stillPending(cause, batch.size)
      this.#lastError = err
      waiters?.reject(err)
      throw err
    }
    this.#inflight = undefined
    this.#version = version
    this.#batches++
    this.#lastError = undefined
    const saved: string[] = []
    const deleted: string[] = []
    for (const [id, pending] of batch) {
      if (pending.flow !== undefined) {
        pending.flow.committed(version)
        saved.push(id)
      } else {
        deleted.push(id)
      }
    }
    waiters?.resolve()
    this.#onCommit?.({ version, saved, deleted })
  }

  /** Puts a failed batch back into the dirty set; a newer change to an id keeps its value. */
  #restore (batch: Map<string, Pending<F>>): void {
    for (const [id, pending] of batch) {
      if (!this.#dirty.has(id)) this.#dirty.set(id, pending)
    }
  }
}

/** The error a failed commit gives its waiters: the engine's code and cause, and what happens next. */
function stillPending (cause: unknown, changes: number): FlowStoreError {
  if (cause instanceof FlowStoreError) {
    return new FlowStoreError(cause.code, `${cause.message}; the ${changes} change(s) stay pending and the next flush retries them`, { cause: cause.cause ?? cause, id: cause.id })
  }
  return new FlowStoreError('FLOWSTORE_WRITE_FAILED', `Committing ${changes} changed flow(s) failed; they stay pending and the next flush retries them`, { cause })
}
