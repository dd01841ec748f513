// FlowStore: the public store. Reads are synchronous and served from the cache (filled once
// at open, kept current by our own writes); writes update the cache at once and are
// committed by the flusher in atomic batches.

import type { CachedFlow } from './cached-flow.ts'
import { exportBackup, resolveSince } from './backup/export.ts'
import type { BackupInfo, BackupOptions } from './backup/types.ts'
import { FlowCodec } from './codec.ts'
import { noop } from './deferred.ts'
import { FlowStoreError } from './errors.ts'
import { type CommittedBatch, Flusher } from './flusher.ts'
import { FlowsView } from './flows-view.ts'
import { changesAfterRange, decodeVersion, parseChange, VERSION_KEY } from './layout.ts'
import { type LoadedState, loadState } from './loader.ts'
import { type Database, type OpenedLocation, openLocation } from './location.ts'
import { type ResolvedOptions, resolveOptions } from './options.ts'
import { encodeAll, StagedTransaction, type Transaction } from './transaction.ts'
import type { Change, Flow, FlowShape, FlowStoreOptions, Frozen, LazyFlow } from './types.ts'
import type { ServeOptions, StoreServer } from './service/server.ts'

/** What `store.changesSince(version)` returns. */
export interface ChangesSince {
  /** The store version the answer is complete up to. */
  readonly version: number
  /** One entry per id changed after the asked version, in commit order. */
  readonly changes: Change[]
}

export class FlowStore<F extends FlowShape = Flow> implements AsyncDisposable {
  readonly #location: OpenedLocation
  readonly #options: ResolvedOptions
  readonly #codec: FlowCodec
  readonly #cache: Map<string, CachedFlow<F>>
  readonly #flusher: Flusher<F>
  readonly #view: FlowsView<F>
  readonly #storeId: string
  #scheduled: ReturnType<typeof setImmediate> | undefined
  #interval: ReturnType<typeof setInterval> | undefined
  #closing: Promise<void> | undefined
  #closed = false
  readonly #listeners = new Set<(change: Change) => void>()
  #server: Promise<StoreServer> | undefined
  /** Backups and change reads in progress: close() lets them finish before closing LevelDB. */
  readonly #reading = new Set<Promise<unknown>>()

  /**
   * Opens (creating if needed) the store at `location`: a directory, opened with
   * classic-level, or an abstract-level database you built (memory-level, …). Loads every
   * flow's bytes in one scan; decodes nothing.
   */
  static async open<F extends FlowShape = Flow> (location: string | Database, options?: FlowStoreOptions): Promise<FlowStore<F>> {
    const resolved = resolveOptions(options)
    const codec = new FlowCodec(resolved)
    const opened = await openLocation(location)
    try {
      const state = await loadState<F>(opened.db, codec)
      return new FlowStore<F>(opened, resolved, codec, state)
    } catch (err) {
      await opened.close().catch(noop)
      throw err
    }
  }

