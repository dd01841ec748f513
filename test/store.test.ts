// Reads, the live `flows` view, lazy decoding, zero storage reads after open, close and
// options: the read side of the FlowStore contract, against real classic-level databases.

import { existsSync } from 'node:fs'
import { realpath } from 'node:fs/promises'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { generateFlow, generateFlows, mutateFlow, type GeneratedFlow } from '../examples/generate-flows.ts'
import { FlowStore, FlowStoreError, type FlowStoreOptions } from '../src/index.ts'
import { CountingClassicLevel, tempDir } from './helpers.ts'

/** Runs `fn` and returns the FlowStoreError it throws (fails the test if it does not). */
function thrown (fn: () => unknown): FlowStoreError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(FlowStoreError)
    return err as FlowStoreError
  }
  throw new Error('expected the call to throw')
}

/** A store in a fresh temp dir holding `flows`, closed; returns the directory. */
async function storeWith (flows: GeneratedFlow[]): Promise<string> {
  const dir = await tempDir()
  const store = await FlowStore.open<GeneratedFlow>(dir)
  await store.saveMany(flows)
  await store.close()
  return dir
}

describe('open', () => {
  it('creates the directory, including missing parents', async () => {
    const dir = join(await tempDir(), 'nested', 'store')
    expect(existsSync(dir)).toBe(false)
    const store = await FlowStore.open(dir)
    expect(existsSync(dir)).toBe(true)
    expect(store.directory).toBe(await realpath(dir))
    await store.close()
  })

  it('opens an empty store with no flows, version 0 and nothing pending', async () => {
    const store = await FlowStore.open(await tempDir())
    expect(store.size).toBe(0)
    expect(store.get('flow-000000')).toBeUndefined()
    expect(store.has('flow-000000')).toBe(false)
    expect(store.lazy('flow-000000')).toBeUndefined()
    expect([...store.flows]).toEqual([])
    expect(store.flows.size).toBe(0)
    expect(store.version).toBe(0)
    expect(store.pending).toBe(0)
    await store.close()
  })

  it('refuses bad options with a TypeError, before creating the directory', async () => {
    const dir = join(await tempDir(), 'never-created')
    const bad: unknown[] = [
      null,
      'auto',
      { flush: 'sometimes' },
      { flush: { intervalMs: 0 } },
      { flush: { intervalMs: Number.POSITIVE_INFINITY } },
      { flush: { intervalMs: '10' } },
      { sync: 'yes' },
      { maxFlowBytes: 0 },
      { maxFlowBytes: 1.5 },
      { maxFlowBytes: '100' },
      { maxIdBytes: -1 },
      { maxIdBytes: Number.NaN }
    ]
    for (const options of bad) {
      await expect(FlowStore.open(dir, options as FlowStoreOptions), JSON.stringify(options)).rejects.toThrow(TypeError)
    }
    expect(existsSync(dir)).toBe(false)
  })

  it('refuses a location that is neither a directory path nor a database with a TypeError', async () => {
    await expect(FlowStore.open(42 as never)).rejects.toThrow(TypeError)
    await expect(FlowStore.open({} as never)).rejects.toThrow(TypeError)
    await expect(FlowStore.open('')).rejects.toThrow(TypeError)
  })
})

describe('get, has and size', () => {
  it('get returns the saved flow and undefined for an unknown id', async () => {
    const store = await FlowStore.open<GeneratedFlow>(await tempDir())
    const flow = generateFlow(1)
    await store.save(flow)
    expect(store.get(flow.id)).toStrictEqual(flow)
    expect(store.get('flow-999999')).toBeUndefined()
    await store.close()
  })

  it('has tells saved ids from unknown and deleted ones', async () => {
    const store = await FlowStore.open<GeneratedFlow>(await tempDir())
    const [a, b] = generateFlows(2) as [GeneratedFlow, GeneratedFlow]
    await store.saveMany([a, b])
    await store.delete(b.id)
    expect(store.has(a.id)).toBe(true)
    expect(store.has(b.id)).toBe(false)
    expect(store.has('flow-999999')).toBe(false)
    await store.close()
  })

  it('size counts saved flows, once per id, and drops deleted ones', async () => {
    const store = await FlowStore.open<GeneratedFlow>(await tempDir())
    const flows = generateFlows(5)
    await store.saveMany(flows)
    expect(store.size).toBe(5)
    await store.save(mutateFlow(flows[0]!, 2))
    expect(store.size).toBe(5)
    await store.delete(flows[1]!.id)
    expect(store.size).toBe(4)
    await store.close()
  })

  it('reads show a save before it is committed', async () => {
    const store = await FlowStore.open<GeneratedFlow>(await tempDir(), { flush: 'manual' })
    const flow = generateFlow(3)
    const committed = store.save(flow)
    expect(store.pending).toBe(1)
    expect(store.has(flow.id)).toBe(true)
    expect(store.size).toBe(1)
    expect(store.get(flow.id)).toStrictEqual(flow)
    await store.flush()
    await committed
    expect(store.pending).toBe(0)
    await store.close()
  })
})

