// FlowStore: the public store. Reads are synchronous and served from the cache (filled once
// at open, kept current by our own writes); writes update the cache at once and are
// committed by the flusher in atomic batches, through the engine (engine/types.ts): the one
// thing that persists the store. Reads never touch the engine.

import { type CacheContext, CachedFlow, UnreadableFlow } from './cached-flow.ts'
import { exportBackup, resolveSince } from './backup/export.ts'
import type { BackupInfo, BackupOptions } from './backup/types.ts'
import { type CodecLimits, FlowCodec } from './codec.ts'
import { noop } from './deferred.ts'
import { engineFor, type StoreLocation } from './engine/open.ts'
import type { Engine, EngineChange, EngineState } from './engine/types.ts'
import { FlowStoreError } from './errors.ts'
import { type CommittedBatch, conflictError, Flusher, type GuardedWrite } from './flusher.ts'
import { FlowsView } from './flows-view.ts'
import { recordVersion } from './layout.ts'
import { IdIndex } from './id-index.ts'
import { type CacheMap, KeysCache } from './keys-cache.ts'
import { LoadedRecords } from './record-cache.ts'
import { RecordSlabs } from './record-slab.ts'
import { type ResolvedOptions, resolveIfVersion, resolveOptions } from './options.ts'
import { encodeAll, StagedTransaction, type Transaction } from './transaction.ts'
import type { Change, Flow, FlowShape, FlowStoreOptions, Frozen, LazyFlow, WriteOptions } from './types.ts'

/** What `store.changesSince(version)` returns. */
export interface ChangesSince {
  /** The store version the answer is complete up to. */
  readonly version: number
  /** One entry per id changed after the asked version, in commit order. */
  readonly changes: Change[]
}

export class FlowStore<F extends FlowShape = Flow> implements AsyncDisposable {
  readonly #engine: Engine
  readonly #options: ResolvedOptions
  readonly #codec: FlowCodec
  /** A Map, or with preload: 'keys' a KeysCache (keys-cache.ts). */
  readonly #cache: CacheMap<F>
  /** What the cache entries share: the codec, the slabs of records, the bounded list (preload: 'keys'). */
  readonly #context: CacheContext
  readonly #flusher: Flusher<F>
  readonly #view: FlowsView<F>
  readonly #storeId: string
  #scheduled: ReturnType<typeof setImmediate> | undefined
  #interval: ReturnType<typeof setInterval> | undefined
  #closing: Promise<void> | undefined
  #closed = false
  readonly #listeners = new Set<(change: Change) => void>()
  readonly #unwatch: () => void
  readonly #closeHooks = new Set<() => void | Promise<void>>()
  /** Backups and change reads in progress: close() lets them finish before closing the engine. */
  readonly #reading = new Set<Promise<unknown>>()

  /**
   * Opens (creating if needed) the store at `location`: a directory (opened with
   * classic-level), an abstract-level database you built (memory-level, …), a postgres:// URL,
   * or an engine. Loads every flow's bytes once; decodes nothing.
   */
  static async open<F extends FlowShape = Flow> (location: StoreLocation, options?: FlowStoreOptions): Promise<FlowStore<F>> {
    const resolved = resolveOptions(options)
    const codec = new FlowCodec(resolved)
    const engine = await engineFor(location, { retainChanges: resolved.retainChanges })
    let flows: CacheMap<F> = new Map<string, CachedFlow<F>>()
    const slabs = new RecordSlabs()
    try {
      let context: CacheContext
      let state: EngineState
      // A key no id names exactly (foreign bytes): listed under the id read from it, and
      // reading it fails, unless a flow stored under exactly that id is there (it wins,
      // whatever the key order). Never evicted: its record cannot be read again by its id.
      const unreadable: Array<UnreadableFlow<F>> = []
      const onFlow = (id: string, record: Uint8Array, keyProblem: string | undefined): void => {
        // A damaged header gives version 0; reading that flow then fails with DECODE_ERROR.
        if (keyProblem === undefined) flows.set(id, new CachedFlow<F>(id, record, recordVersion(record) ?? 0, context))
        else unreadable.push(new UnreadableFlow<F>(id, record, recordVersion(record) ?? 0, codec, keyProblem))
      }
      if (resolved.preload === 'keys') {
        const { loadIds, readSync } = engine
        if (loadIds === undefined || readSync === undefined) {
          throw new TypeError(`preload: 'keys' needs an engine that reads records synchronously; this ${engine.kind} engine does not`)
        }
        const ids = new IdIndex()
        let cache: KeysCache<F> | undefined
        context = {
          codec,
          slabs,
          loaded: new LoadedRecords((id) => readSync.call(engine, id), resolved.maxCachedBytes),
          forget: (entry) => { cache?.forget(entry as CachedFlow<F>) }
        }
        state = await loadIds.call(engine, (key, start) => { ids.add(key, start, key.length) }, onFlow)
        cache = new KeysCache<F>(ids, (id) => new CachedFlow<F>(id, undefined, 0, context))
        flows = cache
      } else {
        context = { codec, slabs }
        state = await engine.load(onFlow)
      }
      for (const entry of unreadable) if (!flows.has(entry.id)) flows.set(entry.id, entry)
      return new FlowStore<F>(engine, resolved, codec, flows, context, state)
    } catch (err) {
      // A TypeError is misuse (this engine already serves a store): nothing of ours to close.
      if (!(err instanceof TypeError)) await engine.close().catch(noop)
      throw err
    }
  }

