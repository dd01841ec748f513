// The one-walk record reader (src/record-reader.ts): for every record the writer writes, it
// gives the value msgpackr + freezeDecoded give (same values, same kinds, frozen, read-only
// Dates, Uint8Arrays apart); for bytes it does not read, it gives up (the codec then decodes
// with msgpackr), and it never throws on damaged bytes.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { freezeDecoded } from '../src/freeze.ts'
import { FALLBACK, RecordReader } from '../src/record-reader.ts'
import { READONLY_DATE_PROTOTYPE } from '../src/readonly-date.ts'
import { RecordWriter } from '../src/record-writer.ts'
import { flow, packr } from './fixtures/domain-values.ts'



/** msgpackr's reading of `body`, as the codec made it before (undefined: it fails or is refused). */
function referenceRead (body: Uint8Array): unknown {
  try {
    const value = packr.unpack(body)
    freezeDecoded(value, 0, { budget: Infinity, visited: 0 })
    return value
  } catch {
    return undefined
  }
}

/** Same values, same kinds (prototypes) at every level, frozen where the reference is. */
function expectSame (got: unknown, want: unknown, path = 'value'): void {
  if (typeof want !== 'object' || want === null) {
    expect(Object.is(got, want), path).toBe(true)
    return
  }
  expect(Object.getPrototypeOf(got), path).toBe(Object.getPrototypeOf(want))
  if (want instanceof Date) {
    expect(Object.is((got as Date).getTime(), want.getTime()), path).toBe(true)
    expect(Object.getPrototypeOf(got), path).toBe(READONLY_DATE_PROTOTYPE)
    return
  }
  if (want instanceof Uint8Array) {
    expect([...(got as Uint8Array)], path).toEqual([...want])
    return
  }
  expect(Object.isFrozen(got), path).toBe(true)
  expect(Object.keys(got as object), path).toEqual(Object.keys(want))
  for (const key of Object.keys(want)) expectSame((got as Record<string, unknown>)[key], (want as Record<string, unknown>)[key], `${path}[${JSON.stringify(key)}]`)
}

describe('RecordReader', () => {
  it('reads every record the writer writes as msgpackr and freezeDecoded do', () => {
    const writer = new RecordWriter()
    const reader = new RecordReader()
    fc.assert(fc.property(flow, (value) => {
      const body = writer.encode(value)!.subarray(7)
      const read = reader.read(body, 'x')
      expect(read).not.toBe(FALLBACK)
      if (read === FALLBACK) return
      const want = referenceRead(body)
      expectSame(read.value, want)
      expect(read.hasBinary).toBe(freezeDecoded(packr.unpack(body), 0, { budget: Infinity, visited: 0 }) !== 0)
    }), { numRuns: 200 })
  })

  it('gives up on damaged bytes, or reads them as msgpackr does, and never throws', () => {
    const writer = new RecordWriter()
    const reader = new RecordReader()
    fc.assert(fc.property(flow, fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean(), (value, at, mask, cut) => {
      const body = Uint8Array.from(writer.encode(value)!.subarray(7))
      const damaged = cut ? body.subarray(0, at % body.length) : (body[at % body.length]! ^= mask, body)
      const read = reader.read(damaged, 'x')
      if (read === FALLBACK) return
      const want = referenceRead(damaged)
      // What msgpackr refuses, the reader may not read either.
      expect(want).toBeDefined()
      expectSame(read.value, want)
    }), { numRuns: 300 })
  })

  it('gives up on what a store never writes: -0, 64-bit integers, unknown extensions, a __proto__ key, a top-level array', () => {
    const reader = new RecordReader()
    const map = (...entries: number[]): Uint8Array => Uint8Array.of(0x81, 0xa1, 0x61, ...entries)
    expect(reader.read(map(0xcb, 0x80, 0, 0, 0, 0, 0, 0, 0), 'x')).toBe(FALLBACK)
    expect(reader.read(map(0xcf, 0, 0, 0, 0, 0, 0, 0, 1), 'x')).toBe(FALLBACK)
    expect(reader.read(map(0xd4, 0x42, 0), 'x')).toBe(FALLBACK)
    expect(reader.read(Uint8Array.of(0x81, 0xa9, ...Buffer.from('__proto__'), 1), 'x')).toBe(FALLBACK)
    expect(reader.read(Uint8Array.of(0x91, 1), 'x')).toBe(FALLBACK)
    expect(reader.read(map(1), 'x')).toEqual({ value: { a: 1 }, hasBinary: false })
  })
})
