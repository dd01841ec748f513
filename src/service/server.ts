// The owner side: the process that opened a store serves it on a unix socket, so that other
// processes (FlowService.connect) read and write it through this one. This file owns the
// listening socket, its advertisement and the server's life; each connection is a Session
// (session.ts).

import { randomUUID } from 'node:crypto'
import { chmodSync } from 'node:fs'
import { unlink } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { resolve } from 'node:path'
import { Packr } from 'msgpackr'
import { type CodecLimits, FlowCodec } from '../codec.ts'
import { FlowStoreError } from '../errors.ts'
import { SharedBufferBudget } from './buffer-budget.ts'
import type { Channel } from './channel.ts'
import {
  advertise, alreadyServed, defaultSocketPlace, probeSocket, removeSocketPlace, type SocketPlace, socketIdentity, withdraw
} from './owner-file.ts'
import { DEFAULT_MAX_MESSAGE_BYTES, PROTOCOL_VERSION } from './protocol.ts'
import type { ServedStore } from './served-store.ts'
import { Session, type SessionHost } from './session.ts'

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
  /**
   * A connection that completes no message for this long, while the owner owes it no answer,
   * is closed with FLOWSTORE_TIMEOUT: an idle connection, or one stuck in a partial message.
   * FlowService clients send a small keepalive before it. Infinity: no deadline.
   * @default 60000
   */
  idleTimeoutMs?: number
  /**
   * A connection whose unfinished message gets no more bytes for this long, while the owner
   * reads it and owes it no answer, is closed with FLOWSTORE_TIMEOUT: it holds buffer room
   * (maxBufferedBytes) that others wait for. Infinity: no deadline.
   * @default 10000
   */
  messageTimeoutMs?: number
  /**
   * The most connections served at once; one more is refused with FLOWSTORE_BUSY (the
   * client's connect() fails with it) and closed, while the others go on.
   * @default 128
   */
  maxConnections?: number
  /**
   * A bound on the bytes held for unfinished messages across all connections. A connection
   * whose message needs more room than is left waits, unread, until some is freed (a message
   * completes, a connection goes or passes messageTimeoutMs). A message that starts and ends
   * in one 16 KiB read never waits. At least maxMessageBytes.
   * @default twice maxMessageBytes (128 MiB)
   */
  maxBufferedBytes?: number
}

/** What a server counts (`server.stats`). */
export interface ServerStats {
  /** Connections open now. */
  readonly connections: number
  /** Bytes held now for unfinished messages, across connections. */
  readonly bufferedBytes: number
  /**
   * The most bytes ever held at once for unfinished messages: at most maxBufferedBytes, plus
   * up to 16 KiB per connection for the start of a message.
   */
  readonly peakBufferedBytes: number
  /** Connections waiting for room in maxBufferedBytes now (not read meanwhile). */
  readonly waiting: number
  /** Connections refused at maxConnections. */
  readonly refused: number
  /** Connections closed at a deadline (idleTimeoutMs, messageTimeoutMs). */
  readonly timedOut: number
}

/** A running owner server: what `serveStore()` returns. Closing the store closes it too. */
export interface StoreServer extends AsyncDisposable {
  /** The socket path. */
  readonly path: string
  /** The OWNER.json that advertises it, when the store has a directory. */
  readonly ownerFile: string | undefined
  /** A random id of this server start (clients use it to tell owners apart). */
  readonly instance: string
  /** Connections open now. */
  readonly connections: number
  /** What the server has refused, closed and held so far. */
  readonly stats: ServerStats
  readonly closed: boolean
  /** Stops accepting, lets requests in progress finish, ends every connection, withdraws OWNER.json. */
  close (): Promise<void>
}

const MIB = 1024 * 1024
/** setTimeout cannot wait longer (it fires at once instead). */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * Serves `store` to other processes on a unix socket (owner-only, 0600), advertised in
 * `<directory>/OWNER.json`; they reach it with `FlowService.connect(directory)`. Closing the
 * store closes the server. A store already served at that place is refused
 * (FLOWSTORE_LOCKED): close that server first.
 */
