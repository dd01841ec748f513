// Pruning the tombstones of a PostgreSQL store (src/engine/postgres-prune.ts), on the real
// server: a store that creates and deletes flows all day keeps a bounded number of tombstone
// rows; changesSince() and changed-only backups below the horizon are refused with
// FLOWSTORE_CHANGES_PRUNED; a store whose view fell behind the horizon catches up by reading
// the whole store; a store made before the horizon table existed still opens (and gets it).

import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { backupToDirectory, type Change, FlowStore, isFlowStoreError, postgres, restoreBackup } from '../src/index.ts'
import { openPostgresEngine, type PostgresEngine } from '../src/engine/postgres.ts'
import { createStatements, tableNames } from '../src/engine/postgres-schema.ts'
import type { CommitEntry } from '../src/engine/types.ts'
import { RECORD_FORMAT } from '../src/layout.ts'
import { tempDir } from './helpers.ts'
import { freshPostgresUrl, postgresUrl, record, schemaOf, sql } from './pg-helpers.ts'

const stores: FlowStore[] = []
const engines: PostgresEngine[] = []
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => {})
  for (const engine of engines.splice(0)) await engine.close()
})

async function open (url: string, retainChanges: number, watching = true): Promise<FlowStore> {
  const engine = postgres({ connectionString: url, pollIntervalMs: 200, retainChanges })
  // A store that hears nothing of the others: its view stays behind until refresh() or a
  // commit of its own.
  if (!watching) engine.watch = () => () => {}
  const store = await FlowStore.open(engine)
  stores.push(store)
  return store
}

function engine (url: string, retainChanges: number): PostgresEngine {
  const made = openPostgresEngine(url, { pollIntervalMs: 200, retainChanges })
  engines.push(made)
  return made
}

const save = (id: string, text: string): CommitEntry => ({ id, record: record(text) })
const remove = (id: string): CommitEntry => ({ id, record: undefined })

async function tombstones (url: string): Promise<number> {
  const [row] = await sql<{ count: string }>(url, `SELECT count(*) FROM "${schemaOf(url)}".flowstore WHERE record IS NULL`)
  return Number(row!.count)
}

/** Whether the flows table has a row (a flow or a tombstone) for `id`. */
async function stored (url: string, id: string): Promise<boolean> {
  return (await sql(url, `SELECT 1 FROM "${schemaOf(url)}".flowstore WHERE id = $1`, [Buffer.from(id)])).length > 0
}

async function storedHorizon (url: string): Promise<number> {
  const [row] = await sql<{ horizon: string }>(url, `SELECT horizon FROM "${schemaOf(url)}".flowstore_horizon`)
  return Number(row!.horizon)
}

