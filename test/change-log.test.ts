// The bounded change log (layout 2): pruned in the background to `retainChanges`, in small
// batches; changesSince() below the horizon rejects with FLOWSTORE_CHANGES_PRUNED, and what
// reads changes (a FlowService over the socket, backups into a directory) falls back to a
// full read. Counts, not times: how many changes and keys stay, how large a pruning batch is.

import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { describe, expect, it } from 'vitest'
import { backupToDirectory, checkStore, FlowStore, type FlowStoreError, isFlowStoreError, restoreBackup } from '../src/index.ts'
import { LevelEngine } from '../src/engine/level-engine.ts'
import { CountingClassicLevel, tempDir } from './helpers.ts'
import { closeLater, connectService, serveOwner } from './service-helpers.ts'

/** Polls `condition` (bounded): pruning runs in the background. */
async function until (condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await condition()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`timed out waiting until ${what}`)
}

async function prunedError (promise: Promise<unknown>): Promise<FlowStoreError> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  if (!isFlowStoreError(err, 'FLOWSTORE_CHANGES_PRUNED')) throw new Error(`expected FLOWSTORE_CHANGES_PRUNED, got ${String(err)}`)
  return err
}

/** Keys of the closed database at `dir` by prefix. */
async function keyCounts (dir: string): Promise<Record<string, number>> {
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  try {
    const counts: Record<string, number> = {}
    for (const key of await db.keys().all()) counts[key.slice(0, 2)] = (counts[key.slice(0, 2)] ?? 0) + 1
    return counts
  } finally {
    await db.close()
  }
}

describe('a bounded change log', () => {
  it('keeps a bounded number of changes when 20,000 distinct ids are saved and deleted', async () => {
    const dir = await tempDir()
    const engine = new LevelEngine(dir, { retainChanges: 1000 })
    const store = await FlowStore.open(engine, { flush: 'manual' })
    const COMMIT = 200
    for (let start = 0; start < 20_000; start += COMMIT) {
      const ids = Array.from({ length: COMMIT }, (_, i) => `flow-${start + i}`)
      const saved = store.saveMany(ids.map((id) => ({ id, n: 1 })))
      await store.flush()
      await saved
      const deleted = Promise.all(ids.map(async (id) => { await store.delete(id) }))
      await store.flush()
      await deleted
    }
    expect(store.size).toBe(0)
    expect(store.version).toBe(200)
    // At least 1,000 changes stay; at most 1,000 plus the pruning slack and one commit.
    await until(() => engine.loggedChanges <= 1000 + 62 + COMMIT, 'the log is pruned')
    expect(engine.loggedChanges).toBeGreaterThanOrEqual(1000)
    const { changes } = await store.changesSince(engine.horizon)
    expect(changes.length).toBeLessThanOrEqual(1000 + 62 + COMMIT)
    expect(changes.every((change) => change.deleted)).toBe(true)
    await store.close()
    const keys = await keyCounts(dir)
    expect(keys['f!']).toBeUndefined()
    expect(keys['t!']).toBeUndefined()
    expect(keys['c!']).toBeUndefined()
    // One log entry per commit kept: ~1,000 changes in commits of 200.
    expect(keys['L!']).toBeLessThanOrEqual(Math.ceil((1000 + 62 + COMMIT) / COMMIT) + 1)
    expect(await checkStore(dir)).toMatchObject({ ok: true, flows: 0 })
  })

  it('prunes in batches of at most 256 log entries, each with the new horizon, never inside a commit', async () => {
    const dir = await tempDir()
    const db = closeLater(new CountingClassicLevel(dir, { keyEncoding: 'utf8', valueEncoding: 'view' }))
    const prunes: number[] = []
    let commits = 0
    db.onBatch = (operations) => {
      const keys = operations.map((op) => String(op.key))
      if (keys.includes('m!horizon')) {
        prunes.push(operations.length)
        // A pruning batch removes log entries and sets the horizon: no flow, no version.
        expect(keys.every((key) => key === 'm!horizon' || key.startsWith('L!'))).toBe(true)
        expect(operations.filter((op) => op.type === 'del')).toHaveLength(operations.length - 1)
      } else if (keys.includes('m!version')) {
        commits++
      }
    }
    const store = await FlowStore.open(db, { retainChanges: 10 })
    for (let i = 0; i < 1000; i++) await store.save({ id: `f${i % 50}`, i })
    await until(async () => (await store.changesSince(0).then(() => false, () => true)), 'the log is pruned')
    await until(async () => (await store.changesSince(1000 - 80).then(() => false, () => true)), 'the log is pruned further')
    expect(commits).toBe(1000)
    expect(prunes.length).toBeGreaterThan(0)
    expect(Math.max(...prunes)).toBeLessThanOrEqual(257)
    await store.close()
  })

  it('answers changesSince from the horizon on, and rejects below it with FLOWSTORE_CHANGES_PRUNED and the horizon', async () => {
    const dir = await tempDir()
    const engine = new LevelEngine(dir, { retainChanges: 5 })
    const store = await FlowStore.open(engine)
    for (let i = 1; i <= 40; i++) await store.save({ id: `f${i}`, i })
    // Pruned down to the 5 changes kept (the slack is 1 at this size): then it stops.
    await until(() => engine.loggedChanges === 5, 'the log is pruned')
    const horizon = engine.horizon
    const err = await prunedError(store.changesSince(horizon - 1))
    expect(err.horizon).toBe(horizon)
    expect(err.message).toMatch(new RegExp(`pruned up to version ${horizon}`))
    expect((await store.changesSince(horizon)).changes.map((change) => change.version)).toEqual(
      Array.from({ length: 40 - horizon }, (_, i) => horizon + 1 + i))
    // Every flow is still there, whatever the log forgot.
    expect(store.size).toBe(40)
    await store.close()
    // The horizon is persisted.
    const again = await FlowStore.open(dir, { retainChanges: 5 })
    expect((await prunedError(again.changesSince(0))).horizon).toBeGreaterThanOrEqual(horizon)
    await again.close()
  })

  it('keeps every change with retainChanges: Infinity', async () => {
    const store = await FlowStore.open(await tempDir(), { retainChanges: Infinity })
    for (let i = 0; i < 300; i++) await store.save({ id: `f${i % 3}`, i })
    expect((await store.changesSince(0)).changes).toHaveLength(3)
    await store.close()
  })

  it('refuses a retainChanges that is not a positive integer or Infinity with a TypeError showing it', async () => {
    for (const bad of [0, -1, 1.5, NaN, '10']) {
      await expect(FlowStore.open(await tempDir(), { retainChanges: bad as number })).rejects.toThrow(new RegExp(`retainChanges must be a positive integer or Infinity, got ${String(bad)}`))
    }
  })
})

