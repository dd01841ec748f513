// The PostgreSQL engine on its own, against the real server the test run started: schema
// creation, commits and their versions, the change record, ifVersion conflicts, watch,
// snapshots, and the typed errors at open.

import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { openPostgresEngine, postgres, type PostgresEngine } from '../src/engine/postgres.ts'
import { createStatements, tableNames } from '../src/engine/postgres-schema.ts'
import type { CommitEntry } from '../src/engine/types.ts'
import { HEADER_BYTES, recordVersion } from '../src/layout.ts'
import { type FlowStoreError, isFlowStoreError } from '../src/errors.ts'
import { freePort } from './pg-server.ts'
import { freshPostgresUrl, plainUrl, postgresUrl, record, schemaOf, sql } from './pg-helpers.ts'

const engines: PostgresEngine[] = []
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close()
})

function engine (url: string): PostgresEngine {
  const made = openPostgresEngine(url, { pollIntervalMs: 100 })
  engines.push(made)
  return made
}

function body (bytes: Uint8Array): string {
  return Buffer.from(bytes.subarray(HEADER_BYTES)).toString('utf8')
}

async function loaded (made: PostgresEngine): Promise<{ flows: Map<string, Uint8Array>, state: Awaited<ReturnType<PostgresEngine['load']>> }> {
  const flows = new Map<string, Uint8Array>()
  const state = await made.load((id, bytes) => { flows.set(id, bytes) })
  return { flows, state }
}

const save = (id: string, text: string, ifVersion?: number): CommitEntry => ({ id, record: record(text), ifVersion })
const remove = (id: string, ifVersion?: number): CommitEntry => ({ id, record: undefined, ifVersion })