describe('flows: a live read-only view', () => {
  it('shows saves and deletes made after it was taken', async () => {
    const store = await FlowStore.open<GeneratedFlow>(await tempDir())
    const view = store.flows
    expect(view.size).toBe(0)
    const [a, b] = generateFlows(2) as [GeneratedFlow, GeneratedFlow]
    void store.save(a)
    expect(view.size).toBe(1)
    expect(view.get(a.id)).toStrictEqual(a)
    await store.save(b)
    expect([...view.keys()]).toEqual([a.id, b.id])
    void store.delete(a.id)
    expect(view.has(a.id)).toBe(false)
    expect(view.get(a.id)).toBeUndefined()
    expect(view.size).toBe(1)
    await store.close()
  })

  it('is the same object on every access', async () => {
    const store = await FlowStore.open(await tempDir())
    const first = store.flows
    await store.save(generateFlow(0))
    expect(store.flows).toBe(first)
    await store.close()
  })

  it('is not a Map and has no method that changes it', async () => {
    const store = await FlowStore.open(await tempDir())
    await store.save(generateFlow(0))
    const view = store.flows as unknown as Record<string, unknown>
    expect(view).not.toBeInstanceOf(Map)
    expect(view.set).toBeUndefined()
    expect(view.delete).toBeUndefined()
    expect(view.clear).toBeUndefined()
    expect(store.size).toBe(1)
    await store.close()
  })

  it('iterates with for-of, forEach, keys, values and entries, in save order', async () => {
    const store = await FlowStore.open<GeneratedFlow>(await tempDir())
    const flows = generateFlows(4)
    await store.saveMany(flows)
    const ids = flows.map((flow) => flow.id)
    const view = store.flows

    expect([...view].map(([id]) => id)).toEqual(ids)
    expect([...view.keys()]).toEqual(ids)
    expect([...view.values()]).toStrictEqual(flows)
    expect([...view.entries()]).toStrictEqual(flows.map((flow) => [flow.id, flow]))

    const seen: Array<[string, unknown]> = []
    const thisArg = { marker: true }
    let boundThis: unknown
    view.forEach(function (this: unknown, value, id, map) {
      boundThis = this
      expect(map).toBe(view)
      seen.push([id, value])
    }, thisArg)
    expect(boundThis).toBe(thisArg)
    expect(seen).toStrictEqual(flows.map((flow) => [flow.id, flow]))

    expect(new Map(view)).toStrictEqual(new Map(flows.map((flow) => [flow.id, flow])))
    await store.close()
  })

  it('hands out the same objects as get', async () => {
    const store = await FlowStore.open<GeneratedFlow>(await tempDir())
    const flow = generateFlow(7)
    await store.save(flow)
    const viaView = store.flows.get(flow.id)
    expect(viaView).toBe(store.get(flow.id))
    expect([...store.flows.values()][0]).toBe(viaView)
    await store.close()
  })
})