async function until (check: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Saves `count` new flows and deletes them again, `per` ids per commit (each commit saves the next ids and deletes the previous ones). */
async function churn (store: FlowStore, prefix: string, count: number, per = 50): Promise<void> {
  let previous: string[] = []
  for (let start = 0; start < count; start += per) {
    const ids = Array.from({ length: Math.min(per, count - start) }, (_, i) => `${prefix}-${start + i}`)
    await store.transaction((tx) => {
      for (const id of ids) tx.save({ id, n: start })
      for (const id of previous) tx.delete(id)
    })
    previous = ids
  }
  await store.transaction((tx) => { for (const id of previous) tx.delete(id) })
}

describe('PostgreSQL tombstone pruning', () => {
  it('keeps a bounded number of tombstone rows while 5,000 distinct ids are saved and deleted', async () => {
    const url = freshPostgresUrl()
    const store = await FlowStore.open(url, { retainChanges: 100 })
    stores.push(store)
    await store.saveMany([{ id: 'keep-1', n: 1 }, { id: 'keep-2', n: 2 }])
    await churn(store, 'gone', 5000)
    expect(store.size).toBe(2)
    // The newest 100 rows stay, with the tombstones among them; a pass runs after every few
    // commits, each commit adds at most 50 tombstones.
    await until(async () => await tombstones(url) <= 200, 'the tombstones are pruned')
    const horizon = await storedHorizon(url)
    expect(horizon).toBeGreaterThan(0)
    expect(horizon).toBeLessThanOrEqual(store.version)
    const [rows] = await sql<{ count: string }>(url, `SELECT count(*) FROM "${schemaOf(url)}".flowstore`)
    expect(Number(rows!.count)).toBeLessThan(300)

    // Below the horizon: refused, with the horizon; from it on: answered.
    const err = await store.changesSince(0).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_CHANGES_PRUNED')).toBe(true)
    expect((err as { horizon?: number }).horizon).toBeGreaterThanOrEqual(horizon)
    const answer = await store.changesSince((err as { horizon: number }).horizon)
    expect(answer.version).toBe(store.version)
    expect(answer.changes.every((change) => change.deleted)).toBe(true)
    expect(answer.changes.length).toBeGreaterThanOrEqual(50)

    // A later open reads the same flows and version.
    const again = await FlowStore.open(url, { retainChanges: 100 })
    stores.push(again)
    expect(Object.fromEntries(again.flows)).toEqual(Object.fromEntries(store.flows))
    expect(again.version).toBe(store.version)
  })

  it('keeps every tombstone with retainChanges: Infinity, and the newest retainChanges rows otherwise', async () => {
    const url = freshPostgresUrl()
    const keeping = engine(url, Infinity)
    await keeping.load(() => {})
    for (let i = 0; i < 30; i++) await keeping.commit([save(`a${i}`, 'x')], { sync: false })
    for (let i = 0; i < 30; i++) await keeping.commit([remove(`a${i}`)], { sync: false })
    expect(await tombstones(url)).toBe(30)
    expect(keeping.horizon).toBe(0)

    const pruning = engine(url, 10)
    await pruning.load(() => {})
    // Once after open: the 30 rows are all tombstones; the newest 10 stay.
    await until(async () => { await pruning.pruneIdle(); return await tombstones(url) === 10 }, 'the older tombstones are pruned')
    // The 11th newest tombstone (a19, deleted at version 50) was the last one removed.
    expect(await storedHorizon(url)).toBe(50)
    expect(pruning.horizon).toBe(50)
    expect(pruning.prunedTombstones).toBe(20)
    const err = await keeping.changesSince(49).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_CHANGES_PRUNED')).toBe(true)
    expect((err as { horizon?: number }).horizon).toBe(50)
    const answer = await keeping.changesSince(50)
    expect(answer.changes.map((change) => change.id)).toEqual(Array.from({ length: 10 }, (_, i) => `a${20 + i}`))
  })

  it('a store whose view is behind the horizon catches up by reading the whole store', async () => {
    const url = freshPostgresUrl()
    const writer = await open(url, 50)
    await writer.saveMany([{ id: 'stays', n: 1 }, { id: 'changed', n: 1 }, { id: 'deleted', n: 1 }])
    const behind = await open(url, 50, false)
    const events: Change[] = []
    behind.on('change', (change) => events.push(change))
    expect(behind.size).toBe(3)

    await writer.save({ id: 'changed', n: 2 })
    await writer.delete('deleted')
    await churn(writer, 'churn', 1000)
    await writer.save({ id: 'late', n: 3 })
    await until(async () => !await stored(url, 'deleted'), 'the deletion\'s tombstone is pruned')
    const horizon = await storedHorizon(url)
    const pruned = await behind.changesSince(behind.version).catch((e: unknown) => e)
    expect(isFlowStoreError(pruned, 'FLOWSTORE_CHANGES_PRUNED')).toBe(true)

    await behind.refresh()
    expect(behind.version).toBe(writer.version)
    expect(Object.fromEntries(behind.flows)).toEqual({ stays: { id: 'stays', n: 1 }, changed: { id: 'changed', n: 2 }, late: { id: 'late', n: 3 } })
    expect(behind.lazy('changed')!.version).toBe(writer.lazy('changed')!.version)
    expect(events.map(({ id, deleted }) => ({ id, deleted }))).toEqual([
      { id: 'changed', deleted: false }, { id: 'deleted', deleted: true }, { id: 'late', deleted: false }
    ])
    // In version order; the deletion, whose tombstone was pruned, at the horizon (it was
    // deleted by then).
    expect(events[0]!.version).toBe(writer.lazy('changed')!.version)
    expect(events[1]!.version).toBeGreaterThanOrEqual(horizon)
    expect(events[1]!.version).toBeLessThan(writer.version)
    expect(events[2]!.version).toBe(writer.lazy('late')!.version)

    // The truth: a store opened now.
    const fresh = await open(url, 50)
    expect(Object.fromEntries(behind.flows)).toEqual(Object.fromEntries(fresh.flows))
  })

  it('a commit of a store behind the horizon catches up by reading the whole store, its own changes told in order', async () => {
    const url = freshPostgresUrl()
    const writer = await open(url, 50)
    await writer.saveMany([{ id: 'a', n: 1 }, { id: 'b', n: 1 }])
    const behind = await open(url, 50, false)
    const events: Change[] = []
    behind.on('change', (change) => events.push(change))
    await writer.delete('a')
    await churn(writer, 'churn', 1000)
    await until(async () => !await stored(url, 'a'), 'the deletion\'s tombstone is pruned')
    const horizon = await storedHorizon(url)

    await behind.transaction((tx) => {
      tx.save({ id: 'mine', n: 1 })
      tx.delete('b')
    })
    const [head] = await sql<{ version: string }>(url, `SELECT version FROM "${schemaOf(url)}".flowstore_store`)
    expect(behind.version).toBe(Number(head!.version))
    expect(Object.fromEntries(behind.flows)).toEqual({ mine: { id: 'mine', n: 1 } })
    expect(events.map(({ id, deleted }) => ({ id, deleted }))).toEqual([
      { id: 'a', deleted: true }, { id: 'mine', deleted: false }, { id: 'b', deleted: true }
    ])
    expect(events[0]!.version).toBeGreaterThanOrEqual(horizon)
    expect(events[0]!.version).toBeLessThan(behind.version)
    expect(events.slice(1).map((change) => change.version)).toEqual([behind.version, behind.version])
    const fresh = await open(url, 50)
    expect(Object.fromEntries(fresh.flows)).toEqual(Object.fromEntries(behind.flows))
  })

  it('refuses a changed-only backup based below the horizon; backupToDirectory takes a full one instead', async () => {
    const url = freshPostgresUrl()
    const store = await open(url, 50)
    const dir = await tempDir('flowstore-pg-prune-')
    await store.saveMany([{ id: 'a', n: 1 }, { id: 'b', n: 2 }])
    const first = await backupToDirectory(store, dir)
    expect(first.kind).toBe('full')
    await store.delete('a')
    await churn(store, 'churn', 1000)
    await until(async () => await storedHorizon(url) > first.version, 'the horizon passes the first backup')

    const err = await store.backup(join(dir, 'refused.fsbk'), { since: first.version }).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_CHANGES_PRUNED')).toBe(true)
    expect((err as { horizon?: number }).horizon).toBeGreaterThan(first.version)
    const second = await backupToDirectory(store, dir)
    expect(second.kind).toBe('full')
    expect(second.version).toBe(store.version)
    expect(second.flows).toBe(1)

    // From the horizon on, a changed-only backup is taken.
    const horizon = await storedHorizon(url)
    const since = await store.backup(join(dir, 'changes.fsbk'), { since: horizon })
    expect(since.kind).toBe('changes')
  })

  it('opens a store made before the horizon table existed, adds the table, and prunes its old tombstones', async () => {
    const url = freshPostgresUrl()
    const schema = schemaOf(url)
    const names = tableNames(schema, 'flowstore')
    // The layout as the previous version made it: three tables, no horizon.
    await sql(url, `CREATE SCHEMA "${schema}"`)
    for (const statement of createStatements(names).filter((statement) => !statement.includes('flowstore_horizon'))) await sql(url, statement)
    await sql(url, `INSERT INTO ${names.store} (layout, store_id, version) VALUES (1, gen_random_uuid(), 40)`)
    for (let i = 1; i <= 40; i++) {
      const value = i === 40 ? Buffer.concat([Buffer.from([RECORD_FORMAT, 0, 0, 0, 0, 0, 40]), Buffer.from([0x81, 0xa2, 0x69, 0x64, 0xa4, 0x6c, 0x61, 0x73, 0x74])]) : null
      await sql(url, `INSERT INTO ${names.flows} (id, version, record) VALUES ($1, $2, $3)`, [Buffer.from(i === 40 ? 'last' : `old${i}`), i, value])
    }
    const store = await open(url, 10)
    expect(store.version).toBe(40)
    expect(Object.fromEntries(store.flows)).toEqual({ last: { id: 'last' } })
    const tables = await sql<{ table_name: string }>(url, 'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name', [schema])
    expect(tables.map((row) => row.table_name)).toEqual(['flowstore', 'flowstore_horizon', 'flowstore_store', 'flowstore_writers'])
    // Pruned once after open: the newest 10 rows stay (9 tombstones and "last").
    await until(async () => await tombstones(url) === 9, 'the old tombstones are pruned')
    expect(await storedHorizon(url)).toBe(30)
    expect(isFlowStoreError(await store.changesSince(29).catch((e: unknown) => e), 'FLOWSTORE_CHANGES_PRUNED')).toBe(true)
    expect((await store.changesSince(30)).changes).toHaveLength(10)
  })

  it('prunes while several engines commit, re-saving deleted ids: every commit lands, in order', async () => {
    const url = freshPostgresUrl()
    const made = [engine(url, 5), engine(url, 5), engine(url, 5)]
    for (const one of made) await one.load(() => {})
    const results = await Promise.all(made.map(async (one, e) => {
      const versions: number[] = []
      for (let i = 0; i < 40; i++) {
        // The same few ids, saved and deleted by turns by every engine.
        const id = `shared-${i % 4}`
        versions.push((await one.commit([i % 2 === 0 ? save(id, `e${e}-${i}`) : remove(id), save(`own-${e}`, String(i))], { sync: false })).version)
      }
      return versions
    }))
    const all = results.flat().sort((a, b) => a - b)
    expect(all).toEqual(Array.from({ length: 120 }, (_, i) => i + 1))
    for (const one of made) await one.pruneIdle()
    // The truth, read by a new engine, matches the last change of every id.
    const flows = new Map<string, Uint8Array>()
    const state = await engine(url, 5).load((id, bytes) => { flows.set(id, bytes) })
    expect(state.version).toBe(120)
    expect([...flows.keys()].filter((id) => id.startsWith('own-')).sort()).toEqual(['own-0', 'own-1', 'own-2'])
    const horizon = await storedHorizon(url)
    const answer = await made[0]!.changesSince(horizon)
    expect(answer.version).toBe(120)
  })

  it('a restored store knows the changes from the full backup\'s version on (its horizon)', async () => {
    const source = await open(freshPostgresUrl(), Infinity)
    const dir = await tempDir('flowstore-pg-prune-')
    await source.saveMany([{ id: 'a', n: 1 }, { id: 'b', n: 1 }])
    await source.delete('a')
    const full = await source.backup(join(dir, 'full.fsbk'))
    await source.delete('b')
    await source.save({ id: 'c', n: 1 })
    const changes = await source.backup(join(dir, 'changes.fsbk'), { since: full })

    const url = freshPostgresUrl()
    await restoreBackup([full.file, changes.file], url)
    expect(await storedHorizon(url)).toBe(full.version)
    const restored = await open(url, Infinity)
    // Before the full backup, the deletion of "a" is not known: refused, not answered without it.
    expect(isFlowStoreError(await restored.changesSince(0).catch((e: unknown) => e), 'FLOWSTORE_CHANGES_PRUNED')).toBe(true)
    expect((await restored.changesSince(full.version)).changes).toEqual([
      { id: 'b', version: full.version + 1, deleted: true }, { id: 'c', version: full.version + 2, deleted: false }
    ])
  })

  it('a role that may not create tables opens a store made before the horizon table, and honours a horizon added later', async () => {
    const url = freshPostgresUrl()
    const schema = schemaOf(url)
    const names = tableNames(schema, 'flowstore')
    await sql(url, `CREATE SCHEMA "${schema}"`)
    for (const statement of createStatements(names).filter((statement) => !statement.includes('flowstore_horizon'))) await sql(url, statement)
    await sql(url, `INSERT INTO ${names.store} (layout, store_id, version) VALUES (1, gen_random_uuid(), 0)`)
    const role = `flowstore_app_${randomBytes(6).toString('hex')}`
    await sql(url, `CREATE ROLE ${role} LOGIN PASSWORD 'app'`)
    try {
      await sql(url, `GRANT USAGE ON SCHEMA "${schema}" TO ${role}`)
      await sql(url, `GRANT SELECT, INSERT, UPDATE, DELETE ON ${names.flows}, ${names.store}, ${names.writers} TO ${role}`)
      const restricted = new URL(url)
      restricted.username = role
      restricted.password = 'app'
      const app = await open(restricted.toString(), 5)
      expect(await sql(url, 'SELECT to_regclass($1) AS present', [names.horizon])).toEqual([{ present: null }])
      await app.saveMany(Array.from({ length: 20 }, (_, i) => ({ id: `f${i}`, n: i })))
      for (let i = 0; i < 20; i++) await app.delete(`f${i}`)
      // Nothing pruned by this process: it cannot record a horizon.
      expect(await tombstones(url)).toBe(20)
      expect((await app.changesSince(0)).changes).toHaveLength(20)

      // A process with the privilege adds the table and prunes.
      const owner = await open(url, 5)
      await until(async () => await tombstones(url) === 5, 'the owner prunes')
      // The table is there but this role may not read it: its reads fail rather than miss
      // the pruned deletions.
      const denied = await app.changesSince(0).catch((e: unknown) => e)
      expect(isFlowStoreError(denied, 'FLOWSTORE_REMOTE_ERROR')).toBe(true)
      expect((denied as Error).message).toMatch(/permission denied/)
      await sql(url, `GRANT SELECT ON ${names.horizon} TO ${role}`)
      const err = await app.changesSince(0).catch((e: unknown) => e)
      expect(isFlowStoreError(err, 'FLOWSTORE_CHANGES_PRUNED')).toBe(true)
      expect((err as { horizon?: number }).horizon).toBe(16)
      expect((await app.changesSince(16)).changes.map((change) => change.id)).toEqual(['f15', 'f16', 'f17', 'f18', 'f19'])
      expect(owner.size).toBe(0)
    } finally {
      for (const store of stores.splice(0)) await store.close().catch(() => {})
      await sql(url, `DROP OWNED BY ${role}`)
      await sql(postgresUrl(), `DROP ROLE ${role}`)
    }
  })

  it('commits go on while a backlog of 20,000 tombstones is pruned, re-saving pruned ids among them', async () => {
    const url = freshPostgresUrl()
    const writer = engine(url, Infinity)
    await writer.load(() => {})
    const ids = Array.from({ length: 20_000 }, (_, i) => `old-${String(i).padStart(5, '0')}`)
    await writer.commit(ids.map((id) => save(id, 'x')), { sync: false })
    await writer.commit(ids.map((id) => remove(id)), { sync: false })
    expect(await tombstones(url)).toBe(20_000)

    const pruning = engine(url, 10)
    await pruning.load(() => {})
    // While the pass runs (after open): commits of ids it is deleting, one at a time.
    const latencies: number[] = []
    for (let i = 0; i < 40; i++) {
      const started = performance.now()
      await writer.commit([save(ids[i * 500]!, 'again'), save(`new-${i}`, 'n')], { sync: false })
      latencies.push(performance.now() - started)
    }
    await until(async () => { await pruning.pruneIdle(); return await tombstones(url) === 0 }, 'the backlog is pruned')
    // Each re-saved id was pruned first (then saved again) or re-saved first (then kept).
    expect(pruning.prunedTombstones).toBeGreaterThanOrEqual(19_960)
    expect(pruning.prunedTombstones).toBeLessThanOrEqual(20_000)
    expect(await storedHorizon(url)).toBe(2)
    // Every re-saved id kept its new record (none was deleted by the pruner).
    const flows = new Map<string, Uint8Array>()
    const state = await engine(url, Infinity).load((id, bytes) => { flows.set(id, bytes) })
    expect(state.version).toBe(42)
    expect(flows.size).toBe(80)
    // Loose bound (a loaded 2-core machine): no commit waited for the pruning.
    expect(Math.max(...latencies)).toBeLessThan(2000)
  }, 60_000)

  it('resumes a pass that stopped within a version: the tombstones left at the horizon version are pruned by the next engine', async () => {
    const url = freshPostgresUrl()
    const writer = engine(url, Infinity)
    await writer.load(() => {})
    await writer.commit(Array.from({ length: 30 }, (_, i) => save(`d${i}`, 'x')), { sync: false })
    await writer.commit(Array.from({ length: 30 }, (_, i) => remove(`d${i}`)), { sync: false })
    for (let i = 0; i < 5; i++) await writer.commit([save(`n${i}`, 'x')], { sync: false })
    // As a batch that removed only some of version 2's tombstones leaves it.
    await sql(url, `DELETE FROM "${schemaOf(url)}".flowstore WHERE id = ANY($1)`, [Array.from({ length: 10 }, (_, i) => Buffer.from(`d${i}`))])
    await sql(url, `UPDATE "${schemaOf(url)}".flowstore_horizon SET horizon = 2`)
    expect(await tombstones(url)).toBe(20)

    const pruning = engine(url, 5)
    await pruning.load(() => {})
    await until(async () => { await pruning.pruneIdle(); return await tombstones(url) === 0 }, 'the rest of version 2 is pruned')
    expect(pruning.prunedTombstones).toBe(20)
    expect(await storedHorizon(url)).toBe(2)
  })

  it('a role without DELETE on the flows table keeps its tombstones, with one FLOWSTORE_PRUNE_DENIED warning', async () => {
    const url = freshPostgresUrl()
    const names = tableNames(schemaOf(url), 'flowstore')
    await (await open(url, 5)).close()
    const role = `flowstore_app_${randomBytes(6).toString('hex')}`
    await sql(url, `CREATE ROLE ${role} LOGIN PASSWORD 'app'`)
    const warnings: Error[] = []
    const onWarning = (warning: Error): void => { warnings.push(warning) }
    process.on('warning', onWarning)
    try {
      await sql(url, `GRANT USAGE ON SCHEMA "${schemaOf(url)}" TO ${role}`)
      await sql(url, `GRANT SELECT, INSERT, UPDATE ON ${names.flows}, ${names.store}, ${names.writers}, ${names.horizon} TO ${role}`)
      const restricted = new URL(url)
      restricted.username = role
      restricted.password = 'app'
      const app = await open(restricted.toString(), 5)
      for (let i = 0; i < 20; i++) await app.saveMany([{ id: `f${i}`, n: i }])
      for (let i = 0; i < 20; i++) await app.delete(`f${i}`)
      await until(() => warnings.some((warning) => (warning as { code?: string }).code === 'FLOWSTORE_PRUNE_DENIED'), 'the warning')
      expect(await tombstones(url)).toBe(20)
      expect((await app.changesSince(0)).changes).toHaveLength(20)
      await app.save({ id: 'more', n: 1 })
      await new Promise((resolve) => setTimeout(resolve, 100))
      expect(warnings.filter((warning) => (warning as { code?: string }).code === 'FLOWSTORE_PRUNE_DENIED')).toHaveLength(1)
    } finally {
      process.off('warning', onWarning)
      for (const store of stores.splice(0)) await store.close().catch(() => {})
      await sql(url, `DROP OWNED BY ${role}`)
      await sql(postgresUrl(), `DROP ROLE ${role}`)
    }
  })

  it('a full-read catch-up keeps a local change not committed yet: it commits afterwards and wins', async () => {
    const url = freshPostgresUrl()
    const writer = await open(url, 50)
    await writer.saveMany([{ id: 'x', n: 1 }, { id: 'y', n: 1 }])
    const engine = postgres({ connectionString: url, pollIntervalMs: 200, retainChanges: 50 })
    engine.watch = () => () => {}
    const behind = await FlowStore.open(engine, { flush: 'manual' })
    stores.push(behind)
    await writer.delete('x')
    await writer.save({ id: 'y', n: 2 })
    await churn(writer, 'churn', 1000)
    await until(async () => !await stored(url, 'x'), 'the deletion\'s tombstone is pruned')

    // Local changes of both ids, not committed: the catch-up leaves them in the cache.
    void behind.save({ id: 'x', n: 'local' })
    void behind.delete('y')
    await behind.refresh()
    expect(Object.fromEntries(behind.flows)).toEqual({ x: { id: 'x', n: 'local' } })
    await behind.flush()
    const fresh = await open(url, 50)
    expect(Object.fromEntries(fresh.flows)).toEqual({ x: { id: 'x', n: 'local' } })
    expect(behind.version).toBe(fresh.version)
  })
})
