// Foreign bytes a store never writes, in its keys and values: never bent silently into
// something else. A "__proto__" key, an empty id, ids that are not UTF-8 (two of which would
// read as one id, hiding a flow) each give FLOWSTORE_DECODE_ERROR where they are read, junk
// change-log entries FLOWSTORE_CORRUPT, and each a problem in `flowstore check`.

import { ClassicLevel } from 'classic-level'
import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { FlowStore, isFlowStoreError } from '../src/index.ts'
import { checkStore } from '../src/maintenance/check.ts'
import { tempDir } from './helpers.ts'

const plain = new Packr({ useRecords: false, mapsAsObjects: true })
/** The id two different invalid UTF-8 keys read as (each bad byte becomes U+FFFD). */
const LOSSY = '\uFFFD\uFFFD'

/** A flow record as a store writes it: [0xf1][version: 6 bytes][msgpack]. */
function record (body: Uint8Array, version = 1): Uint8Array {
  const out = new Uint8Array(7 + body.length)
  out.set([0xf1, 0, 0, 0, 0, 0, version])
  out.set(body, 7)
  return out
}

const bytes = (...parts: Array<string | number[] | Uint8Array>): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Uint8Array.from(p))))

/** A store with flow `a` saved through the API, then `entries` written with raw classic-level. */
async function storeWith (entries: Array<[Buffer, Uint8Array]>): Promise<string> {
  const dir = await tempDir()
  const store = await FlowStore.open(dir)
  await store.save({ id: 'a' })
  await store.close()
  const db = new ClassicLevel<Buffer, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  await db.batch(entries.map(([key, value]) => ({ type: 'put' as const, key, value })))
  await db.close()
  return dir
}

function thrownBy (fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  return expect.unreachable('expected a throw')
}

async function problemsOf (dir: string): Promise<Array<{ kind: string, id?: string, message: string }>> {
  return [...(await checkStore(dir)).problems]
}

describe('a stored value with a "__proto__" key', () => {
  it('gives FLOWSTORE_DECODE_ERROR, not a flow with a "__proto_" key', async () => {
    const body = bytes([0x82], plain.pack('id'), plain.pack('p'), plain.pack('__proto__'), plain.pack({ polluted: true }))
    const dir = await storeWith([[bytes('f!p'), record(body)]])
    const store = await FlowStore.open(dir)
    try {
      const err = thrownBy(() => store.get('p'))
      expect(isFlowStoreError(err, 'FLOWSTORE_DECODE_ERROR'), String(err)).toBe(true)
      expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
    } finally {
      await store.close()
    }
  })
})

for (const preload of ['all', 'keys'] as const) {
describe(`flow keys that are not valid UTF-8 (preload: '${preload}')`, () => {
  // [0x80 0x80] and [0xff 0xfe] both read as LOSSY; the first sorts before LOSSY's own UTF-8
  // key (0xef 0xbf 0xbd …), the second after it.
  const early = bytes('f!', [0x80, 0x80])
  const late = bytes('f!', [0xff, 0xfe])
  const foreign: Array<[Buffer, Uint8Array]> = [
    [early, record(plain.pack({ id: LOSSY, n: 1 }))],
    [late, record(plain.pack({ id: LOSSY, n: 2 }))]
  ]

  it('are not read as a flow under the id they decode to: reading it gives FLOWSTORE_DECODE_ERROR', async () => {
    const dir = await storeWith(foreign)
    const store = await FlowStore.open(dir, { preload })
    try {
      expect(store.get('a')).toEqual({ id: 'a' })
      const err = thrownBy(() => store.get(LOSSY))
      expect(isFlowStoreError(err, 'FLOWSTORE_DECODE_ERROR'), String(err)).toBe(true)
      expect((err as Error).message).toContain('not valid UTF-8')
    } finally {
      await store.close()
    }
  })

  it('are each reported by flowstore check, with the key bytes', async () => {
    const dir = await storeWith(foreign)
    const problems = await problemsOf(dir)
    expect(problems.filter((p) => p.kind === 'undecodable').map((p) => p.message.match(/hex ([0-9a-f]+)/)?.[1]).sort()).toEqual([early.toString('hex'), late.toString('hex')])
  })

  it('never replace a flow saved under the id they decode to, before or after reopening', async () => {
    const dir = await storeWith(foreign)
    const store = await FlowStore.open(dir, { preload })
    await store.save({ id: LOSSY, n: 'saved' })
    expect(store.get(LOSSY)).toEqual({ id: LOSSY, n: 'saved' })
    await store.close()
    const reopened = await FlowStore.open(dir, { preload })
    try {
      expect(reopened.get(LOSSY)).toEqual({ id: LOSSY, n: 'saved' })
      expect(reopened.size).toBe(2)
    } finally {
      await reopened.close()
    }
  })
})
}

