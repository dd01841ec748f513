// FlowService: the legacy system's service layer (its `flows` property and force_refresh), over
// a store in this process or over a store another process owns and serves.
//
//   new FlowService(store)              over a local FlowStore: `flows` IS `store.flows`, no
//                                       copy, no storage read, nothing to refresh.
//   await FlowService.connect(dir)      over the owner of `dir` (store.serve() there): reads
//                                       come from this process's own cache, checked against
//                                       the owner's version after `ttlMs`; writes go to the
//                                       owner and resolve once it has committed them.

import type { BackupInfo } from '../backup/types.ts'
import type { FlowStoreError } from '../errors.ts'
import { FlowStore } from '../store.ts'
import type { Change, Flow, FlowShape, Frozen, LazyFlow } from '../types.ts'
import { backupParams, parseBackupInfo, type RemoteBackupOptions } from './owner-client.ts'
import type { OwnerStats } from './protocol.ts'
import { closedError, RemoteFlows } from './remote-flows.ts'

export interface FlowServiceOptions {
  /**
   * How long `flows` is served from the cache without asking the owner whether anything
   * changed. After it, the next read still answers at once from the cache and starts one
   * background check. 0 checks on every read (one check at a time); Infinity never checks
   * on its own (only `refresh()`, or a pushed notice with `watch`). Ignored over a local
   * store, which is always current.
   * @default 5000
   */
  ttlMs?: number
}

export interface ConnectOptions extends FlowServiceOptions {
  /**
   * When the owner goes away, try to reconnect (with backoff: 50 ms doubling to 2 s, on
   * unref'd timers) and catch up once it is back.
   * @default true
   */
  reconnect?: boolean
  /**
   * Ask the owner to push a notice after each commit: the cache is then stale at once
   * (the next read fetches the changes), and with 'change' listeners they are fetched
   * right away.
   * @default false
   */
  watch?: boolean
  /**
   * The largest message accepted from the owner, in bytes (raised to hold the owner's
   * largest flow).
   * @default 64 MiB
   */
  maxMessageBytes?: number
}

/** What a FlowService counts: the figures that show what a read or a refresh cost. */
export interface FlowServiceStats {
  readonly remote: boolean
  readonly connected: boolean
  /** Requests sent to the owner. */
  readonly messagesSent: number
  /** Answers, parts and notices received from the owner. */
  readonly messagesReceived: number
  /** Flow records received (loads and changes). */
  readonly recordsFetched: number
  /** Version checks made (each is one small request). */
  readonly versionChecks: number
  /** Times every flow was loaded (at connect; again only when an exact catch-up was impossible). */
  readonly fullLoads: number
  readonly reconnects: number
}

export interface FlowServiceEvents {
  /** A flow changed (over a remote store: as the cache learns it). */
  change: (change: Change) => void
  /** The owner went away; reads keep serving the cache. */
  disconnect: (error: FlowStoreError) => void
  /** The owner is back and the cache has caught up. */
  reconnect: () => void
}

type Listeners = { [E in keyof FlowServiceEvents]: Set<FlowServiceEvents[E]> }

const DEFAULT_TTL_MS = 5000

export class FlowService<F extends FlowShape = Flow> implements AsyncDisposable {
  readonly #store: FlowStore<F> | undefined
  readonly #remote: RemoteFlows<F> | undefined
  readonly #listeners: Listeners = { change: new Set(), disconnect: new Set(), reconnect: new Set() }
  readonly #onStoreChange = (change: Change): void => { this.#emit('change', change) }
  #closed = false

  /** A service over a FlowStore of this process (it does not close the store). */
  static local<F extends FlowShape = Flow> (store: FlowStore<F>, options?: FlowServiceOptions): FlowService<F> {
    return new FlowService<F>(store, options)
  }

