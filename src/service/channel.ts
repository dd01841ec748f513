// One framed connection, either side: msgpack messages over a socket, framed by msgpackr's
// stream classes (PackrStream out, UnpackrStream in), with a size limit on what comes in.
//
// The size limit: msgpackr's decoder holds the bytes of the message being received until it
// is complete, and refuses to hold more than `maxMessageBytes` of them (its
// maxIncompleteBufferSize). Incoming data is fed to it in slices of at most SLICE_BYTES, so
// that check runs at least every SLICE_BYTES: a message is refused as soon as more than the
// limit of it has arrived, and no message larger than limit + SLICE_BYTES is ever accepted,
// however the peer's writes are cut into socket reads. A message that breaks the stream, or
// that the owner of this channel finds malformed, closes this connection only.
//
// What the decoder holds of an unfinished message (its buffer, which grows geometrically up to
// the limit) is reserved from a budget shared by the owner's connections before each slice
// that makes it grow is fed (see BufferBudget). When there is no room, this connection waits:
// it is not read (the peer's writes back up into its socket) until another connection's
// message completes or goes. So the bytes held across connections stay bounded, and a crowd of
// peers that each send a large message and stop costs nothing more once the budget is full.
// A slice that starts a message is fed without a reservation (at most one slice is kept of
// it): a small message, complete in its slice, never waits.
//
// msgpackr's structured-clone extensions (ids and pointers, 0x69/0x70) are refused: the
// protocol never sends them, and they let a message describe a shared or cyclic graph.

import type { Socket } from 'node:net'
import { PackrStream, UnpackrStream } from 'msgpackr'
import { WireDecoder } from '../msgpack.ts'

export interface ChannelOptions {
  /** Messages larger than this (in bytes) close the connection. */
  readonly maxMessageBytes: number
  /** Called with every complete message, in order. May throw: that closes the connection. */
  readonly onMessage: (message: unknown) => void
  /** Called once when the connection is gone, with the reason if it failed. */
  readonly onClose: (err: Error | undefined) => void
  /** The last message to send to a peer that broke the protocol, before closing. */
  readonly farewell?: (err: Error) => object
  /** A bound on the bytes held for partial messages, shared with other channels. */
  readonly budget?: BufferBudget
}

/** The owner's bound on the bytes that its channels hold for unfinished messages. */
export interface BufferBudget {
  /** Reserves room for `channel` to hold `bytes`; false (nothing changed) when they do not fit. */
  reserve (channel: Channel, bytes: number): boolean
  /** Records that `channel` holds `bytes` now (less than reserved, or the start of a message). */
  update (channel: Channel, bytes: number): void
  /** `channel` waits for room: its retry() is called once some is freed. */
  wait (channel: Channel): void
}

/** What msgpackr's UnpackrStream keeps of a partial message (see its iterators.js). */
interface DecoderState {
  incompleteBuffer?: Uint8Array | null
  incompleteLength?: number
}

const SLICE_BYTES = 16 * 1024
/** Objects queued for a peer that does not read: past this, the peer is cut off. */
const MAX_QUEUED_MESSAGES = 4096

export class Channel {
  readonly socket: Socket
  readonly #encoder: PackrStream
  readonly #decoder: UnpackrStream
  readonly #options: ChannelOptions
  #maxMessageBytes: number
  #closed = false
  #finished = false
  #failure: Error | undefined
  /** Bytes read but not fed yet, while waiting for room in the budget. */
  #pending: Uint8Array | undefined
  #lastProgress = performance.now()
  readonly #pausedBy = new Set<string>()
  readonly #drainWaiters = new Set<() => void>()

