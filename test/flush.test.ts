// Writes and flushes: batching per flush mode, flushes that never overlap, failed flushes
// that keep their changes and retry them, atomic batches and the persisted store version.

import { afterEach, describe, expect, it } from 'vitest'
import { FlowStore, type Flow, type FlowStoreOptions, isFlowStoreError } from '../src/index.ts'
import { CountingClassicLevel, type Instrumented, tempDir } from './helpers.ts'
import { decodeLogEntry } from '../src/layout.ts'

type CountingDb = InstanceType<typeof CountingClassicLevel>
type Operation = { type: string, key: string, value: Uint8Array | undefined }

interface Opened {
  dir: string
  db: CountingDb
  store: FlowStore
}

const stores: FlowStore[] = []
const dbs: CountingDb[] = []

afterEach(async () => {
  for (const db of dbs) {
    db.failBatches = 0
    db.onBatch = undefined
  }
  for (const store of stores.splice(0)) await store.close().catch(() => {})
  for (const db of dbs.splice(0)) await db.close().catch(() => {})
})

/** A store on a CountingClassicLevel in a fresh temp dir. */
async function openCounting (options?: FlowStoreOptions): Promise<Opened> {
  const dir = await tempDir()
  const db = new CountingClassicLevel(dir)
  dbs.push(db)
  const store = await FlowStore.open(db, options)
  stores.push(store)
  return { dir, db, store }
}

/** Closes the store and its database, then opens the directory again (a real reopen). */
async function reopen (opened: Opened): Promise<FlowStore> {
  await opened.store.close()
  await opened.db.close()
  const store = await FlowStore.open(opened.dir)
  stores.push(store)
  return store
}

/** One event-loop turn boundary (not a timing sleep). */
async function turn (): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve))
}

interface Gate<T = void> {
  promise: Promise<T>
  resolve: (value: T) => void
}

function gate<T = void> (): Gate<T> {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => { resolve = r })
  return { promise, resolve }
}

function keyText (key: unknown): string {
  return typeof key === 'string' ? key : Buffer.from(key as Uint8Array).toString('utf8')
}

function normalize (operations: Parameters<NonNullable<Instrumented['onBatch']>>[0]): Operation[] {
  return operations.map((op) => ({
    type: op.type,
    key: keyText(op.key),
    value: op.value === undefined ? undefined : new Uint8Array(op.value as Uint8Array)
  }))
}

function readVersionBytes (bytes: Uint8Array | undefined): number {
  expect(bytes).toBeDefined()
  expect(bytes!.length).toBe(6)
  let version = 0
  for (const byte of bytes!) version = version * 256 + byte
  return version
}

/** The flow ids a batch puts. */
function savedIds (ops: readonly Operation[]): string[] {
  return ops.filter((op) => op.type === 'put' && op.key.startsWith('f!')).map((op) => op.key.slice(2)).sort()
}

async function expectWriteFailed (promise: Promise<unknown>): Promise<unknown> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(isFlowStoreError(err, 'FLOWSTORE_WRITE_FAILED')).toBe(true)
  return err
}

describe("flush mode 'auto'", () => {
  it('coalesces many unawaited saves made in one turn into exactly one batch', async () => {
    const { db, store } = await openCounting()
    const saves: Array<Promise<void>> = []
    for (let i = 0; i < 200; i++) saves.push(store.save({ id: `flow-${i}`, n: i }))
    await Promise.all(saves)
    expect(db.counts.batches).toBe(1)
    expect(store.version).toBe(1)
    expect(store.pending).toBe(0)
  })

  it('commits each awaited save in its own batch', async () => {
    const { db, store } = await openCounting()
    for (let i = 0; i < 5; i++) {
      await store.save({ id: `flow-${i}`, n: i })
      expect(db.counts.batches).toBe(i + 1)
      expect(store.version).toBe(i + 1)
      expect(store.pending).toBe(0)
    }
  })

  it('writes no batch when flush() is called with nothing dirty', async () => {
    const { db, store } = await openCounting()
    await store.flush()
    expect(db.counts.batches).toBe(0)
    await store.save({ id: 'a' })
    await store.flush()
    await store.flush()
    expect(db.counts.batches).toBe(1)
    expect(store.version).toBe(1)
  })
})