describe('readers of changes fall back to a full read', () => {
  it('a FlowService whose version fell below the owner\'s horizon loads every flow again', async () => {
    const { dir, store } = await serveOwner({ flows: 20, retainChanges: 5 })
    const service = await connectService(dir, { ttlMs: 60_000 })
    const known = store.version
    for (let i = 0; i < 30; i++) await store.save({ id: `f${i % 25}`, i, later: true })
    await store.delete('f0')
    await until(async () => (await store.changesSince(known).then(() => false, () => true)), 'the owner pruned past the service\'s version')
    expect(service.stats.fullLoads).toBe(1)
    await service.refresh()
    expect(service.stats.fullLoads).toBe(2)
    expect(service.version).toBe(store.version)
    expect(Object.fromEntries(service.flows)).toEqual(Object.fromEntries(store.flows))
    expect(service.has('f0')).toBe(false)
  })

  it('store.backup since a pruned version rejects with FLOWSTORE_CHANGES_PRUNED and writes nothing', async () => {
    const dir = await tempDir()
    const store = await FlowStore.open(join(dir, 'db'), { retainChanges: 3 })
    await store.save({ id: 'a' })
    const full = await store.backup(join(dir, 'full.fsbk'))
    for (let i = 0; i < 20; i++) await store.save({ id: `f${i}` })
    await until(async () => (await store.changesSince(full.version).then(() => false, () => true)), 'the log is pruned')
    const err = await prunedError(store.backup(join(dir, 'changes.fsbk'), { since: full }))
    expect(err.message).toMatch(/take a full backup/)
    await expect(import('node:fs/promises').then(async (fs) => await fs.stat(join(dir, 'changes.fsbk')))).rejects.toThrow(/ENOENT/)
    await store.close()
  })

  it('backupToDirectory takes a full backup when the log no longer reaches the latest backup, and the chain restores', async () => {
    const dir = await tempDir()
    const backups = join(dir, 'backups')
    const store = await FlowStore.open(join(dir, 'db'), { retainChanges: 3 })
    await store.saveMany([{ id: 'a' }, { id: 'b' }])
    expect((await backupToDirectory(store, backups)).kind).toBe('full')
    await store.save({ id: 'c' })
    expect((await backupToDirectory(store, backups)).kind).toBe('changes')
    const since = store.version
    for (let i = 0; i < 20; i++) await store.save({ id: `f${i}` })
    await store.delete('a')
    await until(async () => (await store.changesSince(since).then(() => false, () => true)), 'the log is pruned')
    const entry = await backupToDirectory(store, backups)
    expect(entry.kind).toBe('full')
    const restored = join(dir, 'restored')
    await restoreBackup(entry.file, restored)
    const copy = closeLater(await FlowStore.open(restored))
    expect(Object.fromEntries(copy.flows)).toEqual(Object.fromEntries(store.flows))
    await store.close()
  })
})

describe('restored stores', () => {
  it('know the changes their changed-only backups hold, none before the full backup, and pass their check', async () => {
    const dir = await tempDir()
    const store = await FlowStore.open(join(dir, 'db'))
    await store.saveMany([{ id: 'a' }, { id: 'b' }, { id: 'c' }])
    const full = await store.backup(join(dir, 'full.fsbk'))
    await store.save({ id: 'a', n: 2 })
    await store.delete('b')
    const changes = await store.backup(join(dir, 'c1.fsbk'), { since: full })
    await store.close()
    await restoreBackup([full.file, changes.file], join(dir, 'restored'))
    expect(await checkStore(join(dir, 'restored'))).toMatchObject({ ok: true, flows: 2, tombstones: 1, version: 3 })
    const copy = await FlowStore.open(join(dir, 'restored'))
    expect((await copy.changesSince(full.version)).changes).toEqual([
      { id: 'a', version: 2, deleted: false },
      { id: 'b', version: 3, deleted: true }
    ])
    expect((await prunedError(copy.changesSince(0))).horizon).toBe(full.version)
    await copy.close()
  })
})
