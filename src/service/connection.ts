// The client side of one connection to an owner: requests numbered and matched with their
// answers (and the parts of streamed answers), checked as they arrive. When the connection
// goes, every request still waiting fails with FLOWSTORE_DISCONNECTED (FLOWSTORE_PROTOCOL if
// the owner broke the protocol, FLOWSTORE_CLOSED if we closed it).
//
// The socket keeps the process alive only while a request waits for its answer: an idle
// connection does not stop a process from exiting, a pending save does.
//
// Two clocks, on one unref'd timer: while requests wait, an owner that answers nothing at all
// for `requestTimeoutMs` (stopped, wedged) fails them with FLOWSTORE_TIMEOUT and the
// connection is dropped; after a third of that silence a small version request asks whether
// it is still there, so a long request (a backup, a commit on a slow disk) of an owner that
// still answers does not time out. And when the owner has an idle deadline (hello), a
// connection that has sent nothing for a third of it sends that small request as a keepalive.

import { connect, type Socket } from 'node:net'
import { noop } from '../deferred.ts'
import { FlowStoreError } from '../errors.ts'
import { Channel } from './channel.ts'
import { disconnected, resolveSocket } from './owner-file.ts'
import {
  DEFAULT_MAX_MESSAGE_BYTES, type HelloResult, type Op, parseHello, parseIncoming, PROTOCOL_VERSION, ProtocolViolation
} from './protocol.ts'

/** Message counters, shared by the successive connections of one FlowService. */
export interface Counters {
  messagesSent: number
  messagesReceived: number
}

/** How long waiting requests let the owner answer nothing before they fail, by default. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000

export interface ConnectionOptions {
  readonly maxMessageBytes: number | undefined
  /** Waiting requests fail with FLOWSTORE_TIMEOUT after this long without a word from the owner (Infinity: never). */
  readonly requestTimeoutMs: number
  readonly counters: Counters
  /** A change event pushed by the owner (after `watch`). */
  readonly onEvent: (version: number) => void
  /** The connection is gone, after open() resolved (not called for close()). */
  readonly onLost: (reason: FlowStoreError) => void
}

interface Waiting {
  readonly op: Op
  readonly parse: (result: unknown) => unknown
  readonly onPart: ((part: unknown) => void) | undefined
  readonly resolve: (value: unknown) => void
  readonly reject: (err: FlowStoreError) => void
}

export class OwnerConnection {
  readonly socketPath: string
  readonly #channel: Channel
  readonly #options: ConnectionOptions
  readonly #waiting = new Map<number, Waiting>()
  readonly #gone: Promise<void>
  #nextId = 1
  #reason: FlowStoreError | undefined
  #closedByUs = false
  /** open() has resolved: losses are reported to onLost from now on (before, open() rejects). */
  #opened = false
  #hello: HelloResult | undefined
  #clock: ReturnType<typeof setInterval> | undefined
  /** When the owner was last heard from, or when requests started waiting if later. */
  #heard = performance.now()
  #sent = performance.now()
  #pinging = false

  /** Finds the owner of `target` (a database directory or a socket), connects and says hello. */
  static async open (target: string, options: ConnectionOptions): Promise<OwnerConnection> {
    const socketPath = await resolveSocket(target)
    const socket = await openSocket(socketPath)
    const connection = new OwnerConnection(socketPath, socket, options)
    try {
      connection.#hello = await connection.request('hello', { protocol: PROTOCOL_VERSION }, parseHello)
    } catch (err) {
      connection.close()
      throw err
    }
    if (connection.#hello.protocol !== PROTOCOL_VERSION) {
      connection.close()
      throw new FlowStoreError('FLOWSTORE_PROTOCOL', `The owner at ${socketPath} speaks protocol ${connection.#hello.protocol}; this flowstore speaks ${PROTOCOL_VERSION}`)
    }
    // Streamed parts are small, but one flow may be as large as the owner allows.
    connection.#channel.allowMessageBytes(connection.#hello.maxFlowBytes + 1024 * 1024)
    connection.#startClock()
    connection.#opened = true
    if (connection.closed) {
      // Lost between the hello and now: report it like any later loss.
      throw connection.#reason ?? disconnected('The connection to the owner was lost')
    }
    return connection
  }

  private constructor (socketPath: string, socket: Socket, options: ConnectionOptions) {
    this.socketPath = socketPath
    this.#options = options
    let gone!: () => void
    this.#gone = new Promise((resolve) => { gone = resolve })
    this.#channel = new Channel(socket, {
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      onMessage: (message) => { this.#receive(message) },
      onClose: (err) => {
        clearInterval(this.#clock)
        this.#lost(err)
        gone()
      }
    })
    this.#startClock()
  }