  private constructor (
    engine: Engine,
    options: ResolvedOptions,
    codec: FlowCodec,
    flows: CacheMap<F>,
    context: CacheContext,
    { version, storeId }: EngineState
  ) {
    this.#context = context
    this.#storeId = storeId
    this.#engine = engine
    this.#options = options
    this.#codec = codec
    this.#cache = flows
    this.#flusher = new Flusher<F>({
      engine,
      sync: options.sync,
      version,
      cache: {
        onCommit: (batch) => { this.#notify(batch) },
        rollback: (id, before) => {
          // The refused write's entry leaves the cache; `before` comes back (its record stays
          // valid even if it was counted as released: slabs are never overwritten).
          this.#cache.get(id)?.release()
          if (before === undefined) this.#cache.delete(id)
          else this.#cache.set(id, before)
        },
        onRemote: (change, pending) => this.#applyRemote(change, pending),
        ids: () => this.#cache.keys()
      }
    })
    this.#view = new FlowsView<F>(flows, () => { this.#assertOpen() })
    // Other writers' commits (PostgreSQL); a LevelEngine, the only writer, never reports one.
    this.#unwatch = engine.watch((version) => {
      if (this.#closing === undefined && !this.#closed && version > this.#flusher.version) this.#flusher.catchUp(version).catch(noop)
    })
    this.#startInterval()
  }

  /**
   * The store's identity: a random UUID made when the store was created, persisted. A store
   * restored from a backup gets a new one, since its history may fork from the original's.
   */
  get storeId (): string {
    return this.#storeId
  }

  /** The limits every save is checked against (options maxFlowBytes and maxIdBytes). */
  get limits (): CodecLimits {
    return { maxFlowBytes: this.#options.maxFlowBytes, maxIdBytes: this.#options.maxIdBytes }
  }

  /** The directory the store opened, or undefined for a database passed in (or PostgreSQL). */
  get directory (): string | undefined {
    return this.#engine.directory
  }

  /**
   * The last committed store version the cache shows: grows with every committed batch (of
   * this store, or of other writers once caught up); persisted.
   */
  get version (): number {
    return this.#flusher.version
  }

  /** The number of flows (including saved, not yet committed ones). */
  get size (): number {
    this.#assertOpen()
    return this.#cache.size
  }

  /** A live read-only Map view of every flow: no copy, decoded on first read. */
  get flows (): ReadonlyMap<string, Frozen<F>> {
    this.#assertOpen()
    return this.#view
  }

  /** Changes made but not yet committed. */
  get pending (): number {
    return this.#flusher.pendingCount
  }

  /** Batches committed since open. */
  get batches (): number {
    return this.#flusher.batches
  }

  /** The error of the last failed flush, until a flush succeeds. */
  get lastFlushError (): FlowStoreError | undefined {
    return this.#flusher.lastError
  }

  get closed (): boolean {
    return this.#closed
  }

  /** The flow with this id (frozen), or undefined. Served from memory. */
  get (id: string): Frozen<F> | undefined {
    if (this.#closed) throw closedError()
    return this.#cache.get(id)?.value
  }

  has (id: string): boolean {
    if (this.#closed) throw closedError()
    return this.#cache.has(id)
  }

  /** The cache entry of a flow: its stored bytes, decoded only when `value` is read. */
  lazy (id: string): LazyFlow<F> | undefined {
    if (this.#closed) throw closedError()
    return this.#cache.get(id)
  }

  /**
   * Saves a flow. The cache shows it before this returns; the promise resolves once it is
   * committed. Throws FLOWSTORE_INVALID_FLOW (nothing changed) if it is refused. With
   * `ifVersion`, it commits only if the flow's committed version is still that one; otherwise
   * the promise rejects with FLOWSTORE_CONFLICT and the cache shows the committed flow again.
   */
  save (flow: F | Frozen<F>, options?: WriteOptions): Promise<void> {
    const ifVersion = resolveIfVersion(options, 'save')
    if (ifVersion === undefined) return this.saveMany([flow])
    this.#assertWritable()
    const [encoded] = encodeAll<F>(this.#codec, [flow], this.#context)
    return this.#applyGuarded(new Map([[encoded!.id, encoded!]]), new Map([[encoded!.id, ifVersion]]))
  }

  /** Saves several flows; all of them or none are accepted, and they commit in one batch. */
  saveMany (flows: Iterable<F | Frozen<F>>): Promise<void> {
    this.#assertWritable()
    const encoded = encodeAll<F>(this.#codec, flows, this.#context)
    let committed = this.#flusher.commitPromise()
    for (const flow of encoded) committed = this.#apply(flow.id, flow)
    this.#schedule()
    return committed
  }

  /**
   * Deletes a flow (a no-op when there is none); resolves once committed. With `ifVersion`, as
   * for save(): only if the flow's committed version is still that one.
   */
  delete (id: string, options?: WriteOptions): Promise<void> {
    const ifVersion = resolveIfVersion(options, 'delete')
    this.#assertWritable()
    const checked = this.#codec.checkId(id)
    if (ifVersion !== undefined) return this.#applyGuarded(new Map([[checked, null]]), new Map([[checked, ifVersion]]))
    const committed = this.#apply(checked, undefined)
    this.#schedule()
    return committed
  }

  /** Writes every pending change now, in one batch; resolves once committed. */
  flush (): Promise<void> {
    if (this.#closed) return Promise.reject(closedError())
    return this.#flusher.flush()
  }

  /**
   * Runs `fn` with a transaction. Its writes are applied together when `fn` returns and
   * commit in one batch; if `fn` throws, none of them is applied. Resolves with `fn`'s
   * result once the writes are committed. When a write was given `ifVersion` and it does not
   * hold, none of them is committed and the promise rejects with FLOWSTORE_CONFLICT.
   */
  async transaction<T> (fn: (tx: Transaction<F>) => T | Promise<T>): Promise<T> {
    this.#assertWritable()
    const tx = new StagedTransaction<F>(this.#codec, (id) => this.#cache.get(id), this.#context)
    let result: T
    try {
      result = await fn(tx)
    } finally {
      tx.end()
    }
    if (tx.writes.size === 0 && tx.conditions.size === 0) return result
    this.#assertWritable()
    if (tx.conditions.size > 0) {
      const committed = this.#applyGuarded(tx.writes, tx.conditions)
      this.#flusher.flush().catch(noop)
      await committed
      return result
    }
    for (const [id, flow] of tx.writes) this.#apply(id, flow ?? undefined)
    await this.#flusher.flush()
    return result
  }

  /**
   * Catches up with the commits of other writers (several processes sharing one PostgreSQL
   * store) now, instead of when the engine reports them; resolves once the cache shows every
   * commit made before the call. A LevelDB store has no other writer: nothing changes.
   */
  async refresh (): Promise<void> {
    this.#assertReadable()
    await this.#track(this.#flusher.catchUp())
  }

  /**
   * Writes a backup of the last committed state to `file`, read through one snapshot
   * while the store keeps working: a full one, or with `since` (a version, an earlier backup
   * file or its BackupInfo) a changed-only one. Saves not yet committed are not in it:
   * `await store.flush()` first to include them. `file` may also be a writable stream (such
   * as process.stdout): the backup is streamed into it, and the stream is left open.
   */
  async backup (file: string | NodeJS.WritableStream, options: BackupOptions = {}): Promise<BackupInfo> {
    this.#assertReadable()
    const since = await resolveSince(options.since)
    this.#assertReadable()
    return await this.#track(exportBackup(this.#engine, file, { since, compressionLevel: options.compressionLevel, overwrite: options.overwrite, onProgress: options.onProgress }))
  }

  /** What changed after `version`, read from the persisted change record (no full scan). */
  async changesSince (version: number): Promise<ChangesSince> {
    this.#assertReadable()
    if (!Number.isSafeInteger(version) || version < 0) throw new TypeError(`changesSince() takes a version (an integer >= 0), got ${String(version)}`)
    return await this.#track(this.#readChanges(version))
  }

  async #readChanges (version: number): Promise<ChangesSince> {
    const answer = await this.#engine.changesSince(version)
    return { version: answer.version, changes: answer.changes.map(({ id, version, deleted }) => ({ id, version, deleted })) }
  }

  /**
   * Calls `listener` with `{ id, version, deleted }` for every change, in commit order, as
   * soon as its batch is committed. A listener that throws is reported on the
   * process 'warning' channel and does not stop the others.
   */
  on (event: 'change', listener: (change: Change) => void): this {
    assertChangeEvent(event)
    this.#listeners.add(listener)
    return this
  }

  off (event: 'change', listener: (change: Change) => void): this {
    assertChangeEvent(event)
    this.#listeners.delete(listener)
    return this
  }

  /**
   * Runs `hook` when the store closes: after the final flush has committed (so whatever was
   * acknowledged is on disk), before the database closes; close() waits for it. Returns a
   * function that removes the hook. What runs on top of a store and must stop with it (the
   * owner's socket server, serveStore()) registers here, so the store never imports it.
   */
  onClose (hook: () => void | Promise<void>): () => void {
    if (typeof hook !== 'function') throw new TypeError(`onClose() takes a function, got ${String(hook)}`)
    if (this.#closed || this.#closing !== undefined) throw closedError()
    this.#closeHooks.add(hook)
    return () => { this.#closeHooks.delete(hook) }
  }

  /** Another writer's committed change: into the cache, unless one of ours waits (see flusher.ts). */
  #applyRemote ({ id, version, deleted, record }: EngineChange, pending: boolean): CachedFlow<F> | undefined {
    let entry: CachedFlow<F> | undefined
    if (!deleted) {
      if (record === undefined) throw new FlowStoreError('FLOWSTORE_DECODE_ERROR', `The change of flow ${JSON.stringify(id)} at version ${version} came without its record`, { id })
      entry = new CachedFlow<F>(id, record, version, this.#context)
    }
    if (!pending) {
      this.#cache.get(id)?.release()
      if (entry === undefined) this.#cache.delete(id)
      else this.#cache.set(id, entry)
    }
    for (const listener of [...this.#listeners]) callListener(listener, { id, version, deleted })
    return entry
  }

  #notify (batch: CommittedBatch): void {
    if (this.#listeners.size === 0) return
    const { version } = batch
    for (const listener of [...this.#listeners]) {
      for (const id of batch.saved) callListener(listener, { id, version, deleted: false })
      for (const id of batch.deleted) callListener(listener, { id, version, deleted: true })
    }
  }

  /** Flushes, then closes. If the final flush fails, rejects and the store stays open. */
  close (): Promise<void> {
    if (this.#closed) return Promise.resolve()
    this.#closing ??= this.#close()
    return this.#closing
  }

  async [Symbol.asyncDispose] (): Promise<void> {
    await this.close()
  }

  async #close (): Promise<void> {
    this.#stopTimers()
    try {
      await this.#flusher.flush()
    } catch (err) {
      this.#closing = undefined
      this.#startInterval()
      throw err
    }
    // Backups and change reads started before close() finish on an open database.
    await Promise.allSettled(this.#reading)
    // After the final flush, so the writes it committed are acknowledged to their clients.
    await runCloseHooks([...this.#closeHooks])
    this.#closeHooks.clear()
    this.#unwatch()
    this.#closed = true
    await this.#engine.close()
  }

  /** Applies one change to the cache and the dirty set; returns its commit promise. */
  #apply (id: string, flow: CachedFlow<F> | undefined): Promise<void> {
    const current = this.#cache.get(id)
    if (flow === undefined) {
      if (current === undefined) return this.#flusher.isPending(id) ? this.#flusher.deletePending(id) : Promise.resolve()
      this.#cache.delete(id)
    } else {
      this.#cache.set(id, flow)
    }
    current?.release()
    return this.#flusher.mark(id, flow)
  }

  /**
   * Applies writes with conditions (`null`: a deletion) as one group: they commit together or
   * not at all (see flusher.ts). Refused at once when a flow they touch has a change that is
   * not committed yet: a condition is about the committed version, and that change will give
   * the flow a new one.
   */
  #applyGuarded (writes: ReadonlyMap<string, CachedFlow<F> | null>, conditions: ReadonlyMap<string, number>): Promise<void> {
    const pending = [...new Set([...writes.keys(), ...conditions.keys()])].filter((id) => this.#flusher.isPending(id))
    if (pending.length > 0) return refused(conflictError(pending, 'has a change that is not committed yet, so its committed version cannot be the one given as ifVersion'))
    const guarded: Array<GuardedWrite<F>> = []
    const failed: string[] = []
    for (const id of new Set([...writes.keys(), ...conditions.keys()])) {
      const before = this.#cache.get(id)
      const write = writes.get(id)
      const ifVersion = conditions.get(id)
      if (write === undefined || (write === null && before === undefined)) {
        // Nothing to write (deleting a flow that is not there): the condition is checked
        // here, against the committed version the cache shows (0: no flow).
        if (ifVersion !== undefined && ifVersion !== (before?.version ?? 0)) failed.push(id)
        continue
      }
      guarded.push({ id, flow: write ?? undefined, ifVersion, before })
    }
    if (failed.length > 0) return refused(conflictError(failed))
    if (guarded.length === 0) return Promise.resolve()
    for (const { id, flow } of guarded) {
      this.#cache.get(id)?.release()
      if (flow === undefined) this.#cache.delete(id)
      else this.#cache.set(id, flow)
    }
    const committed = this.#flusher.markGuarded(guarded)
    this.#schedule()
    return committed
  }

  #schedule (): void {
    if (this.#options.flush !== 'auto' || this.#scheduled !== undefined) return
    // Not unref'd on purpose: saves nobody awaited still reach the disk before the process
    // exits on its own.
    this.#scheduled = setImmediate(() => {
      this.#scheduled = undefined
      this.#flusher.flush().catch(noop)
    })
  }

  #startInterval (): void {
    const { flush } = this.#options
    if (typeof flush !== 'object' || this.#interval !== undefined) return
    this.#interval = setInterval(() => {
      if (this.#flusher.dirtyCount > 0) this.#flusher.flush().catch(noop)
    }, flush.intervalMs)
    this.#interval.unref()
  }

  #stopTimers (): void {
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled)
    if (this.#interval !== undefined) clearInterval(this.#interval)
    this.#scheduled = undefined
    this.#interval = undefined
  }

  #track<T> (work: Promise<T>): Promise<T> {
    this.#reading.add(work)
    const done = (): void => { this.#reading.delete(work) }
    work.then(done, done)
    return work
  }

  /** Storage reads may start until close() begins. */
  #assertReadable (): void {
    if (this.#closed || this.#closing !== undefined) throw closedError()
  }

  #assertOpen (): void {
    if (this.#closed) throw closedError()
  }

  #assertWritable (): void {
    if (this.#closed || this.#closing !== undefined) throw closedError()
  }
}

function assertChangeEvent (event: string): void {
  if (event !== 'change') throw new TypeError(`FlowStore emits only 'change' events, got ${JSON.stringify(event)}`)
}

function callListener (listener: (change: Change) => void, change: Change): void {
  try {
    listener(change)
  } catch (err) {
    process.emitWarning(`A flowstore 'change' listener threw: ${String(err)}`, { code: 'FLOWSTORE_LISTENER_ERROR' })
  }
}

/** A rejected promise that is already handled: a write nobody awaits raises no unhandledRejection. */

function refused (err: FlowStoreError): Promise<void> {
  const promise = Promise.reject(err)
  promise.catch(noop)
  return promise
}

async function runCloseHooks (hooks: ReadonlyArray<() => void | Promise<void>>): Promise<void> {
  const results = await Promise.allSettled(hooks.map(async (hook) => { await hook() }))
  for (const result of results) {
    if (result.status === 'rejected') process.emitWarning(`A flowstore close hook failed: ${String(result.reason)}`, { code: 'FLOWSTORE_CLOSE_HOOK_ERROR' })
  }
}

function closedError (): FlowStoreError {
  return new FlowStoreError('FLOWSTORE_CLOSED', 'The store is closed (or closing); open it again to use it')
}