export async function serveStore (store: ServedStore, options?: ServeOptions | string): Promise<StoreServer> {
  if (typeof store !== 'object' || store === null || typeof store.onClose !== 'function') throw new TypeError(`serveStore() takes a FlowStore, got ${String(store)}`)
  if (store.closed) throw new FlowStoreError('FLOWSTORE_CLOSED', 'The store is closed (or closing); open it again to serve it')
  const limits = store.limits
  const resolved = resolveServeOptions(options, limits)
  const home = resolved.advertise === false ? undefined : resolved.advertise ?? store.directory
  if (home !== undefined && await alreadyServed(home)) throw servedError(home)
  const place: SocketPlace = resolved.path === undefined
    ? await defaultSocketPlace(store.directory ?? home)
    : { path: resolve(resolved.path), privateDir: undefined }
  const server = createServer({ allowHalfOpen: false })
  let identity: string
  try {
    await listenOwnerOnly(server, place.path)
    identity = await socketIdentity(place.path)
  } catch (err) {
    server.close()
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
      await removeSocketPlace(place, identity).catch(() => {})
      throw err
    }
  }
  let owner: OwnerServer
  try {
    owner = new OwnerServer(store, server, { ...place, identity }, instance, ownerFile, resolved, limits)
  } catch (err) {
    // The store began closing meanwhile (onClose refuses): nothing may stay behind.
    server.close()
    if (ownerFile !== undefined) await withdraw(ownerFile, instance).catch(() => {})
    await removeSocketPlace(place, identity).catch(() => {})
    throw err
  }
  return owner
}

function servedError (home: string): FlowStoreError {
  return new FlowStoreError('FLOWSTORE_LOCKED', `The store at ${home} is already served (its OWNER.json names a socket that answers): close that server before serving it again`)
}

interface ResolvedServeOptions {
  readonly path: string | undefined
  readonly advertise: string | false | undefined
  readonly maxMessageBytes: number
  readonly idleTimeoutMs: number
  readonly messageTimeoutMs: number
  readonly maxConnections: number
  readonly maxBufferedBytes: number
}

const DEFAULT_IDLE_TIMEOUT_MS = 60_000
const DEFAULT_MESSAGE_TIMEOUT_MS = 10_000
const DEFAULT_MAX_CONNECTIONS = 128

