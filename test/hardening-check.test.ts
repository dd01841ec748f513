// checkStore() and `flowstore check`: a complete read-only check of a closed store. Real
// stores, their invariants broken on purpose through raw LevelDB writes (the layout in
// src/layout.ts) or their files damaged on disk; problems are reported by id, and the check
// never changes the store, never creates one, and is refused while the store is open.

import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { FlowStore, FlowStoreError } from '../src/index.ts'
import { cp } from 'node:fs/promises'
import { encodeLogEntry, encodeVersion, logKey } from '../src/layout.ts'
import { checkStore } from '../src/maintenance/check.ts'
import { killChildren, startChild } from './fixtures/child.ts'
import { fileIn, filesOf, flipByte, flowBlocks, FLOWS, rejectionOf, withRaw, writeStore } from './fixtures/hardening-damage.ts'
import { tempDir } from './helpers.ts'

afterEach(killChildren)

const A = FLOWS[1]!.id
const B = FLOWS[2]!.id
const GONE = FLOWS[9]!.id

/** A closed store of FLOWS (in a table file) with GONE deleted: version 2. */
async function healthyStore (): Promise<string> {
  const dir = await tempDir()
  await writeStore(dir, { tables: true, deleted: [GONE] })
  return dir
}

/** Rewrites the change-log entry at `version` to list `changes` ([id, deleted]). */
async function rewriteLog (dir: string, version: number, before: number, changes: ReadonlyArray<readonly [string, boolean]>): Promise<void> {
  await withRaw(dir, async (db) => {
    await db.put(logKey(version), encodeLogEntry(before, changes.map(([id]) => id), changes.map(([, deleted]) => deleted)))
  })
}

/** The change-log entry of version 1 of healthyStore(): every flow saved, except `without`. */
const firstCommit = (without?: string): Array<[string, boolean]> => FLOWS.filter((flow) => flow.id !== without).map((flow) => [flow.id, false])

