// Hearing other writers' commits: LISTEN on a dedicated connection (every commit sends
// NOTIFY inside its transaction, so a notification arrives only once its commit is visible,
// in commit order), and a poll of the store's version row as the fallback for a lost or
// silently dead notification connection. The lost connection is made again with backoff;
// after each (re)connection the version row is read at once, so nothing committed while
// the connection was down is missed.

import type pg from 'pg'

export interface WatcherOptions {
  /** Makes and connects a new client for LISTEN. */
  readonly connect: () => Promise<pg.Client>
  readonly channel: string
  /** This engine's writer id: notifications of its own commits are ignored. */
  readonly writerId: string
  readonly pollIntervalMs: number
  /**
   * Reads the store version (on the pool); undefined when the answer may include a commit of
   * this engine's own that it has not seen acknowledged yet.
   */
  readonly readHead: () => Promise<number | undefined>
  /** Another writer committed `version` (from a notification). */
  readonly onNotified: (version: number) => void
  /** The store version as polled (after a (re)connection, and every pollIntervalMs). */
  readonly onPolled: (head: number) => void
}

const FIRST_RETRY_MS = 100
const MAX_RETRY_MS = 5000

export class ChangeWatcher {
  readonly #options: WatcherOptions
  #client: pg.Client | undefined
  #connecting = false
  #retryMs = FIRST_RETRY_MS
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  #pollTimer: ReturnType<typeof setInterval> | undefined
  #polling = false
  #stopped = false
  /** Notification connections made (the first included): for stats and tests. */
  connections = 0

  constructor (options: WatcherOptions) {
    this.#options = options
  }

  /** True while the notification connection is up and listening. */
  get listening (): boolean {
    return this.#client !== undefined
  }

  start (): void {
    this.#pollTimer = setInterval(() => { this.poll() }, this.#options.pollIntervalMs)
    this.#pollTimer.unref()
    void this.#connect()
  }

  /** Reads the version row now (skipped while a poll is running). */
  poll (): void {
    if (this.#polling || this.#stopped) return
    this.#polling = true
    this.#options.readHead().then((head) => {
      if (head !== undefined && !this.#stopped) this.#options.onPolled(head)
    }, () => {
      // The server is unreachable: the next poll tries again.
    }).finally(() => { this.#polling = false })
  }

  async stop (): Promise<void> {
    this.#stopped = true
    if (this.#pollTimer !== undefined) clearInterval(this.#pollTimer)
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer)
    this.#pollTimer = undefined
    this.#retryTimer = undefined
    const client = this.#client
    this.#client = undefined
    // Referenced again first: ending an unref'd connection waits for its 'end' on a socket
    // that no longer keeps the event loop alive, and a process with nothing else to do would
    // exit with close() unsettled.
    ;(client as unknown as { ref?: () => void } | undefined)?.ref?.()
    await client?.end().catch(() => {})
  }

  async #connect (): Promise<void> {
    if (this.#stopped || this.#connecting || this.#client !== undefined) return
    this.#connecting = true
    let client: pg.Client | undefined
    try {
      client = await this.#options.connect()
      client.on('error', () => { this.#lost(client!) })
      client.on('end', () => { this.#lost(client!) })
      client.on('notification', (message) => { this.#notified(message) })
      await client.query(`LISTEN ${this.#options.channel}`)
      if (this.#stopped) {
        await client.end().catch(() => {})
        return
      }
      // A listening connection must not keep the process alive on its own.
      ;(client as unknown as { unref?: () => void }).unref?.()
      this.#client = client
      this.connections++
      this.#retryMs = FIRST_RETRY_MS
      // Commits made while no connection listened are found by reading the version row.
      this.poll()
    } catch {
      await client?.end().catch(() => {})
      this.#retry()
    } finally {
      this.#connecting = false
    }
  }

  #lost (client: pg.Client): void {
    if (this.#client !== client) return
    this.#client = undefined
    client.end().catch(() => {})
    this.#retry()
  }

  #retry (): void {
    if (this.#stopped || this.#retryTimer !== undefined) return
    const delay = this.#retryMs
    this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS)
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined
      void this.#connect()
    }, delay)
    this.#retryTimer.unref()
  }

  #notified (message: pg.Notification): void {
    if (message.channel !== this.#options.channel || message.payload === undefined) return
    // Payload: "<version>:<writer id>".
    const colon = message.payload.indexOf(':')
    const version = Number(message.payload.slice(0, colon))
    if (colon < 0 || !Number.isSafeInteger(version)) return
    if (message.payload.slice(colon + 1) === this.#options.writerId) return
    this.#options.onNotified(version)
  }
}
