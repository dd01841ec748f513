// Damaged stored values: a store is written and closed, then one flow record is overwritten
// with raw classic-level (key f!<id>, value [0xf1][6-byte version][msgpack]). The store must
// still open; only that flow fails, with FLOWSTORE_DECODE_ERROR naming it, and saving it
// again repairs it.

import { ClassicLevel } from 'classic-level'
import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { generateFlows } from '../examples/generate-flows.ts'
import { FlowStore, FlowStoreError, isFlowStoreError } from '../src/index.ts'
import { tempDir } from './helpers.ts'

const HEADER_BYTES = 7
const FLOWS = generateFlows(5)
const BAD = FLOWS[2]!
const BAD_ID = BAD.id

/** Plain msgpack as the store writes it (maps, no records). */
const plain = new Packr({ useRecords: false, mapsAsObjects: true })
/** A foreign writer with msgpackr's extensions (Set, typed arrays, …) turned on. */
const moreTypes = new Packr({ moreTypes: true })

function concat (...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts))
}

/** Replaces the first occurrence of `find` in `bytes` (which must contain it). */
function replaceBytes (bytes: Uint8Array, find: Uint8Array, replacement: Uint8Array): Uint8Array {
  const at = Buffer.from(bytes).indexOf(find)
  expect(at).toBeGreaterThanOrEqual(0)
  return concat(bytes.subarray(0, at), replacement, bytes.subarray(at + find.length))
}

/** How a case damages the record (the stored value) of BAD_ID. */
type Damage = (record: Uint8Array) => Uint8Array

/** The header of the original record followed by `body`. */
const withBody = (body: Uint8Array): Damage => (record) => concat(record.subarray(0, HEADER_BYTES), body)

const FLOAT_HALF = Uint8Array.of(0xcb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0)
const FLOAT_NEGATIVE_ZERO = Uint8Array.of(0xcb, 0x80, 0, 0, 0, 0, 0, 0, 0)

const CASES: Array<[string, Damage]> = [
  ['garbage msgpack bytes', withBody(Buffer.from('this is not msgpack at all'))],
  ['a damaged header byte', (record) => { const copy = record.slice(); copy[0] = 0x00; return copy }],
  ['valid msgpack of a string, not an object', withBody(plain.pack('just a string'))],
  ['valid msgpack of an array, not an object', withBody(plain.pack([BAD]))],
  ['valid msgpack of null', withBody(plain.pack(null))],
  ['valid msgpack of a flow whose id differs', withBody(plain.pack({ ...BAD, id: 'someone-else' }))],
  ['msgpack of a Set (a foreign moreTypes writer)', withBody(moreTypes.pack({ ...BAD, tags: new Set(BAD.tags) }))],
  ['msgpack of a Float64Array (a foreign moreTypes writer)', withBody(moreTypes.pack({ ...BAD, weights: new Float64Array([1.5, 2]) }))],
  // 0xc1 is never used in msgpack: here it stands in place of a value inside the flow.
  ['the reserved byte 0xc1 as a value', withBody(replaceBytes(plain.pack({ ...BAD, marker: 0.5 }), FLOAT_HALF, Uint8Array.of(0xc1)))],
  ['a body cut short', (record) => record.subarray(0, record.length - 10)],
  ['only the header left', (record) => record.subarray(0, HEADER_BYTES)]
]

interface Damaged {
  readonly dir: string
  /** The value now stored under f!<BAD_ID>. */
  readonly record: Uint8Array
}

/** Writes FLOWS with a store, closes it, then overwrites BAD's record with `damage(record)`. */
async function damagedStore (damage: Damage): Promise<Damaged> {
  const dir = await tempDir()
  const store = await FlowStore.open(dir)
  await store.saveMany(FLOWS)
  await store.close()
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  const original = await db.get('f!' + BAD_ID)
  expect(original).toBeDefined()
  const record = Uint8Array.from(damage(original!))
  await db.put('f!' + BAD_ID, record)
  await db.close()
  return { dir, record }
}

/** The error `fn` throws (fails the test if it returns). */
function thrownBy (fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  return expect.unreachable('expected a throw')
}

function expectDecodeError (err: unknown): void {
  expect(err).toBeInstanceOf(FlowStoreError)
  expect(isFlowStoreError(err, 'FLOWSTORE_DECODE_ERROR')).toBe(true)
  expect((err as FlowStoreError).id).toBe(BAD_ID)
  expect((err as FlowStoreError).message).toContain(JSON.stringify(BAD_ID))
}

