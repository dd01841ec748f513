// Backend independence: one behaviour suite, run against memory-level and classic-level
// databases passed in to FlowStore.open().

import { afterEach, describe, expect, it } from 'vitest'
import { FlowStore, isFlowStoreError } from '../src/index.ts'
import { CountingClassicLevel, CountingMemoryLevel, type Instrumented, tempDir } from './helpers.ts'

/** A database as the suite needs it: real, open-able, with counts and failure injection. */
type TestDb = (InstanceType<typeof CountingMemoryLevel> | InstanceType<typeof CountingClassicLevel>) & Instrumented

function defineBackendSuite (name: string, makeDb: () => Promise<TestDb>): void {
  describe(`backend: ${name}`, () => {
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

    it('saves, gets and deletes flows', async () => {
      const store = await open(await fresh())
      await store.saveMany([{ id: 'a', n: 1, nested: { list: [1, 'two', null] } }, { id: 'b', n: 2 }])
      expect(store.get('a')).toEqual({ id: 'a', n: 1, nested: { list: [1, 'two', null] } })
      expect(store.has('b')).toBe(true)
      await store.delete('b')
      expect(store.has('b')).toBe(false)
      expect(store.get('b')).toBeUndefined()
      expect(store.size).toBe(1)
    })

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

    it('persists the store version across reopen', async () => {
      const db = await fresh()
      const first = await open(db)
      expect(first.version).toBe(0)
      await first.save({ id: 'a' })
      await first.save({ id: 'b' })
      await first.delete('a')
      expect(first.version).toBe(3)
      await first.close()

      const second = await open(db)
      expect(second.version).toBe(3)
      await second.save({ id: 'c' })
      expect(second.version).toBe(4)
    })

    it('answers changesSince() from the change record, also after reopen', async () => {
      const db = await fresh()
      const first = await open(db)
      await first.saveMany([{ id: 'a' }, { id: 'b' }]) // v1
      await first.delete('a') // v2
      await first.save({ id: 'c' }) // v3
      const expected = {
        version: 3,
        changes: [
          { id: 'b', version: 1, deleted: false },
          { id: 'a', version: 2, deleted: true },
          { id: 'c', version: 3, deleted: false }
        ]
      }
      expect(await first.changesSince(0)).toEqual(expected)
      expect(await first.changesSince(2)).toEqual({ version: 3, changes: expected.changes.slice(2) })
      await first.close()

      const second = await open(db)
      expect(await second.changesSince(0)).toEqual(expected)
      expect(await second.changesSince(3)).toEqual({ version: 3, changes: [] })
    })

    it('commits a transaction in one batch, and applies nothing when it throws', async () => {
      const db = await fresh()
      const store = await open(db)
      const batches = db.counts.batches
      await store.transaction((tx) => {
        tx.save({ id: 'a', n: 1 })
        tx.save({ id: 'b', n: 2 })
      })
      expect(db.counts.batches).toBe(batches + 1)
      expect(store.version).toBe(1)

      const boom = new Error('boom')
      await expect(store.transaction((tx) => {
        tx.delete('a')
        tx.save({ id: 'c' })
        throw boom
      })).rejects.toBe(boom)
      expect(db.counts.batches).toBe(batches + 1)
      expect(Object.fromEntries(store.flows)).toEqual({ a: { id: 'a', n: 1 }, b: { id: 'b', n: 2 } })
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

defineBackendSuite('memory-level', async () => new CountingMemoryLevel())
defineBackendSuite('classic-level', async () => new CountingClassicLevel(await tempDir()))
