// The dirty set and the flushes: every change waits here until the engine commits it, with
// every other change of its flush, in ONE atomic commit that bumps the store version and
// records the changes. Flushes run one at a time; changes made while one is in flight go into
// the next. A failed flush puts its changes back (a newer change to the same id wins) and
// rejects its waiters. Nothing here knows which engine it writes to.
//
// Conditional writes (ifVersion) come in groups (a save, a delete, a transaction) that stand or
// fall together. They coalesce with the other changes of their flush; when the engine refuses
// some conditions, the groups they belong to are taken out of the commit (their cache changes
// put back, their promises rejected with FLOWSTORE_CONFLICT) and the rest is committed.
//
// Other writers (engine.watch, or a commit that finds the store moved on since the version
// this cache shows) are caught up with engine.changesSince(), run in the same queue as the
// commits, so a catch-up never sees a commit of ours half done. When the engine no longer
// knows the changes since that version (FLOWSTORE_CHANGES_PRUNED: its change record was
// pruned past it), the catch-up reads the whole store from a snapshot instead and applies
// the difference.

import type { CachedFlow } from './cached-flow.ts'
import { Deferred, noop } from './deferred.ts'
import type { CommitEntry, Engine, EngineChange } from './engine/types.ts'
import { FlowStoreError, isFlowStoreError } from './errors.ts'
import { recordVersion } from './layout.ts'
import type { FlowShape } from './types.ts'

/** A group of writes with conditions: it commits whole, or not at all. */
class Guard {
  readonly deferred = new Deferred()
  /** The ids whose condition did not hold, once the engine refused the group. */
  readonly failed: string[] = []
}

interface Condition<F extends FlowShape> {
  readonly guard: Guard
  /** The committed version required; undefined for a write that only belongs to the group. */
  readonly ifVersion: number | undefined
  /** The committed entry this write replaced: put back when the group is refused. */
  before: CachedFlow<F> | undefined
}

interface Pending<F extends FlowShape> {
  /** The new record, or undefined for a deletion. */
  flow: CachedFlow<F> | undefined
  /** Set for a write of a conditional group. */
  condition?: Condition<F> | undefined
  /**
   * A later unconditional write of this id took the conditional write's place: it commits
   * even when the condition's group is refused (the last write wins, as without a condition).
   */
  keep?: boolean
}

/** A conditional write, as the store hands it over. */
export interface GuardedWrite<F extends FlowShape> {
  readonly id: string
  readonly flow: CachedFlow<F> | undefined
  readonly ifVersion: number | undefined
  readonly before: CachedFlow<F> | undefined
}

interface QueuedCatchUp {
  run: Promise<void>
  /** The highest version an engine reported: no read when the cache shows it by then. */
  upTo: number
  /** A refresh() joined: read in any case. */
  forced: boolean
}

export interface CommittedBatch {
  readonly version: number
  readonly saved: readonly string[]
  readonly deleted: readonly string[]
}

/** What the flusher asks of the store's cache (methods: a store of any flow type fits). */
export interface CacheHooks<F extends FlowShape> {
  onCommit (batch: CommittedBatch): void
  /** Puts back the entry a refused conditional write replaced (undefined: there was none). */
  rollback (id: string, before: CachedFlow<F> | undefined): void
  /**
   * Another writer's committed change (with its record when saved), in version order. The
   * store applies it to the cache unless `pending` (a change of ours to that id waits to be
   * committed: it commits later and wins); returns the entry it stands for.
   */
  onRemote (change: EngineChange, pending: boolean): CachedFlow<F> | undefined
  /** The ids the cache holds (committed or pending), for a catch-up by a full read. */
  ids (): Iterable<string>
}

export interface FlusherOptions<F extends FlowShape> {
  readonly engine: Engine
  readonly sync: boolean
  readonly version: number
  readonly cache: CacheHooks<F>
}

