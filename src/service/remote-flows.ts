// A client's cache of a store served by another process: every flow's record, decoded on
// first read (CachedFlow, like the store's own cache), kept current by version checks.
//
// Reads never wait. Within the TTL they touch nothing; the first read after it serves the
// cache as it is and starts ONE background check (never more than one in flight): the owner's
// version, and if it moved, only the changes since the cached version. `refresh()` runs a
// check and resolves once the cache reflects everything committed before it was called.
//
// Writes are checked and encoded here (the owner checks them again), forwarded, and applied
// to the cache once the owner acknowledges them (after its commit).
//
// When the connection goes, waiting writes fail (FLOWSTORE_DISCONNECTED), reads keep serving
// the cache, and reconnection is tried with backoff (unref'd timers; `refresh()` tries at
// once). On reconnect the cache catches up with changes-since, or loads everything again
// when that cannot be exact: the owner's version went back (the store was replaced), or a
// new owner started while the cache held data the old one had not committed yet.

import { CachedFlow } from '../cached-flow.ts'
import { FlowCodec } from '../codec.ts'
import { noop } from '../deferred.ts'
import { FlowStoreError, isFlowStoreError } from '../errors.ts'
import { FlowsView } from '../flows-view.ts'
import { HEADER_BYTES, RECORD_FORMAT } from '../layout.ts'
import type { BackupInfo } from '../backup/types.ts'
import type { Change, FlowShape, Frozen } from '../types.ts'
import { type Counters, OwnerConnection } from './connection.ts'
import { closedError, type FlowSource } from './flow-source.ts'
import { backupParams, parseBackupInfo, type RemoteBackupOptions } from './owner-client.ts'
import { disconnected } from './owner-file.ts'
import {
  type HelloResult, type OwnerStats, parseAck, parseFlowsEnd, parseFlowsPart, parseOwnerStats, parseVersion
} from './protocol.ts'
import type { ServiceEvents } from './service-events.ts'

export interface RemoteOptions {
  readonly ttlMs: number
  readonly reconnect: boolean
  readonly watch: boolean
  readonly maxMessageBytes: number | undefined
  readonly requestTimeoutMs: number
}

/** What a client counts (service.stats). */
export interface RemoteCounters extends Counters {
  recordsFetched: number
  versionChecks: number
  fullLoads: number
  reconnects: number
}

const FIRST_BACKOFF_MS = 50
const MAX_BACKOFF_MS = 2000
/** setTimeout cannot wait longer (it fires at once instead). */
const MAX_TIMER_MS = 2 ** 31 - 1

export class RemoteFlows<F extends FlowShape> implements FlowSource<F> {
  readonly events: ServiceEvents
  readonly remote = true
  readonly #view: FlowsView<F>
  readonly counters: RemoteCounters = {
    messagesSent: 0, messagesReceived: 0, recordsFetched: 0, versionChecks: 0, fullLoads: 0, reconnects: 0
  }

  readonly #target: string
  readonly #options: RemoteOptions
  readonly #cache = new Map<string, CachedFlow<F>>()
  #codec: FlowCodec | undefined
  #hello: HelloResult | undefined
  #connection: OwnerConnection | undefined
  /** The owner's version the cache is complete up to. */
  #version = 0
  /** The cache holds data the owner had not committed when it sent it (and not confirmed since). */
  #uncertain = false
  #fresh = false
  #ttlTimer: ReturnType<typeof setTimeout> | undefined
  /** The check in flight (never rejects). */
  #syncing: Promise<void> | undefined
  /** A refresh() waiting for the check in flight to end before it starts its own. */
  #queued: Promise<void> | undefined
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined
  #backoffMs = FIRST_BACKOFF_MS
  #closed = false

  /** Connects to the owner of `target` and loads every flow. */
  static async open<F extends FlowShape> (target: string, options: RemoteOptions, events: ServiceEvents): Promise<RemoteFlows<F>> {
    const remote = new RemoteFlows<F>(target, options, events)
    try {
      await remote.refresh()
    } catch (err) {
      await remote.close()
      throw err
    }
    return remote
  }

