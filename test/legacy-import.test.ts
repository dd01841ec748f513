// Migration from the legacy flows.json (object keyed by id, array, JSON Lines) and the way
// back (exportJson), against real classic-level stores and real files.

import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { generateFlow, generateFlows, type GeneratedFlow } from '../examples/generate-flows.ts'
import { exportJson, FlowStore, FlowStoreError, importLegacyJson, type ImportReport } from '../src/index.ts'
import { tempDir } from './helpers.ts'

/** A store open in a fresh temp dir; closed after the test by the caller's `await using`. */
async function openStore (): Promise<FlowStore<GeneratedFlow>> {
  return await FlowStore.open<GeneratedFlow>(join(await tempDir(), 'db'))
}

async function legacyFile (name: string, text: string): Promise<string> {
  const file = join(await tempDir(), name)
  await writeFile(file, text)
  return file
}

function keyedById (flows: readonly object[]): string {
  return JSON.stringify(Object.fromEntries(flows.map((flow) => [(flow as { id: string }).id, flow])), null, 2)
}

/** Plain (unfrozen, JSON-shaped) copies of every flow in the store, by id. */
function contents (store: FlowStore): Record<string, unknown> {
  return Object.fromEntries([...store.flows].map(([id, flow]) => [id, JSON.parse(JSON.stringify(flow))]))
}

async function importError (promise: Promise<unknown>): Promise<FlowStoreError & { report: ImportReport }> {
  try {
    await promise
  } catch (err) {
    expect(err).toBeInstanceOf(FlowStoreError)
    return err as FlowStoreError & { report: ImportReport }
  }
  throw new Error('expected the import to fail')
}

describe('importLegacyJson: the three layouts', () => {
  it('imports an object keyed by id, as the legacy repository wrote it', async () => {
    const flows = generateFlows(50)
    const file = await legacyFile('flows.json', keyedById(flows))
    await using store = await openStore()
    const report = await importLegacyJson(store, file)
    expect(report).toMatchObject({ format: 'object', total: 50, imported: 50, unchanged: 0, skippedCount: 0, skipped: [] })
    expect(contents(store)).toEqual(Object.fromEntries(flows.map((flow) => [flow.id, flow])))
  })

  it('imports an array of flows', async () => {
    const flows = generateFlows(30)
    const file = await legacyFile('flows.json', JSON.stringify(flows))
    await using store = await openStore()
    const report = await importLegacyJson(store, file)
    expect(report).toMatchObject({ format: 'array', total: 30, imported: 30, skippedCount: 0 })
    expect(store.get('flow-000029')).toEqual(flows[29])
  })

  it('imports JSON Lines, detected by content when the extension says nothing', async () => {
    const flows = generateFlows(20)
    const file = await legacyFile('flows.txt', flows.map((flow) => JSON.stringify(flow)).join('\n') + '\n')
    await using store = await openStore()
    const report = await importLegacyJson(store, file)
    expect(report).toMatchObject({ format: 'jsonl', total: 20, imported: 20, skippedCount: 0 })
    expect(contents(store)).toEqual(Object.fromEntries(flows.map((flow) => [flow.id, flow])))
  })

  it('takes the key as the id of a keyed record that has none', async () => {
    const file = await legacyFile('flows.json', JSON.stringify({ 'no-id': { name: 'kept' } }))
    await using store = await openStore()
    const report = await importLegacyJson(store, file)
    expect(report.imported).toBe(1)
    expect(store.get('no-id')).toEqual({ id: 'no-id', name: 'kept' })
  })

  it('skips a keyed record whose id differs from its key, saying so', async () => {
    const file = await legacyFile('flows.json', JSON.stringify({ a: { id: 'a' }, b: { id: 'not-b' } }))
    await using store = await openStore()
    const report = await importLegacyJson(store, file)
    expect(report).toMatchObject({ imported: 1, skippedCount: 1 })
    expect(report.skipped[0]).toMatchObject({ key: 'b', id: 'not-b' })
    expect(report.skipped[0]!.reason).toMatch(/differs from its key "b"/)
    expect(store.has('not-b')).toBe(false)
  })
})