describe("flush mode 'manual'", () => {
  it('writes nothing until flush(), then writes 1,000 saves in exactly one batch', async () => {
    const { db, store } = await openCounting({ flush: 'manual' })
    const before = { ...db.counts }
    let committed = 0
    const saves: Array<Promise<void>> = []
    for (let i = 0; i < 1000; i++) saves.push(store.save({ id: `flow-${i}`, n: i }).then(() => { committed++ }))
    await turn()
    await turn()
    expect(db.counts).toEqual(before)
    expect(committed).toBe(0)
    expect(store.pending).toBe(1000)
    expect(store.version).toBe(0)

    await store.flush()
    await Promise.all(saves)
    expect(committed).toBe(1000)
    expect(db.counts.batches).toBe(before.batches + 1)
    expect(store.version).toBe(1)
    expect(store.pending).toBe(0)
  })
})

describe('flush mode { intervalMs }', () => {
  it('resolves the save promise after the background flush committed it', async () => {
    const opened = await openCounting({ flush: { intervalMs: 20 } })
    const { db, store } = opened
    const saves: Array<Promise<void>> = []
    for (let i = 0; i < 10; i++) {
      const before = db.counts.batches
      saves.push(store.save({ id: `flow-${i}`, n: i }))
      expect(db.counts.batches).toBe(before) // written behind, never during save()
      await turn()
    }
    await Promise.all(saves)
    expect(store.pending).toBe(0)
    expect(db.counts.batches).toBeGreaterThanOrEqual(1)
    expect(db.counts.batches).toBeLessThanOrEqual(saves.length)
    expect(store.version).toBe(db.counts.batches)

    const reopened = await reopen(opened)
    expect(reopened.size).toBe(10)
    expect(reopened.get('flow-9')).toEqual({ id: 'flow-9', n: 9 })
  })
})

describe('flushes in flight', () => {
  it('puts saves made while a flush is in flight into the next batch, and never overlaps flushes', async () => {
    const { db, store } = await openCounting()
    const held = gate()
    const entered = gate()
    const batches: Operation[][] = []
    let concurrent = 0
    let maxConcurrent = 0
    db.onBatch = async (operations) => {
      concurrent++
      maxConcurrent = Math.max(maxConcurrent, concurrent)
      batches.push(normalize(operations))
      if (batches.length === 1) {
        entered.resolve()
        await held.promise
      }
      concurrent--
    }

    const first = store.save({ id: 'a', rev: 1 })
    await entered.promise
    const second = store.save({ id: 'b', rev: 1 })
    const third = store.save({ id: 'a', rev: 2 })
    const explicit = store.flush()
    await turn()
    await turn()
    expect(batches).toHaveLength(1)
    expect(store.pending).toBe(3) // 'a' in flight, 'a' and 'b' dirty

    held.resolve()
    await Promise.all([first, second, third, explicit])
    expect(maxConcurrent).toBe(1)
    expect(batches).toHaveLength(2)
    expect(savedIds(batches[0]!)).toEqual(['a'])
    expect(savedIds(batches[1]!)).toEqual(['a', 'b'])
    expect(store.version).toBe(2)
    expect(store.get('a')).toEqual({ id: 'a', rev: 2 })
  })

  it('keeps the last save of an id after reopen', async () => {
    const opened = await openCounting()
    const { store } = opened
    const saves: Array<Promise<void>> = []
    for (let rev = 0; rev < 50; rev++) {
      saves.push(store.save({ id: 'x', rev }))
      if (rev % 7 === 0) await turn()
      if (rev % 11 === 0) await saves[saves.length - 1]
    }
    await Promise.all(saves)
    const reopened = await reopen(opened)
    expect(reopened.get('x')).toEqual({ id: 'x', rev: 49 })
  })
})

