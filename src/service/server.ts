// The owner side: the process that opened a store serves it on a unix socket, so that other
// processes (FlowService.connect) read and write it through this one. Each connection is a
// Session: it checks every request, answers from the store's memory (and its change record),
// forwards writes to the store and acknowledges them once committed. A client that sends
// something malformed or too large is refused and cut off; nothing it does reaches further
// than its own connection.

import { randomUUID } from 'node:crypto'
import { chmodSync } from 'node:fs'
import { lstat, unlink } from 'node:fs/promises'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { resolve } from 'node:path'
import { CachedFlow } from '../cached-flow.ts'
import { type CodecLimits, FlowCodec } from '../codec.ts'
import { FlowStoreError } from '../errors.ts'
import { HEADER_BYTES, RECORD_FORMAT } from '../layout.ts'
import type { FlowStore } from '../store.ts'
import type { Change, FlowShape, LazyFlow } from '../types.ts'
import { Channel } from './channel.ts'
import { advertise, defaultSocketPlace, removeSocketPlace, type SocketPlace, withdraw } from './owner-file.ts'
import {
  DEFAULT_MAX_MESSAGE_BYTES, type DeletedEntry, errorToWire, type FlowEntry, type OwnerStats, parseRequest,
  PROTOCOL_VERSION, ProtocolViolation, type Request, requestIdOf, type SavedEntry
} from './protocol.ts'

export interface ServeOptions {
  /**
   * Where to listen. By default `<db>/flowstore-owner/socket` (a private 0700 directory), or
   * a private directory under os.tmpdir() when that path is too long for a unix socket or the
   * store was opened on a database object. Either way, the path is advertised in
   * `<db>/OWNER.json` when the store has a directory.
   */
  path?: string
  /**
   * The directory whose OWNER.json advertises the socket (clients connect with that
   * directory), or false for none. The default socket lives there too when the store has
   * no directory of its own.
   * @default the store's directory (none for a store opened on a database object)
   */
  advertise?: string | false
  /**
   * The largest message accepted from a client, in bytes; a larger one closes that
   * connection with FLOWSTORE_PROTOCOL.
   * @default 64 MiB, or maxFlowBytes + 1 MiB when that is more
   */
  maxMessageBytes?: number
}

/** A running owner server: what `store.serve()` returns. `store.close()` closes it too. */
export interface StoreServer extends AsyncDisposable {
  /** The socket path. */
  readonly path: string
  /** The OWNER.json that advertises it, when the store has a directory. */
  readonly ownerFile: string | undefined
  /** A random id of this server start (clients use it to tell owners apart). */
  readonly instance: string
  /** Connections open now. */
  readonly connections: number
  readonly closed: boolean
  /** Stops accepting, lets requests in progress finish, ends every connection, withdraws OWNER.json. */
  close (): Promise<void>
}

/** How the store hands itself to startServer (the store's resolved limits, its close hook). */
export interface ServerHooks {
  readonly limits: CodecLimits
  readonly onClose: () => void
}

/** Serves `store` to other processes; the same as `store.serve(options)`. */
export function serveStore<F extends FlowShape> (store: FlowStore<F>, options?: ServeOptions | string): Promise<StoreServer> {
  return store.serve(options)
}

const MIB = 1024 * 1024
/** Requests of one connection in progress at once; past this its socket is paused. */
const MAX_IN_FLIGHT = 64
/** A streamed answer is cut into parts of about this many records or bytes. */
const PART_RECORDS = 1000
const PART_BYTES = MIB

// The store's generic parameter does not matter here: the server moves bytes and ids.
type AnyStore = FlowStore<any>

/** Starts an owner server (called by `store.serve()`, which tracks it and closes it on close). */
export async function startServer (store: AnyStore, options: ServeOptions | string | undefined, hooks: ServerHooks): Promise<StoreServer> {
  const resolved = resolveServeOptions(options, hooks.limits)
  const home = resolved.advertise === false ? undefined : resolved.advertise ?? store.directory
  const place: SocketPlace = resolved.path === undefined
    ? await defaultSocketPlace(store.directory ?? home)
    : { path: resolve(resolved.path), privateDir: undefined }
  const server = createServer({ allowHalfOpen: false })
  try {
    await listenOwnerOnly(server, place.path)
  } catch (err) {
    await removeSocketPlace(place).catch(() => {})
    throw err
  }
  const instance = randomUUID()
  let ownerFile: string | undefined
  if (home !== undefined) {
    try {
      ownerFile = await advertise(home, { socket: place.path, pid: process.pid, instance, protocol: PROTOCOL_VERSION })
    } catch (err) {
      server.close()
      await removeSocketPlace(place).catch(() => {})
      throw err
    }
  }
  return new OwnerServer(store, server, place, instance, ownerFile, resolved.maxMessageBytes, hooks)
}