describe('lazy', () => {
  it('bytes are exactly the msgpack encoding of the flow', async () => {
    const dir = await tempDir()
    let store = await FlowStore.open<GeneratedFlow>(dir)
    const flow = generateFlow(11)
    await store.save(flow)
    const expected = new Uint8Array(new Packr({ useRecords: false }).pack(flow))
    expect(new Uint8Array(store.lazy(flow.id)!.bytes)).toStrictEqual(expected)
    await store.close()
    store = await FlowStore.open<GeneratedFlow>(dir)
    expect(new Uint8Array(store.lazy(flow.id)!.bytes)).toStrictEqual(expected)
    await store.close()
  })

  it('bytes are a copy: changing them does not change the stored flow', async () => {
    const store = await FlowStore.open<GeneratedFlow>(await tempDir())
    const flow = generateFlow(12)
    await store.save(flow)
    const bytes = store.lazy(flow.id)!.bytes
    bytes.fill(0)
    expect(store.get(flow.id)).toStrictEqual(flow)
    expect(store.lazy(flow.id)!.bytes).not.toStrictEqual(bytes)
    await store.close()
  })

  it('has the id and the committed version', async () => {
    const store = await FlowStore.open<GeneratedFlow>(await tempDir())
    const flow = generateFlow(13)
    await store.save(flow)
    const lazy = store.lazy(flow.id)!
    expect(lazy.id).toBe(flow.id)
    expect(lazy.version).toBe(store.version)
    expect(lazy.version).toBeGreaterThan(0)
    await store.close()
  })

  it('is not decoded after reopen, and is decoded once value is read', async () => {
    const flow = generateFlow(14)
    const dir = await storeWith([flow])
    const store = await FlowStore.open<GeneratedFlow>(dir)
    const lazy = store.lazy(flow.id)!
    expect(lazy.decoded).toBe(false)
    expect(lazy.value).toStrictEqual(flow)
    expect(lazy.decoded).toBe(true)
    expect(store.lazy(flow.id)!.decoded).toBe(true)
    await store.close()
  })

  it('get decodes a flow once: repeated reads return the same object', async () => {
    const flow = generateFlow(15)
    const dir = await storeWith([flow])
    const store = await FlowStore.open<GeneratedFlow>(dir)
    const first = store.get(flow.id)
    expect(store.lazy(flow.id)!.decoded).toBe(true)
    expect(store.get(flow.id)).toBe(first)
    expect(store.lazy(flow.id)!.value).toBe(first)
    expect(store.flows.get(flow.id)).toBe(first)
    await store.close()
  })

  it('open decodes nothing: every flow is still undecoded after reopen', async () => {
    const flows = generateFlows(50)
    const dir = await storeWith(flows)
    const store = await FlowStore.open<GeneratedFlow>(dir)
    expect(store.size).toBe(50)
    expect(flows.map((flow) => store.lazy(flow.id)!.decoded)).toEqual(flows.map(() => false))
    // has, size and keys decode nothing either.
    for (const flow of flows) expect(store.has(flow.id)).toBe(true)
    expect([...store.flows.keys()]).toHaveLength(50)
    expect(flows.some((flow) => store.lazy(flow.id)!.decoded)).toBe(false)
    await store.close()
  })
})

describe('zero storage reads after open', () => {
  it('10,000 reads of every kind over 1,000 flows make no storage read', async () => {
    const flows = generateFlows(1000)
    const dir = await storeWith(flows)
    const db = new CountingClassicLevel(dir)
    const store = await FlowStore.open<GeneratedFlow>(db)
    const readsAfterOpen = db.counts.reads
    expect(readsAfterOpen).toBeGreaterThan(0) // the counter does count the open-time scan
    expect(store.size).toBe(1000)

    let found = 0
    for (let i = 0; i < 10_000; i++) {
      const id = flows[i % 1000]!.id
      const view = store.flows
      if (store.get(id) !== undefined && store.has(id) && view.has(id) && view.get(id) !== undefined) found++
      store.lazy(id)
      store.get(`missing-${i}`)
    }
    expect(found).toBe(10_000)
    let iterated = 0
    for (let pass = 0; pass < 3; pass++) {
      for (const [, flow] of store.flows) if (flow.nodes.length > 0) iterated++
      for (const id of store.flows.keys()) if (id.length > 0) iterated++
      for (const flow of store.flows.values()) if (flow.id.length > 0) iterated++
      store.flows.forEach(() => { iterated++ })
    }
    expect(iterated).toBe(12_000)
    expect(db.counts.reads).toBe(readsAfterOpen)

    await store.close()
    await db.close()
  })

  it('saves and deletes make no storage read', async () => {
    const flows = generateFlows(100)
    const dir = await storeWith(flows)
    const db = new CountingClassicLevel(dir)
    const store = await FlowStore.open<GeneratedFlow>(db)
    const readsAfterOpen = db.counts.reads
    const batchesBefore = db.counts.batches

    for (let i = 0; i < 20; i++) await store.save(mutateFlow(flows[i]!, i + 2))
    await store.saveMany(generateFlows(120).slice(100))
    await store.delete(flows[50]!.id)
    await store.flush()

    expect(db.counts.batches).toBeGreaterThan(batchesBefore) // the writes did reach the database
    expect(db.counts.reads).toBe(readsAfterOpen)
    await store.close()
    await db.close()
  })
})

