// Value fidelity: every value of the accepted domain comes back exactly as saved (property
// based, through real LevelDB and a reopen); everything outside it is refused up front with
// the path to the offending value, leaving the store untouched; values handed out are frozen.

import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { MAX_DEPTH } from '../src/domain.ts'
import { type Flow, FlowStore, FlowStoreError, type FlowStoreOptions } from '../src/index.ts'
import { tempDir } from './helpers.ts'

// ---------------------------------------------------------------------------------------
// The accepted domain as fast-check arbitraries.

const wellFormed = (s: string): boolean => s.isWellFormed()

const text = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('', '😀', '👨‍👩‍👧‍👦', '👍🏽', 'e\u0301', '日本語', '\u0000', '\uFEFF', '\u{10FFFF}', 'x'.repeat(300))
).filter(wellFormed)

const key = fc.oneof(
  fc.constantFrom('constructor', 'toString', 'valueOf', 'hasOwnProperty', 'prototype', 'then', 'length', '1', '0', '-1', '01', '', ' ', '😀', 'é'),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.string({ unit: 'binary', maxLength: 6 })
).filter((k) => k !== '__proto__' && wellFormed(k))

const number = fc.oneof(
  fc.double().filter((d) => !Object.is(d, -0)),
  fc.integer(),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, 2 ** 31, -(2 ** 31) - 1, 2 ** 32, 2 ** 53, -(2 ** 53), 2 ** 63, -(2 ** 63), 2 ** 64, Number.MAX_VALUE, Number.MIN_VALUE, 0.1)
)

const leaf = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.boolean(),
  number,
  text,
  fc.date({ noInvalidDate: false }),
  fc.uint8Array({ maxLength: 24 })
)

/** A plain object built by assignment (never a null prototype, never a `__proto__` key). */
function toObject (entries: Array<[string, unknown]>): Record<string, unknown> {
  const object: Record<string, unknown> = {}
  for (const [k, v] of entries) object[k] = v
  return object
}

const { value } = fc.letrec<{ value: unknown, array: unknown[], object: Record<string, unknown> }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', maxDepth: 4 }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 5 }),
  object: fc.array(fc.tuple(key, tie('value')), { maxLength: 5 }).map(toObject)
}))

const flowFields = fc.array(fc.tuple(key.filter((k) => k !== 'id'), value), { maxLength: 6 }).map(toObject)

/** Asserts that `got` has the same kind of value as `want` at every level (prototypes). */
function expectSameKinds (got: unknown, want: unknown, path = 'flow'): void {
  if (typeof want !== 'object' || want === null) return
  if (want instanceof Date) {
    expect(got, path).toBeInstanceOf(Date)
    expect(Object.prototype.toString.call(got), path).toBe('[object Date]')
    return
  }
  if (want instanceof Uint8Array) {
    expect(Object.getPrototypeOf(got), `${path} is a plain Uint8Array`).toBe(Uint8Array.prototype)
    expect(Buffer.isBuffer(got), `${path} is not a Buffer`).toBe(false)
    return
  }
  if (Array.isArray(want)) {
    expect(Object.getPrototypeOf(got), path).toBe(Array.prototype)
    want.forEach((item, i) => { expectSameKinds((got as unknown[])[i], item, `${path}[${i}]`) })
    return
  }
  expect(Object.getPrototypeOf(got), path).toBe(Object.prototype)
  for (const k of Object.keys(want)) expectSameKinds((got as Record<string, unknown>)[k], (want as Record<string, unknown>)[k], `${path}[${JSON.stringify(k)}]`)
}

