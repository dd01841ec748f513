// Hostile stored values: msgpack a store never writes, above all msgpackr's structured-clone
// references, with which ~540 bytes describe a value of 2^40 nodes. Reading such a value is
// refused with FLOWSTORE_DECODE_ERROR, in work linear in its size, wherever it is read: get(),
// flowstore check, a JSON export, a restored backup, a save sent over the owner's socket; and a socket
// message that holds a reference is refused as a protocol error.

import { existsSync } from 'node:fs'
import { Packr } from 'msgpackr'
import { afterEach, describe, expect, it } from 'vitest'
import { exportJson, FlowStore, isFlowStoreError, restoreBackup, verifyBackup } from '../src/index.ts'
import { FlowCodec } from '../src/codec.ts'
import { checkStore } from '../src/maintenance/check.ts'
import { killChildren, startChild } from './fixtures/child.ts'
import { dagBody, plantBody } from './fixtures/hostile-msgpack.ts'
import { tempDir } from './helpers.ts'
import { connectService, rawConnection, serveOwner } from './service-helpers.ts'

afterEach(killChildren)

const ID = 'hostile'

/** msgpack of a fixstr. */
function str (s: string): number[] {
  const bytes = Buffer.from(s)
  return [0xa0 | bytes.length, ...bytes]
}

/** `{ id: ID, x: <value bytes> }`. */
function withX (value: number[]): Uint8Array {
  return Uint8Array.from([0x82, ...str('id'), ...str(ID), ...str('x'), ...value])
}