describe('importLegacyJson: bad records', () => {
  it('imports every good flow of a 10,000-flow file and skips each bad record with its reason', async () => {
    const records: Record<string, unknown> = {}
    for (let i = 0; i < 10_000; i++) {
      const flow = generateFlow(i)
      records[flow.id] = flow
    }
    // Four bad records among the good ones.
    records['flow-000100'] = 'not an object'
    records['flow-000200'] = [1, 2, 3]
    records['flow-000300'] = { ...generateFlow(300), id: 'flow-999999' }
    records['flow-000400'] = JSON.parse('{"id":"flow-000400","__proto__":{"polluted":true}}')
    const file = await legacyFile('flows.json', JSON.stringify(records))
    await using store = await openStore()
    const report = await importLegacyJson(store, file)

    expect(report).toMatchObject({ total: 10_000, imported: 9_996, unchanged: 0, skippedCount: 4 })
    expect(report.skipped.map((s) => s.key)).toEqual(['flow-000100', 'flow-000200', 'flow-000300', 'flow-000400'])
    expect(report.skipped[0]!.reason).toMatch(/not a flow object/)
    expect(report.skipped[1]!.reason).toMatch(/not a flow object: got an array/)
    expect(report.skipped[2]!.reason).toMatch(/differs from its key/)
    expect(report.skipped[3]!.reason).toMatch(/__proto__/)
    expect(store.size).toBe(9_996)
    for (const i of [0, 99, 101, 299, 301, 5_000, 9_999]) expect(store.get(generateFlow(i).id)).toEqual(generateFlow(i))
    for (const id of ['flow-000100', 'flow-000200', 'flow-000300', 'flow-000400', 'flow-999999']) expect(store.has(id)).toBe(false)
  })

  it('skips bad JSON Lines (invalid JSON, no id, a value the store refuses) and imports the rest', async () => {
    const lines = [
      JSON.stringify(generateFlow(0)),
      '{"id": "broken", ',
      '',
      JSON.stringify({ name: 'no id' }),
      '{"id": "neg-zero", "x": -0}',
      JSON.stringify(generateFlow(1))
    ]
    const file = await legacyFile('flows.jsonl', lines.join('\r\n'))
    await using store = await openStore()
    const report = await importLegacyJson(store, file)
    expect(report).toMatchObject({ format: 'jsonl', total: 5, imported: 2, skippedCount: 3 })
    expect(report.skipped.map((s) => s.line)).toEqual([2, 4, 5])
    expect(report.skipped[0]!.reason).toMatch(/^invalid JSON/)
    expect(report.skipped[1]!.reason).toBe('it has no id')
    expect(report.skipped[2]).toMatchObject({ id: 'neg-zero' })
    expect(report.skipped[2]!.reason).toMatch(/-0/)
    expect([...store.flows.keys()]).toEqual(['flow-000000', 'flow-000001'])
  })

  it('keeps the last of the records with the same id, as the legacy JSON.parse did, and reports the replaced ones', async () => {
    // An object with a repeated key: JSON.parse keeps the last value.
    const text = '{"twice": {"id": "twice", "n": 1}, "once": {"id": "once"}, "twice": {"id": "twice", "n": 2}}'
    expect(JSON.parse(text).twice).toEqual({ id: 'twice', n: 2 })
    const file = await legacyFile('flows.json', text)
    await using store = await openStore()
    const report = await importLegacyJson(store, file)
    expect(report).toMatchObject({ total: 3, imported: 2, unchanged: 0, skippedCount: 0, duplicateCount: 1 })
    expect(report.duplicates).toEqual([{ key: 'twice', id: 'twice', replacedBy: 'key "twice"' }])
    expect(contents(store)).toEqual({ twice: { id: 'twice', n: 2 }, once: { id: 'once' } })

    // Running it again changes nothing.
    const version = store.version
    const again = await importLegacyJson(store, file)
    expect(again).toMatchObject({ imported: 0, unchanged: 2, duplicateCount: 1 })
    expect(store.version).toBe(version)
  })

  it('keeps the last record of an id across batches and in JSON Lines, and a later record the store refuses does not replace an importable one', async () => {
    // The last "b" holds a __proto__ key, which the store refuses (msgpackr would rename it).
    const array = await legacyFile('flows.json', '[{"id":"a","n":1}, {"id":"b"}, {"id":"c"}, {"id":"a","n":3}, {"id":"b","__proto__":1}]')
    await using store = await openStore()
    const report = await importLegacyJson(store, array, { batchSize: 2 })
    expect(report).toMatchObject({ skippedCount: 1, duplicateCount: 1 })
    expect(report.duplicates).toEqual([{ index: 0, id: 'a', replacedBy: 'record [3]' }])
    expect(report.skipped[0]).toMatchObject({ index: 4, id: 'b' })
    expect(contents(store)).toEqual({ a: { id: 'a', n: 3 }, b: { id: 'b' }, c: { id: 'c' } })

    const lines = await legacyFile('flows.jsonl', '{"id":"x","n":1}\n{"id":"x","n":2}\n{"id":"x","n":3}\n')
    await using other = await openStore()
    const fromLines = await importLegacyJson(other, lines)
    expect(fromLines).toMatchObject({ total: 3, imported: 1, duplicateCount: 2 })
    expect(fromLines.duplicates.map((d) => [d.line, d.replacedBy])).toEqual([[1, 'line 2'], [2, 'line 3']])
    expect(other.get('x')).toEqual({ id: 'x', n: 3 })
  })

  it('lists at most maxSkippedListed skipped records but counts them all', async () => {
    const file = await legacyFile('flows.json', JSON.stringify(Array.from({ length: 30 }, (_, i) => i)))
    await using store = await openStore()
    const report = await importLegacyJson(store, file, { maxSkippedListed: 5 })
    expect(report.skippedCount).toBe(30)
    expect(report.skipped.map((s) => s.index)).toEqual([0, 1, 2, 3, 4])
  })
})