function resolveServeOptions (options: ServeOptions | string | undefined, limits: CodecLimits): { path: string | undefined, advertise: string | false | undefined, maxMessageBytes: number } {
  const given = typeof options === 'string' ? { path: options } : options ?? {}
  if (typeof given !== 'object' || given === null) throw new TypeError(`serve() takes a socket path or options, got ${String(options)}`)
  const { path, advertise, maxMessageBytes } = given
  if (path !== undefined && (typeof path !== 'string' || path.length === 0)) throw new TypeError(`Option path must be a non-empty string, got ${String(path)}`)
  if (advertise !== undefined && advertise !== false && (typeof advertise !== 'string' || advertise.length === 0)) {
    throw new TypeError(`Option advertise must be a directory path or false, got ${String(advertise)}`)
  }
  if (maxMessageBytes !== undefined && (typeof maxMessageBytes !== 'number' || !Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1024)) {
    throw new TypeError(`Option maxMessageBytes must be an integer >= 1024, got ${String(maxMessageBytes)}`)
  }
  return { path, advertise: typeof advertise === 'string' ? resolve(advertise) : advertise, maxMessageBytes: maxMessageBytes ?? Math.max(DEFAULT_MAX_MESSAGE_BYTES, limits.maxFlowBytes + MIB) }
}

/**
 * Listens on `path` and makes the socket 0600 before any connection is accepted: the
 * 'listening' callback runs (synchronously, chmodSync) before the event loop polls for
 * connections. The default path is inside a 0700 directory as well, which closes the window
 * between bind() and the chmod; for an explicit path, choose a private directory.
 */
async function listenOwnerOnly (server: Server, path: string): Promise<void> {
  try {
    await listen(server, path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || !await isStaleSocket(path)) throw err
    await unlink(path)
    await listen(server, path)
  }
}

function listen (server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => { reject(err) }
    server.once('error', onError)
    server.listen(path, () => {
      server.off('error', onError)
      try {
        chmodSync(path, 0o600)
      } catch (err) {
        server.close()
        reject(err)
        return
      }
      resolve()
    })
  })
}

/** Whether `path` is a socket nobody listens on (left by an owner that crashed). */
async function isStaleSocket (path: string): Promise<boolean> {
  const info = await lstat(path).catch(() => undefined)
  if (info?.isSocket() !== true) return false
  return await new Promise((resolve) => {
    const probe = connect(path)
    probe.once('connect', () => { probe.destroy(); resolve(false) })
    probe.once('error', (err: NodeJS.ErrnoException) => { resolve(err.code === 'ECONNREFUSED') })
  })
}

class OwnerServer implements StoreServer {
  readonly path: string
  readonly ownerFile: string | undefined
  readonly instance: string
  readonly store: AnyStore
  readonly codec: FlowCodec
  readonly limits: CodecLimits
  readonly maxMessageBytes: number
  readonly sessions = new Set<Session>()
  readonly #server: Server
  readonly #place: SocketPlace
  readonly #hooks: ServerHooks
  #closing: Promise<void> | undefined
  #watchers = 0
  #pushScheduled: ReturnType<typeof setImmediate> | undefined
  readonly #onChange = (): void => { this.#schedulePush() }

