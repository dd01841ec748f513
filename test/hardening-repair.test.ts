// repairStore() and `flowstore repair`: recovers what can be recovered from a damaged store and
// never makes things worse: the original is kept, byte for byte, next to the repaired store;
// every recovered flow is exactly what was saved (no value read from damaged bytes); every
// flow lost is listed and recorded as a deletion at a new version; the result passes check.

import { spawn } from 'node:child_process'
import { readdir, rm, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { GeneratedFlow } from '../examples/generate-flows.ts'
import { FlowStore } from '../src/index.ts'
import { checkStore } from '../src/maintenance/check.ts'
import { repairStore } from '../src/maintenance/repair.ts'
import { killChildren, startChild } from './fixtures/child.ts'
import { cutTo, fileIn, filesOf, flipByte, flowBlocks, FLOWS, logRecords, rejectionOf, withRaw, writeStore } from './fixtures/hardening-damage.ts'
import { tempDir } from './helpers.ts'

afterEach(killChildren)

const BY_ID = new Map(FLOWS.map((flow) => [flow.id, flow]))

/** A store directory `db` inside a fresh temp dir (the repair keeps the original next to it). */
async function storeDir (): Promise<string> {
  return join(await tempDir(), 'db')
}

/** Opens the repaired store and checks every flow in it is exactly one that was saved. */
async function expectExactFlows (dir: string): Promise<Set<string>> {
  const store = await FlowStore.open<GeneratedFlow>(dir)
  try {
    for (const id of store.flows.keys()) expect(store.get(id), id).toEqual(BY_ID.get(id))
    return new Set(store.flows.keys())
  } finally {
    await store.close()
  }
}

describe('repairStore', () => {
  it('leaves a healthy store alone', async () => {
    const dir = await storeDir()
    await writeStore(dir, { tables: true })
    const before = await filesOf(dir)
    const report = await repairStore(dir)
    expect(report).toMatchObject({ repaired: false, original: undefined, flows: FLOWS.length })
    expect(await filesOf(dir)).toEqual(before)
    expect(await readdir(dirname(dir))).toEqual(['db'])
  })

  it('recovers every flow of a store that lost its CURRENT file, and keeps the original as it was', async () => {
    const dir = await storeDir()
    await writeStore(dir, { tables: true })
    await rm(join(dir, 'CURRENT'))
    const damaged = await filesOf(dir)
    const report = await repairStore(dir)
    expect(report.repaired).toBe(true)
    expect(report.lost).toEqual([])
    expect(report.recovered).toHaveLength(FLOWS.length)
    expect(report.found.problems[0]!.message).toMatch(/CURRENT is missing/)
    // Set aside under this name by the swap itself: the time, then the swap's token (this process's pid).
    expect(basename(report.original!)).toMatch(new RegExp(`^db\\.before-repair-\\d{8}T\\d{9}Z-${process.pid}-[0-9a-f]{12}$`))
    expect(await filesOf(report.original!)).toEqual(damaged)
    expect((await expectExactFlows(dir)).size).toBe(FLOWS.length)
    expect((await checkStore(dir)).ok).toBe(true)
  })

  it('drops the writes of a damaged log record, lists their flows as lost, and keeps every other write', async () => {
    const dir = await storeDir()
    await writeStore(dir, { batch: 100 })
    const log = await fileIn(dir, /\.log$/)
    const records = await logRecords(log)
    // Records: the store's two metadata puts at creation, then one per batch of 100 flows.
    expect(records).toHaveLength(8)
    // The third batch (flows 200..299).
    await flipByte(log, records[4]! + 500)
    const report = await repairStore(dir)
    const lost = report.lost.map((l) => l.id).sort()
    expect(lost).toEqual(FLOWS.slice(200, 300).map((f) => f.id))
    expect(report.lost[0]!.reason).toMatch(/a damaged write in \d+\.log held it/)
    const kept = await expectExactFlows(dir)
    expect(kept.size).toBe(FLOWS.length - 100)
    for (const id of lost) expect(kept.has(id)).toBe(false)
  })

  it('records each lost flow as a deletion at a new version, which changesSince reports', async () => {
    const dir = await storeDir()
    await writeStore(dir, { batch: 100 })
    const log = await fileIn(dir, /\.log$/)
    await flipByte(log, (await logRecords(log))[4]! + 500)
    const report = await repairStore(dir)
    // Six batches of saves (versions 1..6): the repair is version 7.
    expect(report.version).toBe(7)
    const store = await FlowStore.open(dir)
    try {
      const { changes } = await store.changesSince(6)
      expect(changes.map((c) => c.id).sort()).toEqual(report.lost.map((l) => l.id).sort())
      expect(changes.every((c) => c.deleted && c.version === 7)).toBe(true)
    } finally {
      await store.close()
    }
  })

  it('keeps no value from a table block whose checksum fails, even one LevelDB would read back', async () => {
    const dir = await storeDir()
    await writeStore(dir, { tables: true })
    const table = await fileIn(dir, /\.ldb$/)
    const block = (await flowBlocks(table))[3]!
    await flipByte(table, block.offset + Math.floor(block.size / 2))
    const report = await repairStore(dir)
    expect(report.lost.length).toBeGreaterThan(0)
    expect(report.lost.length).toBeLessThan(10)
    expect(report.dropped.join('\n')).toMatch(/1 damaged block/)
    const kept = await expectExactFlows(dir)
    expect(kept.size + report.lost.length).toBe(FLOWS.length)
    expect((await checkStore(dir)).ok).toBe(true)
  })

  it('recovers the blocks before the cut of a table file cut short', async () => {
    const dir = await storeDir()
    await writeStore(dir, { tables: true })
    await cutTo(await fileIn(dir, /\.ldb$/), 0.5)
    const report = await repairStore(dir)
    const kept = await expectExactFlows(dir)
    expect(kept.size).toBeGreaterThan(FLOWS.length * 0.3)
    expect(kept.size + report.lost.length).toBe(FLOWS.length)
    expect(report.dropped.join('\n')).toMatch(/found by their checksums/)
  })

  it('drops a value that does not decode and lists it as lost', async () => {
    const dir = await storeDir()
    await writeStore(dir, { tables: true })
    const bad = FLOWS[7]!.id
    await withRaw(dir, async (db) => { await db.put(`f!${bad}`, Uint8Array.of(0xf1, 0, 0, 0, 0, 0, 1, 0xc1)) })
    const report = await repairStore(dir)
    expect(report.lost).toEqual([{ id: bad, reason: expect.stringMatching(/cannot be decoded/) }])
    expect((await expectExactFlows(dir)).size).toBe(FLOWS.length - 1)
  })

  it('gives the repaired store a new identity and a version above every earlier one', async () => {
    const dir = await storeDir()
    await writeStore(dir, { tables: true })
    const first = await FlowStore.open(dir)
    const { storeId, version } = first
    await first.close()
    await rm(join(dir, 'CURRENT'))
    await repairStore(dir)
    const store = await FlowStore.open(dir)
    try {
      expect(store.storeId).not.toBe(storeId)
      expect(store.version).toBe(version + 1)
    } finally {
      await store.close()
    }
  })

  it('makes the repaired store directory owner-only', async () => {
    const dir = await storeDir()
    await writeStore(dir, { tables: true })
    await rm(join(dir, 'CURRENT'))
    await repairStore(dir)
    expect((await stat(dir)).mode & 0o777).toBe(0o700)
  })

  it('leaves nothing behind but the repaired store and the original', async () => {
    const dir = await storeDir()
    await writeStore(dir, { tables: true })
    await rm(join(dir, 'CURRENT'))
    const report = await repairStore(dir)
    expect((await readdir(dirname(dir))).sort()).toEqual(['db', basename(report.original!)])
  })

  it('is refused with FLOWSTORE_LOCKED while another process has the store open, changing nothing', async () => {
    const dir = await storeDir()
    await writeStore(dir, { tables: true })
    const child = startChild('hold-open.ts', dir)
    await child.waitForLine((line) => line === 'ready')
    const before = await filesOf(dir)
    const err = await rejectionOf(repairStore(dir, { force: true }))
    expect(err.code).toBe('FLOWSTORE_LOCKED')
    // The owner is idle after "ready": nothing may have changed, and nothing was added.
    expect(await filesOf(dir)).toEqual(before)
    expect(await readdir(dirname(dir))).toEqual(['db'])
    child.send('close')
    await child.exited
  })
})

// ---------------------------------------------------------------------------------------
// The command line

const ROOT = resolve(import.meta.dirname, '..')

async function flowstore (...args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return { code, stdout, stderr }
}

describe('flowstore repair', () => {
  it('repairs a damaged store, lists the flows lost, says where the original is, and check then passes', async () => {
    const dir = await storeDir()
    await writeStore(dir, { tables: true })
    const bad = FLOWS[7]!.id
    await withRaw(dir, async (db) => { await db.put(`f!${bad}`, Uint8Array.of(0xf1, 0, 0, 0, 0, 0, 1, 0xc1)) })
    const run = await flowstore('repair', dir)
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/599 flow\(s\) recovered, 1 lost/)
    expect(run.stdout).toContain(`"${bad}": its stored value cannot be decoded`)
    expect(run.stdout).toMatch(/the original is kept at .*db\.before-repair-/)
    expect((await flowstore('check', dir)).code).toBe(0)
  })

  it('says there is nothing to repair in a healthy store', async () => {
    const dir = await storeDir()
    await writeStore(dir, { tables: true })
    const run = await flowstore('repair', dir, '--json')
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, repaired: false })
  })
})