  private constructor (
    location: OpenedLocation,
    options: ResolvedOptions,
    codec: FlowCodec,
    { flows, tombstones, version, storeId }: LoadedState<F>
  ) {
    this.#storeId = storeId
    this.#location = location
    this.#options = options
    this.#codec = codec
    this.#cache = flows
    this.#flusher = new Flusher<F>({
      db: location.db,
      sync: options.sync,
      version,
      tombstones,
      onCommit: (batch) => { this.#notify(batch) },
      recover: async () => { await location.reopen() }
    })
    this.#view = new FlowsView<F>(flows, () => { this.#assertOpen() })
    this.#startInterval()
  }

  /**
   * The store's identity: a random UUID made when the store was created, persisted. A store
   * restored from a backup gets a new one, since its history may fork from the original's.
   */
  get storeId (): string {
    return this.#storeId
  }

  /** The directory the store opened, or undefined for a database passed in. */
  get directory (): string | undefined {
    return this.#location.directory
  }

  /** The last committed store version: grows with every committed batch; persisted. */
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
   * committed to LevelDB. Throws FLOWSTORE_INVALID_FLOW (nothing changed) if it is refused.
   */
  save (flow: F | Frozen<F>): Promise<void> {
    return this.saveMany([flow])
  }

  /** Saves several flows; all of them or none are accepted, and they commit in one batch. */
  saveMany (flows: Iterable<F | Frozen<F>>): Promise<void> {
    this.#assertWritable()
    const encoded = encodeAll<F>(this.#codec, flows)
    let committed = this.#flusher.commitPromise()
    for (const flow of encoded) committed = this.#apply(flow.id, flow)
    this.#schedule()
    return committed
  }

  /** Deletes a flow (a no-op when there is none); resolves once committed. */
  delete (id: string): Promise<void> {
    this.#assertWritable()
    const committed = this.#apply(this.#codec.checkId(id), undefined)
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
   * result once the writes are committed.
   */
  async transaction<T> (fn: (tx: Transaction<F>) => T | Promise<T>): Promise<T> {
    this.#assertWritable()
    const tx = new StagedTransaction<F>(this.#codec, (id) => this.#cache.get(id))
    let result: T
    try {
      result = await fn(tx)
    } finally {
      tx.end()
    }
    if (tx.writes.size === 0) return result
    this.#assertWritable()
    for (const [id, flow] of tx.writes) this.#apply(id, flow ?? undefined)
    await this.#flusher.flush()
    return result
  }

  /**
   * Writes a backup of the last committed state to `file`, read through one LevelDB snapshot
   * while the store keeps working: a full one, or with `since` (a version, an earlier backup
   * file or its BackupInfo) a changed-only one. Saves not yet committed are not in it:
   * `await store.flush()` first to include them. `file` may also be a writable stream (such
   * as process.stdout): the backup is streamed into it, and the stream is left open.
   */
  async backup (file: string | NodeJS.WritableStream, options: BackupOptions = {}): Promise<BackupInfo> {
    this.#assertReadable()
    const since = await resolveSince(options.since)
    this.#assertReadable()
    return await this.#track(exportBackup(this.#location.db, file, { since, compressionLevel: options.compressionLevel, overwrite: options.overwrite, onProgress: options.onProgress }))
  }

  /** What changed after `version`, read from the persisted change record (no full scan). */
  async changesSince (version: number): Promise<ChangesSince> {
    this.#assertReadable()
    if (!Number.isSafeInteger(version) || version < 0) throw new TypeError(`changesSince() takes a version (an integer >= 0), got ${String(version)}`)
    return await this.#track(this.#readChanges(version))
  }

  async #readChanges (version: number): Promise<ChangesSince> {
    const db = this.#location.db
    const snapshot = db.supports.explicitSnapshots ? db.snapshot() : undefined
    try {
      const options = { keyEncoding: 'utf8', valueEncoding: 'view', snapshot } as never
      const current = decodeVersion(await db.get(VERSION_KEY, options) as Uint8Array | undefined) ?? 0
      const changes: Change[] = []
      const iterator = db.iterator({
        ...changesAfterRange(version),
        keyEncoding: 'view',
        valueEncoding: 'view',
        snapshot
      } as never) as AsyncIterable<[Uint8Array, Uint8Array]>
      for await (const [key, value] of iterator) changes.push(parseChange(key, value))
      return { version: current, changes }
    } finally {
      await snapshot?.close()
    }
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
   * Serves this store to other processes on a unix socket (owner-only, 0600), advertised in
   * `<directory>/OWNER.json`; they reach it with `FlowService.connect(directory)`. One server
   * per store: a second call without options returns the first. `close()` closes it.
   */
  serve (options?: ServeOptions | string): Promise<StoreServer> {
    if (this.#closed || this.#closing !== undefined) return Promise.reject(closedError())
    if (this.#server !== undefined) {
      return options === undefined ? this.#server : Promise.reject(new TypeError('This store is already served: close that server before serving it again with other options'))
    }
    const limits = { maxFlowBytes: this.#options.maxFlowBytes, maxIdBytes: this.#options.maxIdBytes }
    // Loaded on demand: a store that is never served never loads node:net.
    const started: Promise<StoreServer> = import('./service/server.ts').then(async ({ startServer }) => await startServer(this, options, {
      limits,
      onClose: () => { if (this.#server === started) this.#server = undefined }
    }))
    this.#server = started
    started.catch(() => { if (this.#server === started) this.#server = undefined })
    return started
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
    await this.#server?.then(async (server) => { await server.close() }, noop)
    this.#closed = true
    await this.#location.close()
  }

  /** Applies one change to the cache and the dirty set; returns its commit promise. */
  #apply (id: string, flow: CachedFlow<F> | undefined): Promise<void> {
    const current = this.#cache.get(id)
    if (flow === undefined) {
      if (current === undefined) return this.#flusher.isPending(id) ? this.#flusher.commitPromise() : Promise.resolve()
      this.#cache.delete(id)
    } else {
      this.#cache.set(id, flow)
    }
    return this.#flusher.mark(id, flow, current)
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

function closedError (): FlowStoreError {
  return new FlowStoreError('FLOWSTORE_CLOSED', 'The store is closed (or closing); open it again to use it')
}