  get hello (): HelloResult {
    if (this.#hello === undefined) throw new Error('not connected yet')
    return this.#hello
  }

  get closed (): boolean {
    return this.#channel.closed
  }

  /**
   * Sends a request; resolves with its result checked by `parse` (a result that fails the
   * check breaks the connection). `onPart` receives the parts of a streamed answer.
   */
  request<T> (op: Op, params: object, parse: (result: unknown) => T, onPart?: (part: unknown) => void): Promise<T> {
    if (this.#channel.closed) return Promise.reject(this.#reason ?? disconnected('The connection to the owner is closed'))
    const id = this.#nextId++
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { op, parse, onPart, resolve: resolve as (value: unknown) => void, reject })
      if (this.#waiting.size === 1) {
        this.#channel.socket.ref()
        // The owner's silence counts from when something waits for it.
        this.#heard = performance.now()
      }
      this.#sent = performance.now()
      this.#options.counters.messagesSent++
      this.#channel.send({ id, op, ...params })
    })
  }

  /** Closes the connection: waiting requests fail with FLOWSTORE_CLOSED. */
  close (): Promise<void> {
    if (!this.#channel.closed) {
      this.#closedByUs = true
      this.#reason = new FlowStoreError('FLOWSTORE_CLOSED', 'The FlowService was closed before the owner answered')
      this.#channel.destroy()
    }
    return this.#gone
  }

  /** (Re)starts the clock, ticking at a third of the shorter deadline in force. */
  #startClock (): void {
    clearInterval(this.#clock)
    this.#clock = undefined
    const period = Math.min(this.#options.requestTimeoutMs, this.#hello?.idleTimeoutMs ?? Infinity) / 3
    if (!Number.isFinite(period) || this.#channel.closed) return
    this.#clock = setInterval(() => { this.#tick() }, Math.max(1, Math.floor(period)))
    this.#clock.unref()
  }

  #tick (): void {
    const now = performance.now()
    const deadline = this.#options.requestTimeoutMs
    if (this.#waiting.size > 0) {
      const silence = now - this.#heard
      if (silence >= deadline) {
        this.#reason ??= new FlowStoreError('FLOWSTORE_TIMEOUT', `The owner answered nothing for ${Math.round(silence)} ms (requestTimeoutMs: ${deadline}): it may be stopped or wedged. The connection was dropped; a write that was waiting may or may not have been committed`)
        this.#channel.destroy()
      } else if (silence >= deadline / 3) {
        this.#ping()
      }
      return
    }
    const idle = this.#hello?.idleTimeoutMs
    if (idle !== undefined && now - this.#sent >= idle / 3) this.#ping()
  }

  /** A small request: its answer shows the owner is there, its arrival keeps the connection. */
  #ping (): void {
    if (this.#pinging || this.#channel.closed || this.#hello === undefined) return
    this.#pinging = true
    this.request('version', {}, noop).catch(noop).finally(() => { this.#pinging = false })
  }

  #receive (message: unknown): void {
    this.#heard = performance.now()
    this.#options.counters.messagesReceived++
    const incoming = parseIncoming(message)
    if (incoming.kind === 'event') {
      this.#options.onEvent(incoming.version)
      return
    }
    const waiting = this.#waiting.get(incoming.id)
    if (waiting === undefined && incoming.kind === 'error') {
      // The owner refused this connection (its last word before it closes it).
      this.#reason ??= incoming.error
      this.#channel.destroy()
      return
    }
    if (waiting === undefined) throw new ProtocolViolation(`an answer to request ${incoming.id}, which is not waiting`)
    if (incoming.kind === 'part') {
      if (waiting.onPart === undefined) throw new ProtocolViolation(`a part of the answer to ${waiting.op}, which is not streamed`)
      waiting.onPart(incoming.part)
      return
    }
    // A result that fails its check throws here, before the request is settled: the channel
    // closes and #lost() fails it with FLOWSTORE_PROTOCOL.
    const result = incoming.kind === 'result' ? waiting.parse(incoming.result) : undefined
    this.#waiting.delete(incoming.id)
    if (this.#waiting.size === 0) this.#channel.socket.unref()
    if (incoming.kind === 'error') waiting.reject(incoming.error)
    else waiting.resolve(result)
  }

  #lost (err: Error | undefined): void {
    if (this.#reason === undefined) {
      this.#reason = err instanceof ProtocolViolation || (err !== undefined && !isSocketError(err))
        ? new FlowStoreError('FLOWSTORE_PROTOCOL', `The owner broke the protocol (${err.message}); the connection was closed`, { cause: err })
        : disconnected('The connection to the owner was lost (the owner stopped or crashed)', err)
    }
    const reason = this.#reason
    for (const waiting of this.#waiting.values()) waiting.reject(reason)
    this.#waiting.clear()
    if (this.#opened && !this.#closedByUs) this.#options.onLost(reason)
  }
}

function isSocketError (err: Error): boolean {
  return typeof (err as NodeJS.ErrnoException).code === 'string' && (err as NodeJS.ErrnoException).syscall !== undefined
}

function openSocket (path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path, allowHalfOpen: false })
    const onError = (err: Error): void => {
      socket.destroy()
      reject(disconnected(`No owner answers at ${path} (${(err as NodeJS.ErrnoException).code ?? err.message}): it stopped or crashed`, err))
    }
    socket.once('error', onError)
    socket.once('connect', () => {
      socket.off('error', onError)
      resolve(socket)
    })
  })
}