  constructor (socket: Socket, options: ChannelOptions) {
    this.socket = socket
    this.#options = options
    this.#maxMessageBytes = options.maxMessageBytes
    this.#encoder = new PackrStream({ useRecords: false })
    this.#decoder = new WireDecoder(options.maxMessageBytes)
    this.#encoder.pipe(socket)
    this.#encoder.on('drain', () => { this.#wakeDrainWaiters() })
    this.#encoder.on('error', (err: Error) => { this.fail(err) })
    this.#decoder.on('data', (message: unknown) => {
      if (this.#closed) return
      try {
        options.onMessage(message)
      } catch (err) {
        this.refuse(err instanceof Error ? err : new Error(String(err)))
      }
    })
    this.#decoder.on('error', (err: Error) => {
      this.refuse(/incomplete buffer size/i.test(err.message) ? new Error(`a message is larger than the limit of ${this.#maxMessageBytes} bytes`, { cause: err }) : err)
    })
    socket.on('data', (chunk: Buffer) => { this.#feed(chunk) })
    socket.on('error', (err) => { this.#finish(err) })
    socket.on('close', () => { this.#finish(undefined) })
  }

  /** Raises the limit (a client learns the owner's largest flow from hello). */
  allowMessageBytes (bytes: number): void {
    this.#maxMessageBytes = Math.max(this.#maxMessageBytes, bytes)
    // UnpackrStream keeps the option as a field, read on every chunk.
    const decoder = this.#decoder as unknown as { maxIncompleteBufferSize?: number }
    if (typeof decoder.maxIncompleteBufferSize !== 'number') throw new Error('msgpackr UnpackrStream no longer has maxIncompleteBufferSize')
    decoder.maxIncompleteBufferSize = this.#maxMessageBytes
  }

  get closed (): boolean {
    return this.#closed
  }

  /** Whether this channel waits for room in the budget (it is not read meanwhile). */
  get waiting (): boolean {
    return this.#pending !== undefined
  }

  /** When bytes were last fed to the decoder (performance.now()). */
  get lastProgress (): number {
    return this.#lastProgress
  }

  /**
   * Stops reading for `reason` (several may hold at once); reading goes on once every reason
   * is lifted with resume().
   */
  pause (reason: string): void {
    this.#pausedBy.add(reason)
    this.socket.pause()
  }

  resume (reason: string): void {
    this.#pausedBy.delete(reason)
    if (this.#pausedBy.size === 0 && !this.#closed) this.socket.resume()
  }

  /** Called by the budget once room was freed: feeds what waited; false when it waits again. */
  retry (): boolean {
    const pending = this.#pending
    if (pending === undefined || this.#closed) return true
    this.#pending = undefined
    this.#feed(pending)
    if (this.#pending !== undefined) return false
    this.resume('buffer')
    return true
  }

  /**
   * Feeds `chunk` to the decoder slice by slice. The decoder works synchronously: a slice
   * that breaks the limit or the stream closes the channel before the next slice is fed.
   */
  #feed (chunk: Uint8Array): void {
    const budget = this.#options.budget
    for (let offset = 0; offset < chunk.length && !this.#closed; offset += SLICE_BYTES) {
      const slice = chunk.subarray(offset, offset + SLICE_BYTES)
      if (budget !== undefined && this.held > 0 && !budget.reserve(this, this.#heldAfter(slice.length))) {
        this.#pending = chunk.subarray(offset)
        this.pause('buffer')
        budget.wait(this)
        return
      }
      this.#decoder.write(slice)
      this.#lastProgress = performance.now()
      if (budget !== undefined && !this.#closed) budget.update(this, this.held)
    }
  }

  /** The bytes the decoder holds now for a partial message (its buffer's size). */
  get held (): number {
    return (this.#decoder as unknown as DecoderState).incompleteBuffer?.byteLength ?? 0
  }

  /**
   * At most what the decoder will hold after `bytes` more arrive: its buffer grows to the
   * larger of what it needs and twice its size (capped at the message limit); a message that
   * starts in a slice keeps at most that slice.
   */
  #heldAfter (bytes: number): number {
    const state = this.#decoder as unknown as DecoderState
    const buffer = state.incompleteBuffer
    if (buffer === undefined || buffer === null) return bytes
    const needed = (state.incompleteLength ?? buffer.byteLength) + bytes
    return needed <= buffer.byteLength ? buffer.byteLength : Math.max(needed, Math.min(buffer.byteLength * 2, this.#maxMessageBytes))
  }

  /** Lets go of a partial message: a closed channel holds nothing and waits for nothing. */
  #release (): void {
    (this.#decoder as unknown as DecoderState).incompleteBuffer = null
    this.#pending = undefined
    this.#options.budget?.update(this, 0)
  }

  /** Sends a message; false when the connection is gone (nothing sent). */
  send (message: object): boolean {
    if (this.#closed) return false
    if (this.#encoder.writableLength > MAX_QUEUED_MESSAGES) {
      this.fail(new Error(`the peer is not reading (more than ${MAX_QUEUED_MESSAGES} messages queued)`))
      return false
    }
    this.#encoder.write(message)
    return true
  }

  /** Whether the peer is behind: wait for `drained()` before sending more bulk data. */
  get congested (): boolean {
    return this.#encoder.writableNeedDrain
  }

  /** Resolves when queued data has drained, or at once if the connection is gone. */
  drained (): Promise<void> {
    if (this.#closed || !this.#encoder.writableNeedDrain) return Promise.resolve()
    return new Promise((resolve) => { this.#drainWaiters.add(resolve) })
  }

  /** Sends `last` (if any), then ends the connection once it is written. */
  end (last?: object): void {
    if (this.#closed) return
    this.#closed = true
    this.#release()
    if (last !== undefined) this.#encoder.write(last)
    this.#encoder.end()
    // Never wait long for a peer that does not read or close: the socket goes anyway.
    const timer = setTimeout(() => { this.socket.destroy() }, 1000)
    timer.unref()
    this.socket.once('close', () => { clearTimeout(timer) })
    this.#wakeDrainWaiters()
  }

  /**
   * Refuses a peer that broke the protocol: ignores what it sends from now on, sends it the
   * farewell message (if configured) and closes the connection.
   */
  refuse (err: Error): void {
    if (this.#closed) return
    this.#failure ??= err
    // Nothing more is read from it: a peer that keeps sending (megabytes of a message it was
    // refused for) costs nothing more. Once the farewell is written, the socket closes; the
    // peer reads the farewell before it sees the connection reset (unix sockets deliver
    // queued data first).
    this.socket.pause()
    this.socket.once('finish', () => { this.socket.destroy() })
    this.end(this.#options.farewell?.(err))
  }

  /** Closes the connection at once because of `err`. */
  fail (err: Error): void {
    this.#failure ??= err
    this.#closed = true
    this.#release()
    this.socket.destroy()
    this.#wakeDrainWaiters()
  }

  /** Closes the connection at once. */
  destroy (): void {
    this.#closed = true
    this.#release()
    this.socket.destroy()
    this.#wakeDrainWaiters()
  }

  #finish (err: Error | undefined): void {
    this.#closed = true
    this.#release()
    this.#wakeDrainWaiters()
    if (this.#finished) return
    this.#finished = true
    this.#decoder.destroy()
    this.#encoder.destroy()
    this.#options.onClose(this.#failure ?? err)
  }

  #wakeDrainWaiters (): void {
    for (const wake of this.#drainWaiters) wake()
    this.#drainWaiters.clear()
  }
}
