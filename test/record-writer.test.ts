// The one-walk record writer (src/record-writer.ts): for every value in the domain it writes
// exactly the bytes msgpackr writes with the store's options, behind the record header; for
// every value outside it, it writes nothing, exactly when the domain check refuses the value.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkValue } from '../src/domain.ts'
import { RecordWriter } from '../src/record-writer.ts'
import { flow, packr } from './fixtures/domain-values.ts'


function recordBody (record: Uint8Array | undefined): Buffer {
  expect(record).toBeDefined()
  expect(record![0]).toBe(0xf1)
  expect([...record!.subarray(1, 7)]).toEqual([0, 0, 0, 0, 0, 0])
  return Buffer.from(record!.subarray(7))
}

describe('RecordWriter', () => {
  it('writes the bytes msgpackr writes for every value in the domain', () => {
    const writer = new RecordWriter()
    fc.assert(fc.property(flow, (value) => {
      expect(recordBody(writer.encode(value))).toEqual(Buffer.from(packr.pack(value)))
    }), { numRuns: 200 })
  })

  it('writes large objects and arrays (16-bit and 32-bit headers) as msgpackr does', () => {
    const writer = new RecordWriter()
    const wide: Record<string, number> = {}
    for (let i = 0; i < 70_000; i++) wide[`k${i}`] = i
    const long = Array.from({ length: 70_000 }, (_, i) => i % 300)
    const big = [
      { id: 'x', wide: Object.fromEntries(Object.entries(wide).slice(0, 300)) }, { id: 'x', long }, { id: 'x', list: long.slice(0, 20) },
      { id: 'x', s: 'y'.repeat(0x10000), t: '流'.repeat(30000), u: 'é'.repeat(0x8000) },
      { id: 'x', b: new Uint8Array(0x100), c: new Uint8Array(0xffff), d: new Uint8Array(0x10000) }
    ]
    for (const value of big) {
      expect(recordBody(writer.encode(value))).toEqual(Buffer.from(packr.pack(value)))
    }
    expect(() => writer.encode({ id: 'x', wide })).toThrow(RangeError)
    // The writer is fine afterwards.
    expect(recordBody(writer.encode({ id: 'y' }))).toEqual(Buffer.from(packr.pack({ id: 'y' })))
  })

  it('refuses exactly what the domain check refuses, and is fine after a refusal', () => {
    const writer = new RecordWriter()
    const outside = fc.oneof(
      fc.constantFrom<unknown>(-0, 10n, Symbol('s'), () => 1, new Map(), new Set(), Buffer.from('x'), new Uint16Array(2), Object.create(null), new (class Thing {})()),
      fc.constantFrom('\ud800', 'a\udc00b', 'x'.repeat(70) + '\ud83d', '\ud83d\ude00'),
      fc.constantFrom([1, , 3], JSON.parse('{"__proto__": 1}') as unknown, { [Symbol('k')]: 1 }, { ['\udfff']: 1 }) // eslint-disable-line no-sparse-arrays
    )
    fc.assert(fc.property(flow, outside, fc.nat({ max: 3 }), (base, bad, where) => {
      const value: Record<string, unknown> = { ...base }
      if (where === 0) value.bad = bad
      else if (where === 1) value.list = [1, [bad]]
      else if (where === 2) value.nested = { deep: { bad } }
      else value.many = [{ a: 1 }, { b: bad }]
      const refused = checkValue(value, 0, []) !== undefined
      const record = writer.encode(value)
      expect(record === undefined).toBe(refused)
      if (record !== undefined) expect(recordBody(record)).toEqual(Buffer.from(packr.pack(value)))
      expect(recordBody(writer.encode(base))).toEqual(Buffer.from(packr.pack(base)))
    }), { numRuns: 150 })
  })

  it('refuses cycles and nesting deeper than 512 levels', () => {
    const writer = new RecordWriter()
    const cycle: Record<string, unknown> = { id: 'x' }
    cycle.self = { again: cycle }
    expect(writer.encode(cycle)).toBeUndefined()
    let deep: unknown = 1
    for (let i = 0; i < 600; i++) deep = [deep]
    expect(writer.encode({ id: 'x', deep })).toBeUndefined()
    let fine: unknown = 1
    for (let i = 0; i < 500; i++) fine = [fine]
    expect(recordBody(writer.encode({ id: 'x', fine }))).toEqual(Buffer.from(packr.pack({ id: 'x', fine })))
  })

  it('encodes a flow whose getter saves another flow with the same writer', () => {
    const writer = new RecordWriter()
    let inner: Uint8Array | undefined
    const outer = {
      id: 'outer',
      get field () {
        inner = writer.encode({ id: 'inner', n: 1 })
        return 'value'
      }
    }
    const record = writer.encode(outer)
    expect(recordBody(record)).toEqual(Buffer.from(packr.pack({ id: 'outer', field: 'value' })))
    expect(recordBody(inner)).toEqual(Buffer.from(packr.pack({ id: 'inner', n: 1 })))
  })
})