function resolveServeOptions (options: ServeOptions | string | undefined, limits: CodecLimits): ResolvedServeOptions {
  const given: ServeOptions = typeof options === 'string' ? { path: options } : options ?? {}
  if (typeof given !== 'object' || given === null) throw new TypeError(`serveStore() takes a socket path or options, got ${String(options)}`)
  const { path, advertise, maxMessageBytes: maxMessage, idleTimeoutMs = DEFAULT_IDLE_TIMEOUT_MS, messageTimeoutMs = DEFAULT_MESSAGE_TIMEOUT_MS, maxConnections = DEFAULT_MAX_CONNECTIONS, maxBufferedBytes: maxBuffered } = given
  const maxMessageBytes = maxMessage
  if (path !== undefined && (typeof path !== 'string' || path.length === 0)) throw new TypeError(`Option path must be a non-empty string, got ${String(path)}`)
  if (advertise !== undefined && advertise !== false && (typeof advertise !== 'string' || advertise.length === 0)) {
    throw new TypeError(`Option advertise must be a directory path or false, got ${String(advertise)}`)
  }
  if (maxMessageBytes !== undefined && (typeof maxMessageBytes !== 'number' || !Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1024)) {
    throw new TypeError(`Option maxMessageBytes must be an integer >= 1024, got ${String(maxMessageBytes)}`)
  }
  const message = maxMessageBytes ?? Math.max(DEFAULT_MAX_MESSAGE_BYTES, limits.maxFlowBytes + MIB)
  for (const [name, value] of [['idleTimeoutMs', idleTimeoutMs], ['messageTimeoutMs', messageTimeoutMs]] as const) {
    if (typeof value !== 'number' || Number.isNaN(value) || value <= 0 || (Number.isFinite(value) && value > MAX_TIMER_MS)) {
      throw new TypeError(`Option ${name} must be a number of milliseconds > 0 (or Infinity), got ${String(value)}`)
    }
  }
  if (typeof maxConnections !== 'number' || !Number.isSafeInteger(maxConnections) || maxConnections < 1) {
    throw new TypeError(`Option maxConnections must be an integer >= 1, got ${String(maxConnections)}`)
  }
  const buffered = maxBuffered ?? 2 * message
  if (typeof buffered !== 'number' || !Number.isSafeInteger(buffered) || buffered < message) {
    throw new TypeError(`Option maxBufferedBytes must be an integer >= maxMessageBytes (${message}), got ${String(maxBuffered)}`)
  }
  return {
    path,
    advertise: typeof advertise === 'string' ? resolve(advertise) : advertise,
    maxMessageBytes: message,
    idleTimeoutMs,
    messageTimeoutMs,
    maxConnections,
    maxBufferedBytes: buffered
  }
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
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
    if (await probeSocket(path) !== 'stale') throw new FlowStoreError('FLOWSTORE_LOCKED', `Another server listens at ${path}: choose another path, or close that server first`, { cause: err })
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

class OwnerServer implements StoreServer, SessionHost {
  readonly path: string
  readonly ownerFile: string | undefined
  readonly instance: string
  readonly store: ServedStore
  readonly codec: FlowCodec
  readonly limits: CodecLimits
  readonly maxMessageBytes: number
  readonly idleTimeoutMs: number
  readonly messageTimeoutMs: number
  readonly maxConnections: number
  readonly budget: SharedBufferBudget
  readonly sessions = new Set<{ shutdown (): Promise<void>, push (event: object): void, checkDeadlines (now: number, stalled?: Channel): void }>()
  readonly #server: Server
  readonly #place: SocketPlace & { readonly identity: string }
  readonly #removeCloseHook: () => void
  #closing: Promise<void> | undefined
  #watchers = 0
  #pushScheduled: ReturnType<typeof setImmediate> | undefined
  #refused = 0
  #timedOut = 0
  readonly #deadlines: ReturnType<typeof setInterval> | undefined
  /** The one message a connection past maxConnections gets (packed once: a flood of them costs little). */
  readonly #busy: Uint8Array
  readonly #onChange = (): void => { this.#schedulePush() }

  constructor (store: ServedStore, server: Server, place: SocketPlace & { readonly identity: string }, instance: string, ownerFile: string | undefined, options: ResolvedServeOptions, limits: CodecLimits) {
    this.store = store
    this.#server = server
    this.#place = place
    this.path = place.path
    this.instance = instance
    this.ownerFile = ownerFile
    this.maxMessageBytes = options.maxMessageBytes
    this.idleTimeoutMs = options.idleTimeoutMs
    this.messageTimeoutMs = options.messageTimeoutMs
    this.maxConnections = options.maxConnections
    this.#busy = new Packr({ useRecords: false }).pack({
      id: 0,
      ok: false,
      error: { code: 'FLOWSTORE_BUSY', message: `The owner serves as many connections as it allows (maxConnections: ${options.maxConnections}); try again later` }
    })
    this.budget = new SharedBufferBudget(options.maxBufferedBytes)
    this.limits = limits
    this.codec = new FlowCodec(limits)
    // The store closes its server after its final flush, so what it committed is acknowledged.
    this.#removeCloseHook = store.onClose(async () => { await this.close() })
    // One sweep over the connections checks the deadlines, four times per shortest deadline.
    const period = Math.min(options.idleTimeoutMs, options.messageTimeoutMs) / 4
    if (Number.isFinite(period)) {
      this.#deadlines = setInterval(() => {
        const now = performance.now()
        const stalled = this.budget.stalled()
        for (const session of this.sessions) session.checkDeadlines(now, stalled)
      }, Math.max(1, Math.floor(period)))
      this.#deadlines.unref()
    }
    server.on('connection', (socket) => { this.#accept(socket) })
    // An accept() failure (EMFILE…) must not take the owner down.
    server.on('error', (err) => { process.emitWarning(`flowstore owner server: ${err.message}`, { code: 'FLOWSTORE_SERVER_ERROR' }) })
  }

  get connections (): number {
    return this.sessions.size
  }

  get stats (): ServerStats {
    return {
      connections: this.sessions.size,
      bufferedBytes: this.budget.total,
      peakBufferedBytes: this.budget.peak,
      waiting: this.budget.waiting,
      refused: this.#refused,
      timedOut: this.#timedOut
    }
  }

  get closed (): boolean {
    return this.#closing !== undefined
  }

  timedOut (): void {
    this.#timedOut++
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
    clearInterval(this.#deadlines)
    if (this.ownerFile !== undefined) await withdraw(this.ownerFile, this.instance).catch(() => {})
    await Promise.all([...this.sessions].map(async (session) => { await session.shutdown() }))
    if (this.#pushScheduled !== undefined) clearImmediate(this.#pushScheduled)
    if (this.#watchers > 0) this.store.off('change', this.#onChange)
    await removeSocketPlace(this.#place, this.#place.identity).catch(() => {})
    this.#removeCloseHook()
  }

  #accept (socket: Socket): void {
    if (this.#closing !== undefined) {
      socket.destroy()
      return
    }
    if (this.sessions.size >= this.maxConnections) {
      this.#refuse(socket)
      return
    }
    const session = new Session(this, socket, () => { this.sessions.delete(session) })
    this.sessions.add(session)
  }

  /**
   * Refuses a connection past maxConnections: one error message, then the socket ends. What
   * the client sends meanwhile is read and dropped, so that it reads the refusal rather than
   * a reset; a client that neither reads nor closes is cut off after a second.
   */
  #refuse (socket: Socket): void {
    this.#refused++
    socket.on('error', () => {})
    socket.resume()
    const timer = setTimeout(() => { socket.destroy() }, 1000)
    timer.unref()
    socket.once('close', () => { clearTimeout(timer) })
    socket.end(this.#busy)
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
