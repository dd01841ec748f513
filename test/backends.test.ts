// LevelDB under the store: the shared behaviour suite (engine-suite.ts) run against
// memory-level and classic-level, reached as a directory, as a database object and as an
// engine object; then what only a LevelDB database passed in shows (counted batches,
// injected batch failures, the database left open for its owner).

import { afterEach, describe, expect, it } from 'vitest'
import { LevelEngine } from '../src/engine/level-engine.ts'
import { FlowStore, isFlowStoreError } from '../src/index.ts'
import { engineSuite } from './engine-suite.ts'
import { CountingClassicLevel, CountingMemoryLevel, type Instrumented, tempDir } from './helpers.ts'

engineSuite('memory-level database', async () => {
  const db = new CountingMemoryLevel()
  return {
    open: async (options) => await FlowStore.open(db, options),
    dispose: async () => { await db.close() }
  }
})

engineSuite('classic-level directory', async () => {
  const dir = await tempDir()
  return { open: async (options) => await FlowStore.open(dir, options) }
})

engineSuite('classic-level through a LevelEngine object', async () => {
  const dir = await tempDir()
  return { open: async (options) => await FlowStore.open(new LevelEngine(dir), options) }
})

describe('an engine object passed to FlowStore.open()', () => {
  it('serves one store: a second open with it is refused with a TypeError, and the first store keeps working', async () => {
    const engine = new LevelEngine(await tempDir())
    const store = await FlowStore.open(engine)
    try {
      await store.save({ id: 'a', n: 1 })
      await expect(FlowStore.open(engine)).rejects.toThrow(TypeError)
      await store.save({ id: 'b', n: 2 })
      expect(Object.fromEntries(store.flows)).toEqual({ a: { id: 'a', n: 1 }, b: { id: 'b', n: 2 } })
    } finally {
      await store.close()
    }
    await expect(FlowStore.open(engine)).rejects.toThrow(TypeError)
  })

  it('is closed by the store, which releases its directory for a new engine', async () => {
    const dir = await tempDir()
    const first = await FlowStore.open(new LevelEngine(dir))
    await first.save({ id: 'a' })
    await first.close()
    const second = await FlowStore.open(new LevelEngine(dir))
    expect(second.has('a')).toBe(true)
    expect(second.directory).toBe(first.directory)
    await second.close()
  })
})

// preload: 'keys' (records read on first use, a small bounded cache): the same behaviour.
// 16 KiB holds a handful of flows, so records are evicted and read again all the time.
engineSuite('classic-level directory, preload: keys', async () => {
  const dir = await tempDir()
  return { open: async (options) => await FlowStore.open(dir, { ...options, preload: 'keys', maxCachedBytes: 16 * 1024 }) }
})

engineSuite('memory-level database, preload: keys', async () => {
  const db = new CountingMemoryLevel()
  return {
    open: async (options) => await FlowStore.open(db, { ...options, preload: 'keys', maxCachedBytes: 16 * 1024 }),
    dispose: async () => { await db.close() }
  }
})
/** A database as these tests need it: real, open-able, with counts and failure injection. */
type TestDb = (InstanceType<typeof CountingMemoryLevel> | InstanceType<typeof CountingClassicLevel>) & Instrumented

function defineDatabaseSuite (name: string, makeDb: () => Promise<TestDb>): void {
  describe(`LevelDB database passed in: ${name}`, () => {
    const stores: FlowStore[] = []
    const dbs: TestDb[] = []

    afterEach(async () => {
      for (const db of dbs) db.failBatches = 0
      for (const store of stores.splice(0)) await store.close().catch(() => {})
      for (const db of dbs.splice(0)) await db.close().catch(() => {})
    })

    async function fresh (): Promise<TestDb> {
      const db = await makeDb()
      dbs.push(db)
      return db
    }

    async function open (db: TestDb): Promise<FlowStore> {
      const store = await FlowStore.open(db)
      stores.push(store)
      return store
    }

    it('reopens on the same database object after close, which leaves the database open', async () => {
      const db = await fresh()
      const first = await open(db)
      await first.saveMany([{ id: 'a', n: 1 }, { id: 'b', n: 2 }, { id: 'c', n: 3 }])
      await first.delete('b')
      await first.save({ id: 'a', n: 10 })
      await first.close()
      expect(db.status).toBe('open')

      const second = await open(db)
      expect(Object.fromEntries(second.flows)).toEqual({ a: { id: 'a', n: 10 }, c: { id: 'c', n: 3 } })
    })

    it('commits a transaction in one database batch, and writes nothing when it throws', async () => {
      const db = await fresh()
      const store = await open(db)
      const batches = db.counts.batches
      await store.transaction((tx) => {
        tx.save({ id: 'a', n: 1 })
        tx.save({ id: 'b', n: 2 })
      })
      expect(db.counts.batches).toBe(batches + 1)
      await expect(store.transaction((tx) => {
        tx.delete('a')
        throw new Error('boom')
      })).rejects.toThrow('boom')
      expect(db.counts.batches).toBe(batches + 1)
    })

    it('writes nothing for a refused conditional save alone, and one batch for the rest of its flush', async () => {
      const db = await fresh()
      const store = await open(db)
      await store.save({ id: 'a' })
      const batches = db.counts.batches
      await expect(store.save({ id: 'a', n: 1 }, { ifVersion: 0 })).rejects.toThrow(/ifVersion/)
      expect(db.counts.batches).toBe(batches)
      const refused = store.save({ id: 'a', n: 1 }, { ifVersion: 0 })
      const other = store.save({ id: 'b' })
      await expect(refused).rejects.toThrow(/ifVersion/)
      await other
      expect(db.counts.batches).toBe(batches + 1)
    })

    it('retries a failed flush on the next flush', async () => {
      const db = await fresh()
      const store = await open(db)
      db.failBatches = 1
      const err = await store.save({ id: 'a', n: 1 }).then(() => undefined, (e: unknown) => e)
      expect(isFlowStoreError(err, 'FLOWSTORE_WRITE_FAILED')).toBe(true)
      expect(store.pending).toBe(1)
      expect(store.get('a')).toEqual({ id: 'a', n: 1 })

      await store.flush()
      expect(store.pending).toBe(0)
      expect(store.version).toBe(1)
      await store.close()

      const reopened = await open(db)
      expect(reopened.get('a')).toEqual({ id: 'a', n: 1 })
    })
  })
}

defineDatabaseSuite('memory-level', async () => new CountingMemoryLevel())
defineDatabaseSuite('classic-level', async () => new CountingClassicLevel(await tempDir()))