// vitest's toStrictEqual checks `a.constructor === b.constructor`; for a plain object with its
// own "constructor" key that compares two key values by identity, so equal flows such as
// { constructor: {} } would fail. This tester takes over for such plain objects only: same
// prototype, same own keys (undefined-valued ones included), values compared strictly with
// the same testers.
type Tester = Parameters<typeof expect.addEqualityTesters>[0][number]
const plainObjectsWithConstructorKey: Tester = function (a, b, customTesters) {
  const plain = (x: unknown): x is Record<string, unknown> =>
    typeof x === 'object' && x !== null && Object.getPrototypeOf(x) === Object.prototype
  if (!plain(a) || !plain(b) || !(Object.hasOwn(a, 'constructor') || Object.hasOwn(b, 'constructor'))) return undefined
  const keys = Object.keys(a)
  if (keys.length !== Object.keys(b).length) return false
  return keys.every((k) => Object.hasOwn(b, k) && this.equals(a[k], b[k], customTesters, true))
}
expect.addEqualityTesters([plainObjectsWithConstructorKey])

function expectExact (got: unknown, want: unknown): void {
  expect(got).toStrictEqual(want)
  expectSameKinds(got, want)
}

describe('fidelity: the accepted domain round-trips exactly', () => {
  it('the equality used here still tells different "constructor" values apart', () => {
    expect({ constructor: { a: 1 } }).toStrictEqual({ constructor: { a: 1 } })
    expect({ constructor: { a: 1 } }).not.toStrictEqual({ constructor: { a: 2 } })
    expect({ constructor: { a: undefined } }).not.toStrictEqual({ constructor: {} })
    expect({ constructor: [1] }).not.toStrictEqual({ constructor: [1], other: 1 })
    expect({ constructor: new Date(1) }).not.toStrictEqual({ constructor: new Date(2) })
  })

  it('any flow of the domain comes back deep-equal with the same prototypes, before and after reopen', async () => {
    const dir = await tempDir()
    let store = await FlowStore.open(dir)
    const saved = new Map<string, Flow>()
    let n = 0
    await fc.assert(fc.asyncProperty(flowFields, async (fields) => {
      const flow: Flow = { id: `p-${n++}`, ...fields }
      await store.save(flow)
      saved.set(flow.id, flow)
      expectExact(store.get(flow.id), flow)
    }), { numRuns: 100 })

    // Reopen a few times: each time everything saved comes back from LevelDB exactly.
    for (let round = 0; round < 3; round++) {
      await store.close()
      store = await FlowStore.open(dir)
      expect(store.size).toBe(saved.size)
      expect(new Map(store.flows)).toStrictEqual(saved)
      for (const [id, flow] of saved) expectSameKinds(store.get(id), flow)
    }
    await store.close()
  })

  it('any flow of the domain comes back exactly from a freshly reopened store', async () => {
    const dir = await tempDir()
    let n = 0
    await fc.assert(fc.asyncProperty(flowFields, async (fields) => {
      const flow: Flow = { id: `r-${n++}`, ...fields }
      const writer = await FlowStore.open(dir)
      await writer.save(flow)
      await writer.close()
      const reader = await FlowStore.open(dir)
      try {
        expect(reader.lazy(flow.id)!.decoded).toBe(false)
        expectExact(reader.get(flow.id), flow)
      } finally {
        await reader.close()
      }
    }), { numRuns: 25 })
  })

  it('edge values of every accepted kind come back exactly after reopen', async () => {
    const dir = await tempDir()
    const flow: Flow = {
      id: 'edges',
      nan: Number.NaN,
      inf: [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY],
      ints: [0, 2 ** 31, -(2 ** 31) - 1, 2 ** 32, 2 ** 53, -(2 ** 53), 2 ** 64, -(2 ** 63)],
      floats: [0.1, Number.MAX_VALUE, Number.MIN_VALUE, -1e-300],
      missing: undefined,
      holes: [undefined, null, undefined],
      emoji: '👨‍👩‍👧‍👦 😀 👍🏽',
      astral: '\u{1F600}\u{10FFFF}',
      keys: { constructor: 1, toString: 'x', 1: 'one', '': 'empty', valueOf: null, hasOwnProperty: [] },
      dates: [new Date(0), new Date(-8.64e15), new Date(8.64e15), new Date(Number.NaN), new Date(1_700_000_000_123)],
      bins: [new Uint8Array(0), Uint8Array.of(0, 255, 128), new Uint8Array(70_000).fill(7)],
      empty: { object: {}, array: [] }
    }
    let store = await FlowStore.open(dir)
    await store.save(flow)
    await store.close()
    store = await FlowStore.open(dir)
    expectExact(store.get('edges'), flow)
    await store.close()
  })

  it('nesting right up to the depth limit is accepted and comes back exactly', async () => {
    // The flow object is depth 0, so the deepest object allowed sits at MAX_DEPTH - 1.
    let deep: Record<string, unknown> = { leaf: true }
    for (let depth = MAX_DEPTH - 1; depth > 1; depth--) deep = { n: deep }
    const flow: Flow = { id: 'deep', n: deep }
    const dir = await tempDir()
    let store = await FlowStore.open(dir)
    await store.save(flow)
    await store.close()
    store = await FlowStore.open(dir)
    expect(store.get('deep')).toStrictEqual(flow)
    await store.close()
  })

  it('a flow whose encoding is exactly maxFlowBytes is accepted', async () => {
    const flow = { id: 'fits', text: 'x'.repeat(200) }
    const size = new Packr({ useRecords: false }).pack(flow).length
    const store = await FlowStore.open(await tempDir(), { maxFlowBytes: size })
    await store.save(flow)
    expect(store.get('fits')).toStrictEqual(flow)
    await store.close()
  })

  it('an id of exactly maxIdBytes UTF-8 bytes is accepted', async () => {
    const store = await FlowStore.open(await tempDir(), { maxIdBytes: 8 })
    await store.save({ id: 'éééé' }) // 4 characters, 8 bytes
    await store.save({ id: 'abcdefgh' })
    expect(store.size).toBe(2)
    await store.close()
  })
})

