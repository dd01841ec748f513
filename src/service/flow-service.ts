// FlowService: the legacy system's service layer (its `flows` property and force_refresh), over
// a store in this process or over a store another process owns and serves.
//
//   new FlowService(store)              over a local FlowStore: `flows` IS `store.flows`, no
//                                       copy, no storage read, nothing to refresh.
//   await FlowService.connect(dir)      over the owner of `dir` (serveStore() there): reads
//                                       come from this process's own cache, checked against
//                                       the owner's version after `ttlMs`; writes go to the
//                                       owner and resolve once it has committed them.

import type { BackupInfo } from '../backup/types.ts'
import { FlowStore } from '../store.ts'
import type { Flow, FlowShape, Frozen, LazyFlow } from '../types.ts'
import { DEFAULT_REQUEST_TIMEOUT_MS } from './connection.ts'
import type { FlowSource } from './flow-source.ts'
import { LocalFlows } from './local-flows.ts'
import type { RemoteBackupOptions } from './owner-client.ts'
import type { OwnerStats } from './protocol.ts'
import { RemoteFlows, type RemoteOptions } from './remote-flows.ts'
import { type FlowServiceEvents, ServiceEvents } from './service-events.ts'

export type { FlowServiceEvents } from './service-events.ts'

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
  /**
   * How long a request may wait while the owner answers nothing at all. Past it, the
   * requests waiting fail with FLOWSTORE_TIMEOUT and the connection is dropped (then
   * reconnected as usual): an owner that is stopped or wedged never hangs a save. After a
   * third of that silence the client asks the owner whether it is still there (a small version
   * request), so a long request of an owner that answers — a backup, a commit on a slow
   * disk — does not time out. Infinity: wait forever.
   * @default 30000
   */
  requestTimeoutMs?: number
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

const DEFAULT_TTL_MS = 5000
/** setTimeout cannot wait longer (it fires at once instead). */
const MAX_TIMER_MS = 2 ** 31 - 1
/** Only FlowService.connect() holds this: the constructor's form that takes a connected source. */
const CONNECTED: unique symbol = Symbol('FlowService.connect')

