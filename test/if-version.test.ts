// Optimistic concurrency: save/delete/transaction writes with `ifVersion` commit only while the
// flow's committed version is the one given, else they are refused with FLOWSTORE_CONFLICT,
// their cache changes put back, and the other writes of their flush still committed. Against
// real classic-level databases (the check runs in the LevelDB engine at commit).

import { afterEach, describe, expect, it } from 'vitest'
import { type Flow, FlowStore, type FlowStoreError, type FlowStoreOptions, isFlowStoreError } from '../src/index.ts'
import { CountingClassicLevel, tempDir } from './helpers.ts'

type CountingDb = InstanceType<typeof CountingClassicLevel>

interface Opened {
  dir: string
  db: CountingDb
  store: FlowStore
}

const stores: FlowStore[] = []
const dbs: CountingDb[] = []

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => {})
  for (const db of dbs.splice(0)) await db.close().catch(() => {})
})

async function openCounting (options?: FlowStoreOptions): Promise<Opened> {
  const dir = await tempDir()
  const db = new CountingClassicLevel(dir)
  dbs.push(db)
  const store = await FlowStore.open(db, options)
  stores.push(store)
  return { dir, db, store }
}

/** Closes the store and its database, then opens the directory again. */
async function reopen (opened: Opened): Promise<FlowStore> {
  await opened.store.close()
  await opened.db.close()
  const store = await FlowStore.open(opened.dir)
  stores.push(store)
  return store
}

async function conflict (promise: Promise<unknown>): Promise<FlowStoreError> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(isFlowStoreError(err, 'FLOWSTORE_CONFLICT'), String(err)).toBe(true)
  return err as FlowStoreError
}

function contents (store: FlowStore): Record<string, Flow> {
  return Object.fromEntries(store.flows)
}

