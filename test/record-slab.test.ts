// Records in slabs (src/record-slab.ts): an opened store keeps its records in a few large
// buffers rather than one per flow; slabs mostly left by replaced records are compacted, so
// the buffers held stay within about twice the bytes in use. Counts, not times.

import { describe, expect, it } from 'vitest'
import { generateFlow, mutateFlow } from '../examples/generate-flows.ts'
import type { CachedFlow } from '../src/cached-flow.ts'
import { FlowStore } from '../src/index.ts'
import { tempDir } from './helpers.ts'

const MiB = 1024 * 1024

/** The distinct buffers the store's records live in, and the bytes they hold. */
function buffersOf (store: FlowStore): { buffers: number, bufferBytes: number, recordBytes: number } {
  const buffers = new Set<ArrayBufferLike>()
  let recordBytes = 0
  for (const id of store.flows.keys()) {
    const record = (store.lazy(id) as unknown as CachedFlow).record
    buffers.add(record.buffer)
    recordBytes += record.length
  }
  let bufferBytes = 0
  for (const buffer of buffers) bufferBytes += buffer.byteLength
  return { buffers: buffers.size, bufferBytes, recordBytes }
}

describe('record slabs', () => {
  it('keeps the records of 5,000 flows, opened or saved, in a few 1 MiB buffers', async () => {
    const dir = await tempDir()
    const flows = Array.from({ length: 5000 }, (_, i) => generateFlow(i))
    {
      const store = await FlowStore.open(dir)
      await store.saveMany(flows)
      const saved = buffersOf(store)
      expect(saved.buffers).toBeLessThanOrEqual(Math.ceil(saved.recordBytes / MiB) + 1)
      await store.close()
    }
    const store = await FlowStore.open(dir)
    const opened = buffersOf(store)
    expect(opened.recordBytes).toBeGreaterThan(5 * MiB)
    expect(opened.buffers).toBeLessThanOrEqual(Math.ceil(opened.recordBytes / MiB) + 1)
    for (const flow of flows.slice(0, 50)) expect(store.get(flow.id)).toEqual(flow)
    await store.close()
  })

  it('compacts slabs left mostly by replaced records: buffers stay within twice the bytes in use, and every value reads back', async () => {
    const dir = await tempDir()
    let flows = Array.from({ length: 3000 }, (_, i) => generateFlow(i))
    const store = await FlowStore.open(dir)
    await store.saveMany(flows)
    // Round r rewrites the flows of groups r..9 (group: i % 10), so each round leaves one
    // group behind in its slabs: without compaction, every round's slabs would stay alive.
    for (let round = 1; round <= 6; round++) {
      const rewritten = (i: number): boolean => i % 10 >= round
      flows = flows.map((flow, i) => rewritten(i) ? mutateFlow(flow, round) : flow)
      await store.saveMany(flows.filter((_, i) => rewritten(i)))
      const held = buffersOf(store)
      expect(held.bufferBytes).toBeLessThanOrEqual(2 * held.recordBytes + 2 * MiB)
    }
    for (const flow of flows) expect(store.get(flow.id)).toEqual(flow)
    await store.close()
    const again = await FlowStore.open(dir)
    for (const flow of flows) expect(again.get(flow.id)).toEqual(flow)
    await again.close()
  })

  it('keeps a record put back by a refused conditional write readable after its slab was compacted', async () => {
    const dir = await tempDir()
    const store = await FlowStore.open(dir)
    const flows = Array.from({ length: 3000 }, (_, i) => generateFlow(i))
    await store.saveMany(flows)
    const target = flows[5]!
    const version = store.lazy(target.id)!.version
    // A conditional save that will be refused (wrong version), then churn that compacts.
    const refused = store.save(mutateFlow(target, 1), { ifVersion: version + 7 })
    await expect(refused).rejects.toMatchObject({ code: 'FLOWSTORE_CONFLICT' })
    for (let round = 2; round < 5; round++) await store.saveMany(flows.filter((flow) => flow !== target).map((flow) => mutateFlow(flow, round)))
    expect(store.get(target.id)).toEqual(target)
    expect(store.lazy(target.id)!.bytes.length).toBeGreaterThan(100)
    await store.close()
  })
})

describe('decoded flows', () => {
  it('let their record go once decoded and committed, and still give the stored bytes exactly', async () => {
    const { ClassicLevel } = await import('classic-level')
    const dir = await tempDir()
    const flows = Array.from({ length: 500 }, (_, i) => ({ ...generateFlow(i), when: new Date(1700000000123 + i), n: i / 3 }))
    {
      const store = await FlowStore.open(dir)
      await store.saveMany(flows)
      await store.close()
    }
    const raw = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    const stored = new Map((await raw.iterator({ gte: 'f!', lt: 'f"' }).all()).map(([key, value]) => [key.slice(2), Buffer.from(value.subarray(7))]))
    await raw.close()
    const store = await FlowStore.open(dir)
    const recordOf = (id: string): Uint8Array => (store.lazy(id) as unknown as CachedFlow).record
    expect(recordOf(flows[0]!.id).buffer.byteLength).toBe(MiB)
    for (const flow of flows) expect(store.get(flow.id)).toEqual(flow)
    for (const flow of flows) {
      // Its own array now (encoded afresh), not a view of a slab; the same bytes as stored.
      expect(recordOf(flow.id).buffer.byteLength).toBe(recordOf(flow.id).length)
      expect(Buffer.from(store.lazy(flow.id)!.bytes)).toEqual(stored.get(flow.id))
      expect(store.lazy(flow.id)!.version).toBe(1)
    }
    // A save decoded before its commit keeps its record until it is committed.
    const changed = mutateFlow(flows[1]!, 5)
    const committed = store.save(changed)
    expect(store.get(changed.id)).toEqual(changed)
    await committed
    expect(store.lazy(changed.id)!.version).toBe(2)
    await store.close()
    const again = await FlowStore.open(dir)
    expect(again.get(changed.id)).toEqual(changed)
    await again.close()
  })
})

describe('bulk commits', () => {
  it('leave no write-ahead log to replay: a commit of more than 8 MiB has LevelDB write its memtable out', async () => {
    const { readdir, stat } = await import('node:fs/promises')
    const { join } = await import('node:path')
    const logBytes = async (dir: string): Promise<number> => {
      let bytes = 0
      for (const name of await readdir(dir)) if (name.endsWith('.log')) bytes += (await stat(join(dir, name))).size
      return bytes
    }
    const dir = await tempDir()
    const store = await FlowStore.open(dir)
    // ~12 MiB in one commit.
    await store.saveMany(Array.from({ length: 8000 }, (_, i) => generateFlow(i)))
    await store.close()
    expect(await logBytes(dir)).toBeLessThan(MiB)
    const again = await FlowStore.open(dir)
    expect(again.size).toBe(8000)
    // A small commit is left in the log, as LevelDB does.
    await again.save(generateFlow(9000))
    await again.close()
    expect(await logBytes(dir)).toBeGreaterThan(0)
  })
})