  private constructor (target: string, options: RemoteOptions, events: ServiceEvents) {
    this.#target = target
    this.#options = options
    this.events = events
    this.#view = new FlowsView<F>(this.#cache, () => { this.#assertOpen() })
  }

  /** Every flow in the cache; past the TTL, starts a background check first. */
  get flows (): ReadonlyMap<string, Frozen<F>> {
    this.touch()
    return this.#view
  }

  get version (): number {
    return this.#version
  }

  get connected (): boolean {
    return this.#connection !== undefined
  }

  get closed (): boolean {
    return this.#closed
  }

  /** Called by every read: past the TTL, starts a background check (one at a time). */
  touch (): void {
    if (this.#fresh) return
    if (this.#closed) throw closedError()
    if (this.#syncing === undefined && this.#connection !== undefined) void this.#startSync()
  }

  lazy (id: string): CachedFlow<F> | undefined {
    this.touch()
    return this.#cache.get(id)
  }

  /** Resolves once the cache shows everything the owner committed before this call. */
  refresh (): Promise<void> {
    if (this.#closed) return Promise.reject(closedError())
    if (this.#queued !== undefined) return this.#queued
    const previous = this.#syncing
    if (previous === undefined) return this.#startSync()
    const queued = previous.then(() => {
      this.#queued = undefined
      return this.#startSync()
    })
    this.#queued = queued
    queued.catch(noop)
    return queued
  }

  saveMany (flows: Iterable<unknown>): Promise<void> {
    this.#assertOpen()
    const codec = this.#requireCodec()
    const entries: Array<CachedFlow<F>> = []
    let bytes = 0
    for (const flow of flows) {
      const { id, record } = codec.encode(flow)
      entries.push(new CachedFlow<F>(id, record, 0, codec))
      bytes += record.length + Buffer.byteLength(id) + 16
    }
    if (entries.length === 0) return Promise.resolve()
    const limit = this.#hello?.maxMessageBytes ?? Infinity
    if (bytes + 1024 > limit) {
      throw new FlowStoreError('FLOWSTORE_INVALID_FLOW', `These ${entries.length} flows encode to ${bytes} bytes, more than the owner accepts in one message (${limit}); save them in smaller groups`)
    }
    const connection = this.#connection
    if (connection === undefined) return handled(Promise.reject(notConnected()))
    const sent = entries.map((entry) => [entry.id, entry.record.subarray(HEADER_BYTES)])
    const acked = connection.request(entries.length === 1 ? 'save' : 'save-many', { flows: sent }, parseAck)
      .then(({ version }) => { this.#applyAck(version, entries.map((entry) => [entry.id, entry])) })
    return handled(acked)
  }

  delete (id: string): Promise<void> {
    this.#assertOpen()
    const flowId = this.#requireCodec().checkId(id)
    const connection = this.#connection
    if (connection === undefined) return handled(Promise.reject(notConnected()))
    const acked = connection.request('delete', { flowId }, parseAck)
      .then(({ version }) => { this.#applyAck(version, [[flowId, undefined]]) })
    return handled(acked)
  }

  async ownerStats (): Promise<OwnerStats> {
    return await this.#connected().request('stats', {}, parseOwnerStats)
  }

  /** The owner writes the backup, while it keeps serving. */
  async backup (file: string, options: RemoteBackupOptions): Promise<BackupInfo> {
    return await this.#connected().request('backup', backupParams(file, options), parseBackupInfo)
  }

  watchChanges (): void {
    // Nothing to start: a pushed notice asks `events.wantsChanges` whether to fetch at once.
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#fresh = false
    clearTimeout(this.#ttlTimer)
    clearTimeout(this.#reconnectTimer)
    const connection = this.#connection
    this.#connection = undefined
    await connection?.close()
  }

  #connected (): OwnerConnection {
    this.#assertOpen()
    const connection = this.#connection
    if (connection === undefined) throw notConnected()
    return connection
  }

  #startSync (): Promise<void> {
    const run = this.#sync()
    const tracked = run.then(noop, (err: unknown) => { this.#syncFailed(err) })
    this.#syncing = tracked
    void tracked.then(() => { if (this.#syncing === tracked) this.#syncing = undefined })
    return run
  }

  #sync (): Promise<void> {
    const connection = this.#connection
    return connection === undefined ? this.#connectAndCatchUp() : this.#check(connection)
  }

  /** The TTL check: one cheap version request; changes only when the version moved. */
  async #check (connection: OwnerConnection): Promise<void> {
    this.counters.versionChecks++
    const { version } = await connection.request('version', {}, parseVersion)
    if (version !== this.#version) {
      if (version < this.#version) await this.#loadAll(connection, true)
      else await this.#changesSinceOrReload(connection)
    }
    this.#markFresh()
  }

  async #connectAndCatchUp (): Promise<void> {
    clearTimeout(this.#reconnectTimer)
    this.#reconnectTimer = undefined
    const first = this.#hello === undefined
    const connection = await OwnerConnection.open(this.#target, {
      maxMessageBytes: this.#options.maxMessageBytes,
      requestTimeoutMs: this.#options.requestTimeoutMs,
      counters: this.counters,
      onEvent: (version) => { this.#pushed(version) },
      onLost: (reason) => { this.#lost(connection, reason) }
    })
    if (this.#closed) {
      await connection.close()
      throw closedError()
    }
    const hello = connection.hello
    const sameOwner = hello.instance === this.#hello?.instance
    if (this.#codec === undefined || hello.maxFlowBytes !== this.#hello?.maxFlowBytes || hello.maxIdBytes !== this.#hello.maxIdBytes) {
      this.#codec = new FlowCodec({ maxFlowBytes: hello.maxFlowBytes, maxIdBytes: hello.maxIdBytes })
    }
    this.#hello = hello
    this.#connection = connection
    if (this.#options.watch) await connection.request('watch', {}, noop)
    if (first || hello.version < this.#version || (!sameOwner && this.#uncertain)) {
      await this.#loadAll(connection, !first)
    } else if (hello.version !== this.#version) {
      await this.#changesSinceOrReload(connection)
    }
    this.#backoffMs = FIRST_BACKOFF_MS
    this.#markFresh()
    if (!first) {
      this.counters.reconnects++
      this.events.reconnected()
    }
  }

  /** Every flow; replaces the cache in one step (reporting what differs when `replacing`). */
  async #loadAll (connection: OwnerConnection, replacing: boolean): Promise<void> {
    const codec = this.#requireCodec()
    const loaded: Array<CachedFlow<F>> = []
    const end = await connection.request('load-all', {}, parseFlowsEnd, (part) => {
      // Copied out of the network buffers part by part.
      for (const [id, version, bytes] of parseFlowsPart(part).saved) loaded.push(new CachedFlow<F>(id, recordOf(bytes), version, codec))
    })
    this.counters.fullLoads++
    this.counters.recordsFetched += loaded.length
    const changes: Change[] = []
    if (replacing) {
      const seen = new Set<string>()
      for (const flow of loaded) {
        seen.add(flow.id)
        const old = this.#cache.get(flow.id)
        if (old === undefined || !Buffer.from(old.record.buffer, old.record.byteOffset + HEADER_BYTES, old.record.byteLength - HEADER_BYTES)
          .equals(Buffer.from(flow.record.buffer, flow.record.byteOffset + HEADER_BYTES, flow.record.byteLength - HEADER_BYTES))) {
          changes.push({ id: flow.id, version: flow.version, deleted: false })
        }
      }
      for (const id of this.#cache.keys()) if (!seen.has(id)) changes.push({ id, version: end.version, deleted: true })
    }
    this.#cache.clear()
    for (const flow of loaded) this.#cache.set(flow.id, flow)
    this.#version = end.version
    this.#uncertain = end.pending
    if (changes.length > 0) this.events.changed(changes)
  }

  /** #changesSince(), or every flow when the owner's change log no longer reaches the cached version. */
  async #changesSinceOrReload (connection: OwnerConnection): Promise<void> {
    try {
      await this.#changesSince(connection)
    } catch (err) {
      // The owner refuses before it sends any part: nothing of the answer was applied.
      if (!isFlowStoreError(err, 'FLOWSTORE_CHANGES_PRUNED')) throw err
      await this.#loadAll(connection, true)
    }
  }

  /**
   * Only what changed since the cached version. Each part is applied as it comes, so the
   * cache takes the owner's states in the order the owner read them, acknowledgements of our
   * own writes included; the cached version moves when the whole answer is in.
   */
  async #changesSince (connection: OwnerConnection): Promise<void> {
    const codec = this.#requireCodec()
    const end = await connection.request('changes-since', { since: this.#version }, parseFlowsEnd, (part) => {
      const { saved, deleted } = parseFlowsPart(part)
      const changes: Change[] = []
      for (const [id, version, bytes] of saved) {
        this.#cache.set(id, new CachedFlow<F>(id, recordOf(bytes), version, codec))
        changes.push({ id, version, deleted: false })
      }
      for (const [id, version] of deleted) {
        if (this.#cache.delete(id)) changes.push({ id, version, deleted: true })
      }
      this.counters.recordsFetched += saved.length
      if (changes.length > 0) this.events.changed(changes)
    })
    this.#version = end.version
    this.#uncertain = end.pending
  }

  /**
   * Applies an acknowledged write, unless the cache already reflects a later state of the
   * owner (an answer read after this commit): then what it holds is at least as new.
   */
  #applyAck (version: number, writes: ReadonlyArray<readonly [string, CachedFlow<F> | undefined]>): void {
    if (this.#closed || version <= this.#version) return
    const changes: Change[] = []
    for (const [id, flow] of writes) {
      if (flow === undefined) {
        if (this.#cache.delete(id)) changes.push({ id, version, deleted: true })
      } else {
        flow.committed(version)
        this.#cache.set(id, flow)
        changes.push({ id, version, deleted: false })
      }
    }
    if (changes.length > 0) this.events.changed(changes)
  }

  #markFresh (): void {
    clearTimeout(this.#ttlTimer)
    this.#ttlTimer = undefined
    const ttl = this.#options.ttlMs
    this.#fresh = ttl > 0 && !this.#closed
    if (!this.#fresh || ttl >= MAX_TIMER_MS) return
    this.#ttlTimer = setTimeout(() => { this.#fresh = false }, ttl)
    this.#ttlTimer.unref()
  }

  #pushed (version: number): void {
    if (version === this.#version) return
    this.#fresh = false
    // Someone listens for changes: fetch now rather than on the next read.
    if (this.events.wantsChanges && this.#syncing === undefined && !this.#closed) void this.#startSync()
  }

  #lost (connection: OwnerConnection, reason: FlowStoreError): void {
    if (this.#connection !== connection) return
    this.#connection = undefined
    this.#fresh = false
    if (this.#closed) return
    this.events.disconnected(reason)
    this.#scheduleReconnect()
  }

  #syncFailed (err: unknown): void {
    // A check that failed for lack of an owner: try again later. (A failed check on a live
    // connection is retried by the next read.)
    void err
    if (this.#connection === undefined) this.#scheduleReconnect()
  }

  #scheduleReconnect (): void {
    if (this.#closed || !this.#options.reconnect || this.#reconnectTimer !== undefined || this.#hello === undefined) return
    const delay = this.#backoffMs
    this.#backoffMs = Math.min(delay * 2, MAX_BACKOFF_MS)
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined
      if (this.#syncing === undefined && this.#connection === undefined && !this.#closed) void this.#startSync()
    }, delay)
    this.#reconnectTimer.unref()
  }

  #requireCodec (): FlowCodec {
    if (this.#codec === undefined) throw notConnected()
    return this.#codec
  }

  #assertOpen (): void {
    if (this.#closed) throw closedError()
  }
}

/** A record (header + msgpack) around fetched bytes: a copy, so no network buffer is kept. */
function recordOf (bytes: Uint8Array): Uint8Array {
  const record = new Uint8Array(HEADER_BYTES + bytes.length)
  record[0] = RECORD_FORMAT
  record.set(bytes, HEADER_BYTES)
  return record
}

/** Marks a promise handled (an unawaited write never causes an unhandled rejection) and returns it. */
function handled<T> (promise: Promise<T>): Promise<T> {
  promise.catch(noop)
  return promise
}

function notConnected (): FlowStoreError {
  return disconnected('Not connected to the owner (it stopped or crashed); reads serve the cache, writes fail until it is back')
}