/** Waits (bounded polling) until `check` holds. */
async function until (check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe('PostgreSQL engine', () => {
  it('creates its tables on first open: a new store at version 0 with an identity', async () => {
    const url = freshPostgresUrl()
    const { flows, state } = await loaded(engine(url))
    expect(flows.size).toBe(0)
    expect(state.version).toBe(0)
    expect(state.storeId).toMatch(/^[0-9a-f-]{36}$/)
    const tables = await sql<{ table_name: string }>(url, 'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name', [schemaOf(url)])
    expect(tables.map((row) => row.table_name)).toEqual(['flowstore', 'flowstore_horizon', 'flowstore_store', 'flowstore_writers'])
    const [row] = await sql<{ layout: number, version: string }>(url, `SELECT layout, version FROM "${schemaOf(url)}".flowstore_store`)
    expect(row).toEqual({ layout: 1, version: '0' })
  })

  it('creates exactly the tables docs/postgres.md shows', async () => {
    const doc = await readFile(join(import.meta.dirname, '..', 'docs', 'postgres.md'), 'utf8')
    const expected = createStatements(tableNames('public', 'flowstore')).map((statement) => `${statement};`).join('\n\n')
    expect(doc).toContain('```sql\n' + expected + '\n```')
  })

  it('commits one version per batch, stamps it into each record, and a later open reads them back', async () => {
    const url = freshPostgresUrl()
    const first = engine(url)
    const { state } = await loaded(first)
    const a = save('a', 'one')
    const result = await first.commit([a, save('b', 'two')], { sync: false })
    expect(result).toEqual({ version: 1, previous: 0 })
    expect(recordVersion(a.record!)).toBe(1)
    expect(await first.commit([remove('b'), save('c', 'three')], { sync: true })).toEqual({ version: 2, previous: 1 })

    const { flows, state: again } = await loaded(engine(url))
    expect(again.storeId).toBe(state.storeId)
    expect(again.version).toBe(2)
    expect([...flows.keys()]).toEqual(['a', 'c'])
    expect(body(flows.get('a')!)).toBe('one')
    expect(recordVersion(flows.get('c')!)).toBe(2)
    expect(again.tombstones).toEqual(new Map([['b', 2]]))
  })

  it('keeps ids exactly, in byte order: unicode, NUL, long ids', async () => {
    const url = freshPostgresUrl()
    const first = engine(url)
    await loaded(first)
    const ids = ['z', 'a\u0000b', '日本語', '😀', 'e\u0301', 'x'.repeat(1000), 'A']
    await first.commit(ids.map((id) => save(id, id)), { sync: false })
    const { flows } = await loaded(engine(url))
    expect([...flows.keys()]).toEqual([...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))))
    for (const id of ids) expect(body(flows.get(id)!)).toBe(id)
  })

  it('gives version order = commit order across engines, and changesSince lists each id once at its latest change', async () => {
    const url = freshPostgresUrl()
    const a = engine(url)
    const b = engine(url)
    await loaded(a)
    await loaded(b)
    expect(await a.commit([save('x', 'a1')], { sync: false })).toEqual({ version: 1, previous: 0 })
    expect(await b.commit([save('y', 'b1')], { sync: false })).toEqual({ version: 2, previous: 1 })
    expect(await a.commit([remove('y'), save('x', 'a2')], { sync: false })).toEqual({ version: 3, previous: 2 })
    expect(await b.commit([save('z', 'b2')], { sync: false })).toEqual({ version: 4, previous: 3 })

    const all = await b.changesSince(0)
    expect(all).toEqual({
      version: 4,
      changes: [
        { id: 'x', version: 3, deleted: false },
        { id: 'y', version: 3, deleted: true },
        { id: 'z', version: 4, deleted: false }
      ]
    })
    const withRecords = await a.changesSince(3, { records: true })
    expect(withRecords.version).toBe(4)
    expect(withRecords.changes.map((change) => [change.id, change.version, body(change.record!)])).toEqual([['z', 4, 'b2']])
    expect(await a.changesSince(4)).toEqual({ version: 4, changes: [] })
  })

  it('many concurrent commits from several engines get distinct consecutive versions', async () => {
    const url = freshPostgresUrl()
    const made = [engine(url), engine(url), engine(url)]
    for (const one of made) await loaded(one)
    const results = await Promise.all(made.flatMap((one, e) => Array.from({ length: 20 }, async (_, i) => await one.commit([save(`e${e}-${i}`, 'v')], { sync: false }))))
    const versions = results.map((result) => result.version).sort((x, y) => x - y)
    expect(versions).toEqual(Array.from({ length: 60 }, (_, i) => i + 1))
    for (const result of results) expect(result.previous).toBe(result.version - 1)
    const changes = await made[0]!.changesSince(0)
    expect(changes.changes.map((change) => change.version)).toEqual(versions)
  })

  it('refuses a commit whose ifVersion does not hold with FLOWSTORE_CONFLICT listing the ids, and writes nothing', async () => {
    const url = freshPostgresUrl()
    const a = engine(url)
    await loaded(a)
    await a.commit([save('x', 'one'), save('y', 'one')], { sync: false })
    await a.commit([save('x', 'two')], { sync: false })

    const err = await a.commit([save('x', 'three', 1), save('y', 'three', 1), save('new', 'n', 0), save('other', 'o')], { sync: false }).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_CONFLICT')).toBe(true)
    expect((err as FlowStoreError).ids).toEqual(['x'])
    expect(await a.changesSince(2)).toEqual({ version: 2, changes: [] })

    // Holding versions pass; 0 means "must not exist" (never saved, or deleted).
    expect((await a.commit([save('x', 'three', 2), save('y', 'three', 1), save('new', 'n', 0)], { sync: false })).version).toBe(3)
    await a.commit([remove('new', 3)], { sync: false })
    expect((await a.commit([save('new', 'again', 0)], { sync: false })).version).toBe(5)
    const stale = await a.commit([remove('new', 3)], { sync: false }).catch((e: unknown) => e)
    expect((stale as FlowStoreError).ids).toEqual(['new'])
  })

  it('lets exactly one of several engines win a race on the same ifVersion', async () => {
    const url = freshPostgresUrl()
    const made = [engine(url), engine(url), engine(url), engine(url)]
    for (const one of made) await loaded(one)
    await made[0]!.commit([save('doc', 'base')], { sync: false })
    const outcomes = await Promise.allSettled(made.map(async (one, i) => await one.commit([save('doc', `edit ${i}`, 1)], { sync: false })))
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1)
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') expect(isFlowStoreError(outcome.reason, 'FLOWSTORE_CONFLICT')).toBe(true)
    }
    expect((await made[1]!.changesSince(0)).version).toBe(2)
  })

  it('tells watchers about other engines\' commits (by NOTIFY), never about their own', async () => {
    const url = freshPostgresUrl()
    const a = openPostgresEngine(url, { pollIntervalMs: 60_000 })
    const b = openPostgresEngine(url, { pollIntervalMs: 60_000 })
    engines.push(a, b)
    await loaded(a)
    await loaded(b)
    const heardA: number[] = []
    const heardB: number[] = []
    a.watch((version) => heardA.push(version))
    b.watch((version) => heardB.push(version))
    await until(() => a.listening && b.listening, 'both engines listen')
    await a.commit([save('x', '1')], { sync: false })
    await until(() => heardB.includes(1), 'b hears version 1')
    await b.commit([save('y', '2')], { sync: false })
    await until(() => heardA.includes(2), 'a hears version 2')
    expect(heardA).toEqual([2])
    expect(heardB).toEqual([1])
  })

  it('finds other engines\' commits by polling the version row when no notification comes', async () => {
    const url = freshPostgresUrl()
    const a = engine(url)
    await loaded(a)
    const heard: number[] = []
    a.watch((version) => heard.push(version))
    // A commit that sends no notification (written by hand, as a foreign writer could).
    const schema = schemaOf(url)
    await sql(url, `UPDATE "${schema}".flowstore_store SET version = version + 1`)
    await until(() => heard.includes(1), 'the poll finds version 1')
  })

  it('takes a snapshot that stays at its version while commits go on', async () => {
    const url = freshPostgresUrl()
    const a = engine(url)
    const { state } = await loaded(a)
    await a.commit([save('a', 'one'), save('b', 'one')], { sync: false })
    await a.commit([remove('b'), save('c', 'two')], { sync: false })
    const snapshot = await a.snapshot()
    try {
      await a.commit([save('a', 'after'), save('d', 'after')], { sync: false })
      expect(snapshot.version).toBe(2)
      expect(snapshot.storeId).toBe(state.storeId)
      const flows: Array<[string, string]> = []
      for await (const batch of snapshot.flows()) for (const [id, bytes] of batch) flows.push([id, body(bytes)])
      expect(flows).toEqual([['a', 'one'], ['c', 'two']])
      const changes = []
      for await (const batch of snapshot.changesSince(1)) changes.push(...batch.map((change) => ({ ...change, record: change.record === undefined ? undefined : body(change.record) })))
      expect(changes).toEqual([
        { id: 'b', version: 2, deleted: true, record: undefined },
        { id: 'c', version: 2, deleted: false, record: 'two' }
      ])
    } finally {
      await snapshot.close()
    }
  })

  it('reads a store of more flows than one fetch holds', async () => {
    const url = freshPostgresUrl()
    const a = engine(url)
    await loaded(a)
    const entries = Array.from({ length: 4500 }, (_, i) => save(`flow-${String(i).padStart(5, '0')}`, `payload ${i}`))
    await a.commit(entries, { sync: false })
    const { flows } = await loaded(engine(url))
    expect(flows.size).toBe(4500)
    expect(body(flows.get('flow-04499')!)).toBe('payload 4499')
  })

  it('refuses a store of another layout version with FLOWSTORE_INCOMPATIBLE', async () => {
    const url = freshPostgresUrl()
    await loaded(engine(url))
    await sql(url, `UPDATE "${schemaOf(url)}".flowstore_store SET layout = 99`)
    const err = await loaded(engine(url)).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_INCOMPATIBLE')).toBe(true)
    expect((err as Error).message).toMatch(/layout 99/)
  })

  it('refuses a half-present store (a table of the same name, another one missing) with FLOWSTORE_OPEN_FAILED, and changes nothing', async () => {
    const url = freshPostgresUrl()
    const schema = schemaOf(url)
    await sql(url, `CREATE SCHEMA "${schema}"`)
    await sql(url, `CREATE TABLE "${schema}".flowstore (name text)`)
    const err = await loaded(engine(url)).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_OPEN_FAILED')).toBe(true)
    expect((err as Error).message).toMatch(/not a complete flowstore store/)
    const tables = await sql(url, 'SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema])
    expect(tables).toEqual([{ table_name: 'flowstore' }])
  })

  it('with create: false, refuses a store that does not exist', async () => {
    const url = freshPostgresUrl()
    const made = openPostgresEngine(url, { create: false })
    engines.push(made)
    const err = await loaded(made).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_OPEN_FAILED')).toBe(true)
    expect((err as Error).message).toMatch(/no flowstore store/)
  })

  it('opens a new store created by several engines at once exactly once', async () => {
    const url = freshPostgresUrl()
    const states = await Promise.all([engine(url), engine(url), engine(url)].map(async (one) => (await loaded(one)).state))
    expect(new Set(states.map((state) => state.storeId)).size).toBe(1)
  })

  it('fails to open an unreachable server with FLOWSTORE_OPEN_FAILED and the cause', async () => {
    const port = await freePort()
    const made = openPostgresEngine(`postgres://postgres:secret-password@127.0.0.1:${port}/postgres`, { connectTimeoutMs: 2000 })
    engines.push(made)
    const err = await loaded(made).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_OPEN_FAILED')).toBe(true)
    expect((err as Error).message).toContain(`127.0.0.1:${port}`)
    expect((err as Error).message).not.toContain('secret-password')
    expect((err as { cause?: { code?: string } }).cause?.code).toBe('ECONNREFUSED')
  })

  it('fails to open with a wrong password or a missing database with FLOWSTORE_OPEN_FAILED', async () => {
    const wrong = new URL(plainUrl(postgresUrl()))
    wrong.password = 'not-the-password'
    const bad = openPostgresEngine(wrong.toString())
    engines.push(bad)
    expect(isFlowStoreError(await loaded(bad).catch((e: unknown) => e), 'FLOWSTORE_OPEN_FAILED')).toBe(true)
    const missing = new URL(plainUrl(postgresUrl()))
    missing.pathname = '/no_such_database'
    const none = openPostgresEngine(missing.toString())
    engines.push(none)
    const err = await loaded(none).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_OPEN_FAILED')).toBe(true)
    expect((err as Error).message).toMatch(/no_such_database/)
  })

  it('refuses a connection string that is not a URL with FLOWSTORE_OPEN_FAILED, and bad options with a TypeError', () => {
    expect(() => openPostgresEngine('postgres://user:pw@[bad')).toThrow(expect.objectContaining({ code: 'FLOWSTORE_OPEN_FAILED' }))
    expect(() => postgres({} as never)).toThrow(TypeError)
    expect(() => postgres({ connectionString: 'postgres://x/y', table: '' })).toThrow(TypeError)
    expect(() => postgres({ connectionString: 'postgres://x/y', table: 'x'.repeat(60) })).toThrow(TypeError)
    expect(() => postgres({ connectionString: 'postgres://x/y', pollIntervalMs: 0 })).toThrow(TypeError)
  })

  it('describes itself without the password', () => {
    const made = postgres({ connectionString: 'postgres://alice:hunter2@db.example:6543/app?sslmode=require', schema: 'flows', table: 'store1' })
    expect(made.kind).toBe('postgres')
    expect(made.directory).toBeUndefined()
    expect(made.description).toBe('postgres://alice@db.example:6543/app (table flows.store1)')
  })
})