describe('close', () => {
  it('is idempotent', async () => {
    const store = await FlowStore.open(await tempDir())
    const first = store.close()
    const second = store.close()
    await Promise.all([first, second])
    expect(store.closed).toBe(true)
    await expect(store.close()).resolves.toBeUndefined()
    expect(store.closed).toBe(true)
  })

  it('makes every read throw FLOWSTORE_CLOSED', async () => {
    const store = await FlowStore.open(await tempDir())
    await store.save({ id: 'a' })
    await store.close()
    const reads: Array<[string, () => unknown]> = [
      ['get', () => store.get('a')],
      ['has', () => store.has('a')],
      ['size', () => store.size],
      ['flows', () => store.flows],
      ['lazy', () => store.lazy('a')]
    ]
    for (const [name, read] of reads) expect(thrown(read).code, name).toBe('FLOWSTORE_CLOSED')
  })

  it('makes a flows view taken before close throw FLOWSTORE_CLOSED', async () => {
    const store = await FlowStore.open(await tempDir())
    await store.save({ id: 'a' })
    const view = store.flows
    await store.close()
    const reads: Array<[string, () => unknown]> = [
      ['size', () => view.size],
      ['get', () => view.get('a')],
      ['has', () => view.has('a')],
      ['keys', () => [...view.keys()]],
      ['values', () => [...view.values()]],
      ['entries', () => [...view.entries()]],
      ['iterator', () => [...view]],
      ['forEach', () => { view.forEach(() => {}) }]
    ]
    for (const [name, read] of reads) expect(thrown(read).code, name).toBe('FLOWSTORE_CLOSED')
  })

  it('makes every write throw FLOWSTORE_CLOSED', async () => {
    const store = await FlowStore.open(await tempDir())
    await store.close()
    expect(thrown(() => store.save({ id: 'a' })).code).toBe('FLOWSTORE_CLOSED')
    expect(thrown(() => store.saveMany([{ id: 'a' }])).code).toBe('FLOWSTORE_CLOSED')
    expect(thrown(() => store.delete('a')).code).toBe('FLOWSTORE_CLOSED')
    await expect(store.flush()).rejects.toMatchObject({ code: 'FLOWSTORE_CLOSED' })
    await expect(store.transaction(() => 1)).rejects.toMatchObject({ code: 'FLOWSTORE_CLOSED' })
    await expect(store.changesSince(0)).rejects.toMatchObject({ code: 'FLOWSTORE_CLOSED' })
  })

  it('makes writes throw FLOWSTORE_CLOSED while it is closing', async () => {
    const store = await FlowStore.open(await tempDir(), { flush: 'manual' })
    void store.save({ id: 'a' })
    const closing = store.close()
    expect(thrown(() => store.save({ id: 'b' })).code).toBe('FLOWSTORE_CLOSED')
    await closing
  })

  it('flushes pending changes first', async () => {
    const dir = await tempDir()
    let store = await FlowStore.open<GeneratedFlow>(dir, { flush: 'manual' })
    const [a, b] = generateFlows(2) as [GeneratedFlow, GeneratedFlow]
    void store.saveMany([a, b])
    await store.flush()
    const saved = store.save(mutateFlow(a, 5))
    const deleted = store.delete(b.id)
    expect(store.pending).toBe(2)
    await store.close()
    await saved
    await deleted
    store = await FlowStore.open<GeneratedFlow>(dir)
    expect(store.get(a.id)).toStrictEqual(mutateFlow(a, 5))
    expect(store.has(b.id)).toBe(false)
    expect(store.size).toBe(1)
    await store.close()
  })

  it('runs at the end of an `await using` block', async () => {
    const dir = await tempDir()
    const flow = generateFlow(21)
    let outside: FlowStore<GeneratedFlow> | undefined
    {
      await using store = await FlowStore.open<GeneratedFlow>(dir, { flush: 'manual' })
      outside = store
      void store.save(flow)
      expect(store.closed).toBe(false)
    }
    expect(outside.closed).toBe(true)
    const reopened = await FlowStore.open<GeneratedFlow>(dir)
    expect(reopened.get(flow.id)).toStrictEqual(flow)
    await reopened.close()
  })

  it('is what Symbol.asyncDispose does', async () => {
    const store = await FlowStore.open(await tempDir())
    expect(typeof store[Symbol.asyncDispose]).toBe('function')
    await store[Symbol.asyncDispose]()
    expect(store.closed).toBe(true)
  })

  it('of a directory store releases the directory: it can be opened again in-process', async () => {
    const dir = await tempDir()
    const first = await FlowStore.open(dir)
    await expect(FlowStore.open(dir)).rejects.toMatchObject({ code: 'FLOWSTORE_LOCKED' })
    await first.save({ id: 'a' })
    await first.close()
    const second = await FlowStore.open(dir)
    expect(second.has('a')).toBe(true)
    await second.close()
  })

  it('leaves a database passed in open and usable, and releases it for another store', async () => {
    const db = new ClassicLevel<string, Uint8Array>(await tempDir(), { keyEncoding: 'utf8', valueEncoding: 'view' })
    const store = await FlowStore.open(db)
    expect(store.directory).toBeUndefined()
    await store.save({ id: 'a' })
    await store.close()
    expect(db.status).toBe('open')
    await db.put('outside', Uint8Array.of(1))
    expect(Array.from((await db.get('outside'))!)).toEqual([1])
    const again = await FlowStore.open(db)
    expect(again.has('a')).toBe(true)
    await again.close()
    expect(db.status).toBe('open')
    await db.close()
  })
})