// ---------------------------------------------------------------------------------------
// Refusals.

const BASE = { id: 'base', name: 'kept', config: { n: 1, list: [1, 2] } }

/** A store holding BASE (committed), nothing pending. */
async function storeWithBase (options?: FlowStoreOptions): Promise<FlowStore> {
  const store = await FlowStore.open(await tempDir(), options)
  await store.save(BASE)
  expect(store.pending).toBe(0)
  return store
}

/** BASE, changed, with `value` at flow.config.value. */
function withBad (value: unknown): Flow {
  return { id: 'base', name: 'changed', config: { n: 2, value } }
}

/**
 * Asserts that `save` throws FLOWSTORE_INVALID_FLOW synchronously with `where` in its
 * message, and that the store did not change: same size, same flows, nothing pending, and
 * no batch written by the next flush.
 */
async function expectRefused (store: FlowStore, save: () => unknown, where: string | RegExp): Promise<FlowStoreError> {
  const before = new Map(store.flows)
  const baseBefore = store.get('base')
  const version = store.version
  let error: unknown
  try {
    save()
  } catch (err) {
    error = err
  }
  expect(error).toBeInstanceOf(FlowStoreError)
  const refused = error as FlowStoreError
  expect(refused.code).toBe('FLOWSTORE_INVALID_FLOW')
  if (typeof where === 'string') expect(refused.message).toContain(where)
  else expect(refused.message).toMatch(where)
  expect(store.size).toBe(before.size)
  expect(new Map(store.flows)).toStrictEqual(before)
  expect(store.get('base')).toBe(baseBefore)
  expect(store.pending).toBe(0)
  await store.flush()
  expect(store.version).toBe(version)
  return refused
}

