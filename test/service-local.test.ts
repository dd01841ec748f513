// FlowService over a FlowStore of the same process: a thin layer that adds no storage read,
// no copy and no cache of its own (the store's cache is always current).

import { afterEach, describe, expect, it } from 'vitest'
import { type Change, FlowService, FlowStore, isFlowStoreError } from '../src/index.ts'
import { CountingClassicLevel, tempDir } from './helpers.ts'

const open: Array<{ close (): Promise<void> }> = []
afterEach(async () => {
  for (const resource of open.splice(0).reverse()) await resource.close()
})

async function counted (): Promise<{ store: FlowStore, db: InstanceType<typeof CountingClassicLevel> }> {
  const db = new CountingClassicLevel(await tempDir())
  const store = await FlowStore.open(db)
  open.push(db, store)
  return { store, db }
}

describe('FlowService over a local store', () => {
  it('reads flows, get, has and size without a single storage read', async () => {
    const { store, db } = await counted()
    await store.saveMany(Array.from({ length: 100 }, (_, i) => ({ id: `f${i}`, i })))
    const service = new FlowService(store)
    const readsBefore = db.counts.reads
    let found = 0
    for (let round = 0; round < 100; round++) {
      for (const id of ['f0', 'f50', 'f99', 'missing']) {
        if (service.flows.get(id) !== undefined) found++
        if (service.get(id) !== undefined) found++
        if (service.has(id)) found++
      }
      found += service.size === 100 ? 0 : 1000
    }
    await service.refresh()
    expect(found).toBe(100 * 3 * 3)
    expect(db.counts.reads).toBe(readsBefore)
  })

  it('hands out the store\'s own live view and frozen values, not copies', async () => {
    const { store } = await counted()
    await store.save({ id: 'a', n: 1 })
    const service = FlowService.local(store)
    expect(service.flows).toBe(store.flows)
    expect(service.get('a')).toBe(store.get('a'))
    expect(Object.isFrozen(service.get('a'))).toBe(true)
    await store.save({ id: 'b', n: 2 })
    expect(service.flows.get('b')).toEqual({ id: 'b', n: 2 })
  })

  it('commits saves and deletions to the store', async () => {
    const { store } = await counted()
    const service = new FlowService(store)
    await service.saveMany([{ id: 'a' }, { id: 'b' }])
    await service.delete('a')
    expect(store.has('a')).toBe(false)
    expect(store.lazy('b')?.version).toBeGreaterThan(0)
    expect(service.version).toBe(store.version)
  })

  it('refuses an invalid flow synchronously with FLOWSTORE_INVALID_FLOW', async () => {
    const { store } = await counted()
    const service = new FlowService(store)
    expect(() => service.save({ id: 'x', when: new Map() } as never)).toThrow(expect.objectContaining({ code: 'FLOWSTORE_INVALID_FLOW' }))
    expect(store.size).toBe(0)
  })

  it('emits the store\'s change events until it is closed', async () => {
    const { store } = await counted()
    const service = new FlowService(store)
    const seen: Change[] = []
    service.on('change', (change) => { seen.push(change) })
    await service.save({ id: 'a' })
    await store.delete('a')
    await service.close()
    await store.save({ id: 'after-close' })
    expect(seen.map(({ id, deleted }) => ({ id, deleted }))).toEqual([{ id: 'a', deleted: false }, { id: 'a', deleted: true }])
  })

  it('refuses reads after close with FLOWSTORE_CLOSED but leaves the store open', async () => {
    const { store } = await counted()
    const service = new FlowService(store)
    await service.close()
    let caught: unknown
    try {
      void service.flows
    } catch (err) {
      caught = err
    }
    expect(isFlowStoreError(caught, 'FLOWSTORE_CLOSED')).toBe(true)
    await store.save({ id: 'still-open' })
    expect(store.has('still-open')).toBe(true)
  })

  it('reports zero remote traffic in its stats', async () => {
    const { store } = await counted()
    const service = new FlowService(store)
    void service.flows.size
    expect(service.stats).toMatchObject({ remote: false, messagesSent: 0, recordsFetched: 0 })
  })

  it('rejects a ttlMs that is not a number >= 0 with a TypeError', async () => {
    const { store } = await counted()
    expect(() => new FlowService(store, { ttlMs: -1 })).toThrow(TypeError)
  })
})