export class Flusher<F extends FlowShape> {
  readonly #engine: Engine
  readonly #sync: boolean
  readonly #cache: CacheHooks<F>
  /** The version the cache shows: every commit up to it is in the cache. */
  #version: number
  /** Batches we committed above #version while other writers' commits are not caught up. */
  readonly #own = new Map<number, CommittedBatch>()
  #dirty = new Map<string, Pending<F>>()
  #inflight: Map<string, Pending<F>> | undefined
  #next: Deferred | undefined
  #tail: Promise<void> = Promise.resolve()
  /** A catch-up queued behind the work in flight, not started yet: later requests join it. */
  #queuedCatchUp: QueuedCatchUp | undefined
  #lastError: FlowStoreError | undefined
  #batches = 0

  constructor (options: FlusherOptions<F>) {
    this.#engine = options.engine
    this.#sync = options.sync
    this.#version = options.version
    this.#cache = options.cache
  }

  /** The version the cache shows (the last committed one, when no other writer is ahead). */
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
    if (existing === undefined) {
      this.#dirty.set(id, { flow })
    } else {
      existing.flow = flow
      if (existing.condition !== undefined) existing.keep = true
    }
    return this.commitPromise()
  }

  /**
   * A deletion of an id whose pending change is a deletion already: nothing new to write,
   * unless that deletion has a condition, which may be refused; then this one must commit
   * whatever becomes of it (the last write wins). Returns the promise of its batch.
   */
  deletePending (id: string): Promise<void> {
    const dirty = this.#dirty.get(id)
    if (dirty !== undefined) {
      if (dirty.condition !== undefined) dirty.keep = true
      return this.commitPromise()
    }
    if (this.#inflight?.get(id)?.condition !== undefined) return this.mark(id, undefined)
    return this.commitPromise()
  }

  /**
   * Records a group of conditional writes; none of their ids may be pending (the store
   * refuses that first). Returns the promise of the group: resolved once committed, rejected
   * with FLOWSTORE_CONFLICT when a condition did not hold (its changes then put back).
   */
  markGuarded (writes: ReadonlyArray<GuardedWrite<F>>): Promise<void> {
    const guard = new Guard()
    for (const { id, flow, ifVersion, before } of writes) {
      this.#dirty.set(id, { flow, condition: { guard, ifVersion, before } })
    }
    return guard.deferred.promise
  }

  /** The promise of the next batch to commit (resolved at once when nothing is dirty). */
  commitPromise (): Promise<void> {
    if (this.#dirty.size === 0) return this.#tail
    this.#next ??= new Deferred()
    return this.#next.promise
  }

  /**
   * Writes everything dirty now (after any flush in flight); resolves once committed. A
   * conditional group refused on the way rejects its own promise, not this one.
   */
  flush (): Promise<void> {
    const run = this.#tail.then(async () => { await this.#run() })
    this.#tail = run.catch(noop)
    return run
  }

  /**
   * Brings the cache up to date with other writers' commits (after the work in flight).
   * `reported`: the version an engine reported; nothing is read if the cache shows it by then.
   */
  catchUp (reported?: number): Promise<void> {
    const queued = this.#queuedCatchUp ?? this.#queueCatchUp()
    if (reported === undefined) queued.forced = true
    else queued.upTo = Math.max(queued.upTo, reported)
    return queued.run
  }

  #queueCatchUp (): QueuedCatchUp {
    const queued: QueuedCatchUp = { run: Promise.resolve(), upTo: 0, forced: false }
    queued.run = this.#tail.then(async () => {
      this.#queuedCatchUp = undefined
      if (!queued.forced && queued.upTo <= this.#version && this.#own.size === 0) return
      await this.#catchUp()
    })
    this.#queuedCatchUp = queued
    this.#tail = queued.run.catch(noop)
    return queued
  }

  async #run (): Promise<void> {
    if (this.#dirty.size === 0) return
    const batch = this.#dirty
    const waiters = this.#next
    this.#dirty = new Map()
    this.#next = undefined
    this.#inflight = batch
    const refused: Guard[] = []
    let committed: { version: number, previous: number } | undefined
    try {
      while (batch.size > 0) {
        try {
          committed = await this.#engine.commit(entriesOf(batch), { sync: this.#sync })
          break
        } catch (err) {
          if (!isFlowStoreError(err, 'FLOWSTORE_CONFLICT')) throw err
          const guards = this.#refuse(batch, err.ids ?? [])
          // A conflict on no condition of ours would repeat forever: the engine is at fault.
          if (guards.length === 0) throw err
          refused.push(...guards)
        }
      }
    } catch (cause) {
      this.#inflight = undefined
      this.#restore(batch)
      const err = stillPending(cause, batch.size)
      this.#lastError = err
      waiters?.reject(err)
      for (const pending of batch.values()) pending.condition?.guard.deferred.reject(err)
      await this.#afterCommit(refused)
      throw err
    }
    this.#inflight = undefined
    if (committed !== undefined) this.#committed(batch, committed)
    waiters?.resolve()
    await this.#afterCommit(refused)
  }

  #committed (batch: Map<string, Pending<F>>, { version, previous }: { version: number, previous: number }): void {
    // Another writer committed since the version the cache shows: this commit's changes are
    // told to the listeners by the catch-up (#afterCommit), in version order with theirs.
    const gap = previous !== this.#version || this.#own.size > 0
    if (!gap) this.#version = version
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
      pending.condition?.guard.deferred.resolve()
    }
    if (gap) this.#own.set(version, { version, saved, deleted })
    else this.#cache.onCommit({ version, saved, deleted })
  }

  /**
   * Takes the groups of the conflicting ids out of `batch`: their writes leave it (and the
   * cache gets back what they replaced, unless a newer change of the id waits), except those
   * a later unconditional write took over, which stay without their condition.
   */
  #refuse (batch: Map<string, Pending<F>>, ids: readonly string[]): Guard[] {
    const guards = new Set<Guard>()
    for (const id of ids) {
      const guard = batch.get(id)?.condition?.guard
      if (guard === undefined) continue
      guard.failed.push(id)
      guards.add(guard)
    }
    for (const [id, pending] of batch) {
      const condition = pending.condition
      if (condition === undefined || !guards.has(condition.guard)) continue
      if (pending.keep === true) {
        pending.condition = undefined
        pending.keep = false
      } else {
        batch.delete(id)
        if (!this.#dirty.has(id)) this.#cache.rollback(id, condition.before)
      }
    }
    return [...guards]
  }

  /**
   * Catches up when another writer committed before us (our commit was not the next version
   * after the one the cache shows) or refused a condition of ours; then rejects the refused
   * groups, so the cache shows the write that came first when their promises reject. A
   * failed catch-up is retried by the next commit, watch() report or refresh().
   */
  async #afterCommit (refused: readonly Guard[]): Promise<void> {
    if (refused.length === 0 && this.#own.size === 0) return
    await this.#catchUp().catch(noop)
    for (const guard of refused) guard.deferred.reject(conflictError(guard.failed))
  }

  async #catchUp (): Promise<void> {
    let answer
    try {
      answer = await this.#engine.changesSince(this.#version, { records: true })
    } catch (err) {
      if (!isFlowStoreError(err, 'FLOWSTORE_CHANGES_PRUNED')) throw err
      await this.#reload(err.horizon ?? this.#version)
      return
    }
    for (const change of answer.changes) {
      if (change.version <= this.#version) continue
      if (this.#own.has(change.version)) {
        // Ours, in the cache already: only the listeners hear of it, in its place.
        this.#cache.onCommit(change.deleted ? { version: change.version, saved: [], deleted: [change.id] } : { version: change.version, saved: [change.id], deleted: [] })
        continue
      }
      const pending = this.#dirty.get(change.id)
      const entry = this.#cache.onRemote(change, pending !== undefined)
      if (pending?.condition !== undefined) pending.condition.before = entry
    }
    // The answer is complete up to its version, which is past every commit of ours.
    this.#version = Math.max(this.#version, answer.version)
    this.#own.clear()
  }

  /**
   * The catch-up when the changes since #version were pruned: every flow is read from one
   * snapshot and compared with the cache. A flow whose record is newer than #version changed
   * (applied as another writer's change, or told as ours); a flow the cache holds that the
   * snapshot lacks was deleted: at the version its tombstone still says, or, pruned, at the
   * `horizon` (it was deleted by then). Changes are applied in version order, as a catch-up
   * does.
   */
  async #reload (horizon: number): Promise<void> {
    const snapshot = await this.#engine.snapshot()
    const present = new Set<string>()
    const saved: EngineChange[] = []
    const deletedAt = new Map<string, number>()
    try {
      for await (const batch of snapshot.flows()) {
        for (const [id, record] of batch) {
          present.add(id)
          const version = recordVersion(record) ?? 0
          // 0: a damaged header; applied, so that reading it fails as after an open.
          if (version > this.#version || version === 0) saved.push({ id, version, deleted: false, record })
        }
      }
      try {
        for await (const batch of snapshot.changesSince(horizon)) {
          for (const change of batch) if (change.deleted) deletedAt.set(change.id, change.version)
        }
      } catch (err) {
        // Pruned further since: those deletions are told at the horizon.
        if (!isFlowStoreError(err, 'FLOWSTORE_CHANGES_PRUNED')) throw err
      }
    } finally {
      await snapshot.close()
    }
    const events: Array<{ version: number, change?: EngineChange, own?: CommittedBatch }> = []
    for (const change of saved) {
      if (!this.#own.has(change.version)) events.push({ version: change.version, change })
    }
    for (const batch of this.#own.values()) {
      if (batch.version <= snapshot.version) events.push({ version: batch.version, own: batch })
    }
    for (const id of [...this.#cache.ids()]) {
      if (present.has(id) || this.isPending(id)) continue
      const version = deletedAt.get(id) ?? Math.min(horizon, snapshot.version)
      events.push({ version, change: { id, version, deleted: true } })
    }
    events.sort((a, b) => a.version - b.version)
    for (const { change, own } of events) {
      if (own !== undefined) {
        this.#cache.onCommit(own)
        continue
      }
      const pending = this.#dirty.get(change!.id)
      const entry = this.#cache.onRemote(change!, pending !== undefined || this.#inflight?.has(change!.id) === true)
      if (pending?.condition !== undefined) pending.condition.before = entry
    }
    this.#version = Math.max(this.#version, snapshot.version)
    this.#own.clear()
  }

  /** Puts a failed batch back into the dirty set; a newer change to an id keeps its value. */
  #restore (batch: Map<string, Pending<F>>): void {
    for (const [id, pending] of batch) {
      if (!this.#dirty.has(id)) this.#dirty.set(id, pending)
    }
  }
}

function entriesOf<F extends FlowShape> (batch: Map<string, Pending<F>>): CommitEntry[] {
  const entries: CommitEntry[] = []
  for (const [id, { flow, condition }] of batch) {
    entries.push(condition?.ifVersion === undefined ? { id, record: flow?.record } : { id, record: flow?.record, ifVersion: condition.ifVersion })
  }
  return entries
}

/** The error a failed commit gives its waiters: the engine's code and cause, and what happens next. */
function stillPending (cause: unknown, changes: number): FlowStoreError {
  if (cause instanceof FlowStoreError) {
    return new FlowStoreError(cause.code, `${cause.message}; the ${changes} change(s) stay pending and the next flush retries them`, { cause: cause.cause ?? cause, id: cause.id })
  }
  return new FlowStoreError('FLOWSTORE_WRITE_FAILED', `Committing ${changes} changed flow(s) failed; they stay pending and the next flush retries them`, { cause })
}

export function conflictError (ids: readonly string[], why = 'changed since the version given as ifVersion'): FlowStoreError {
  const listed = ids.slice(0, 3).map((id) => JSON.stringify(id)).join(', ') + (ids.length > 3 ? ` and ${ids.length - 3} more` : '')
  return new FlowStoreError('FLOWSTORE_CONFLICT', `Flow ${listed} ${why}; nothing of this write was committed. Read the flow again (store.lazy(id).version) and retry`, { ids })
}