describe('failed flushes', () => {
  it('rejects the save with FLOWSTORE_WRITE_FAILED, keeps the change and commits it on the next flush', async () => {
    const opened = await openCounting()
    const { db, store } = opened
    db.failBatches = 1
    const err = await expectWriteFailed(store.save({ id: 'a', n: 1 }))
    expect((err as Error).cause).toBeInstanceOf(Error)
    expect(((err as Error).cause as Error).message).toBe('injected batch failure')
    expect(store.get('a')).toEqual({ id: 'a', n: 1 })
    expect(store.pending).toBeGreaterThan(0)
    expect(store.version).toBe(0)
    expect(isFlowStoreError(store.lastFlushError, 'FLOWSTORE_WRITE_FAILED')).toBe(true)

    await store.flush()
    expect(store.pending).toBe(0)
    expect(store.version).toBe(1)
    expect(store.lastFlushError).toBeUndefined()

    const reopened = await reopen(opened)
    expect(reopened.get('a')).toEqual({ id: 'a', n: 1 })
    expect(reopened.version).toBe(1)
  })

  it('keeps a newer save of the same id made while the failing flush was in flight', async () => {
    const opened = await openCounting()
    const { db, store } = opened
    const held = gate()
    const entered = gate()
    db.onBatch = async () => {
      entered.resolve()
      await held.promise
      throw new Error('disk full')
    }
    const older = store.save({ id: 'x', rev: 1 })
    await entered.promise
    const newer = store.save({ id: 'x', rev: 2 })
    db.onBatch = undefined // the next batch succeeds
    held.resolve()

    await expectWriteFailed(older)
    expect(store.get('x')).toEqual({ id: 'x', rev: 2 })
    await newer
    await store.flush()
    expect(store.pending).toBe(0)
    expect(store.get('x')).toEqual({ id: 'x', rev: 2 })
    expect((await store.changesSince(0)).changes).toEqual([{ id: 'x', version: store.version, deleted: false }])

    const reopened = await reopen(opened)
    expect(reopened.get('x')).toEqual({ id: 'x', rev: 2 })
  })

  it('causes no unhandledRejection for unawaited saves whose flush fails', async () => {
    const { db, store } = await openCounting()
    const unhandled: unknown[] = []
    const listener = (reason: unknown): void => { unhandled.push(reason) }
    process.on('unhandledRejection', listener)
    try {
      db.failBatches = 1
      void store.save({ id: 'a' })
      void store.save({ id: 'b' })
      void store.delete('a')
      void store.saveMany([{ id: 'c' }, { id: 'd' }])
      for (let i = 0; i < 100 && store.lastFlushError === undefined; i++) await turn()
      expect(isFlowStoreError(store.lastFlushError, 'FLOWSTORE_WRITE_FAILED')).toBe(true)
      await turn()
      await turn()
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', listener)
    }
    await store.flush()
    expect([...store.flows.keys()].sort()).toEqual(['b', 'c', 'd'])
  })
})

describe('atomic batches', () => {
  it('writes the flows, the change-log entry and the store version in one batch: one operation per flow, plus two', async () => {
    const { db, store } = await openCounting()
    await store.saveMany([{ id: 'a', rev: 1 }, { id: 'c', rev: 1 }])
    const batches: Operation[][] = []
    db.onBatch = (operations) => { batches.push(normalize(operations)) }
    const before = db.counts.batches

    void store.save({ id: 'a', rev: 2 })
    void store.save({ id: 'b', rev: 1 })
    await store.delete('c')

    expect(db.counts.batches).toBe(before + 1)
    expect(batches).toHaveLength(1)
    const ops = batches[0]!
    const shape = ops.map((op) => `${op.type} ${op.key}`)
    expect(shape).toEqual(['put f!a', 'put f!b', 'del f!c', 'put L!000000000002', 'put m!version'])
    const entry = decodeLogEntry(ops.find((op) => op.key === 'L!000000000002')!.value as Uint8Array)
    expect(entry).toEqual({ before: 2, count: 3, ids: ['a', 'b', 'c'], deleted: [false, false, true] })
    expect(readVersionBytes(ops.find((op) => op.key === 'm!version')!.value)).toBe(2)
    expect(store.version).toBe(2)
  })

  it('grows the store version by exactly one per committed batch and persists it', async () => {
    const opened = await openCounting()
    const { db, store } = opened
    await store.save({ id: 'a' })
    expect(store.version).toBe(1)
    await store.saveMany([{ id: 'b' }, { id: 'c' }])
    expect(store.version).toBe(2)
    db.failBatches = 1
    await expectWriteFailed(store.save({ id: 'd' }))
    expect(store.version).toBe(2)
    await store.delete('a')
    expect(store.version).toBe(3)
    expect(db.counts.batches).toBe(3)
    expect(store.batches).toBe(3)

    const reopened = await reopen(opened)
    expect(reopened.version).toBe(3)
    expect([...reopened.flows.keys()].sort()).toEqual(['b', 'c', 'd'])
  })
})

describe('close()', () => {
  it('rejects when its final flush fails, stays usable, and a second close() commits', async () => {
    const opened = await openCounting({ flush: 'manual' })
    const { db, store } = opened
    void store.save({ id: 'x', n: 1 })
    db.failBatches = 1
    await expectWriteFailed(store.close())
    expect(store.closed).toBe(false)
    expect(store.get('x')).toEqual({ id: 'x', n: 1 })
    const later = store.save({ id: 'y', n: 2 })

    await store.close()
    await later
    expect(store.closed).toBe(true)

    await db.close()
    const reopened = await FlowStore.open<Flow>(opened.dir)
    stores.push(reopened)
    expect(reopened.get('x')).toEqual({ id: 'x', n: 1 })
    expect(reopened.get('y')).toEqual({ id: 'y', n: 2 })
  })
})