describe.each(CASES)('a stored value with %s', (_name, damage) => {
  it('opens, and get() of that flow throws FLOWSTORE_DECODE_ERROR naming its id', async () => {
    const { dir } = await damagedStore(damage)
    const store = await FlowStore.open(dir)
    expect(store.has(BAD_ID)).toBe(true)
    expect(store.size).toBe(FLOWS.length)
    expectDecodeError(thrownBy(() => store.get(BAD_ID)))
    // Not cached as a success: a second read fails the same way.
    expectDecodeError(thrownBy(() => store.flows.get(BAD_ID)))
    await store.close()
  })

  it('still reads every other flow exactly', async () => {
    const { dir } = await damagedStore(damage)
    const store = await FlowStore.open(dir)
    for (const flow of FLOWS) {
      if (flow.id !== BAD_ID) expect(store.get(flow.id)).toEqual(flow)
    }
    await store.close()
  })

  it('still hands out the stored bytes through lazy()', async () => {
    const { dir, record } = await damagedStore(damage)
    const store = await FlowStore.open(dir)
    const lazy = store.lazy(BAD_ID)
    expect(lazy).toBeDefined()
    expect(lazy!.id).toBe(BAD_ID)
    expect(lazy!.decoded).toBe(false)
    // Compared as plain Uint8Arrays: only the contents matter here.
    expect(Uint8Array.from(lazy!.bytes)).toEqual(record.slice(HEADER_BYTES))
    expectDecodeError(thrownBy(() => lazy!.value))
    expect(Uint8Array.from(lazy!.bytes)).toEqual(record.slice(HEADER_BYTES))
    await store.close()
  })

  it('lets iteration over flows run up to the damaged flow, then throw', async () => {
    const { dir } = await damagedStore(damage)
    const store = await FlowStore.open(dir)
    const seen: string[] = []
    const err = thrownBy(() => {
      for (const [id, flow] of store.flows) {
        expect(flow.id).toBe(id)
        seen.push(id)
      }
    })
    expectDecodeError(err)
    // Keys are stored in id order; the flows before the damaged one were read fine.
    expect(seen).toEqual(FLOWS.slice(0, 2).map((f) => f.id))
    // Listing ids decodes nothing, so it does not fail.
    expect([...store.flows.keys()]).toEqual(FLOWS.map((f) => f.id))
    await store.close()
  })

  it('is repaired by saving that flow again, also after reopening', async () => {
    const { dir } = await damagedStore(damage)
    const store = await FlowStore.open(dir)
    await store.save(BAD)
    expect(store.get(BAD_ID)).toEqual(BAD)
    await store.close()
    const reopened = await FlowStore.open(dir)
    expect(reopened.get(BAD_ID)).toEqual(BAD)
    expect([...reopened.flows.values()]).toEqual(FLOWS)
    await reopened.close()
  })

  it('is removed for good by deleting that flow', async () => {
    const { dir } = await damagedStore(damage)
    const store = await FlowStore.open(dir)
    await store.delete(BAD_ID)
    expect(store.has(BAD_ID)).toBe(false)
    await store.close()
    const reopened = await FlowStore.open(dir)
    expect(reopened.has(BAD_ID)).toBe(false)
    expect([...reopened.flows.values()]).toEqual(FLOWS.filter((f) => f.id !== BAD_ID))
    await reopened.close()
  })
})

// Foreign bytes that msgpackr decodes without complaint into values outside the value
// domain, which a store never writes: reading them must fail like any damaged value.
describe('a stored value that decodes to something outside the value domain', () => {
  it('refuses a 64-bit integer that decodes to a BigInt', async () => {
    // msgpackr writes a BigInt as uint64 (0xcf) and reads uint64 back as a BigInt.
    const { dir } = await damagedStore(withBody(replaceBytes(plain.pack({ ...BAD, marker: 0.5 }), FLOAT_HALF, Uint8Array.of(0xcf, 0, 0, 0, 0, 0, 0, 0, 5))))
    const store = await FlowStore.open(dir)
    expectDecodeError(thrownBy(() => store.get(BAD_ID)))
    await store.close()
  })

  it('refuses a float64 -0', async () => {
    const { dir } = await damagedStore(withBody(replaceBytes(plain.pack({ ...BAD, marker: 0.5 }), FLOAT_HALF, FLOAT_NEGATIVE_ZERO)))
    const store = await FlowStore.open(dir)
    expectDecodeError(thrownBy(() => store.get(BAD_ID)))
    await store.close()
  })
})

describe('foreign bytes with a "__proto__" key', () => {
  /** msgpack map {id: BAD_ID, __proto__: {polluted: true}, nested: {__proto__: {polluted: true}}}. */
  function protoBody (): Uint8Array {
    const str = (s: string): Uint8Array => plain.pack(s)
    const polluter = concat(Uint8Array.of(0x81), str('polluted'), Uint8Array.of(0xc3))
    return concat(
      Uint8Array.of(0x83),
      str('id'), str(BAD_ID),
      str('__proto__'), polluter,
      str('nested'), Uint8Array.of(0x81), str('__proto__'), polluter
    )
  }

  it('does not pollute Object.prototype when the flow is read', async () => {
    const { dir } = await damagedStore(withBody(protoBody()))
    const store = await FlowStore.open(dir)
    let value: unknown
    try {
      value = store.get(BAD_ID)
    } catch (err) {
      // Refusing the value is fine too; polluting is not.
      expectDecodeError(err)
    }
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
    expect(Object.prototype).not.toHaveProperty('polluted')
    if (value !== undefined) {
      expect(Object.getPrototypeOf(value)).toBe(Object.prototype)
      expect((value as { polluted?: unknown }).polluted).toBeUndefined()
      const nested = (value as { nested: object }).nested
      expect(Object.getPrototypeOf(nested)).toBe(Object.prototype)
      expect((nested as { polluted?: unknown }).polluted).toBeUndefined()
    }
    await store.close()
  })
})
