// The owner's bound on the bytes its connections hold for partial messages (the buffers of
// their decoders, see channel.ts). A connection whose partial message would take the total
// past the bound makes room by dropping the connections that hold the most, itself included
// when it holds the most: each is refused with FLOWSTORE_BUSY. Well-behaved clients send
// whole messages quickly and hold little for long, so a peer that sends large messages and
// stops is the one that goes.

import { FlowStoreError } from '../errors.ts'
import type { BufferBudget, Channel } from './channel.ts'

export class SharedBufferBudget implements BufferBudget {
  readonly limit: number
  readonly #held = new Map<Channel, number>()
  #total = 0
  #peak = 0
  #dropped = 0

  constructor (limit: number) {
    this.limit = limit
  }

  /** Bytes held for partial messages now, across connections. */
  get total (): number {
    return this.#total
  }

  /** The most ever held at once. */
  get peak (): number {
    return this.#peak
  }

  /** Connections dropped to stay within the limit. */
  get dropped (): number {
    return this.#dropped
  }

  hold (channel: Channel, bytes: number): boolean {
    const current = this.#held.get(channel) ?? 0
    if (bytes > current) {
      while (this.#total - (this.#held.get(channel) ?? 0) + bytes > this.limit) {
        let largest: Channel = channel
        let size = bytes
        for (const [other, held] of this.#held) {
          if (other !== channel && held > size) {
            largest = other
            size = held
          }
        }
        this.#drop(largest, size)
        if (largest === channel) return false
      }
    }
    this.#set(channel, bytes)
    return true
  }

  #set (channel: Channel, bytes: number): void {
    this.#total += bytes - (this.#held.get(channel) ?? 0)
    if (bytes === 0) this.#held.delete(channel)
    else this.#held.set(channel, bytes)
    if (this.#total > this.#peak) this.#peak = this.#total
  }

  #drop (channel: Channel, bytes: number): void {
    this.#set(channel, 0)
    this.#dropped++
    // refuse() releases the channel's buffer (hold(channel, 0): already nothing here).
    channel.refuse(new FlowStoreError('FLOWSTORE_BUSY', `flowstore owner: this connection holds ${bytes} bytes of an unfinished message while the owner's buffers for partial messages are full (maxBufferedBytes: ${this.limit}); closing it`))
  }
}