describe('refusals: values outside the domain are refused with their path, changing nothing', () => {
  it('refuses a "__proto__" key', async () => {
    const store = await storeWithBase()
    const err = await expectRefused(store, () => store.save(withBad(JSON.parse('{"__proto__":1}'))), 'flow.config.value.__proto__')
    expect(err.message).toContain('__proto__')
    await store.close()
  })

  it('refuses a Map', async () => {
    const store = await storeWithBase()
    const err = await expectRefused(store, () => store.save(withBad(new Map([['a', 1]]))), 'flow.config.value')
    expect(err.message).toContain('Map')
    await store.close()
  })

  it('refuses a Set', async () => {
    const store = await storeWithBase()
    const err = await expectRefused(store, () => store.save(withBad(new Set([1]))), 'flow.config.value')
    expect(err.message).toContain('Set')
    await store.close()
  })

  it('refuses a function', async () => {
    const store = await storeWithBase()
    const err = await expectRefused(store, () => store.save(withBad(() => 1)), 'flow.config.value')
    expect(err.message).toContain('function')
    await store.close()
  })

  it('refuses a symbol value', async () => {
    const store = await storeWithBase()
    const err = await expectRefused(store, () => store.save(withBad(Symbol('s'))), 'flow.config.value')
    expect(err.message).toContain('symbol')
    await store.close()
  })

  it('refuses a symbol key', async () => {
    const store = await storeWithBase()
    const err = await expectRefused(store, () => store.save(withBad({ ok: 1, [Symbol('k')]: 1 })), 'flow.config.value')
    expect(err.message).toContain('symbol')
    await store.close()
  })

  it('refuses a bigint', async () => {
    const store = await storeWithBase()
    const err = await expectRefused(store, () => store.save(withBad(10n)), 'flow.config.value')
    expect(err.message).toContain('bigint')
    await store.close()
  })

  it('refuses -0', async () => {
    const store = await storeWithBase()
    const err = await expectRefused(store, () => store.save(withBad([0, -0])), 'flow.config.value[1]')
    expect(err.message).toContain('-0')
    await store.close()
  })

  it('refuses a lone surrogate in a string value', async () => {
    const store = await storeWithBase()
    await expectRefused(store, () => store.save(withBad({ text: 'ok\uD800' })), 'flow.config.value.text')
    await store.close()
  })

  it('refuses a lone surrogate in a key', async () => {
    const store = await storeWithBase()
    await expectRefused(store, () => store.save(withBad({ ['k\uDC00']: 1 })), `flow.config.value[${JSON.stringify('k\uDC00')}]`)
    await store.close()
  })

  it('refuses a sparse array', async () => {
    const store = await storeWithBase()
    // eslint-disable-next-line no-sparse-arrays
    const err = await expectRefused(store, () => store.save(withBad([1, , 3])), 'flow.config.value[1]')
    expect(err.message).toContain('sparse')
    await store.close()
  })

  it('refuses a Buffer', async () => {
    const store = await storeWithBase()
    const err = await expectRefused(store, () => store.save(withBad(Buffer.from([1, 2]))), 'flow.config.value')
    expect(err.message).toContain('Buffer')
    await store.close()
  })

  it('refuses a class instance', async () => {
    class Point { x = 1; y = 2 }
    const store = await storeWithBase()
    const err = await expectRefused(store, () => store.save(withBad(new Point())), 'flow.config.value')
    expect(err.message).toContain('Point')
    await store.close()
  })

  it('refuses an object with a null prototype', async () => {
    const store = await storeWithBase()
    const bare = Object.create(null) as Record<string, unknown>
    bare.a = 1
    const err = await expectRefused(store, () => store.save(withBad(bare)), 'flow.config.value')
    expect(err.message).toContain('null prototype')
    await store.close()
  })

  it('refuses a cycle', async () => {
    const store = await storeWithBase()
    const looped: Record<string, unknown> = { a: 1 }
    looped.self = looped
    const err = await expectRefused(store, () => store.save(withBad(looped)), 'flow.config.value.self')
    expect(err.message).toContain('cycle')
    await store.close()
  })

  it('refuses nesting deeper than the limit', async () => {
    const store = await storeWithBase()
    let deep: Record<string, unknown> = { leaf: true }
    for (let i = 0; i < MAX_DEPTH + 10; i++) deep = { n: deep }
    const err = await expectRefused(store, () => store.save(withBad(deep)), /at flow\.config\.value(\.n)+, /)
    expect(err.message).toContain(String(MAX_DEPTH))
    await store.close()
  })

  it('refuses a flow without an id', async () => {
    const store = await storeWithBase()
    await expectRefused(store, () => store.save({ name: 'no id' } as unknown as Flow), /id/)
    await store.close()
  })

  it('refuses an empty id', async () => {
    const store = await storeWithBase()
    await expectRefused(store, () => store.save({ id: '' }), /id/)
    await store.close()
  })

  it('refuses a non-string id', async () => {
    const store = await storeWithBase()
    await expectRefused(store, () => store.save({ id: 42 } as unknown as Flow), /id.*42/)
    await expectRefused(store, () => store.save({ id: ['base'] } as unknown as Flow), /id/)
    await store.close()
  })

  it('refuses an id longer than maxIdBytes UTF-8 bytes', async () => {
    const store = await storeWithBase({ maxIdBytes: 8 })
    await expectRefused(store, () => store.save({ id: 'abcdefghi' }), 'maxIdBytes')
    await expectRefused(store, () => store.save({ id: 'ééééé' }), 'maxIdBytes') // 5 characters, 10 bytes
    await store.close()
  })

  it('refuses a flow that encodes to more than maxFlowBytes', async () => {
    const flow = { id: 'base', text: 'x'.repeat(200) }
    const size = new Packr({ useRecords: false }).pack(flow).length
    const store = await storeWithBase({ maxFlowBytes: size - 1 })
    const err = await expectRefused(store, () => store.save(flow), 'maxFlowBytes')
    expect(err.message).toContain('"base"')
    await store.close()
  })

  it('refuses a flow that is not a plain object', async () => {
    const store = await storeWithBase()
    for (const bad of [[{ id: 'base' }], 'base', null, undefined, 42, new Date(0)]) {
      await expectRefused(store, () => store.save(bad as unknown as Flow), 'A flow must be a plain object')
    }
    await store.close()
  })

  it('refuses a whole saveMany when one flow in it is refused', async () => {
    const store = await storeWithBase()
    const err = await expectRefused(store, () => store.saveMany([{ id: 'new-1' }, { id: 'base', name: 'changed' }, withBad(new Map()), { id: 'new-2' }]), 'flow.config.value')
    expect(err.id).toBe('base')
    expect(store.has('new-1')).toBe(false)
    expect(store.has('new-2')).toBe(false)
    await store.close()
  })

  it('a refused save does not stop other pending saves from flushing', async () => {
    const dir = await tempDir()
    let store = await FlowStore.open(dir, { flush: 'manual' })
    const committed = store.save({ id: 'pending', n: 1 })
    expect(() => store.save({ id: 'bad', n: -0 })).toThrow(FlowStoreError)
    expect(store.pending).toBe(1)
    await store.flush()
    await committed
    expect(store.pending).toBe(0)
    await store.close()
    store = await FlowStore.open(dir)
    expect(store.get('pending')).toStrictEqual({ id: 'pending', n: 1 })
    expect(store.has('bad')).toBe(false)
    await store.close()
  })
})