  /**
   * Connects to the process that owns a store: `target` is its database directory (found
   * through `<dir>/OWNER.json`) or the socket path. Loads every flow once, then keeps the
   * cache current with version checks. FLOWSTORE_DISCONNECTED when no owner answers;
   * FLOWSTORE_UNSAFE_SOCKET when the socket is not owner-only (0600, this user's).
   */
  static async connect<F extends FlowShape = Flow> (target: string, options: ConnectOptions = {}): Promise<FlowService<F>> {
    if (typeof target !== 'string' || target.length === 0) throw new TypeError(`FlowService.connect() takes a database directory or a socket path, got ${String(target)}`)
    const resolved = resolveConnectOptions(options)
    let service: FlowService<F> | undefined
    const remote = await RemoteFlows.open<F>(target, resolved, {
      change: (changes) => { if (service !== undefined) for (const change of changes) service.#emit('change', change) },
      disconnect: (reason) => { if (service !== undefined) service.#emit('disconnect', reason) },
      reconnect: () => { if (service !== undefined) service.#emit('reconnect') },
      wantsChanges: () => service !== undefined && service.#listeners.change.size > 0
    })
    // The constructor's public signature takes a store; a RemoteFlows is accepted from here only.
    service = new FlowService<F>(remote as unknown as FlowStore<F>)
    return service
  }

  /** A service over a FlowStore of this process (`FlowService.local(store)` says the same). */
  constructor (store: FlowStore<F>, options?: FlowServiceOptions)
  constructor (source: FlowStore<F> | RemoteFlows<F>, options: FlowServiceOptions = {}) {
    resolveTtl(options)
    if (source instanceof RemoteFlows) {
      this.#remote = source
    } else if (source instanceof FlowStore) {
      this.#store = source
    } else {
      throw new TypeError('new FlowService() takes a FlowStore; use FlowService.connect() for a store another process owns')
    }
  }

  /** True over a store another process owns. */
  get remote (): boolean {
    return this.#remote !== undefined
  }

  /** Over a remote store: whether the owner is connected now. Always true over a local one. */
  get connected (): boolean {
    return this.#remote?.connected ?? !this.#closed
  }

  /**
   * Every flow, as a read-only Map view (no copy; each flow decoded on first read). Never
   * blocks: over a remote store, past the TTL it starts one background check and answers
   * from the cache meanwhile.
   */
  get flows (): ReadonlyMap<string, Frozen<F>> {
    const remote = this.#remote
    if (remote !== undefined) {
      remote.touch()
      return remote.view
    }
    if (this.#closed) throw closedError()
    return this.#store!.flows
  }

  /** The flow with this id (frozen), or undefined. */
  get (id: string): Frozen<F> | undefined {
    const remote = this.#remote
    if (remote !== undefined) return remote.get(id)?.value
    if (this.#closed) throw closedError()
    return this.#store!.get(id)
  }

  has (id: string): boolean {
    return this.flows.has(id)
  }

  get size (): number {
    return this.flows.size
  }

  /** The cache entry of a flow: its msgpack bytes, decoded only when `value` is read. */
  lazy (id: string): LazyFlow<F> | undefined {
    const remote = this.#remote
    if (remote !== undefined) return remote.get(id)
    if (this.#closed) throw closedError()
    return this.#store!.lazy(id)
  }

  /** The store version this view is complete up to (over a remote store: as of the last check). */
  get version (): number {
    if (this.#remote !== undefined) return this.#remote.version
    return this.#store!.version
  }

  /** What this service has cost so far (all zero over a local store). */
  get stats (): FlowServiceStats {
    const counters = this.#remote?.counters
    return {
      remote: counters !== undefined,
      connected: this.connected,
      messagesSent: counters?.messagesSent ?? 0,
      messagesReceived: counters?.messagesReceived ?? 0,
      recordsFetched: counters?.recordsFetched ?? 0,
      versionChecks: counters?.versionChecks ?? 0,
      fullLoads: counters?.fullLoads ?? 0,
      reconnects: counters?.reconnects ?? 0
    }
  }

  /**
   * Saves a flow. Checked here first (FLOWSTORE_INVALID_FLOW, thrown synchronously, nothing
   * sent). Resolves once committed: over a remote store, once the owner acknowledged its
   * commit, and the cache shows it from then on. Rejects with FLOWSTORE_DISCONNECTED when
   * the owner went away before acknowledging it (it may or may not have committed).
   */
  save (flow: F | Frozen<F>): Promise<void> {
    return this.saveMany([flow])
  }

  /** Saves several flows: all or none, in one commit. */
  saveMany (flows: Iterable<F | Frozen<F>>): Promise<void> {
    if (this.#remote !== undefined) return this.#remote.saveMany(flows)
    this.#assertLocalOpen()
    return this.#store!.saveMany(flows)
  }

  /** Deletes a flow (a no-op when there is none); resolves once committed. */
  delete (id: string): Promise<void> {
    if (this.#remote !== undefined) return this.#remote.delete(id)
    this.#assertLocalOpen()
    return this.#store!.delete(id)
  }

  /**
   * The legacy force_refresh: resolves once `flows` shows everything committed before the
   * call (a version check, then only the changes). Over a local store there is nothing to do.
   * Over a remote store whose owner is gone, tries to reconnect at once; rejects with
   * FLOWSTORE_DISCONNECTED if no owner answers.
   */
  async refresh (): Promise<void> {
    if (this.#remote !== undefined) {
      await this.#remote.refresh()
      return
    }
    this.#assertLocalOpen()
  }

  /** What the owner says about its store (over a local store: the store itself). */
  async ownerStats (): Promise<OwnerStats> {
    if (this.#remote !== undefined) return await this.#remote.ownerStats()
    this.#assertLocalOpen()
    const store = this.#store!
    return { version: store.version, size: store.size, pending: store.pending, batches: store.batches, directory: store.directory, pid: process.pid, socket: '', clients: 0 }
  }

  /**
   * Takes a backup of the store into `file` (see `store.backup()`); over a remote store the
   * owner writes it, while it keeps serving: no downtime. A relative path is resolved here.
   */
  async backup (file: string, options: RemoteBackupOptions = {}): Promise<BackupInfo> {
    if (this.#remote === undefined) {
      this.#assertLocalOpen()
      return await this.#store!.backup(file, options)
    }
    return await this.#remote.call('backup', backupParams(file, options), parseBackupInfo)
  }

  on<E extends keyof FlowServiceEvents> (event: E, listener: FlowServiceEvents[E]): this {
    const set = this.#listenerSet(event)
    if (event === 'change' && set.size === 0 && this.#store !== undefined && !this.#closed) this.#store.on('change', this.#onStoreChange)
    set.add(listener)
    return this
  }

  off<E extends keyof FlowServiceEvents> (event: E, listener: FlowServiceEvents[E]): this {
    const set = this.#listenerSet(event)
    set.delete(listener)
    if (event === 'change' && set.size === 0 && this.#store !== undefined) this.#store.off('change', this.#onStoreChange)
    return this
  }

  get closed (): boolean {
    return this.#closed || this.#remote?.closed === true
  }

  /**
   * Closes the service: over a remote store, the connection (writes still waiting fail with
   * FLOWSTORE_CLOSED). A local store is left open: it belongs to whoever opened it.
   */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#store?.off('change', this.#onStoreChange)
    for (const set of Object.values(this.#listeners)) set.clear()
    await this.#remote?.close()
  }

  async [Symbol.asyncDispose] (): Promise<void> {
    await this.close()
  }

  #listenerSet<E extends keyof FlowServiceEvents> (event: E): Set<FlowServiceEvents[E]> {
    const set = this.#listeners[event] as Set<FlowServiceEvents[E]> | undefined
    if (set === undefined || !Object.hasOwn(this.#listeners, event)) {
      throw new TypeError(`FlowService emits 'change', 'disconnect' and 'reconnect', got ${JSON.stringify(event)}`)
    }
    return set
  }

  #emit<E extends keyof FlowServiceEvents> (event: E, ...args: Parameters<FlowServiceEvents[E]>): void {
    for (const listener of [...this.#listeners[event]]) {
      try {
        (listener as (...a: unknown[]) => void)(...args)
      } catch (err) {
        process.emitWarning(`A FlowService '${event}' listener threw: ${String(err)}`, { code: 'FLOWSTORE_LISTENER_ERROR' })
      }
    }
  }

  #assertLocalOpen (): void {
    if (this.#closed) throw closedError()
  }
}

function resolveTtl (options: FlowServiceOptions): number {
  if (typeof options !== 'object' || options === null) throw new TypeError(`FlowService options must be an object, got ${String(options)}`)
  const ttl = options.ttlMs ?? DEFAULT_TTL_MS
  if (typeof ttl !== 'number' || Number.isNaN(ttl) || ttl < 0) throw new TypeError(`Option ttlMs must be a number >= 0 (or Infinity), got ${String(ttl)}`)
  return ttl
}

function resolveConnectOptions (options: ConnectOptions): { ttlMs: number, reconnect: boolean, watch: boolean, maxMessageBytes: number | undefined } {
  const ttlMs = resolveTtl(options)
  const { reconnect = true, watch = false, maxMessageBytes } = options
  if (typeof reconnect !== 'boolean') throw new TypeError(`Option reconnect must be a boolean, got ${String(reconnect)}`)
  if (typeof watch !== 'boolean') throw new TypeError(`Option watch must be a boolean, got ${String(watch)}`)
  if (maxMessageBytes !== undefined && (typeof maxMessageBytes !== 'number' || !Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1024)) {
    throw new TypeError(`Option maxMessageBytes must be an integer >= 1024, got ${String(maxMessageBytes)}`)
  }
  return { ttlMs, reconnect, watch, maxMessageBytes }
}
