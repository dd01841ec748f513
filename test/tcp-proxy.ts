// A small TCP proxy between the tests' PostgreSQL clients and the server, that the fault
// tests control. It reads the PostgreSQL wire protocol just enough to know which client a
// connection is (the application_name of its startup message: the engine's pool says
// 'flowstore', its notification connection 'flowstore-listen') and to see COMMIT go by, so a
// test can cut one kind of connection, refuse it for a while, or cut a connection exactly
// before or after a COMMIT reached the server.

import { createServer, type Server, type Socket, connect } from 'node:net'

export type CommitCut =
  /** Drop the connection instead of passing COMMIT on: the server never sees it. */
  | 'before'
  /** Pass COMMIT on, let the server answer, and drop the connection instead of that answer. */
  | 'after'

interface Link {
  readonly client: Socket
  readonly server: Socket
  application: string | undefined
}

export class TcpProxy {
  readonly #server: Server
  readonly #targetPort: number
  readonly #links = new Set<Link>()
  readonly #refused = new Set<string>()
  #commitCut: { readonly when: CommitCut, readonly application: string, done: (() => void) | undefined } | undefined
  /** Connections dropped by cut(), refuse() or a commit cut. */
  cuts = 0

  private constructor (server: Server, targetPort: number) {
    this.#server = server
    this.#targetPort = targetPort
  }

  static async start (targetPort: number): Promise<TcpProxy> {
    const server = createServer()
    const proxy = new TcpProxy(server, targetPort)
    server.on('connection', (socket) => { proxy.#accept(socket) })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => { resolve() })
    })
    return proxy
  }

  get port (): number {
    const address = this.#server.address()
    return typeof address === 'object' && address !== null ? address.port : 0
  }

  /** `url` (a URL of the proxied server) with host and port replaced by the proxy's. */
  through (url: string): string {
    const parsed = new URL(url)
    parsed.hostname = '127.0.0.1'
    parsed.port = String(this.port)
    return parsed.toString()
  }

  /** Open connections by application_name. */
  open (application: string): number {
    return [...this.#links].filter((link) => link.application === application).length
  }

  /** Drops every open connection of `application`; returns how many. */
  cut (application: string): number {
    let count = 0
    for (const link of this.#links) {
      if (link.application === application) {
        this.#drop(link)
        count++
      }
    }
    return count
  }

  /** Drops connections of `application` as soon as they say who they are, until allow(). */
  refuse (application: string): void {
    this.#refused.add(application)
    this.cut(application)
  }

  allow (application: string): void {
    this.#refused.delete(application)
  }

  /**
   * Cuts the next COMMIT sent by a connection of `application` (see CommitCut). Resolves once
   * the cut happened.
   */
  cutNextCommit (when: CommitCut, application = 'flowstore'): Promise<void> {
    return new Promise((resolve) => {
      this.#commitCut = { when, application, done: resolve }
    })
  }

  async close (): Promise<void> {
    for (const link of this.#links) this.#drop(link, false)
    await new Promise<void>((resolve) => { this.#server.close(() => { resolve() }) })
  }

  #accept (client: Socket): void {
    const server = connect(this.#targetPort, '127.0.0.1')
    const link: Link = { client, server, application: undefined }
    this.#links.add(link)
    client.on('error', () => { this.#drop(link, false) })
    server.on('error', () => { this.#drop(link, false) })
    client.on('close', () => { this.#drop(link, false) })
    server.on('close', () => { this.#drop(link, false) })

    // Client to server: the startup message (no type byte), then typed messages.
    let pending = Buffer.alloc(0)
    let started = false
    // After a COMMIT cut 'after': hold the server's answer back, then drop at ReadyForQuery.
    let holdAnswer = false
    let fromServer = Buffer.alloc(0)
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk])
      for (;;) {
        if (!started) {
          if (pending.length < 8) return
          const length = pending.readInt32BE(0)
          if (pending.length < length) return
          const message = pending.subarray(0, length)
          pending = pending.subarray(length)
          const code = message.readInt32BE(4)
          // An SSL or GSS encryption request comes before the startup message.
          if (code === 80877103 || code === 80877104) {
            server.write(message)
            continue
          }
          started = true
          link.application = startupParameter(message, 'application_name') ?? ''
          if (this.#refused.has(link.application)) {
            this.#drop(link)
            return
          }
          server.write(message)
          continue
        }
        if (pending.length < 5) return
        const length = pending.readInt32BE(1)
        if (pending.length < 1 + length) return
        const message = pending.subarray(0, 1 + length)
        pending = pending.subarray(1 + length)
        const cut = this.#commitCut
        if (cut !== undefined && link.application === cut.application && message[0] === 0x51 /* Q */ &&
            message.subarray(5).toString('utf8').replace(/\0$/, '').trim().toUpperCase() === 'COMMIT') {
          this.#commitCut = undefined
          if (cut.when === 'before') {
            this.#drop(link)
            cut.done?.()
            return
          }
          holdAnswer = true
          server.write(message)
          const finish = cut.done
          fromServer = Buffer.alloc(0)
          link.server.on('data', (answer: Buffer) => {
            fromServer = Buffer.concat([fromServer, answer])
            if (readyForQuery(fromServer)) {
              this.#drop(link)
              finish?.()
            }
          })
          continue
        }
        server.write(message)
      }
    })
    server.on('data', (chunk: Buffer) => {
      if (!holdAnswer) client.write(chunk)
    })
  }

  #drop (link: Link, counted = true): void {
    if (!this.#links.delete(link)) return
    if (counted) this.cuts++
    link.client.destroy()
    link.server.destroy()
  }
}

function startupParameter (message: Buffer, name: string): string | undefined {
  const parts = message.subarray(8).toString('utf8').split('\0')
  for (let i = 0; i + 1 < parts.length; i += 2) if (parts[i] === name) return parts[i + 1]
  return undefined
}

/** True when `bytes` (server messages) hold a complete ReadyForQuery. */
function readyForQuery (bytes: Buffer): boolean {
  let offset = 0
  while (offset + 5 <= bytes.length) {
    const length = bytes.readInt32BE(offset + 1)
    if (offset + 1 + length > bytes.length) return false
    if (bytes[offset] === 0x5a /* Z */) return true
    offset += 1 + length
  }
  return false
}
