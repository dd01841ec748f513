// The owner's bound on the bytes its connections hold for unfinished messages (the buffers of
// their decoders, see channel.ts). A connection whose message needs more room than is left
// waits, unread, until another connection's message completes or its connection goes (a
// stalled one is closed at the owner's message deadline, see session.ts); then the waiting
// connections are retried, in the order they began to wait, each one that fits going on. No
// connection is dropped for memory: a crowd of peers that send large messages and stop holds
// the budget until their deadline, and meanwhile costs the owner nothing.
//
// Deadlock: when every connection that holds bytes is waiting (each holds part of a message
// and needs more room than the others leave), no message can complete and none is being read,
// so none would ever pass its deadline. The budget names the one that has waited longest
// (stalled()); the owner closes it at the message deadline like a stalled connection, which
// frees its room for the others.

import type { BufferBudget, Channel } from './channel.ts'

export class SharedBufferBudget implements BufferBudget {
  readonly limit: number
  readonly #held = new Map<Channel, number>()
  readonly #waiting = new Set<Channel>()
  #total = 0
  #peak = 0
  #waking = false
  #wakeAgain = false

  constructor (limit: number) {
    this.limit = limit
  }

  /** Bytes held for unfinished messages now, across connections. */
  get total (): number {
    return this.#total
  }

  /** The most ever held at once. */
  get peak (): number {
    return this.#peak
  }

  /** Connections waiting for room now. */
  get waiting (): number {
    return this.#waiting.size
  }

  reserve (channel: Channel, bytes: number): boolean {
    const current = this.#held.get(channel) ?? 0
    if (bytes > current && this.#total - current + bytes > this.limit) return false
    this.update(channel, bytes)
    return true
  }

  update (channel: Channel, bytes: number): void {
    const current = this.#held.get(channel) ?? 0
    this.#total += bytes - current
    if (bytes === 0) this.#held.delete(channel)
    else this.#held.set(channel, bytes)
    if (this.#total > this.#peak) this.#peak = this.#total
    if (channel.closed) this.#waiting.delete(channel)
    if (bytes < current && this.#waiting.size > 0) this.#wake()
  }

  wait (channel: Channel): void {
    this.#waiting.add(channel)
  }

  /**
   * The waiting connection that made progress longest ago, when the waiting connections hold
   * every byte held (no other connection can free room by completing a message); undefined
   * otherwise.
   */
  stalled (): Channel | undefined {
    if (this.#waiting.size === 0) return undefined
    let oldest: Channel | undefined
    for (const channel of this.#held.keys()) {
      if (!this.#waiting.has(channel)) return undefined
      if (oldest === undefined || channel.lastProgress < oldest.lastProgress) oldest = channel
    }
    return oldest
  }

  /** Retries the waiting channels, oldest first, until a pass frees nothing more. */
  #wake (): void {
    if (this.#waking) {
      this.#wakeAgain = true
      return
    }
    this.#waking = true
    try {
      do {
        this.#wakeAgain = false
        for (const channel of [...this.#waiting]) {
          this.#waiting.delete(channel)
          // A channel that still does not fit waits again (at the end of the line).
          channel.retry()
        }
      } while (this.#wakeAgain && this.#waiting.size > 0)
    } finally {
      this.#waking = false
    }
  }
}
