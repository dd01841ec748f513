// preload: 'keys' (records read on first use, kept in a bounded least-recently-used cache):
// the open reads ids only; ids, size and has() need no storage read; a record is read once,
// then served from memory until it is evicted; pending saves are never evicted. Counted on a
// real classic-level database (getSync calls), not timed. The full behaviour of a store in
// this mode is the shared suite's (backends.test.ts).

import { afterEach, describe, expect, it } from 'vitest'
import { generateFlow, mutateFlow } from '../examples/generate-flows.ts'
import { FlowStore, type FlowStoreOptions } from '../src/index.ts'
import { CountingClassicLevel, tempDir } from './helpers.ts'

const opened: Array<{ close (): Promise<void> }> = []
afterEach(async () => {
  for (const item of opened.splice(0).reverse()) await item.close().catch(() => {})
})

/** A store of `count` generated flows, closed; then reopened on a counting database. */
async function storeOf (count: number, options: FlowStoreOptions): Promise<{ store: FlowStore, db: InstanceType<typeof CountingClassicLevel> }> {
  const dir = await tempDir()
  const writer = await FlowStore.open(dir)
  await writer.saveMany(Array.from({ length: count }, (_, i) => generateFlow(i)))
  await writer.close()
  const db = new CountingClassicLevel(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  opened.push(db)
  const store = await FlowStore.open(db, options)
  opened.push(store)
  return { store, db }
}

const id = (i: number): string => generateFlow(i).id

describe("preload: 'keys'", () => {
  it('opens with every id and no record; size, has and keys read nothing', async () => {
    const { store, db } = await storeOf(2000, { preload: 'keys', maxCachedBytes: 64 * 1024 })
    const reads = db.counts.reads
    expect(store.size).toBe(2000)
    expect(store.has(id(1999))).toBe(true)
    expect(store.has('nope')).toBe(false)
    expect([...store.flows.keys()]).toHaveLength(2000)
    expect(store.lazy(id(5))!.decoded).toBe(false)
    expect(db.counts.reads).toBe(reads)
  })

  it('reads a record once, then serves it from memory until it is evicted', async () => {
    const { store, db } = await storeOf(2000, { preload: 'keys', maxCachedBytes: 64 * 1024 })
    let reads = db.counts.reads
    expect(store.get(id(7))).toEqual(generateFlow(7))
    expect(db.counts.reads).toBe(reads + 1)
    const first = store.get(id(7))
    for (let i = 0; i < 10; i++) expect(store.get(id(7))).toBe(first)
    expect(db.counts.reads).toBe(reads + 1)
    // ~1.6 KB records, counted 3x once decoded: 64 KiB holds about a dozen flows.
    for (let i = 100; i < 200; i++) store.get(id(i))
    reads = db.counts.reads
    expect(store.get(id(7))).toEqual(generateFlow(7))
    expect(db.counts.reads).toBe(reads + 1)
  })

  it('reads every record of a full pass again on the next pass when they do not fit, and once when they do', async () => {
    const small = await storeOf(1500, { preload: 'keys', maxCachedBytes: 128 * 1024 })
    let reads = small.db.counts.reads
    for (let pass = 0; pass < 2; pass++) for (const flow of small.store.flows.values()) expect(flow.id).toMatch(/^flow-/)
    expect(small.db.counts.reads - reads).toBe(3000)
    const large = await storeOf(1500, { preload: 'keys', maxCachedBytes: 64 * 1024 * 1024 })
    reads = large.db.counts.reads
    for (let pass = 0; pass < 2; pass++) for (const flow of large.store.flows.values()) expect(flow.id).toMatch(/^flow-/)
    expect(large.db.counts.reads - reads).toBe(1500)
  })

  it('never evicts a save that is not committed yet, and commits it whatever was evicted meanwhile', async () => {
    const { store, db } = await storeOf(1000, { preload: 'keys', maxCachedBytes: 32 * 1024, flush: 'manual' })
    const changed = Array.from({ length: 40 }, (_, i) => mutateFlow(generateFlow(i), 1))
    const committed = store.saveMany(changed)
    for (let i = 100; i < 600; i++) store.get(id(i))
    const reads = db.counts.reads
    for (const flow of changed) expect(store.get(flow.id)).toEqual(flow)
    expect(db.counts.reads).toBe(reads)
    await store.flush()
    await committed
    for (const flow of changed) expect(store.lazy(flow.id)!.version).toBe(store.version)
    await store.close()
    const again = await FlowStore.open(db, { preload: 'keys' })
    opened.push(again)
    for (const flow of changed) expect(again.get(flow.id)).toEqual(flow)
  })

  it('gives the version of a flow whose record was never read, and checks ifVersion against it', async () => {
    const { store } = await storeOf(50, { preload: 'keys', maxCachedBytes: 4096 })
    expect(store.lazy(id(3))!.version).toBe(1)
    await expect(store.save(mutateFlow(generateFlow(4), 1), { ifVersion: 2 })).rejects.toMatchObject({ code: 'FLOWSTORE_CONFLICT' })
    await store.save(mutateFlow(generateFlow(4), 1), { ifVersion: 1 })
    expect(store.lazy(id(4))!.version).toBe(2)
  })

  it('refuses maxCachedBytes without preload: keys, and a preload it does not know, with a TypeError', async () => {
    const dir = await tempDir()
    await expect(FlowStore.open(dir, { maxCachedBytes: 1024 })).rejects.toThrow(/maxCachedBytes applies only with preload: 'keys'/)
    await expect(FlowStore.open(dir, { preload: 'some' as never })).rejects.toThrow(/preload must be 'all' or 'keys', got "some"/)
    await expect(FlowStore.open(dir, { preload: 'keys', maxCachedBytes: 0 })).rejects.toThrow(/maxCachedBytes must be a positive integer, got 0/)
  })
})