describe('a tombstone key that is not valid UTF-8', () => {
  it('is reported by flowstore check with its key bytes', async () => {
    const key = bytes('t!', [0xff])
    const dir = await storeWith([[key, Uint8Array.of(0, 0, 0, 0, 0, 1)]])
    const problems = await problemsOf(dir)
    expect(problems.map((p) => [p.kind, p.id])).toEqual([['change-record', '\uFFFD']])
    expect(problems[0]!.message).toContain(key.toString('hex'))
  })
})

describe('a flow stored under an empty id (the key "f!")', () => {
  it('gives FLOWSTORE_DECODE_ERROR when read, and is reported by flowstore check', async () => {
    const dir = await storeWith([[bytes('f!'), record(plain.pack({ id: '' }))]])
    const store = await FlowStore.open(dir)
    try {
      const err = thrownBy(() => store.get(''))
      expect(isFlowStoreError(err, 'FLOWSTORE_DECODE_ERROR'), String(err)).toBe(true)
      expect(store.get('a')).toEqual({ id: 'a' })
    } finally {
      await store.close()
    }
    const problems = await problemsOf(dir)
    expect(problems.map((p) => [p.kind, p.id])).toEqual([['undecodable', '']])
    expect(problems[0]!.message).toContain('empty id')
  })
})

/** A change-log entry as a store writes it: [0x01][changes before: 6 bytes][count: 4 bytes], then per change [flag][length: 4 bytes][id]. */
function logEntry (before: number, changes: Array<[number, Uint8Array]>): Buffer {
  const head = Buffer.alloc(11)
  head[0] = 0x01
  head.writeUIntBE(before, 1, 6)
  head.writeUInt32BE(changes.length, 7)
  return Buffer.concat([head, ...changes.map(([flag, id]) => { const c = Buffer.alloc(5); c[0] = flag; c.writeUInt32BE(id.length, 1); return Buffer.concat([c, id]) })])
}

// The store of storeWith() logged one change (flow a, version 1): junk comes after it.
describe('junk change-log entries', () => {
  const junk: Array<[string, Buffer, Uint8Array]> = [
    ['a version that is not hex', bytes('L!zzzzzzzzzzzz'), logEntry(1, [[0, bytes('b')]])],
    ['more after the version', bytes('L!000000000002?'), logEntry(1, [[0, bytes('b')]])],
    ['an empty id', bytes('L!000000000002'), logEntry(1, [[0, bytes('')]])],
    ['an id that is not UTF-8', bytes('L!000000000002'), logEntry(1, [[0, bytes([0xff])]])],
    ['a flag that is neither saved nor deleted', bytes('L!000000000002'), logEntry(1, [[7, bytes('b')]])],
    ['a value that is not an entry', bytes('L!000000000002'), Uint8Array.of(7)]
  ]

  it.each(junk)('with %s make changesSince() fail with FLOWSTORE_CORRUPT, not return a bent change', async (_name, key, value) => {
    const dir = await storeWith([[key, value]])
    const store = await FlowStore.open(dir)
    try {
      const err = await store.changesSince(0).then((result) => result, (e: unknown) => e)
      expect(isFlowStoreError(err, 'FLOWSTORE_CORRUPT'), JSON.stringify(err)).toBe(true)
      expect(store.get('a')).toEqual({ id: 'a' })
    } finally {
      await store.close()
    }
  })

  it.each(junk)('with %s are reported by flowstore check', async (_name, key, value) => {
    const dir = await storeWith([[key, value]])
    const problems = await problemsOf(dir)
    expect(problems.some((p) => p.kind === 'change-record' || p.kind === 'version'), JSON.stringify(problems)).toBe(true)
  })
})

describe('junk change-record entries of layout 1', () => {
  const junk: Array<[string, Buffer, Uint8Array]> = [
    ['a version that is not hex', bytes('c!zzzzzzzzzzzz!a'), Uint8Array.of(0)],
    ['no "!" after the version', bytes('c!000000000001?a'), Uint8Array.of(0)],
    ['an empty id', bytes('c!000000000001!'), Uint8Array.of(0)],
    ['an id that is not UTF-8', bytes('c!000000000001!', [0xff]), Uint8Array.of(0)],
    ['a value that is neither [0] nor [1]', bytes('c!000000000001!b'), Uint8Array.of(7)]
  ]

  it.each(junk)('with %s are reported by flowstore check', async (_name, key, value) => {
    const dir = await storeWith([[key, value]])
    const problems = await problemsOf(dir)
    expect(problems.some((p) => p.kind === 'change-record' && (p.message.includes(key.toString('hex')) || p.message.includes('malformed value'))), JSON.stringify(problems)).toBe(true)
  })
})
