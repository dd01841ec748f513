// Transactions: staged writes applied together and committed in one batch, or not at all.

import { afterEach, describe, expect, it } from 'vitest'
import { FlowStore, type FlowStoreOptions, type Transaction, isFlowStoreError } from '../src/index.ts'
import { CountingClassicLevel, tempDir } from './helpers.ts'

type CountingDb = InstanceType<typeof CountingClassicLevel>

const stores: FlowStore[] = []
const dbs: CountingDb[] = []

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => {})
  for (const db of dbs.splice(0)) await db.close().catch(() => {})
})

async function openCounting (options?: FlowStoreOptions): Promise<{ dir: string, db: CountingDb, store: FlowStore }> {
  const dir = await tempDir()
  const db = new CountingClassicLevel(dir)
  dbs.push(db)
  const store = await FlowStore.open(db, options)
  stores.push(store)
  return { dir, db, store }
}

/** A snapshot of the store's contents as plain entries. */
function contents (store: FlowStore): Record<string, unknown> {
  return Object.fromEntries(store.flows)
}

describe('transaction()', () => {
  it('commits all of its writes together in one batch', async () => {
    const { db, store } = await openCounting()
    await store.saveMany([{ id: 'old', n: 0 }, { id: 'gone', n: 0 }])
    const batches = db.counts.batches
    const version = store.version

    await store.transaction((tx) => {
      tx.save({ id: 'a', n: 1 })
      tx.saveMany([{ id: 'b', n: 2 }, { id: 'old', n: 3 }])
      tx.delete('gone')
    })

    expect(db.counts.batches).toBe(batches + 1)
    expect(store.version).toBe(version + 1)
    expect(store.pending).toBe(0)
    expect(contents(store)).toEqual({ a: { id: 'a', n: 1 }, b: { id: 'b', n: 2 }, old: { id: 'old', n: 3 } })
    const { changes } = await store.changesSince(version)
    expect(changes.map((c) => [c.id, c.version, c.deleted])).toEqual([
      ['a', version + 1, false], ['b', version + 1, false], ['gone', version + 1, true], ['old', version + 1, false]
    ])
  })

  it('shows its own writes through tx.get/has while the store shows them only after it returns', async () => {
    const { store } = await openCounting()
    await store.save({ id: 'kept', n: 0 })
    const seen = await store.transaction((tx) => {
      tx.save({ id: 'new', n: 1 })
      tx.delete('kept')
      return {
        txNew: tx.get('new'),
        txHasNew: tx.has('new'),
        txKept: tx.get('kept'),
        txHasKept: tx.has('kept'),
        storeNew: store.get('new'),
        storeHasNew: store.has('new'),
        storeKept: store.get('kept')
      }
    })
    expect(seen).toEqual({
      txNew: { id: 'new', n: 1 },
      txHasNew: true,
      txKept: undefined,
      txHasKept: false,
      storeNew: undefined,
      storeHasNew: false,
      storeKept: { id: 'kept', n: 0 }
    })
    expect(store.get('new')).toEqual({ id: 'new', n: 1 })
    expect(store.has('kept')).toBe(false)
  })

  it('applies nothing and rethrows when the function throws', async () => {
    const { db, store } = await openCounting()
    await store.saveMany([{ id: 'a', n: 1 }, { id: 'b', n: 2 }])
    const before = contents(store)
    const batches = db.counts.batches
    const version = store.version
    const boom = new Error('boom')

    const err = await store.transaction(async (tx) => {
      tx.save({ id: 'a', n: 100 })
      tx.save({ id: 'c', n: 3 })
      tx.delete('b')
      await Promise.resolve()
      throw boom
    }).then(() => undefined, (e: unknown) => e)

    expect(err).toBe(boom)
    expect(contents(store)).toEqual(before)
    expect(store.pending).toBe(0)
    expect(db.counts.batches).toBe(batches)
    expect(store.version).toBe(version)
  })

  it('throws FLOWSTORE_INVALID_FLOW inside the function for an invalid flow and applies nothing', async () => {
    const { db, store } = await openCounting()
    const batches = db.counts.batches
    let inside: unknown
    let stagedAfterRefusal: boolean | undefined

    const err = await store.transaction((tx) => {
      tx.save({ id: 'valid', n: 1 })
      try {
        tx.saveMany([{ id: 'also-valid' }, { id: 'bad', m: new Map() } as never])
      } catch (e) {
        inside = e
        stagedAfterRefusal = tx.has('also-valid')
        throw e
      }
    }).then(() => undefined, (e: unknown) => e)

    expect(isFlowStoreError(inside, 'FLOWSTORE_INVALID_FLOW')).toBe(true)
    expect(stagedAfterRefusal).toBe(false)
    expect(err).toBe(inside)
    expect(store.size).toBe(0)
    expect(store.has('valid')).toBe(false)
    expect(db.counts.batches).toBe(batches)
    expect(store.version).toBe(0)
  })

  it('refuses the transaction handle with FLOWSTORE_CLOSED once the function has ended', async () => {
    const { store } = await openCounting()
    let leaked: Transaction | undefined
    await store.transaction((tx) => { leaked = tx })
    const tx = leaked!
    for (const use of [
      () => tx.get('a'),
      () => tx.has('a'),
      () => { tx.save({ id: 'a' }) },
      () => { tx.saveMany([{ id: 'a' }]) },
      () => { tx.delete('a') }
    ]) {
      let err: unknown
      try { use() } catch (e) { err = e }
      expect(isFlowStoreError(err, 'FLOWSTORE_CLOSED')).toBe(true)
    }
    expect(store.has('a')).toBe(false)
  })

  it('resolves with the value the function returned', async () => {
    const { store } = await openCounting()
    await expect(store.transaction((tx) => { tx.save({ id: 'a' }); return 42 })).resolves.toBe(42)
    await expect(store.transaction(async () => 'no writes')).resolves.toBe('no writes')
  })

  it("commits at its end in 'manual' flush mode", async () => {
    const { dir, db, store } = await openCounting({ flush: 'manual' })
    const batches = db.counts.batches
    await store.transaction((tx) => {
      tx.save({ id: 'a', n: 1 })
      tx.save({ id: 'b', n: 2 })
    })
    expect(db.counts.batches).toBe(batches + 1)
    expect(store.pending).toBe(0)
    expect(store.version).toBe(1)

    await store.close()
    await db.close()
    const reopened = await FlowStore.open(dir)
    stores.push(reopened)
    expect(contents(reopened)).toEqual({ a: { id: 'a', n: 1 }, b: { id: 'b', n: 2 } })
  })
})