// ---------------------------------------------------------------------------------------
// Frozen values and copies.

describe('freezing: what the store hands out cannot change it, and what it took cannot either', () => {
  it('values handed out are deep-frozen: assigning throws', async () => {
    const store = await FlowStore.open(await tempDir())
    await store.save({ id: 'a', name: 'n', nodes: [{ x: 1, position: { y: 2 } }], meta: { tags: ['t'] } })
    const got = store.get('a') as any
    for (const part of [got, got.nodes, got.nodes[0], got.nodes[0].position, got.meta, got.meta.tags]) {
      expect(Object.isFrozen(part)).toBe(true)
    }
    expect(() => { got.name = 'changed' }).toThrow(TypeError)
    expect(() => { got.added = 1 }).toThrow(TypeError)
    expect(() => { delete got.name }).toThrow(TypeError)
    expect(() => { got.nodes[0].position.y = 3 }).toThrow(TypeError)
    expect(() => { got.nodes.push({ x: 2 }) }).toThrow(TypeError)
    expect(() => { got.meta.tags[0] = 'u' }).toThrow(TypeError)
    expect(store.get('a')).toStrictEqual({ id: 'a', name: 'n', nodes: [{ x: 1, position: { y: 2 } }], meta: { tags: ['t'] } })
    await store.close()
  })

  it('a Date handed out throws on its setters, and new Date(d) gives a mutable copy', async () => {
    const when = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6))
    const dir = await tempDir()
    let store = await FlowStore.open(dir)
    await store.save({ id: 'a', when })
    await store.close()
    store = await FlowStore.open(dir)
    const got = (store.get('a') as unknown as { when: Date }).when
    expect(got).toBeInstanceOf(Date)
    expect(got.constructor).toBe(Date)
    expect(() => got.setTime(0)).toThrow(TypeError)
    expect(() => got.setFullYear(1999)).toThrow(TypeError)
    expect(() => got.setUTCHours(0)).toThrow(TypeError)
    expect(got.getTime()).toBe(when.getTime())
    expect(got.toISOString()).toBe(when.toISOString())

    const copy = new Date(got)
    expect(copy.getTime()).toBe(when.getTime())
    copy.setFullYear(1999)
    expect(copy.getUTCFullYear()).toBe(1999)
    expect((store.get('a') as unknown as { when: Date }).when.getTime()).toBe(when.getTime())
    await store.close()
  })

  it('mutating a handed-out Uint8Array does not change what the next get returns', async () => {
    const dir = await tempDir()
    let store = await FlowStore.open(dir)
    await store.save({ id: 'a', bin: Uint8Array.of(1, 2, 3), nested: [{ bin: Uint8Array.of(4) }] })
    const first = store.get('a') as unknown as { bin: Uint8Array, nested: Array<{ bin: Uint8Array }> }
    first.bin[0] = 99
    first.bin.fill(7, 1)
    first.nested[0]!.bin[0] = 99
    expect(store.get('a')).toStrictEqual({ id: 'a', bin: Uint8Array.of(1, 2, 3), nested: [{ bin: Uint8Array.of(4) }] })
    await store.close()
    store = await FlowStore.open(dir)
    expect(store.get('a')).toStrictEqual({ id: 'a', bin: Uint8Array.of(1, 2, 3), nested: [{ bin: Uint8Array.of(4) }] })
    await store.close()
  })

  it('mutating the caller\'s object after save does not change what is stored', async () => {
    const dir = await tempDir()
    let store = await FlowStore.open(dir, { flush: 'manual' })
    const flow = { id: 'a', nested: { x: 1 }, list: [1, 2], when: new Date(1000), bin: Uint8Array.of(1, 2) } as Flow & Record<string, any>
    const expected = structuredClone(flow)
    const committed = store.save(flow)
    flow.nested.x = 2
    flow.list.push(3)
    flow.when.setTime(5000)
    flow.bin[0] = 9
    flow.added = true
    expect(store.get('a')).toStrictEqual(expected)
    await store.flush()
    await committed
    expect(store.get('a')).toStrictEqual(expected)
    await store.close()
    store = await FlowStore.open(dir)
    expect(store.get('a')).toStrictEqual(expected)
    await store.close()
  })

  it('saving neither freezes nor changes the caller\'s object', async () => {
    const store = await FlowStore.open(await tempDir())
    const when = new Date(1000)
    const flow = { id: 'a', nested: { x: 1 }, when }
    await store.save(flow)
    expect(Object.isFrozen(flow)).toBe(false)
    expect(Object.isFrozen(flow.nested)).toBe(false)
    expect(Object.getPrototypeOf(when)).toBe(Date.prototype)
    when.setTime(2000)
    expect(when.getTime()).toBe(2000)
    expect(flow).toStrictEqual({ id: 'a', nested: { x: 1 }, when: new Date(2000) })
    await store.close()
  })

  it('a frozen flow read from the store can be spread and saved back', async () => {
    const dir = await tempDir()
    let store = await FlowStore.open(dir)
    const original = { id: 'a', name: 'old', nodes: [{ x: 1 }], when: new Date(1000), bin: Uint8Array.of(5) }
    await store.save(original)
    const got = store.get('a')!
    await store.save({ ...got, name: 'new' })
    expect(store.get('a')).toStrictEqual({ ...original, name: 'new' })
    await store.save(store.get('a')!) // the frozen object itself, readonly Date and all
    await store.close()
    store = await FlowStore.open(dir)
    expect(store.get('a')).toStrictEqual({ ...original, name: 'new' })
    await store.close()
  })
})
