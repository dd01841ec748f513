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
    socket.on('data', (chunk: Buffer) => {
      // The decoder works synchronously: a slice that breaks the limit or the stream closes
      // the channel before the next slice is fed.
      for (let offset = 0; offset < chunk.length && !this.#closed; offset += SLICE_BYTES) {
        this.#decoder.write(chunk.subarray(offset, offset + SLICE_BYTES))
      }
    })
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
    // Whatever it sends from now on is read and dropped, so its end of the stream is seen.
    this.end(this.#options.farewell?.(err))
  }

  /** Closes the connection at once because of `err`. */
  fail (err: Error): void {
    this.#failure ??= err
    this.#closed = true
    this.socket.destroy()
    this.#wakeDrainWaiters()
  }

  /** Closes the connection at once. */
  destroy (): void {
    this.#closed = true
    this.socket.destroy()
    this.#wakeDrainWaiters()
  }

  #finish (err: Error | undefined): void {
    this.#closed = true
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