describe('onClose', () => {
  it('runs a hook after the final flush and before the database closes, and close() waits for it', async () => {
    const dir = await tempDir()
    const db = new CountingClassicLevel(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    const store = await FlowStore.open(db)
    const seen: string[] = []
    let finish!: () => void
    store.onClose(async () => {
      seen.push(`hook: pending ${store.pending}, database ${db.status}, has a ${store.has('a')}`)
      await new Promise<void>((resolve) => { finish = resolve })
      seen.push('hook done')
    })
    void store.save({ id: 'a' })
    const closing = store.close().then(() => { seen.push('closed') })
    await expect.poll(() => seen.length).toBe(1)
    finish()
    await closing
    expect(seen).toEqual(['hook: pending 0, database open, has a true', 'hook done', 'closed'])
    await db.close()
  })

  it('does not run a removed hook, and refuses a hook once closing has begun', async () => {
    const store = await FlowStore.open(await tempDir())
    let ran = false
    const remove = store.onClose(() => { ran = true })
    remove()
    const closing = store.close()
    expect(thrown(() => store.onClose(() => {})).code).toBe('FLOWSTORE_CLOSED')
    await closing
    expect(ran).toBe(false)
    expect(() => store.onClose('not a function' as never)).toThrow(TypeError)
  })
})

describe('reopen', () => {
  it('shows exactly what was acknowledged', async () => {
    const dir = await tempDir()
    let store = await FlowStore.open<GeneratedFlow>(dir)
    const expected = new Map<string, GeneratedFlow>()
    const flows = generateFlows(60)
    await store.saveMany(flows.slice(0, 40))
    for (const flow of flows.slice(0, 40)) expected.set(flow.id, flow)
    for (let i = 0; i < 40; i += 3) {
      const changed = mutateFlow(flows[i]!, i + 7)
      await store.save(changed)
      expected.set(changed.id, changed)
    }
    for (let i = 1; i < 40; i += 5) {
      await store.delete(flows[i]!.id)
      expected.delete(flows[i]!.id)
    }
    for (const flow of flows.slice(40)) {
      await store.save(flow)
      expected.set(flow.id, flow)
    }
    await store.delete('never-saved')
    await store.close()

    store = await FlowStore.open<GeneratedFlow>(dir)
    expect(new Map(store.flows)).toStrictEqual(expected)
    expect(store.size).toBe(expected.size)
    await store.close()
  })
})
