// The change log: the store version and changesSince(), persisted with every batch.

import { ClassicLevel } from 'classic-level'
import { afterEach, describe, expect, it } from 'vitest'
import { FlowStore } from '../src/index.ts'
import { decodeLogEntry } from '../src/layout.ts'
import { tempDir } from './helpers.ts'

const stores: FlowStore[] = []

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => {})
})

async function open (dir: string): Promise<FlowStore> {
  const store = await FlowStore.open(dir)
  stores.push(store)
  return store
}

/** Every key of the closed database at `dir` with the given prefix (raw LevelDB read). */
async function rawKeys (dir: string, prefix: string): Promise<string[]> {
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  try {
    const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)
    return await db.keys({ gte: prefix, lt: end }).all()
  } finally {
    await db.close()
  }
}

/** Builds a history: a, b, c saved; b deleted; a re-saved; c deleted then re-saved; d saved then deleted. */
async function buildHistory (store: FlowStore): Promise<void> {
  await store.saveMany([{ id: 'a', rev: 1 }, { id: 'b', rev: 1 }, { id: 'c', rev: 1 }]) // v1
  await store.delete('b') // v2
  await store.save({ id: 'a', rev: 2 }) // v3
  await store.delete('c') // v4
  await store.save({ id: 'd', rev: 1 }) // v5
  await store.save({ id: 'c', rev: 2 }) // v6
  await store.delete('d') // v7
}

const HISTORY_CHANGES = [
  { id: 'b', version: 2, deleted: true },
  { id: 'a', version: 3, deleted: false },
  { id: 'c', version: 6, deleted: false },
  { id: 'd', version: 7, deleted: true }
]

describe('store version', () => {
  it('starts at 0 and grows by one per batch', async () => {
    const store = await open(await tempDir())
    expect(store.version).toBe(0)
    expect(await store.changesSince(0)).toEqual({ version: 0, changes: [] })
    await store.saveMany([{ id: 'a' }, { id: 'b' }])
    expect(store.version).toBe(1)
    await store.delete('a')
    expect(store.version).toBe(2)
  })
})

describe('changesSince()', () => {
  it('lists each changed id once with its latest version, in commit order, with deletions flagged', async () => {
    const store = await open(await tempDir())
    await buildHistory(store)
    expect(store.version).toBe(7)
    expect(await store.changesSince(0)).toEqual({ version: 7, changes: HISTORY_CHANGES })
    expect(await store.changesSince(3)).toEqual({ version: 7, changes: HISTORY_CHANGES.slice(2) })
  })

  it('lists a re-saved deleted id once, as saved', async () => {
    const store = await open(await tempDir())
    await store.save({ id: 'x', rev: 1 })
    await store.delete('x')
    expect((await store.changesSince(0)).changes).toEqual([{ id: 'x', version: 2, deleted: true }])
    await store.save({ id: 'x', rev: 2 })
    expect((await store.changesSince(0)).changes).toEqual([{ id: 'x', version: 3, deleted: false }])
  })

  it('answers the same after the store is closed and reopened', async () => {
    const dir = await tempDir()
    const store = await open(dir)
    await buildHistory(store)
    await store.close()
    const reopened = await open(dir)
    expect(reopened.version).toBe(7)
    expect(await reopened.changesSince(0)).toEqual({ version: 7, changes: HISTORY_CHANGES })
  })

  it('returns no changes for the current version', async () => {
    const store = await open(await tempDir())
    await buildHistory(store)
    expect(await store.changesSince(store.version)).toEqual({ version: store.version, changes: [] })
  })

  it('returns exactly the 10 later changes of a 10,000-flow store', async () => {
    const store = await open(await tempDir())
    const flows = Array.from({ length: 10_000 }, (_, i) => ({ id: `flow-${String(i).padStart(5, '0')}`, n: i }))
    await store.saveMany(flows)
    const since = store.version
    const expected: Array<{ id: string, version: number, deleted: boolean }> = []
    for (let i = 0; i < 10; i++) {
      const id = `flow-${String(i * 997).padStart(5, '0')}`
      if (i % 3 === 0) await store.delete(id)
      else await store.save({ id, n: -i })
      expected.push({ id, version: store.version, deleted: i % 3 === 0 })
    }
    const answer = await store.changesSince(since)
    expect(answer.changes).toHaveLength(10)
    expect(answer).toEqual({ version: since + 10, changes: expected })
  })
})

describe('change log on disk', () => {
  /** Every change-log entry of the closed database at `dir`: [version, [id, deleted][]]. */
  async function rawLog (dir: string): Promise<Array<[number, Array<[string, boolean]>]>> {
    const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    try {
      const entries = await db.iterator({ gte: 'L!', lt: 'L"' }).all()
      return entries.map(([key, value]) => {
        const entry = decodeLogEntry(value)!
        return [parseInt(key.slice(2), 16), entry.ids.map((id, i) => [id, entry.deleted[i]!] as [string, boolean])]
      })
    } finally {
      await db.close()
    }
  }

  it('writes one entry per commit naming each id it changed once, and no tombstones', async () => {
    const dir = await tempDir()
    const store = await open(dir)
    await buildHistory(store)
    // More churn, including several changes of one id within one batch.
    void store.save({ id: 'e', rev: 1 })
    void store.save({ id: 'e', rev: 2 })
    void store.delete('e')
    await store.save({ id: 'a', rev: 3 })
    await store.close()

    expect(await rawLog(dir)).toEqual([
      [1, [['a', false], ['b', false], ['c', false]]],
      [2, [['b', true]]],
      [3, [['a', false]]],
      [4, [['c', true]]],
      [5, [['d', false]]],
      [6, [['c', false]]],
      [7, [['d', true]]],
      [8, [['e', true], ['a', false]]]
    ])
    expect(await rawKeys(dir, 't!')).toEqual([])
    expect(await rawKeys(dir, 'c!')).toEqual([])
    expect((await rawKeys(dir, 'f!')).sort()).toEqual(['f!a', 'f!c'])
  })

  it('answers for an id deleted before a reopen and saved after it with its latest change only', async () => {
    const dir = await tempDir()
    const first = await open(dir)
    await first.save({ id: 'x', rev: 1 }) // v1
    await first.delete('x') // v2
    await first.save({ id: 'y', rev: 1 }) // v3
    await first.close()

    const second = await open(dir)
    await second.save({ id: 'x', rev: 2 }) // v4
    await second.save({ id: 'y', rev: 2 }) // v5
    expect((await second.changesSince(0)).changes).toEqual([
      { id: 'x', version: 4, deleted: false },
      { id: 'y', version: 5, deleted: false }
    ])
    expect((await second.changesSince(1)).changes).toEqual([
      { id: 'x', version: 4, deleted: false },
      { id: 'y', version: 5, deleted: false }
    ])
    await second.close()
    expect((await rawLog(dir)).map(([version]) => version)).toEqual([1, 2, 3, 4, 5])
  })
})
