// FlowStore on PostgreSQL, several stores on one database in this process: each keeps its
// own cache and sees the others' commits (flows, lazy versions, 'change' events) without a
// reload; refresh() forces it; ifVersion decides between stores; reads answer from memory
// while the server is out of reach. (Several processes: postgres-processes.test.ts.)

import { afterEach, describe, expect, it } from 'vitest'
import { type Change, FlowStore, isFlowStoreError, postgres } from '../src/index.ts'
import { killChildren, startChild } from './fixtures/child.ts'
import { freshPostgresUrl, schemaOf, sql } from './pg-helpers.ts'
import { TcpProxy } from './tcp-proxy.ts'

const stores: FlowStore[] = []
const proxies: TcpProxy[] = []
afterEach(async () => {
  await killChildren()
  for (const store of stores.splice(0)) await store.close().catch(() => {})
  for (const proxy of proxies.splice(0)) await proxy.close()
})

async function open (url: string, pollIntervalMs = 1000): Promise<FlowStore> {
  const store = await FlowStore.open(postgres({ connectionString: url, pollIntervalMs, connectTimeoutMs: 3000 }))
  stores.push(store)
  return store
}

async function until (check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe('FlowStore on PostgreSQL', () => {
  it('opens a postgres:// URL, saves, and reopens with the same flows, versions and identity', async () => {
    const url = freshPostgresUrl()
    const first = await FlowStore.open(url)
    stores.push(first)
    expect(first.directory).toBeUndefined()
    await first.saveMany([{ id: 'a', n: 1, when: new Date(5), bytes: new Uint8Array([1, 2]) }, { id: 'b', n: 2 }])
    await first.delete('b')
    const { storeId, version } = first
    await first.close()

    const second = await open(url)
    expect(second.storeId).toBe(storeId)
    expect(second.version).toBe(version)
    expect(Object.fromEntries(second.flows)).toEqual({ a: { id: 'a', n: 1, when: new Date(5), bytes: new Uint8Array([1, 2]) } })
    expect(second.lazy('a')!.version).toBe(1)
    expect(await second.changesSince(0)).toEqual({ version: 2, changes: [{ id: 'a', version: 1, deleted: false }, { id: 'b', version: 2, deleted: true }] })
  })

  it('shows another store\'s saves and deletes in flows, lazy and change events, without reloading', async () => {
    const url = freshPostgresUrl()
    const a = await open(url)
    const b = await open(url)
    const events: Change[] = []
    b.on('change', (change) => events.push(change))
    await a.saveMany([{ id: 'x', v: 1 }, { id: 'y', v: 1 }])
    await until(() => b.version === 1, 'b reaches version 1')
    expect(b.get('x')).toEqual({ id: 'x', v: 1 })
    expect(b.lazy('y')!.version).toBe(1)
    await a.delete('x')
    await a.save({ id: 'y', v: 2 })
    await until(() => b.version === 3, 'b reaches version 3')
    expect(b.has('x')).toBe(false)
    expect(b.flows.get('y')).toEqual({ id: 'y', v: 2 })
    expect(events).toEqual([
      { id: 'x', version: 1, deleted: false },
      { id: 'y', version: 1, deleted: false },
      { id: 'x', version: 2, deleted: true },
      { id: 'y', version: 3, deleted: false }
    ])
    // And the other way round.
    await b.save({ id: 'z', v: 1 })
    await until(() => a.has('z'), 'a sees z')
    expect(a.version).toBe(4)
  })

  it('refresh() brings the cache up to date at once, whatever the poll interval', async () => {
    const url = freshPostgresUrl()
    const a = await open(url)
    const b = await open(url, 60_000)
    await a.save({ id: 'x', v: 1 })
    await b.refresh()
    expect(b.get('x')).toEqual({ id: 'x', v: 1 })
    expect(b.version).toBe(1)
  })

  it('lets exactly one of two stores commit a save with the same ifVersion; the other gets FLOWSTORE_CONFLICT and sees the winner', async () => {
    const url = freshPostgresUrl()
    const a = await open(url)
    const b = await open(url)
    await a.save({ id: 'doc', text: 'base' })
    await b.refresh()
    const seen = b.lazy('doc')!.version
    expect(a.lazy('doc')!.version).toBe(seen)
    const results = await Promise.allSettled([
      a.save({ id: 'doc', text: 'from a' }, { ifVersion: seen }),
      b.save({ id: 'doc', text: 'from b' }, { ifVersion: seen })
    ])
    const won = results.filter((result) => result.status === 'fulfilled')
    const lost = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected')
    expect(won).toHaveLength(1)
    expect(lost).toHaveLength(1)
    expect(isFlowStoreError(lost[0]!.reason, 'FLOWSTORE_CONFLICT')).toBe(true)
    const winner = results[0]!.status === 'fulfilled' ? 'from a' : 'from b'
    await a.refresh()
    await b.refresh()
    expect(a.get('doc')).toEqual({ id: 'doc', text: winner })
    expect(b.get('doc')).toEqual({ id: 'doc', text: winner })
    const [row] = await sql<{ version: string }>(url, `SELECT version FROM "${schemaOf(url)}".flowstore_store`)
    expect(Number(row!.version)).toBe(2)
  })

  it('resolves a save whose commit acknowledgement was lost with the connection, committed once', async () => {
    const direct = freshPostgresUrl()
    const proxy = await TcpProxy.start(Number(new URL(direct).port))
    proxies.push(proxy)
    const store = await open(proxy.through(direct))
    await store.save({ id: 'a', v: 1 })
    const cut = proxy.cutNextCommit('after')
    await store.save({ id: 'b', v: 1 })
    await cut
    expect(store.version).toBe(2)
    expect(store.lazy('b')!.version).toBe(2)
    expect(await store.changesSince(0)).toEqual({ version: 2, changes: [{ id: 'a', version: 1, deleted: false }, { id: 'b', version: 2, deleted: false }] })
    expect(await sql(direct, `SELECT version FROM "${schemaOf(direct)}".flowstore_store`)).toEqual([{ version: '2' }])
  })

  it('keeps answering reads from memory while the server cannot be reached, and catches up after', async () => {
    const direct = freshPostgresUrl()
    const proxy = await TcpProxy.start(Number(new URL(direct).port))
    proxies.push(proxy)
    const cut = await open(proxy.through(direct), 50)
    const writer = await open(direct)
    await writer.saveMany([{ id: 'a', v: 1 }, { id: 'b', v: 1 }])
    await until(() => cut.version === 1, 'caught up before the cut')

    proxy.refuse('flowstore')
    proxy.refuse('flowstore-listen')
    await writer.save({ id: 'a', v: 2 })
    expect(cut.get('a')).toEqual({ id: 'a', v: 1 })
    expect(cut.size).toBe(2)
    const failed = await cut.save({ id: 'c', v: 1 }).catch((e: unknown) => e)
    expect(isFlowStoreError(failed, 'FLOWSTORE_DISCONNECTED')).toBe(true)
    expect(cut.get('c')).toEqual({ id: 'c', v: 1 })

    proxy.allow('flowstore')
    proxy.allow('flowstore-listen')
    await cut.flush()
    await until(() => cut.get('a')?.v === 2, 'the cut store catches up')
    await until(() => writer.has('c'), 'the writer sees the save made while cut off')
    expect(cut.version).toBe(3)
  })

  it('closes completely in a process that has nothing else to do (no exit half way through close)', async () => {
    const url = freshPostgresUrl()
    // Three processes at once: the early exit depended on timing.
    const children = [0, 1, 2].map(() => startChild('pg-open-close.ts', url))
    for (const child of children) {
      expect(await child.exited, child.stderr).toEqual({ code: 0, signal: null })
      expect(child.lines).toEqual(['closed'])
    }
  })
})