describe('checkStore', () => {
  it('reports a healthy store as ok, with its counts, its version and the bytes it verified', async () => {
    const dir = await healthyStore()
    const report = await checkStore(dir)
    expect(report).toMatchObject({
      ok: true, problems: [], problemCount: 0, valuesChecked: true,
      flows: FLOWS.length - 1, tombstones: 1, changes: FLOWS.length + 1, version: 2
    })
    expect(report.files.tables).toBeGreaterThan(0)
    expect(report.files.verifiedBytes).toBeGreaterThan(100_000)
  })

  it('reports a value that does not decode, by id', async () => {
    const dir = await healthyStore()
    // A valid header (version 1) and a body that is not msgpack.
    await withRaw(dir, async (db) => { await db.put(`f!${A}`, Uint8Array.of(0xf1, 0, 0, 0, 0, 0, 1, 0xc1, 0xc1)) })
    const report = await checkStore(dir)
    expect(report.ok).toBe(false)
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'undecodable', id: A })])
  })

  it('reports a flow without its change-log entry', async () => {
    const dir = await healthyStore()
    await rewriteLog(dir, 1, 0, firstCommit(A))
    const report = await checkStore(dir)
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'change-record', id: A, message: expect.stringMatching(/has no change-log entry/) }))
  })

  it('reports a flow whose latest change-log entry names another version', async () => {
    const dir = await healthyStore()
    await rewriteLog(dir, 2, FLOWS.length, [[GONE, true], [A, false]])
    const report = await checkStore(dir)
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'change-record', id: A, message: expect.stringMatching(/is at version 1, but the change log says it was last saved at version 2/) })])
  })

  it('reports a change-log entry of a saved flow that is not there', async () => {
    const dir = await healthyStore()
    await rewriteLog(dir, 2, FLOWS.length, [[GONE, true], ['nobody', false]])
    const report = await checkStore(dir)
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'change-record', id: 'nobody', message: expect.stringMatching(/was saved at version 2, but there is no flow record/) })])
  })

  it('reports a stored flow the change log says was deleted', async () => {
    const dir = await healthyStore()
    await rewriteLog(dir, 2, FLOWS.length, [[GONE, true], [B, true]])
    const report = await checkStore(dir)
    expect(report.problems).toContainEqual(expect.objectContaining({ id: B, message: expect.stringMatching(/is stored \(version 1\), but the change log says it was deleted at version 2/) }))
  })

  it('reports a malformed change-log entry and one that breaks the count', async () => {
    const dir = await healthyStore()
    await withRaw(dir, async (db) => { await db.put(logKey(2), Uint8Array.of(1, 2, 3)) })
    expect((await checkStore(dir)).problems).toContainEqual(expect.objectContaining({ kind: 'change-record', message: expect.stringMatching(/entry at version 2 is malformed/) }))
    await rewriteLog(dir, 2, 7, [[GONE, true]])
    expect((await checkStore(dir)).problems).toEqual([expect.objectContaining({ kind: 'change-record', message: expect.stringMatching(/counts 7 changes before it; the entry before it ends at 600/) })])
  })

  it('reports versions above the store version', async () => {
    const dir = await healthyStore()
    await withRaw(dir, async (db) => { await db.put('m!version', encodeVersion(1)) })
    const report = await checkStore(dir)
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'version', message: expect.stringMatching(/entry at version 2 lies outside 1\.\.1/) })])
  })

  it('accepts a flow whose change was pruned, below the horizon, and no other', async () => {
    const dir = await healthyStore()
    await withRaw(dir, async (db) => { await db.del(logKey(1)) })
    expect((await checkStore(dir)).problems).toHaveLength(FLOWS.length - 1)
    await withRaw(dir, async (db) => { await db.put('m!horizon', encodeVersion(1)) })
    expect(await checkStore(dir)).toMatchObject({ ok: true, flows: FLOWS.length - 1, tombstones: 1, changes: 1 })
  })

  it('checks a store of layout 1 against the invariants of layout 1, and notes that the next open migrates it', async () => {
    const dir = join(await tempDir(), 'v1')
    await cp(join(import.meta.dirname, 'fixtures', 'layout-v1', 'db'), dir, { recursive: true })
    const report = await checkStore(dir)
    expect(report).toMatchObject({ ok: true, flows: 8, tombstones: 3, changes: 11, version: 7 })
    expect(report.notes).toContain('layout 1: the next open migrates the store to layout 2')
  })

  it('reports a flipped byte in a table block that LevelDB itself would read back silently', async () => {
    const dir = await healthyStore()
    const table = await fileIn(dir, /\.ldb$/)
    const block = (await flowBlocks(table))[3]!
    // Deep inside the block: LevelDB does not verify block checksums when it reads.
    await flipByte(table, block.offset + Math.floor(block.size / 2))
    const report = await checkStore(dir)
    expect(report.ok).toBe(false)
    expect(report.valuesChecked).toBe(false)
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'file', file: table.split('/').pop(), message: expect.stringMatching(/1 data block\(s\) fail their checksum/) })])
  })

  it('changes nothing in a damaged store', async () => {
    const dir = await healthyStore()
    await flipByte(await fileIn(dir, /^MANIFEST-/), 20)
    const before = await filesOf(dir)
    expect((await checkStore(dir)).ok).toBe(false)
    expect(await filesOf(dir)).toEqual(before)
  })

  it('does not create a database where there is none', async () => {
    const dir = join(await tempDir(), 'missing')
    const err = await rejectionOf(checkStore(dir))
    expect(err).toBeInstanceOf(FlowStoreError)
    expect(err.code).toBe('FLOWSTORE_OPEN_FAILED')
    expect(err.message).toMatch(/does not exist/)
    expect(existsSync(dir)).toBe(false)
  })

  it('is refused with FLOWSTORE_LOCKED while a FlowStore of this process has the store open', async () => {
    const dir = await healthyStore()
    const store = await FlowStore.open(dir)
    try {
      expect((await rejectionOf(checkStore(dir))).code).toBe('FLOWSTORE_LOCKED')
    } finally {
      await store.close()
    }
  })

  it('is refused with FLOWSTORE_LOCKED while another process has the store open, and then works once it closed', async () => {
    const dir = await healthyStore()
    const child = startChild('hold-open.ts', dir)
    await child.waitForLine((line) => line === 'ready')
    const err = await rejectionOf(checkStore(dir))
    expect(err.code).toBe('FLOWSTORE_LOCKED')
    expect(err.message).toMatch(/another process/)
    child.send('close')
    await child.waitForLine((line) => line === 'closed')
    await child.exited
    expect((await checkStore(dir)).ok).toBe(true)
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

describe('flowstore check', () => {
  it('exits 0 and says ok for a healthy store', async () => {
    const dir = await healthyStore()
    const run = await flowstore('check', dir)
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^ok {3}.*599 flow\(s\), 1 tombstone\(s\), version 2/)
  })

  it('exits 1 and lists the problems by id, suggesting repair', async () => {
    const dir = await healthyStore()
    await rewriteLog(dir, 1, 0, firstCommit(A))
    const run = await flowstore('check', dir)
    expect(run.code).toBe(1)
    expect(run.stdout).toContain(`flow "${A}" (version 1) has no change-log entry`)
    expect(run.stdout).toContain(`flowstore repair ${dir}`)
  })

  it('prints one JSON object with --json', async () => {
    const dir = await healthyStore()
    await rewriteLog(dir, 2, FLOWS.length, [[GONE, true], ['nobody', false]])
    const run = await flowstore('check', dir, '--json')
    expect(run.code).toBe(1)
    const lines = run.stdout.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0]!)).toMatchObject({ ok: false, problemCount: 1, problems: [{ kind: 'change-record', id: 'nobody' }] })
  })
})