function record (body: Uint8Array): Uint8Array {
  const out = new Uint8Array(7 + body.length)
  out.set([0xf1, 0, 0, 0, 0, 0, 1])
  out.set(body, 7)
  return out
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

/** A closed store holding flows a, hostile, z, with `body` planted as the value of `hostile`. */
async function storeWith (body: Uint8Array): Promise<string> {
  const dir = await tempDir()
  const store = await FlowStore.open(dir)
  await store.saveMany([{ id: 'a', n: 1 }, { id: ID, n: 2 }, { id: 'z', n: 3 }])
  await store.close()
  await plantBody(dir, ID, body)
  return dir
}

describe('msgpack a store never writes, in a stored value', () => {
  const codec = new FlowCodec({ maxFlowBytes: 16 * 1024 * 1024, maxIdBytes: 1024 })
  const bigStrings = { id: ID, a: 'a string long enough to bundle', b: 'another string long enough to bundle' }
  const cases: Array<[string, Uint8Array]> = [
    ['structured-clone references (ext 0x69/0x70) forming a DAG of depth 16', dagBody(ID, 16)],
    ['a lone structured-clone reference target (ext 0x69)', withX([0xd6, 0x69, 0, 0, 0, 1, ...str('target')])],
    ['a msgpackr record definition (ext 0x72)', new Packr({ useRecords: true }).pack({ id: ID, x: { a: 1, b: 2 } })],
    ['a msgpackr string bundle (ext 0x62)', new Packr({ useRecords: false, bundleStrings: true }).pack(bigStrings)],
    ['a timestamp of 16 bytes (msgpackr reads an invalid Date)', withX([0xc7, 16, 0xff, ...new Array<number>(16).fill(1)])],
    ['undefined written as a 2-byte ext 0', withX([0xd5, 0x00, 0x00, 0x00])],
    ['a map key that is a number (msgpackr makes it a string)', Uint8Array.from([0x82, ...str('id'), ...str(ID), 0x01, 0xc3])],
    ['a map that repeats a key (msgpackr keeps the last value)', Uint8Array.from([0x83, ...str('id'), ...str(ID), ...str('k'), 0x01, ...str('k'), 0x02])],
    ['a string that is not valid UTF-8 (msgpackr replaces it with U+FFFD)', withX([0xa2, 0xff, 0xfe])],
    ['a string holding an encoded lone surrogate', withX([0xa3, 0xed, 0xa0, 0x80])]
  ]

  it.each(cases)('%s gives FLOWSTORE_DECODE_ERROR', (_name, body) => {
    const err = thrownBy(() => codec.decode(ID, record(body)))
    expect(isFlowStoreError(err, 'FLOWSTORE_DECODE_ERROR'), String(err)).toBe(true)
    expect((err as { id?: string }).id).toBe(ID)
  })

  it('names the extension it refused', () => {
    const err = thrownBy(() => codec.decode(ID, record(dagBody(ID, 16)))) as Error
    expect(err.message).toContain('0x69')
    expect(err.message).toContain('structured-clone')
  })

  it('still decodes every kind of value a store writes', () => {
    const flow = { id: ID, n: [0, 1, -1, 127, 128, -33, 65535, 2 ** 31, -(2 ** 31), 2 ** 40, 0.5, NaN, Infinity], s: ['', 'é', '😀', 'x'.repeat(70_000)], u: undefined, nil: null, b: [true, false], d: [new Date(0), new Date(2 ** 40), new Date(-1), new Date(Number.NaN)], bin: new Uint8Array([1, 2, 3]), nested: { 'a b': { c: [[{}]] } } }
    const { id, record } = codec.encode(flow)
    expect(codec.decode(id, record).value).toEqual(flow)
    // A float32 from another writer decodes exactly too.
    expect(codec.decode(ID, Uint8Array.from([...record.subarray(0, 7), ...withX([0xca, 0x3f, 0xc0, 0, 0])])).value).toEqual({ id: ID, x: 1.5 })
  })
})

describe('a stored value that is a DAG of structured-clone references', () => {
  it('is refused by get() with FLOWSTORE_DECODE_ERROR; the other flows read normally', async () => {
    const dir = await storeWith(dagBody(ID, 16))
    const store = await FlowStore.open(dir)
    try {
      const err = thrownBy(() => store.get(ID))
      expect(isFlowStoreError(err, 'FLOWSTORE_DECODE_ERROR'), String(err)).toBe(true)
      expect(store.get('a')).toEqual({ id: 'a', n: 1 })
      expect(store.get('z')).toEqual({ id: 'z', n: 3 })
    } finally {
      await store.close()
    }
  })

  it('is reported by flowstore check as undecodable', async () => {
    const dir = await storeWith(dagBody(ID, 16))
    const report = await checkStore(dir)
    expect(report.ok).toBe(false)
    expect(report.problems.map((p) => [p.kind, p.id])).toEqual([['undecodable', ID]])
  })

  it('at depth 40 (2^40 nodes in 541 bytes) is refused by get() and reported by check in a child process, well within its deadline', async () => {
    const dir = await storeWith(dagBody(ID, 40))
    const child = startChild('read-hostile.ts', dir, ID)
    // A hang guard, not a timing assertion: an exponential decode would never finish.
    const deadline = setTimeout(() => { child.kill() }, 45_000)
    try {
      const exit = await child.exited
      expect(exit, `the child did not finish (killed at its deadline?)\n${child.stderr}`).toEqual({ code: 0, signal: null })
    } finally {
      clearTimeout(deadline)
    }
    expect(child.lines.map((line) => JSON.parse(line) as unknown)).toEqual([
      { get: 'FLOWSTORE_DECODE_ERROR' },
      { check: { ok: false, problems: [['undecodable', ID]] } }
    ])
  })

  it('is refused by a JSON export with FLOWSTORE_DECODE_ERROR, which writes no file', async () => {
    const dir = await storeWith(dagBody(ID, 16))
    const store = await FlowStore.open(dir)
    const file = `${await tempDir()}/flows.json`
    try {
      const err = await exportJson(store, file).then(() => undefined, (e: unknown) => e)
      expect(isFlowStoreError(err, 'FLOWSTORE_DECODE_ERROR'), String(err)).toBe(true)
    } finally {
      await store.close()
    }
    expect(existsSync(file)).toBe(false)
  })

  it('is copied verbatim by a backup, and the restored store refuses it the same way', async () => {
    const body = dagBody(ID, 16)
    const dir = await storeWith(body)
    const store = await FlowStore.open(dir)
    const file = `${await tempDir()}/full.fsbk`
    try {
      await store.backup(file)
    } finally {
      await store.close()
    }
    expect((await verifyBackup(file)).ok).toBe(true)
    const target = `${await tempDir()}/restored`
    await restoreBackup([file], target)
    const restored = await FlowStore.open(target)
    try {
      expect(Uint8Array.from(restored.lazy(ID)!.bytes)).toEqual(body)
      expect(isFlowStoreError(thrownBy(() => restored.get(ID)), 'FLOWSTORE_DECODE_ERROR')).toBe(true)
      expect(restored.get('a')).toEqual({ id: 'a', n: 1 })
    } finally {
      await restored.close()
    }
    expect((await checkStore(target)).problems.map((p) => [p.kind, p.id])).toEqual([['undecodable', ID]])
  })
})

describe('the owner\'s socket and structured-clone references', () => {
  it('refuses a save whose flow bytes are a DAG with FLOWSTORE_INVALID_FLOW, stores nothing, and keeps serving', async () => {
    const { dir, store, server } = await serveOwner()
    const raw = await rawConnection(server.path)
    const answered = new Promise<void>((resolve) => {
      raw.socket.on('data', () => { if (raw.messages.length >= 3) resolve() })
    })
    raw.send({ id: 1, op: 'hello', protocol: 1 })
    raw.send({ id: 2, op: 'save', flows: [[ID, dagBody(ID, 16)]] })
    raw.send({ id: 3, op: 'version' })
    await answered
    expect(raw.messages[1]).toMatchObject({ id: 2, ok: false, error: { code: 'FLOWSTORE_INVALID_FLOW' } })
    expect(raw.messages[2]).toMatchObject({ id: 3, ok: true })
    expect(store.has(ID)).toBe(false)
    raw.socket.destroy()
    const service = await connectService(dir)
    await service.save({ id: 'after' })
    expect(store.get('after')).toEqual({ id: 'after' })
  })

  it('closes a connection whose message holds a reference with FLOWSTORE_PROTOCOL, and serves the others', async () => {
    const { dir, store, server } = await serveOwner({ flows: 1 })
    const service = await connectService(dir, { ttlMs: Infinity })
    const raw = await rawConnection(server.path)
    raw.send({ id: 1, op: 'hello', protocol: 1 })
    // { id: 2, op: 'delete', flowId: <a structured-clone target holding "f0"> }
    raw.write(Uint8Array.from([0x83, ...str('id'), 0x02, ...str('op'), ...str('delete'), ...str('flowId'), 0xd6, 0x69, 0, 0, 0, 1, ...str('f0')]))
    await raw.closed
    const refusal = raw.messages.find((m) => (m as { ok?: unknown }).ok === false) as { error: { code: string } } | undefined
    expect(refusal?.error.code).toBe('FLOWSTORE_PROTOCOL')
    expect(store.has('f0')).toBe(true)
    await service.save({ id: 'still-served' })
    expect(store.get('still-served')).toEqual({ id: 'still-served' })
  })

  it('closes a connection whose message defines a msgpackr record with FLOWSTORE_PROTOCOL (definitions would live as long as the connection)', async () => {
    const { store, server } = await serveOwner({ flows: 1 })
    const raw = await rawConnection(server.path)
    raw.send({ id: 1, op: 'hello', protocol: 1 })
    raw.write(new Packr({ useRecords: true }).pack({ id: 2, op: 'version' }))
    await raw.closed
    const refusal = raw.messages.find((m) => (m as { ok?: unknown }).ok === false) as { error: { code: string, message: string } } | undefined
    expect(refusal?.error.code).toBe('FLOWSTORE_PROTOCOL')
    expect(refusal?.error.message).toContain('record')
    expect(raw.messages.some((m) => (m as { id?: unknown, ok?: unknown }).id === 2 && (m as { ok?: unknown }).ok === true)).toBe(false)
    expect(store.has('f0')).toBe(true)
  })

  it('closes a connection whose message holds a type the protocol never sends (a Set) with FLOWSTORE_PROTOCOL', async () => {
    const { store, server } = await serveOwner({ flows: 1 })
    const raw = await rawConnection(server.path)
    raw.send({ id: 1, op: 'hello', protocol: 1 })
    raw.write(new Packr({ useRecords: false, moreTypes: true }).pack({ id: 2, op: 'changes-since', since: 0, extra: new Set([1]) }))
    await raw.closed
    const refusal = raw.messages.find((m) => (m as { ok?: unknown }).ok === false) as { error: { code: string, message: string } } | undefined
    expect(refusal?.error.code).toBe('FLOWSTORE_PROTOCOL')
    expect(refusal?.error.message).toContain('Set')
    expect(store.has('f0')).toBe(true)
  })
})