describe('importLegacyJson: batches', () => {
  it('writes in batches of batchSize, each one committed batch', async () => {
    const file = await legacyFile('flows.json', keyedById(generateFlows(2_500)))
    await using store = await openStore()
    await importLegacyJson(store, file, { batchSize: 1_000 })
    expect(store.batches).toBe(3)
    expect(store.version).toBe(3)
  })

  it('skips a flow refused by a limit of the store and saves the rest of its batch', async () => {
    const big = { id: 'too-big', blob: 'x'.repeat(5_000) }
    const file = await legacyFile('flows.json', JSON.stringify([generateFlow(0), big, generateFlow(1)]))
    await using store = await FlowStore.open(join(await tempDir(), 'db'), { maxFlowBytes: 4_096 })
    const report = await importLegacyJson(store, file)
    expect(report).toMatchObject({ imported: 2, skippedCount: 1 })
    expect(report.skipped[0]).toMatchObject({ index: 1, id: 'too-big' })
    expect(report.skipped[0]!.reason).toMatch(/maxFlowBytes/)
    expect([...store.flows.keys()]).toEqual(['flow-000000', 'flow-000001'])
  })
})

describe('importLegacyJson: running it again', () => {
  it('changes nothing the second time: every flow unchanged, no write, same version', async () => {
    const flows = generateFlows(2_500)
    const file = await legacyFile('flows.json', JSON.stringify({ ...JSON.parse(keyedById(flows)), bad: 'not a flow' }))
    await using store = await openStore()
    const first = await importLegacyJson(store, file)
    expect(first).toMatchObject({ imported: 2_500, skippedCount: 1 })
    const version = store.version
    const batches = store.batches

    const second = await importLegacyJson(store, file)
    expect(second).toMatchObject({ total: 2_501, imported: 0, unchanged: 2_500, skippedCount: 1 })
    expect(store.version).toBe(version)
    expect(store.batches).toBe(batches)
  })

  it('writes only the flows whose value differs from the stored one', async () => {
    const flows = generateFlows(10)
    await using store = await openStore()
    await store.saveMany(flows)
    const version = store.version
    const changed = flows.map((flow, i) => (i === 3 ? { ...flow, name: 'changed' } : flow))
    const file = await legacyFile('flows.json', keyedById(changed))
    const report = await importLegacyJson(store, file)
    expect(report).toMatchObject({ imported: 1, unchanged: 9 })
    expect(store.version).toBe(version + 1)
    const { changes } = await store.changesSince(version)
    expect(changes.map((c) => c.id)).toEqual(['flow-000003'])
  })
})