  constructor (store: AnyStore, server: Server, place: SocketPlace, instance: string, ownerFile: string | undefined, maxMessageBytes: number, hooks: ServerHooks) {
    this.store = store
    this.#server = server
    this.#place = place
    this.path = place.path
    this.instance = instance
    this.ownerFile = ownerFile
    this.maxMessageBytes = maxMessageBytes
    this.limits = hooks.limits
    this.codec = new FlowCodec(hooks.limits)
    this.#hooks = hooks
    server.on('connection', (socket) => { this.#accept(socket) })
    // An accept() failure (EMFILE…) must not take the owner down.
    server.on('error', (err) => { process.emitWarning(`flowstore owner server: ${err.message}`, { code: 'FLOWSTORE_SERVER_ERROR' }) })
  }

  get connections (): number {
    return this.sessions.size
  }

  get closed (): boolean {
    return this.#closing !== undefined
  }

  close (): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async [Symbol.asyncDispose] (): Promise<void> {
    await this.close()
  }

  /** Called by a session that sent `watch`: push a change event after each commit. */
  watch (): void {
    if (this.#watchers++ === 0) this.store.on('change', this.#onChange)
  }

  unwatch (): void {
    if (--this.#watchers === 0) this.store.off('change', this.#onChange)
  }

  async #close (): Promise<void> {
    this.#server.close()
    if (this.ownerFile !== undefined) await withdraw(this.ownerFile, this.instance).catch(() => {})
    await Promise.all([...this.sessions].map(async (session) => { await session.shutdown() }))
    if (this.#pushScheduled !== undefined) clearImmediate(this.#pushScheduled)
    if (this.#watchers > 0) this.store.off('change', this.#onChange)
    await removeSocketPlace(this.#place).catch(() => {})
    this.#hooks.onClose()
  }

  #accept (socket: Socket): void {
    if (this.#closing !== undefined) {
      socket.destroy()
      return
    }
    const session = new Session(this, socket, () => { this.sessions.delete(session) })
    this.sessions.add(session)
  }

  #schedulePush (): void {
    // Commits in one event-loop turn make one event: it carries only the new version.
    this.#pushScheduled ??= setImmediate(() => {
      this.#pushScheduled = undefined
      const event = { event: 'change', version: this.store.version }
      for (const session of this.sessions) session.push(event)
    })
  }
}

/** A request that could not be answered because the connection went away. */
class Gone extends Error {}

class Session {
  readonly #owner: OwnerServer
  readonly #channel: Channel
  readonly #inFlight = new Set<Promise<void>>()
  #hello = false
  #watching = false
  #closing = false
  #paused = false
  readonly #closed: Promise<void>

  constructor (owner: OwnerServer, socket: Socket, onGone: () => void) {
    this.#owner = owner
    let closed!: () => void
    this.#closed = new Promise((resolve) => { closed = resolve })
    this.#channel = new Channel(socket, {
      maxMessageBytes: owner.maxMessageBytes,
      onMessage: (message) => { this.#receive(message) },
      onClose: () => {
        if (this.#watching) owner.unwatch()
        this.#watching = false
        onGone()
        closed()
      },
      farewell: (err) => ({
        id: err instanceof ProtocolViolation ? (err as ProtocolViolation & { requestId?: number }).requestId ?? 0 : 0,
        ok: false,
        error: { code: 'FLOWSTORE_PROTOCOL', message: `flowstore owner: ${err.message}; closing this connection` }
      })
    })
  }

  push (event: object): void {
    if (this.#watching) this.#channel.send(event)
  }

  /** Lets requests in progress finish, then ends the connection. */
  async shutdown (): Promise<void> {
    this.#closing = true
    // A client that does not read would hold a streamed answer (and so the close) forever.
    if (this.#channel.congested) this.#channel.destroy()
    await Promise.allSettled([...this.#inFlight])
    this.#channel.end()
    await this.#closed
  }

  #receive (message: unknown): void {
    let request: Request
    try {
      request = parseRequest(message)
      if (!this.#hello) {
        if (request.op !== 'hello') throw new ProtocolViolation('the first request must be hello')
        if (request.protocol !== PROTOCOL_VERSION) throw new ProtocolViolation(`this owner speaks protocol ${PROTOCOL_VERSION}, not ${request.protocol}`)
        this.#hello = true
      }
    } catch (err) {
      if (err instanceof ProtocolViolation) Object.assign(err, { requestId: requestIdOf(message) })
      throw err
    }
    const work = this.#answer(request)
    this.#inFlight.add(work)
    if (this.#inFlight.size >= MAX_IN_FLIGHT && !this.#paused) {
      this.#paused = true
      this.#channel.socket.pause()
    }
    void work.finally(() => {
      this.#inFlight.delete(work)
      if (this.#paused && this.#inFlight.size < MAX_IN_FLIGHT / 2) {
        this.#paused = false
        this.#channel.socket.resume()
      }
    })
  }

  async #answer (request: Request): Promise<void> {
    let reply: object
    try {
      if (this.#closing) throw new FlowStoreError('FLOWSTORE_CLOSED', 'The owner is stopping; reconnect to the next one')
      reply = { id: request.id, ok: true, result: await this.#handle(request) }
    } catch (err) {
      if (err instanceof Gone) return
      reply = { id: request.id, ok: false, error: errorToWire(err) }
    }
    this.#channel.send(reply)
  }

  async #handle (request: Request): Promise<unknown> {
    const owner = this.#owner
    const store = owner.store
    switch (request.op) {
      case 'hello':
        return {
          protocol: PROTOCOL_VERSION,
          instance: owner.instance,
          pid: process.pid,
          version: store.version,
          maxMessageBytes: owner.maxMessageBytes,
          maxFlowBytes: owner.limits.maxFlowBytes,
          maxIdBytes: owner.limits.maxIdBytes
        }
      case 'version':
        return { version: store.version, pending: store.pending > 0 }
      case 'changes-since':
        return await this.#changesSince(request.id, request.since)
      case 'load-all':
        return await this.#loadAll(request.id)
      case 'save':
      case 'save-many': {
        const flows = request.flows.map((entry) => this.#decode(entry))
        await store.saveMany(flows)
        return { version: store.version }
      }
      case 'delete':
        await store.delete(request.flowId)
        return { version: store.version }
      case 'stats':
        return {
          version: store.version,
          size: store.size,
          pending: store.pending,
          batches: store.batches,
          directory: store.directory,
          pid: process.pid,
          socket: owner.path,
          clients: owner.sessions.size
        } satisfies OwnerStats
      case 'watch':
        if (!this.#watching) {
          this.#watching = true
          owner.watch()
        }
        return {}
      case 'backup': {
        const info = await store.backup(request.file, { since: request.since, compressionLevel: request.compressionLevel })
        return { ...info }
      }
    }
  }

  /** A flow sent by a client: decoded (and so checked) as the store would decode it. */
  #decode ([flowId, bytes]: FlowEntry): unknown {
    const { codec, limits } = this.#owner
    const id = codec.checkId(flowId)
    if (bytes.length > limits.maxFlowBytes) {
      throw new FlowStoreError('FLOWSTORE_INVALID_FLOW', `Flow ${JSON.stringify(id)} encodes to ${bytes.length} bytes; the limit is ${limits.maxFlowBytes} (option maxFlowBytes)`, { id })
    }
    const record = new Uint8Array(HEADER_BYTES + bytes.length)
    record[0] = RECORD_FORMAT
    record.set(bytes, HEADER_BYTES)
    try {
      return codec.decode(id, record).value
    } catch (cause) {
      throw new FlowStoreError('FLOWSTORE_INVALID_FLOW', `Flow ${JSON.stringify(id)} sent by a client is not a valid flow encoding`, { id, cause })
    }
  }

  /**
   * What changed after `since`: the ids come from the persisted change record; each id's
   * data is what the store holds now (so it may be newer than the answer's version, which
   * the client's next check picks up again). Sent in parts.
   */
  async #changesSince (requestId: number, since: number): Promise<unknown> {
    const store = this.#owner.store
    const { version, changes } = await store.changesSince(since)
    let pending = false
    let part = new PartBuilder()
    for (const change of changes) {
      const lazy = store.lazy(change.id)
      if (lazy !== undefined) part.saved(lazy)
      else part.deleted(change)
      if (part.full) {
        pending ||= store.pending > 0
        await this.#sendPart(requestId, part)
        part = new PartBuilder()
      }
    }
    pending ||= store.pending > 0
    if (!part.empty) await this.#sendPart(requestId, part)
    return { version, pending }
  }

  /** Every flow, in parts. The version is read first: later changes are in changesSince(version). */
  async #loadAll (requestId: number): Promise<unknown> {
    const store = this.#owner.store
    const version = store.version
    let pending = false
    let part = new PartBuilder()
    // A live iterator of the store's cache: flows deleted before their turn are skipped,
    // flows saved meanwhile show up later (and in changesSince(version) either way).
    for (const id of store.flows.keys()) {
      const lazy = store.lazy(id)
      if (lazy === undefined) continue
      part.saved(lazy)
      if (part.full) {
        pending ||= store.pending > 0
        await this.#sendPart(requestId, part)
        part = new PartBuilder()
      }
    }
    pending ||= store.pending > 0
    if (!part.empty) await this.#sendPart(requestId, part)
    return { version, pending }
  }

  async #sendPart (requestId: number, part: PartBuilder): Promise<void> {
    if (!this.#channel.send({ id: requestId, part: { saved: part.savedEntries, deleted: part.deletedEntries } })) throw new Gone()
    if (this.#channel.congested) await this.#channel.drained()
    if (this.#channel.closed) throw new Gone()
  }
}

class PartBuilder {
  readonly savedEntries: SavedEntry[] = []
  readonly deletedEntries: DeletedEntry[] = []
  #bytes = 0

  saved (lazy: LazyFlow<any>): void {
    // The record's msgpack part, without a copy (packing copies it); records never change
    // after they are made, except their header, which is not sent.
    const bytes = lazy instanceof CachedFlow ? lazy.record.subarray(HEADER_BYTES) : lazy.bytes
    this.savedEntries.push([lazy.id, lazy.version, bytes])
    this.#bytes += bytes.length + lazy.id.length
  }

  deleted (change: Change): void {
    // Gone from memory while the change record says saved: deleted after the record was read
    // (or not committed yet). 0 says "version unknown"; the data is what counts.
    this.deletedEntries.push([change.id, change.deleted ? change.version : 0])
    this.#bytes += change.id.length
  }

  get full (): boolean {
    return this.savedEntries.length + this.deletedEntries.length >= PART_RECORDS || this.#bytes >= PART_BYTES
  }

  get empty (): boolean {
    return this.savedEntries.length + this.deletedEntries.length === 0
  }
}