export class FlowService<F extends FlowShape = Flow> implements AsyncDisposable {
  readonly #source: FlowSource<F>
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
    const remote = await RemoteFlows.open<F>(target, resolveConnectOptions(options), new ServiceEvents())
    return new FlowService<F>(remote, CONNECTED)
  }

  /** A service over a FlowStore of this process (`FlowService.local(store)` says the same). */
  constructor (store: FlowStore<F>, options?: FlowServiceOptions)
  /** Used by FlowService.connect() only. */
  constructor (source: FlowSource<F>, token: typeof CONNECTED)
  constructor (source: FlowStore<F> | FlowSource<F>, second?: FlowServiceOptions | typeof CONNECTED) {
    if (second === CONNECTED && !(source instanceof FlowStore)) {
      this.#source = source
      return
    }
    resolveTtl(second === CONNECTED ? {} : second ?? {})
    if (!(source instanceof FlowStore)) {
      throw new TypeError('new FlowService() takes a FlowStore; use FlowService.connect() for a store another process owns')
    }
    this.#source = new LocalFlows<F>(source, new ServiceEvents())
  }

  /** True over a store another process owns. */
  get remote (): boolean {
    return this.#source.remote
  }

  /** Over a remote store: whether the owner is connected now. Always true over a local one (until closed). */
  get connected (): boolean {
    return this.#source.connected
  }

  /**
   * Every flow, as a read-only Map view (no copy; each flow decoded on first read). Never
   * blocks: over a remote store, past the TTL it starts one background check and answers
   * from the cache meanwhile.
   */
  get flows (): ReadonlyMap<string, Frozen<F>> {
    return this.#source.flows
  }

  /** The flow with this id (frozen), or undefined. */
  get (id: string): Frozen<F> | undefined {
    return this.#source.lazy(id)?.value
  }

  has (id: string): boolean {
    return this.flows.has(id)
  }

  get size (): number {
    return this.flows.size
  }

  /** The cache entry of a flow: its msgpack bytes, decoded only when `value` is read. */
  lazy (id: string): LazyFlow<F> | undefined {
    return this.#source.lazy(id)
  }

  /** The store version this view is complete up to (over a remote store: as of the last check). */
  get version (): number {
    return this.#source.version
  }

  /** What this service has cost so far (all zero over a local store). */
  get stats (): FlowServiceStats {
    const counters = this.#source.counters
    return {
      remote: this.#source.remote,
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
    return this.#source.saveMany(flows)
  }

  /** Deletes a flow (a no-op when there is none); resolves once committed. */
  delete (id: string): Promise<void> {
    return this.#source.delete(id)
  }

  /**
   * The legacy force_refresh: resolves once `flows` shows everything committed before the
   * call (a version check, then only the changes). Over a local store there is nothing to do.
   * Over a remote store whose owner is gone, tries to reconnect at once; rejects with
   * FLOWSTORE_DISCONNECTED if no owner answers.
   */
  async refresh (): Promise<void> {
    await this.#source.refresh()
  }

  /** What the owner says about its store (over a local store: the store itself). */
  async ownerStats (): Promise<OwnerStats> {
    return await this.#source.ownerStats()
  }

  /**
   * Takes a backup of the store into `file` (see `store.backup()`); over a remote store the
   * owner writes it, while it keeps serving: no downtime. A relative path is resolved here.
   */
  async backup (file: string, options: RemoteBackupOptions = {}): Promise<BackupInfo> {
    return await this.#source.backup(file, options)
  }

  on<E extends keyof FlowServiceEvents> (event: E, listener: FlowServiceEvents[E]): this {
    const events = this.#source.events
    events.add(event, listener)
    if (event === 'change' && !this.#closed) this.#source.watchChanges(events.wantsChanges)
    return this
  }

  off<E extends keyof FlowServiceEvents> (event: E, listener: FlowServiceEvents[E]): this {
    const events = this.#source.events
    events.remove(event, listener)
    if (event === 'change') this.#source.watchChanges(events.wantsChanges)
    return this
  }

  get closed (): boolean {
    return this.#closed || this.#source.closed
  }

  /**
   * Closes the service: over a remote store, the connection (writes still waiting fail with
   * FLOWSTORE_CLOSED). A local store is left open: it belongs to whoever opened it.
   */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#source.events.clear()
    await this.#source.close()
  }

  async [Symbol.asyncDispose] (): Promise<void> {
    await this.close()
  }
}

function resolveTtl (options: FlowServiceOptions): number {
  if (typeof options !== 'object' || options === null) throw new TypeError(`FlowService options must be an object, got ${String(options)}`)
  const ttl = options.ttlMs ?? DEFAULT_TTL_MS
  if (typeof ttl !== 'number' || Number.isNaN(ttl) || ttl < 0) throw new TypeError(`Option ttlMs must be a number >= 0 (or Infinity), got ${String(ttl)}`)
  return ttl
}

function resolveConnectOptions (options: ConnectOptions): RemoteOptions {
  const ttlMs = resolveTtl(options)
  const { reconnect = true, watch = false, maxMessageBytes, requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS } = options
  if (typeof reconnect !== 'boolean') throw new TypeError(`Option reconnect must be a boolean, got ${String(reconnect)}`)
  if (typeof watch !== 'boolean') throw new TypeError(`Option watch must be a boolean, got ${String(watch)}`)
  if (maxMessageBytes !== undefined && (typeof maxMessageBytes !== 'number' || !Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1024)) {
    throw new TypeError(`Option maxMessageBytes must be an integer >= 1024, got ${String(maxMessageBytes)}`)
  }
  if (typeof requestTimeoutMs !== 'number' || Number.isNaN(requestTimeoutMs) || requestTimeoutMs <= 0 || (Number.isFinite(requestTimeoutMs) && requestTimeoutMs > MAX_TIMER_MS)) {
    throw new TypeError(`Option requestTimeoutMs must be a number of milliseconds > 0 (or Infinity), got ${String(requestTimeoutMs)}`)
  }
  return { ttlMs, reconnect, watch, maxMessageBytes, requestTimeoutMs }
}
