// Connections cut under the PostgreSQL engine, through a TCP proxy the test controls
// (tcp-proxy.ts): the commit connection cut just before and just after COMMIT reached the
// server (the commit lands exactly once either way), commit connections refused
// (FLOWSTORE_DISCONNECTED, nothing written, and the next commit works once they are back),
// and the notification connection cut or refused (other writers' commits still arrive, by
// reconnecting and by polling the version row).

import { afterEach, describe, expect, it } from 'vitest'
import { isFlowStoreError } from '../src/errors.ts'
import { openPostgresEngine, type PostgresEngine } from '../src/engine/postgres.ts'
import type { CommitEntry } from '../src/engine/types.ts'
import { HEADER_BYTES, RECORD_FORMAT } from '../src/layout.ts'
import { freshPostgresUrl, schemaOf, sql } from './pg-helpers.ts'
import { TcpProxy } from './tcp-proxy.ts'

const engines: PostgresEngine[] = []
const proxies: TcpProxy[] = []
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close()
  for (const proxy of proxies.splice(0)) await proxy.close()
})

async function opened (url: string, pollIntervalMs = 100): Promise<PostgresEngine> {
  const engine = openPostgresEngine(url, { pollIntervalMs, connectTimeoutMs: 3000 })
  engines.push(engine)
  await engine.load(() => {})
  return engine
}

async function proxied (url: string): Promise<{ proxy: TcpProxy, url: string }> {
  const proxy = await TcpProxy.start(Number(new URL(url).port))
  proxies.push(proxy)
  return { proxy, url: proxy.through(url) }
}

function save (id: string, text: string): CommitEntry {
  const body = Buffer.from(text)
  const record = new Uint8Array(HEADER_BYTES + body.length)
  record[0] = RECORD_FORMAT
  record.set(body, HEADER_BYTES)
  return { id, record }
}

async function until (check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** The version row and the writers' commit count, read directly. */
async function head (url: string): Promise<{ version: number, commits: number }> {
  const schema = schemaOf(url)
  const [row] = await sql<{ version: string, commits: string }>(url, `SELECT (SELECT version FROM "${schema}".flowstore_store) AS version, (SELECT coalesce(sum(commit_seq), 0) FROM "${schema}".flowstore_writers) AS commits`)
  return { version: Number(row!.version), commits: Number(row!.commits) }
}

describe('PostgreSQL engine: cut connections', () => {
  it('a commit whose connection is cut before COMMIT reaches the server is tried again and lands once', async () => {
    const direct = freshPostgresUrl()
    const { proxy, url } = await proxied(direct)
    const engine = await opened(url)
    const cut = proxy.cutNextCommit('before')
    const result = await engine.commit([save('a', 'one')], { sync: false })
    await cut
    expect(result).toEqual({ version: 1, previous: 0 })
    expect((await head(direct)).version).toBe(1)
    expect((await engine.changesSince(0)).changes).toEqual([{ id: 'a', version: 1, deleted: false }])
  })

  it('a commit whose acknowledgement is lost with the connection is found landed, never applied twice', async () => {
    const direct = freshPostgresUrl()
    const { proxy, url } = await proxied(direct)
    const engine = await opened(url)
    await engine.commit([save('a', 'one')], { sync: false })
    const cut = proxy.cutNextCommit('after')
    const result = await engine.commit([save('b', 'two')], { sync: false })
    await cut
    expect(proxy.cuts).toBe(1)
    expect(result).toEqual({ version: 2, previous: 1 })
    // Not applied a second time: the store is at version 2, and b changed once.
    expect(await head(direct)).toEqual({ version: 2, commits: 2 })
    expect((await engine.changesSince(1)).changes).toEqual([{ id: 'b', version: 2, deleted: false }])
    expect((await engine.commit([save('c', 'three')], { sync: false })).version).toBe(3)
  })

  it('commits fail with FLOWSTORE_DISCONNECTED and write nothing while the server cannot be reached, and work again after', async () => {
    const direct = freshPostgresUrl()
    const { proxy, url } = await proxied(direct)
    const engine = await opened(url)
    await engine.commit([save('a', 'one')], { sync: false })
    proxy.refuse('flowstore')
    const err = await engine.commit([save('b', 'two')], { sync: false }).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_DISCONNECTED')).toBe(true)
    expect(await head(direct)).toEqual({ version: 1, commits: 1 })
    const read = await engine.changesSince(0).catch((e: unknown) => e)
    expect(isFlowStoreError(read, 'FLOWSTORE_DISCONNECTED')).toBe(true)
    proxy.allow('flowstore')
    expect((await engine.commit([save('b', 'two')], { sync: false })).version).toBe(2)
  })

  it('hears other writers again after its notification connection is cut (it reconnects and reads the version row)', async () => {
    const direct = freshPostgresUrl()
    const { proxy, url } = await proxied(direct)
    // Polling rarely: the commits must arrive through the notification connection.
    const watched = await opened(url, 60_000)
    const writer = await opened(direct)
    const heard: number[] = []
    watched.watch((version) => heard.push(version))
    await until(() => watched.listening, 'the notification connection listens')
    await writer.commit([save('a', '1')], { sync: false })
    await until(() => heard.includes(1), 'version 1 is heard')

    expect(proxy.cut('flowstore-listen')).toBe(1)
    await until(() => !watched.listening, 'the cut is noticed')
    // Committed while nobody listens: found when the connection is made again.
    await writer.commit([save('b', '2')], { sync: false })
    await until(() => heard.includes(2), 'version 2 is heard after reconnecting')
    await until(() => watched.listening, 'listening again')
    expect(watched.notificationConnections).toBe(2)
    await writer.commit([save('c', '3')], { sync: false })
    await until(() => heard.includes(3), 'version 3 is heard by notification')
    // The version read after reconnecting may repeat one already heard.
    expect([...new Set(heard)]).toEqual([1, 2, 3])
  })

  it('hears other writers by polling while the notification connection cannot be made', async () => {
    const direct = freshPostgresUrl()
    const { proxy, url } = await proxied(direct)
    proxy.refuse('flowstore-listen')
    const watched = await opened(url, 50)
    const writer = await opened(direct)
    const heard: number[] = []
    watched.watch((version) => heard.push(version))
    for (let i = 1; i <= 3; i++) {
      await writer.commit([save(`f${i}`, String(i))], { sync: false })
      await until(() => heard.includes(i), `version ${i} is found by the poll`)
    }
    expect(watched.listening).toBe(false)
    expect(proxy.cuts).toBeGreaterThan(0)
  })
})
