// The benchmark's claims as counters, asserted exactly on a small store: not a timing test.
// Storage reads are counted by a real classic-level database (CountingClassicLevel); the
// bytes a save writes are read from the batch it hands to LevelDB and from LevelDB's log file.

import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type GeneratedFlow, generateFlows, mutateFlow } from '../examples/generate-flows.ts'
import { FlowStore } from '../src/index.ts'
import { CountingClassicLevel, tempDir } from './helpers.ts'

const FLOWS = 200
const ACCESSES = 10_000
/** What a save may write on top of the flow's msgpack bytes: keys, record header, change record, store version. */
const SAVE_OVERHEAD_BYTES = 128

type Counting = InstanceType<typeof CountingClassicLevel>
type Operation = { type: string, key: unknown, value?: unknown }

/** A closed store of FLOWS generated flows in a fresh directory. */
async function builtStore (): Promise<{ dir: string, flows: GeneratedFlow[] }> {
  const dir = await tempDir()
  const flows = generateFlows(FLOWS)
  const store = await FlowStore.open<GeneratedFlow>(dir)
  await store.saveMany(flows)
  await store.close()
  return { dir, flows }
}

/** Opens the store in `dir` through a counting database; closes both after `fn`. */
async function withCountedStore (dir: string, fn: (store: FlowStore<GeneratedFlow>, db: Counting) => Promise<void>, options = {}): Promise<void> {
  const db = new CountingClassicLevel(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  try {
    const store = await FlowStore.open<GeneratedFlow>(db, options)
    try {
      await fn(store, db)
    } finally {
      await store.close()
    }
  } finally {
    await db.close()
  }
}

function byteLength (part: unknown): number {
  if (part === undefined) return 0
  if (typeof part === 'string') return Buffer.byteLength(part, 'utf8')
  if (part instanceof Uint8Array) return part.byteLength
  throw new TypeError(`unexpected batch key or value: ${typeof part}`)
}

/** Σ key + value bytes of a batch's operations. */
function batchBytes (operations: readonly Operation[]): number {
  return operations.reduce((sum, op) => sum + byteLength(op.key) + byteLength(op.value), 0)
}

function varintLength (n: number): number {
  let length = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    length++
  }
  return length
}

/** The size of LevelDB's WriteBatch encoding of `operations` without its 12-byte header. */
function writeBatchBytes (operations: readonly Operation[]): number {
  return operations.reduce((sum, op) => {
    const key = byteLength(op.key)
    let size = 1 + varintLength(key) + key
    if (op.type === 'put') {
      const value = byteLength(op.value)
      size += varintLength(value) + value
    }
    return sum + size
  }, 0)
}

async function logFileSize (dir: string): Promise<{ name: string, size: number }> {
  const logs = (await readdir(dir)).filter((name) => name.endsWith('.log')).sort()
  const name = logs[logs.length - 1]
  if (name === undefined) throw new Error(`no LevelDB log file in ${dir}`)
  return { name, size: (await stat(join(dir, name))).size }
}

describe('benchmark guard: counters of a small store', () => {
  it('reads storage 0 times while flows is accessed 10,000 times after open', async () => {
    const { dir, flows } = await builtStore()
    await withCountedStore(dir, async (store, db) => {
      const before = db.counts.reads
      let found = 0
      for (let i = 0; i < ACCESSES; i++) {
        if (store.flows.get(flows[(i * 7919) % FLOWS]!.id) !== undefined) found++
      }
      expect(found).toBe(ACCESSES)
      expect(db.counts.reads - before).toBe(0)
    })
  })

  it('reads storage 0 times for gets, iteration and size after open', async () => {
    const { dir, flows } = await builtStore()
    await withCountedStore(dir, async (store, db) => {
      const before = db.counts.reads
      for (const flow of flows) expect(store.get(flow.id)?.id).toBe(flow.id)
      expect([...store.flows.keys()]).toHaveLength(FLOWS)
      expect(store.size).toBe(FLOWS)
      expect(db.counts.reads - before).toBe(0)
    })
  })

  it('decodes no value at open', async () => {
    const { dir, flows } = await builtStore()
    await withCountedStore(dir, async (store) => {
      expect(store.size).toBe(FLOWS)
      const decoded = flows.filter((flow) => store.lazy(flow.id)!.decoded)
      expect(decoded).toHaveLength(0)
    })
  })

  it('writes one LevelDB batch per flush, whatever the flush holds', async () => {
    const { dir, flows } = await builtStore()
    await withCountedStore(dir, async (store, db) => {
      const batches = db.counts.batches
      const committed = [
        store.saveMany(flows.slice(0, 50).map((flow, i) => mutateFlow(flow, i + 1))),
        store.save(mutateFlow(flows[60]!, 99)),
        store.delete(flows[70]!.id)
      ]
      await store.flush()
      await Promise.all(committed)
      expect(db.counts.batches - batches).toBe(1)
      expect(db.counts.puts).toBe(0)
      expect(db.counts.dels).toBe(0)
    }, { flush: 'manual' })
  })

  it('commits the saves of one event-loop turn in one LevelDB batch under flush auto', async () => {
    const { dir, flows } = await builtStore()
    await withCountedStore(dir, async (store, db) => {
      const batches = db.counts.batches
      await Promise.all(flows.slice(0, 20).map((flow, i) => store.save(mutateFlow(flow, i + 1))))
      expect(db.counts.batches - batches).toBe(1)
    })
  })

  it('writes at most the flow\'s encoded size plus a small constant for one save', async () => {
    const { dir, flows } = await builtStore()
    await withCountedStore(dir, async (store, db) => {
      const batches: Operation[][] = []
      db.onBatch = (operations) => { batches.push(operations) }
      const changed = mutateFlow(flows[5]!, 1)
      await store.save(changed)
      expect(batches).toHaveLength(1)
      const encoded = store.lazy(changed.id)!.bytes.length
      const written = batchBytes(batches[0]!)
      expect(written).toBeGreaterThan(encoded)
      expect(written).toBeLessThanOrEqual(encoded + SAVE_OVERHEAD_BYTES)
    })
  })

  it('grows LevelDB\'s log by that batch plus only the log\'s own framing for one save', async () => {
    const { dir, flows } = await builtStore()
    await withCountedStore(dir, async (store, db) => {
      // One save first, so that the log file exists and reopening left nothing pending.
      await store.save(mutateFlow(flows[1]!, 1))
      const batches: Operation[][] = []
      db.onBatch = (operations) => { batches.push(operations) }
      const before = await logFileSize(dir)
      const changed = mutateFlow(flows[5]!, 2)
      await store.save(changed)
      const after = await logFileSize(dir)
      expect(after.name).toBe(before.name)
      expect(batches).toHaveLength(1)
      // A log record: 7-byte header (twice if it crosses a 32 KiB block, plus up to 6 bytes of
      // block padding), then the WriteBatch: 12-byte header and the encoded operations.
      const framing = after.size - before.size - writeBatchBytes(batches[0]!)
      expect(framing).toBeGreaterThanOrEqual(7 + 12)
      expect(framing).toBeLessThanOrEqual(7 + 12 + 7 + 6)
      expect(after.size - before.size).toBeLessThanOrEqual(store.lazy(changed.id)!.bytes.length + SAVE_OVERHEAD_BYTES + 32)
    })
  })
})