describe('importLegacyJson: a damaged file', () => {
  it('stops at a syntax error mid-file with FLOWSTORE_IMPORT_FAILED, naming the position, and keeps what was imported before it', async () => {
    const good = keyedById(generateFlows(200))
    const text = good.slice(0, good.indexOf('"flow-000150"')) + '"flow-000150": {"id": "flow-000150", oops}}'
    const badByte = Buffer.byteLength(text.slice(0, text.indexOf('oops')))
    const file = await legacyFile('flows.json', text)
    await using store = await openStore()
    const err = await importError(importLegacyJson(store, file))
    expect(err.code).toBe('FLOWSTORE_IMPORT_FAILED')
    expect(err.message).toContain(file)
    const [, from, to] = /between bytes (\d+) and (\d+) \(line \d+ or later\)/.exec(err.message) ?? []
    expect(Number(from)).toBeLessThanOrEqual(badByte)
    expect(Number(to)).toBeGreaterThan(badByte)
    // Records completed in the same parsed slice as the error may be lost with it; every
    // record before that slice is imported, in order, and nothing after the error.
    const { imported } = err.report
    expect(imported).toBeGreaterThan(100)
    expect(imported).toBeLessThanOrEqual(150)
    expect(err.report.total).toBe(imported)
    expect([...store.flows.keys()]).toEqual(generateFlows(imported).map((flow) => flow.id))
    expect(store.get(`flow-${String(imported - 1).padStart(6, '0')}`)).toEqual(generateFlow(imported - 1))
  })

  it('fails with FLOWSTORE_IMPORT_FAILED when the file is missing', async () => {
    await using store = await openStore()
    const err = await importError(importLegacyJson(store, join(await tempDir(), 'missing.json')))
    expect(err.code).toBe('FLOWSTORE_IMPORT_FAILED')
    expect(err.message).toMatch(/ENOENT/)
  })

  it('fails with FLOWSTORE_IMPORT_FAILED on a file that is not a flows file', async () => {
    await using store = await openStore()
    const err = await importError(importLegacyJson(store, await legacyFile('flows.json', '42')))
    expect(err.code).toBe('FLOWSTORE_IMPORT_FAILED')
    expect(err.message).toMatch(/does not look like a legacy flows file/)
  })

  it('reports progress up to the whole file', async () => {
    const file = await legacyFile('flows.json', keyedById(generateFlows(2_000)))
    const size = (await stat(file)).size
    await using store = await openStore()
    const seen: Array<{ records: number, bytes: number, totalBytes: number }> = []
    await importLegacyJson(store, file, { onProgress: (p) => seen.push(p) })
    expect(seen.length).toBeGreaterThan(1)
    expect(seen.at(-1)).toEqual({ records: 2_000, bytes: size, totalBytes: size })
  })
})

describe('exportJson', () => {
  it('round trips: export, then import into a new store, gives deep-equal flows', async () => {
    const flows = generateFlows(500)
    await using source = await openStore()
    await source.saveMany([...flows, { id: 'odd "id" ü', nested: { list: [null, true, 1.5, 'ß'] } } as never])
    const file = join(await tempDir(), 'out.json')
    const exported = await exportJson(source, file, { pretty: true })
    expect(exported).toMatchObject({ flows: 501, bytes: (await stat(file)).size })

    await using target = await openStore()
    const report = await importLegacyJson(target, file)
    expect(report).toMatchObject({ format: 'object', imported: 501, skippedCount: 0 })
    expect(contents(target)).toEqual(contents(source))
  })

  it('writes compact JSON by default, keyed by id, owner-only', async () => {
    await using store = await openStore()
    await store.saveMany([{ id: 'a', n: 1 }, { id: 'b', n: 2 }] as never)
    const file = join(await tempDir(), 'out.json')
    await exportJson(store, file)
    expect(await readFile(file, 'utf8')).toBe('{"a":{"id":"a","n":1},"b":{"id":"b","n":2}}\n')
    expect((await stat(file)).mode & 0o777).toBe(0o600)
  })

  it('refuses a flow holding a Date, naming the flow and the path, and writes nothing', async () => {
    await using store = await openStore()
    await store.saveMany([{ id: 'fine' }, { id: 'dated', meta: { when: new Date(0) } }] as never)
    const dir = await tempDir()
    const file = join(dir, 'out.json')
    let err: unknown
    try {
      await exportJson(store, file)
    } catch (caught) {
      err = caught
    }
    expect(err).toBeInstanceOf(FlowStoreError)
    expect((err as FlowStoreError).code).toBe('FLOWSTORE_INVALID_FLOW')
    expect((err as FlowStoreError).id).toBe('dated')
    expect((err as Error).message).toMatch(/"dated".*flow\.meta\.when.*Date/)
    expect(await readdir(dir)).toEqual([])
  })
})
