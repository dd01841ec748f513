// One client connection of an owner: it checks every request, answers from the store's
// memory (and its change record), forwards writes to the store and acknowledges them once
// committed. A client that sends something malformed or too large is refused and cut off;
// nothing it does reaches further than its own connection, and nothing it does can throw
// out of here into the owner.

import type { Socket } from 'node:net'
import { backupToDirectory } from '../backup/retention.ts'
import { CachedFlow } from '../cached-flow.ts'
import type { CodecLimits, FlowCodec } from '../codec.ts'
import { FlowStoreError } from '../errors.ts'
import { HEADER_BYTES, RECORD_FORMAT } from '../layout.ts'
import type { Change, FlowShape, LazyFlow } from '../types.ts'
import { type BufferBudget, Channel } from './channel.ts'
import {
  type DeletedEntry, errorToWire, type FlowEntry, type OwnerStats, parseRequest, PROTOCOL_VERSION, ProtocolViolation,
  type Request, requestIdOf, type SavedEntry
} from './protocol.ts'
import type { ServedStore } from './served-store.ts'

/** What a session needs from its server. */
export interface SessionHost {
  readonly store: ServedStore
  readonly codec: FlowCodec
  readonly limits: CodecLimits
  readonly maxMessageBytes: number
  /** Close a connection that completes no message for this long while owed nothing (Infinity: never). */
  readonly idleTimeoutMs: number
  /** Close a connection whose unfinished message gets no more bytes for this long (Infinity: never). */
  readonly messageTimeoutMs: number
  readonly budget: BufferBudget
  readonly instance: string
  readonly path: string
  readonly sessions: { readonly size: number }
  /** A session sent `watch`: push a change event to it after each commit. */
  watch (): void
  unwatch (): void
  /** A session closed its connection at a deadline. */
  timedOut (): void
}

/** Requests of one connection in progress at once; past this its socket is paused. */
const MAX_IN_FLIGHT = 64
/** A streamed answer is cut into parts of about this many records or bytes. */
const PART_RECORDS = 1000
const PART_BYTES = 1024 * 1024

/** A request that could not be answered because the connection went away. */
class Gone extends Error {}

export class Session {
  readonly #owner: SessionHost
  readonly #channel: Channel
  readonly #inFlight = new Set<Promise<void>>()
  #hello = false
  #watching = false
  #closing = false
  #paused = false
  readonly #closed: Promise<void>
  /** When the last complete message arrived, or the last request was answered if later. */
  #lastMessage = performance.now()

