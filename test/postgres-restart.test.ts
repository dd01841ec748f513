// The PostgreSQL server stopped and started again while two writer processes keep saving.
// It runs on a server of its own (not the one the other test files share). Saves made while
// the server is down fail with FLOWSTORE_DISCONNECTED (or wait for it, when their commit was
// in doubt) and stay pending; once it is back, every writer commits again, nothing
// acknowledged is lost, nothing is applied twice, and every cache converges to the database.

import { afterEach, describe, expect, it } from 'vitest'
import { killChildren } from './fixtures/child.ts'
import { startTestPostgres } from './pg-server.ts'
import { checkAppliedOnce, checkConverged, checkHistory, readDatabase, startWriters, until } from './pg-writers.ts'

afterEach(killChildren)

describe('the PostgreSQL server restarting under load', () => {
  it('loses nothing acknowledged; writers fail while it is down, recover after, and converge', async () => {
    const server = await startTestPostgres()
    try {
      const url = server.url
      await readDatabase(url).catch(() => {})
      const writers = await startWriters(url, [{ name: 'a', rounds: 'loop', seed: 21 }, { name: 'b', rounds: 'loop', seed: 22 }])
      await until(() => writers.every((writer) => writer.acks.length >= 10), 'both writers commit')

      await server.stop()
      await until(() => writers.some((writer) => writer.fails.length > 0), 'a writer finds the server gone')
      const before = writers.map((writer) => writer.acks.length)
      await server.start()
      await until(() => writers.every((writer, i) => writer.acks.length >= before[i]! + 10), 'both writers commit again')
      for (const writer of writers) writer.child.send('stop')
      for (const writer of writers) await writer.finished()

      for (const writer of writers) for (const code of writer.fails) expect(code).toBe('FLOWSTORE_DISCONNECTED')
      const db = await readDatabase(url)
      checkHistory(writers, db, { complete: false })
      const dumps = await Promise.all(writers.map(async (writer) => await writer.dump(db.version)))
      dumps.forEach((dump, i) => { checkConverged(dump, db, writers[i]!.openedAt) })
      checkAppliedOnce(dumps)
      for (const writer of writers) await writer.exit()
    } finally {
      await killChildren()
      await server.remove()
    }
  })
})