describe('save(flow, { ifVersion })', () => {
  it('commits when the version given is the committed one, and the flow gets a new version', async () => {
    const { store } = await openCounting()
    await store.save({ id: 'a', n: 1 })
    const seen = store.lazy('a')!.version
    await store.save({ id: 'a', n: 2 }, { ifVersion: seen })
    expect(store.get('a')).toEqual({ id: 'a', n: 2 })
    expect(store.lazy('a')!.version).toBeGreaterThan(seen)
  })

  it('with ifVersion 0 creates a flow, and is refused once the flow exists', async () => {
    const opened = await openCounting()
    const { store } = opened
    await store.save({ id: 'a', n: 1 }, { ifVersion: 0 })
    const version = store.version
    const err = await conflict(store.save({ id: 'a', n: 2 }, { ifVersion: 0 }))
    expect(err.id).toBe('a')
    expect(err.ids).toEqual(['a'])
    expect(store.get('a')).toEqual({ id: 'a', n: 1 })
    expect(store.version).toBe(version)
    expect(store.pending).toBe(0)
    expect((await reopen(opened)).get('a')).toEqual({ id: 'a', n: 1 })
  })

  it('is refused when another save committed since the version was read, and the cache shows that save again', async () => {
    const { db, store } = await openCounting()
    await store.save({ id: 'a', by: 'first' })
    const seen = store.lazy('a')!.version
    await store.save({ id: 'a', by: 'second' })
    const batches = db.counts.batches
    const saving = store.save({ id: 'a', by: 'stale editor' }, { ifVersion: seen })
    // The cache shows the write until the engine refuses it…
    expect(store.get('a')).toEqual({ id: 'a', by: 'stale editor' })
    await conflict(saving)
    // …then what was committed.
    expect(store.get('a')).toEqual({ id: 'a', by: 'second' })
    expect(store.lazy('a')!.version).toBe(seen + 1)
    expect(db.counts.batches).toBe(batches)
    expect(await store.changesSince(seen + 1)).toEqual({ version: seen + 1, changes: [] })
  })

  it('lets the other writes of the same flush commit in one batch when it is refused', async () => {
    const { db, store } = await openCounting()
    await store.saveMany([{ id: 'a', n: 0 }, { id: 'b', n: 0 }])
    const stale = store.lazy('a')!.version - 1
    const batches = db.counts.batches
    const others = store.saveMany([{ id: 'b', n: 1 }, { id: 'c', n: 1 }])
    const refused = store.save({ id: 'a', n: 1 }, { ifVersion: stale })
    const deleted = store.delete('b')
    await conflict(refused)
    await others
    await deleted
    expect(db.counts.batches).toBe(batches + 1)
    expect(contents(store)).toEqual({ a: { id: 'a', n: 0 }, c: { id: 'c', n: 1 } })
  })

  it('is refused at once, changing nothing, while the flow has a change that is not committed yet', async () => {
    const { store } = await openCounting({ flush: 'manual' })
    const committed = store.save({ id: 'a', n: 1 })
    await store.flush()
    await committed
    const seen = store.lazy('a')!.version
    const pendingSave = store.save({ id: 'a', n: 2 })
    const err = await conflict(store.save({ id: 'a', n: 3 }, { ifVersion: seen }))
    expect(err.message).toMatch(/not committed yet/)
    expect(store.get('a')).toEqual({ id: 'a', n: 2 })
    expect(store.pending).toBe(1)
    await store.flush()
    await pendingSave
    expect(store.get('a')).toEqual({ id: 'a', n: 2 })
  })

  it('keeps a later save of the same flow made before the commit: that one still commits', async () => {
    const opened = await openCounting()
    const { store } = opened
    await store.save({ id: 'a', n: 1 })
    const stale = store.lazy('a')!.version - 1
    const refused = store.save({ id: 'a', n: 2 }, { ifVersion: stale })
    const later = store.save({ id: 'a', n: 3 })
    await conflict(refused)
    await later
    expect(store.get('a')).toEqual({ id: 'a', n: 3 })
    expect((await reopen(opened)).get('a')).toEqual({ id: 'a', n: 3 })
  })

  it('commits with a later save of the same flow when the condition holds', async () => {
    const { store } = await openCounting()
    await store.save({ id: 'a', n: 1 })
    const seen = store.lazy('a')!.version
    const conditional = store.save({ id: 'a', n: 2 }, { ifVersion: seen })
    const later = store.save({ id: 'a', n: 3 })
    await conditional
    await later
    expect(store.get('a')).toEqual({ id: 'a', n: 3 })
    expect(store.version).toBe(seen + 1)
  })

  it('resolves store.flush() when a save in its batch is refused: the save reports it', async () => {
    const { store } = await openCounting({ flush: 'manual' })
    const first = store.save({ id: 'a', n: 1 })
    await store.flush()
    await first
    const refused = store.save({ id: 'a', n: 2 }, { ifVersion: 0 })
    const other = store.save({ id: 'b', n: 1 })
    await store.flush()
    await other
    await conflict(refused)
    expect(contents(store)).toEqual({ a: { id: 'a', n: 1 }, b: { id: 'b', n: 1 } })
  })

  it('causes no unhandled rejection when nobody awaits a refused save', async () => {
    const { store } = await openCounting()
    await store.save({ id: 'a' })
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
    process.on('unhandledRejection', onUnhandled)
    try {
      void store.save({ id: 'a', n: 1 }, { ifVersion: 0 })
      void store.save({ id: 'b' })
      void store.save({ id: 'b', n: 2 }, { ifVersion: 0 })
      await store.flush()
      await new Promise<void>((resolve) => setImmediate(resolve))
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
    expect(unhandled).toEqual([])
  })

  it('refuses an ifVersion that is not a version with a TypeError showing it, changing nothing', async () => {
    const { store } = await openCounting()
    for (const options of [{ ifVersion: '1' }, { ifVersion: -1 }, { ifVersion: 1.5 }, { ifVersion: Number.NaN }, null, 'x']) {
      expect(() => store.save({ id: 'a' }, options as never), JSON.stringify(options)).toThrow(TypeError)
      expect(() => store.delete('a', options as never), JSON.stringify(options)).toThrow(TypeError)
    }
    expect(() => store.save({ id: 'a' }, { ifVersion: '7' } as never)).toThrow(/"7"/)
    expect(store.size).toBe(0)
    expect(store.pending).toBe(0)
  })
})

describe('delete(id, { ifVersion })', () => {
  it('deletes when the version given is the committed one', async () => {
    const { store } = await openCounting()
    await store.save({ id: 'a' })
    await store.delete('a', { ifVersion: store.lazy('a')!.version })
    expect(store.has('a')).toBe(false)
  })

  it('is refused when the flow changed since, and the cache shows the flow again', async () => {
    const opened = await openCounting()
    const { store } = opened
    await store.save({ id: 'a', n: 1 })
    const seen = store.lazy('a')!.version
    await store.save({ id: 'a', n: 2 })
    const deleting = store.delete('a', { ifVersion: seen })
    expect(store.has('a')).toBe(false)
    await conflict(deleting)
    expect(store.get('a')).toEqual({ id: 'a', n: 2 })
    expect((await reopen(opened)).get('a')).toEqual({ id: 'a', n: 2 })
  })

  it('of a flow that is not there: a no-op with ifVersion 0, refused with any other version', async () => {
    const { store } = await openCounting()
    await store.delete('nothing', { ifVersion: 0 })
    const err = await conflict(store.delete('nothing', { ifVersion: 3 }))
    expect(err.ids).toEqual(['nothing'])
    expect(store.version).toBe(0)
  })
})

describe('transaction() with ifVersion', () => {
  it('commits every write when every condition holds', async () => {
    const { db, store } = await openCounting()
    await store.saveMany([{ id: 'a', n: 0 }, { id: 'b', n: 0 }])
    const version = store.lazy('a')!.version
    const batches = db.counts.batches
    await store.transaction((tx) => {
      tx.save({ id: 'a', n: 1 }, { ifVersion: version })
      tx.delete('b', { ifVersion: version })
      tx.save({ id: 'c', n: 1 }, { ifVersion: 0 })
      tx.save({ id: 'd', n: 1 })
    })
    expect(db.counts.batches).toBe(batches + 1)
    expect(contents(store)).toEqual({ a: { id: 'a', n: 1 }, c: { id: 'c', n: 1 }, d: { id: 'd', n: 1 } })
  })

  it('commits none of its writes when one condition fails, and the cache shows the committed flows again', async () => {
    const opened = await openCounting()
    const { db, store } = opened
    await store.saveMany([{ id: 'a', n: 0 }, { id: 'b', n: 0 }])
    const stale = store.lazy('a')!.version
    await store.save({ id: 'b', n: 1 })
    const batches = db.counts.batches
    const version = store.version
    const err = await conflict(store.transaction((tx) => {
      tx.save({ id: 'a', n: 2 }, { ifVersion: stale })
      tx.save({ id: 'b', n: 2 }, { ifVersion: stale })
      tx.delete('a')
      tx.save({ id: 'new', n: 2 })
    }))
    expect(err.ids).toEqual(['b'])
    expect(db.counts.batches).toBe(batches)
    expect(store.version).toBe(version)
    expect(contents(store)).toEqual({ a: { id: 'a', n: 0 }, b: { id: 'b', n: 1 } })
    expect(contents(await reopen(opened))).toEqual({ a: { id: 'a', n: 0 }, b: { id: 'b', n: 1 } })
  })

  it('lists every flow whose condition failed', async () => {
    const { store } = await openCounting()
    await store.saveMany([{ id: 'a' }, { id: 'b' }, { id: 'c' }])
    const err = await conflict(store.transaction((tx) => {
      tx.save({ id: 'a', n: 1 }, { ifVersion: 0 })
      tx.save({ id: 'b', n: 1 }, { ifVersion: 1 })
      tx.save({ id: 'c', n: 1 }, { ifVersion: 0 })
    }))
    expect([...err.ids!].sort()).toEqual(['a', 'c'])
    expect(contents(store)).toEqual({ a: { id: 'a' }, b: { id: 'b' }, c: { id: 'c' } })
  })

  it('is refused whole, changing nothing, when a flow it writes has a change not committed yet', async () => {
    const { store } = await openCounting({ flush: 'manual' })
    const pending = store.save({ id: 'a', n: 1 })
    await conflict(store.transaction((tx) => {
      tx.save({ id: 'b', n: 1 }, { ifVersion: 0 })
      tx.save({ id: 'a', n: 2 })
    }))
    expect(contents(store)).toEqual({ a: { id: 'a', n: 1 } })
    expect(store.pending).toBe(1)
    await store.flush()
    await pending
  })
})