  constructor (owner: SessionHost, socket: Socket, onGone: () => void) {
    this.#owner = owner
    let closed!: () => void
    this.#closed = new Promise((resolve) => { closed = resolve })
    this.#channel = new Channel(socket, {
      maxMessageBytes: owner.maxMessageBytes,
      budget: owner.budget,
      onMessage: (message) => {
        this.#lastMessage = performance.now()
        this.#receive(message)
      },
      onClose: () => {
        if (this.#watching) owner.unwatch()
        this.#watching = false
        onGone()
        closed()
      },
      farewell: (err) => ({
        id: err instanceof ProtocolViolation ? (err as ProtocolViolation & { requestId?: number }).requestId ?? 0 : 0,
        ok: false,
        // A limit the owner enforces (FLOWSTORE_BUSY, FLOWSTORE_TIMEOUT) keeps its own code.
        error: err instanceof FlowStoreError
          ? errorToWire(err)
          : { code: 'FLOWSTORE_PROTOCOL', message: `flowstore owner: ${err.message}; closing this connection` }
      })
    })
  }

  /**
   * Closes the connection if it passed a deadline (the server checks every connection now
   * and then): its unfinished message got no more bytes for messageTimeoutMs, or it completed
   * no message for idleTimeoutMs. Not while the owner owes it an answer (it may rightly be
   * silent), nor while the owner itself is not reading it (it waits for buffer room), unless
   * it is `stalled`: the waiting connection the budget names when waiting connections hold all
   * the room (see buffer-budget.ts), whose message deadline counts from its last progress.
   */
  checkDeadlines (now: number, stalled?: Channel): void {
    const channel = this.#channel
    if (this.#closing || channel.closed || (channel.waiting && channel !== stalled) || this.#inFlight.size > 0) return
    const { idleTimeoutMs, messageTimeoutMs } = this.#owner
    let why: string | undefined
    if (channel.held > 0 && now - channel.lastProgress >= messageTimeoutMs) {
      why = `its unfinished message got no more bytes for ${messageTimeoutMs} ms (messageTimeoutMs)`
    } else if (now - this.#lastMessage >= idleTimeoutMs) {
      why = `it completed no message for ${idleTimeoutMs} ms (idleTimeoutMs; clients of this version send keepalives)`
    }
    if (why === undefined) return
    this.#owner.timedOut()
    channel.refuse(new FlowStoreError('FLOWSTORE_TIMEOUT', `flowstore owner: closing this connection: ${why}`))
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
      this.#channel.pause('requests')
    }
    void work.finally(() => {
      this.#inFlight.delete(work)
      // The client's silence counts from the last answer it waited for.
      if (this.#inFlight.size === 0) this.#lastMessage = performance.now()
      if (this.#paused && this.#inFlight.size < MAX_IN_FLIGHT / 2) {
        this.#paused = false
        this.#channel.resume('requests')
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
          maxIdBytes: owner.limits.maxIdBytes,
          ...(Number.isFinite(owner.idleTimeoutMs) ? { idleTimeoutMs: owner.idleTimeoutMs } : {})
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
          storeId: store.storeId,
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
        const info = await store.backup(request.file, { since: request.since, compressionLevel: request.compressionLevel, overwrite: request.overwrite })
        return { ...info }
      }
      case 'backup-to-directory': {
        // backupToDirectory()'s own semantics (manifest, changed-only against the latest
        // backup of this store), run here: the owner is the one process writing the backup.
        const entry = await backupToDirectory(store, request.dir, { full: request.full, compressionLevel: request.compressionLevel })
        return { ...entry, base: entry.base ?? null }
      }
    }
  }

  /** A flow sent by a client: decoded (and so checked) as the store would decode it. */
  #decode ([flowId, bytes]: FlowEntry): FlowShape {
    const { codec, limits } = this.#owner
    const id = codec.checkId(flowId)
    if (bytes.length > limits.maxFlowBytes) {
      throw new FlowStoreError('FLOWSTORE_INVALID_FLOW', `Flow ${JSON.stringify(id)} encodes to ${bytes.length} bytes; the limit is ${limits.maxFlowBytes} (option maxFlowBytes)`, { id })
    }
    const record = new Uint8Array(HEADER_BYTES + bytes.length)
    record[0] = RECORD_FORMAT
    record.set(bytes, HEADER_BYTES)
    try {
      // The codec checked it: a plain object whose id is `id`.
      return codec.decode(id, record).value as FlowShape
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
    const pending = await this.#sendInParts(requestId, changes, (part, change) => {
      const lazy = store.lazy(change.id)
      if (lazy !== undefined) part.saved(lazy)
      else part.deleted(change)
    })
    return { version, pending }
  }

  /** Every flow, in parts. The version is read first: later changes are in changesSince(version). */
  async #loadAll (requestId: number): Promise<unknown> {
    const store = this.#owner.store
    const version = store.version
    // A live iterator of the store's cache: flows deleted before their turn are skipped,
    // flows saved meanwhile show up later (and in changesSince(version) either way).
    const pending = await this.#sendInParts(requestId, store.flows.keys(), (part, id) => {
      const lazy = store.lazy(id)
      if (lazy !== undefined) part.saved(lazy)
    })
    return { version, pending }
  }

  /**
   * Adds each item to parts, sending every part as it fills and the last one at the end.
   * Returns whether the store had uncommitted changes while the parts were built.
   */
  async #sendInParts<T> (requestId: number, items: Iterable<T>, add: (part: PartBuilder, item: T) => void): Promise<boolean> {
    const store = this.#owner.store
    let pending = false
    let part = new PartBuilder()
    for (const item of items) {
      add(part, item)
      if (part.full) {
        pending ||= store.pending > 0
        await this.#sendPart(requestId, part)
        part = new PartBuilder()
      }
    }
    pending ||= store.pending > 0
    if (!part.empty) await this.#sendPart(requestId, part)
    return pending
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
