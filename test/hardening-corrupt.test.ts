// Opening a store whose LevelDB files are damaged: refused with FLOWSTORE_CORRUPT, which says
// what is damaged and suggests `flowstore repair`, and the files are left exactly as they
// were. Without these checks LevelDB's defaults would silently start a new database over a
// store that lost its CURRENT file (and delete its tables), drop the committed writes in a
// damaged log, or fail with a bare I/O error. Real stores in temp dirs, damaged on disk.

import { rm, stat, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { FlowStore, FlowStoreError } from '../src/index.ts'
import { checkStore } from '../src/maintenance/check.ts'
import { killChildren, startChild } from './fixtures/child.ts'
import { cutTo, fileIn, filesOf, flipByte, flowBlocks, FLOWS, logRecords, rejectionOf, withRaw, writeStore } from './fixtures/hardening-damage.ts'
import { tempDir } from './helpers.ts'

afterEach(killChildren)

/** Damages a fresh store with `damage`, then expects open to refuse it and change nothing. */
async function expectRefused (options: Parameters<typeof writeStore>[1], damage: (dir: string) => Promise<void>): Promise<FlowStoreError> {
  const dir = await tempDir()
  await writeStore(dir, options)
  await damage(dir)
  const before = await filesOf(dir)
  const err = await rejectionOf(FlowStore.open(dir))
  expect(err).toBeInstanceOf(FlowStoreError)
  expect(err.code).toBe('FLOWSTORE_CORRUPT')
  expect(err.message).toContain(`flowstore repair ${dir}`)
  expect(await filesOf(dir)).toEqual(before)
  return err
}

describe('a store with damaged files', () => {
  it('is refused when CURRENT is missing, before LevelDB can start a new database over its tables', async () => {
    const err = await expectRefused({ tables: true }, async (dir) => { await rm(join(dir, 'CURRENT')) })
    expect(err.message).toMatch(/CURRENT is missing/)
    expect(err.message).toMatch(/\.ldb/)
  })

  it('is refused when CURRENT is missing and the flows are only in the write-ahead log', async () => {
    const err = await expectRefused({}, async (dir) => { await rm(join(dir, 'CURRENT')) })
    expect(err.message).toMatch(/CURRENT is missing.*\.log/)
  })

  it('is refused when CURRENT names no manifest', async () => {
    const err = await expectRefused({ tables: true }, async (dir) => { await writeFile(join(dir, 'CURRENT'), 'garbage') })
    expect(err.message).toMatch(/CURRENT is damaged/)
  })

  it('is refused when the manifest is missing', async () => {
    const err = await expectRefused({ tables: true }, async (dir) => { await rm(await fileIn(dir, /^MANIFEST-/)) })
    expect(err.message).toMatch(/MANIFEST-\d+ is missing/)
  })

  it('is refused when the manifest has a flipped byte', async () => {
    const err = await expectRefused({ tables: true }, async (dir) => { await flipByte(await fileIn(dir, /^MANIFEST-/), 20) })
    expect(err.message).toMatch(/MANIFEST-\d+ is damaged: checksum mismatch/)
  })

  it('is refused when a committed write in the log has a flipped byte, which LevelDB would silently drop', async () => {
    const err = await expectRefused({ batch: 100 }, async (dir) => {
      const log = await fileIn(dir, /\.log$/)
      const records = await logRecords(log)
      expect(records.length).toBeGreaterThan(3)
      // Inside the payload of the third batch.
      await flipByte(log, records[2]! + 500)
    })
    expect(err.message).toMatch(/\d+\.log is damaged: checksum mismatch/)
  })

  it('is refused when a table file is cut short', async () => {
    const err = await expectRefused({ tables: true }, async (dir) => { await cutTo(await fileIn(dir, /\.ldb$/), 0.5) })
    expect(err.message).toMatch(/\.ldb is \d+ bytes long, but the manifest says \d+/)
  })

  it('is refused when a table file has a damaged footer', async () => {
    const err = await expectRefused({ tables: true }, async (dir) => {
      const table = await fileIn(dir, /\.ldb$/)
      await flipByte(table, (await stat(table)).size - 2)
    })
    expect(err.message).toMatch(/\.ldb is damaged: its footer/)
  })

  it('is refused when a table file is missing', async () => {
    const err = await expectRefused({ tables: true }, async (dir) => { await rm(await fileIn(dir, /\.ldb$/)) })
    expect(err.message).toMatch(/\.ldb is missing/)
  })

  it('is refused, with LevelDB\'s report as the cause, when a flow block LevelDB reads at open is damaged', async () => {
    const dir = await tempDir()
    await writeStore(dir, { tables: true })
    const table = await fileIn(dir, /\.ldb$/)
    const [block] = await flowBlocks(table)
    // The first byte of a compressed block starts its length: a flip there fails to decompress.
    await flipByte(table, block!.offset)
    const err = await rejectionOf(FlowStore.open(dir))
    expect(err).toBeInstanceOf(FlowStoreError)
    expect(err.code).toBe('FLOWSTORE_CORRUPT')
    expect(err.message).toMatch(/LevelDB reports "Corruption: corrupted compressed block contents"/)
    expect(err.message).toContain(`flowstore repair ${dir}`)
    expect(err.cause.code).toBe('LEVEL_CORRUPTION')
  })

  it('is refused with the same code by another process', async () => {
    const dir = await tempDir()
    await writeStore(dir, { tables: true })
    await rm(join(dir, 'CURRENT'))
    const child = startChild('try-open.ts', dir)
    const outcome = JSON.parse(await child.waitForLine((line) => line.startsWith('{'))) as { ok: boolean, code?: string }
    await child.exited
    expect(outcome).toMatchObject({ ok: false, code: 'FLOWSTORE_CORRUPT' })
  })
})

describe('a store with damage that is not corruption', () => {
  it('opens when its log ends inside its last write (what a crash during a write leaves), with every complete write', async () => {
    const dir = await tempDir()
    await writeStore(dir, { batch: 100 })
    const log = await fileIn(dir, /\.log$/)
    const records = await logRecords(log)
    // Cut inside the last batch: every batch before it is whole.
    await truncate(log, records.at(-1)! + 100)
    const store = await FlowStore.open(dir)
    try {
      expect(store.size).toBe(FLOWS.length - 100)
      expect(store.get(FLOWS[0]!.id)).toEqual(FLOWS[0])
    } finally {
      await store.close()
    }
  })

  it('is noted, not reported, by check when its log ends inside its last write', async () => {
    const dir = await tempDir()
    await writeStore(dir, { batch: 100 })
    const log = await fileIn(dir, /\.log$/)
    await truncate(log, (await logRecords(log)).at(-1)! + 100)
    const report = await checkStore(dir)
    expect(report.ok).toBe(true)
    expect(report.notes.join('\n')).toMatch(/ends inside its last write/)
  })

  it('opens as a new store when only the start of a creation is there (a manifest, no CURRENT)', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'MANIFEST-000001'), '')
    const store = await FlowStore.open(dir)
    await store.save({ id: 'a' })
    await store.close()
    const reopened = await FlowStore.open(dir)
    expect(reopened.size).toBe(1)
    await reopened.close()
  })

  it('opens when a single value is damaged, and only that id gives FLOWSTORE_DECODE_ERROR', async () => {
    const dir = await tempDir()
    await writeStore(dir, { tables: true })
    const bad = FLOWS[3]!.id
    await withRaw(dir, async (db) => { await db.put(`f!${bad}`, Uint8Array.of(0xf1, 0, 0, 0, 0, 0, 1, 0xc1)) })
    const store = await FlowStore.open(dir)
    try {
      expect(() => store.get(bad)).toThrow(expect.objectContaining({ code: 'FLOWSTORE_DECODE_ERROR', id: bad }))
      expect(store.get(FLOWS[4]!.id)).toEqual(FLOWS[4])
    } finally {
      await store.close()
    }
  })

  it('opens a new store in a directory that does not exist yet, parents included', async () => {
    const dir = join(await tempDir(), 'a', 'b', 'db')
    const store = await FlowStore.open(dir)
    await store.save({ id: 'x' })
    await store.close()
    const reopened = await FlowStore.open(dir)
    expect(reopened.get('x')).toEqual({ id: 'x' })
    await reopened.close()
  })
})
