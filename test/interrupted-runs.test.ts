// Runs that are interrupted: SIGINT or SIGTERM during a backup, an export or a restore
// removes its temporary file or directory on the way out (the process still ends by the
// signal); a run killed outright (SIGKILL) leaves its temporary, which `flowstore list` and
// `verify` report and the next run of the same kind removes once its process is gone; a
// restore or a repair killed between the two renames of its swap is finished by the next
// open (repair, restore), which never creates an empty store there; a check or repair killed
// outright leaves its lock directory, reported and removed the same way. Real child
// processes, real signals; each child stops at a known point (test/fixtures/interrupted-run.ts)
// instead of the test waiting for time.

import { spawn } from 'node:child_process'
import { cp, mkdir, readdir, rename, rm, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { generateFlows } from '../examples/generate-flows.ts'
import { backupToDirectory, checkStore, FlowStore, isFlowStoreError, listBackups, listLeftovers, repairStore, restoreBackup } from '../src/index.ts'
import { json, runFlowstore, TSX } from './cli-run.ts'
import { type Child, killChildren, startChild } from './fixtures/child.ts'
import { idsOf, tempDir, temporaries } from './helpers.ts'

afterEach(killChildren)

/** A closed store of `n` generated flows in a fresh temp dir; returns the dir and the store's path. */
async function storeOf (n: number): Promise<{ dir: string, db: string }> {
  const dir = await tempDir()
  const db = join(dir, 'db')
  const store = await FlowStore.open(db)
  const flows = generateFlows(n)
  for (let i = 0; i < flows.length; i += 2000) await store.saveMany(flows.slice(i, i + 2000) as never)
  await store.close()
  return { dir, db }
}


/** Waits (polling, bounded by the test's timeout) until `dir` holds a temporary; returns its names. */
async function temporaryAppears (dir: string): Promise<string[]> {
  const deadline = Date.now() + 50_000
  while (Date.now() < deadline) {
    const found = await temporaries(dir)
    if (found.length > 0) return found
    await new Promise((resolve) => setImmediate(resolve))
  }
  throw new Error(`no temporary appeared in ${dir}`)
}

/** Starts an interrupted-run child and waits until it stands still in the middle of its work. */
async function pausedRun (...args: string[]): Promise<Child> {
  const child = startChild('interrupted-run.ts', ...args)
  await child.waitForLine((line) => line === 'progress')
  return child
}

/** Sends `signal` to the paused child, lets it go on, and waits for it to end. */
async function interrupt (child: Child, signal: NodeJS.Signals): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
  child.kill(signal)
  child.send('go')
  return await child.exited
}

describe('SIGINT and SIGTERM', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('%s during a backup removes its temporary file; the process ends by the signal', async (signal) => {
    const { dir, db } = await storeOf(5000)
    const child = await pausedRun('backup', db, join(dir, 'full.fsbk'))
    expect(await temporaryAppears(dir)).toHaveLength(1)
    expect(await interrupt(child, signal)).toEqual({ code: null, signal })
    expect(child.lines).not.toContain('done')
    expect((await readdir(dir)).sort()).toEqual(['db'])
  })

  it('SIGINT during a JSON export removes its temporary file', async () => {
    const { dir, db } = await storeOf(5000)
    const child = await pausedRun('export', db, join(dir, 'flows.json'))
    expect(await temporaryAppears(dir)).toHaveLength(1)
    expect(await interrupt(child, 'SIGINT')).toEqual({ code: null, signal: 'SIGINT' })
    expect((await readdir(dir)).sort()).toEqual(['db'])
  })

  it('SIGTERM during a restore over a store removes the store being built and leaves the old one as it was', async () => {
    const { dir, db } = await storeOf(5000)
    const full = (await (async () => {
      const store = await FlowStore.open(db)
      try {
        return await store.backup(join(dir, 'full.fsbk'))
      } finally {
        await store.close()
      }
    })()).file
    const target = join(dir, 'target')
    const old = await FlowStore.open(target)
    await old.saveMany([{ id: 'old-1' }, { id: 'old-2' }])
    await old.close()
    const child = await pausedRun('restore', target, full)
    expect(await temporaries(dir)).toHaveLength(1)
    expect(await interrupt(child, 'SIGTERM')).toEqual({ code: null, signal: 'SIGTERM' })
    expect((await readdir(dir)).sort()).toEqual(['db', 'full.fsbk', 'target'])
    expect(await idsOf(target)).toEqual(['old-1', 'old-2'])
  })

  it('Ctrl-C during "flowstore restore" removes the store being built; the command ends by the signal', async () => {
    const { dir, db } = await storeOf(20_000)
    const store = await FlowStore.open(db)
    const full = (await store.backup(join(dir, 'full.fsbk'))).file
    await store.close()
    const target = join(dir, 'restored')
    const cli = spawn(process.execPath, ['--import', TSX, join(import.meta.dirname, '..', 'src', 'cli', 'main.ts'), 'restore', full, '--to', target], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    cli.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
    const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => cli.on('close', (code, signal) => { resolve({ code, signal }) }))
    // The store being built appears once the backup has been verified; it takes the whole
    // build (seconds for 20,000 flows) to become the target.
    expect(await temporaryAppears(dir), stderr).toHaveLength(1)
    cli.kill('SIGINT')
    expect(await exited, stderr).toEqual({ code: null, signal: 'SIGINT' })
    expect((await readdir(dir)).sort()).toEqual(['db', 'full.fsbk'])
  })
})

describe('runs killed outright', () => {
  it('a killed backup leaves its temporary file, which list and verify report, and the next backup into the directory removes', async () => {
    const { dir, db } = await storeOf(5000)
    const backups = join(dir, 'backups')
    const child = await pausedRun('backup-dir', db, backups)
    const [left] = await temporaryAppears(backups)
    child.kill('SIGKILL')
    await child.exited
    expect(await temporaries(backups)).toEqual([left])

    const leftovers = await listLeftovers(backups)
    expect(leftovers).toEqual([expect.objectContaining({ kind: 'backup', pid: child.process.pid, stale: true, path: join(backups, left!) })])
    const [list, verify] = await Promise.all([runFlowstore({}, 'list', backups), runFlowstore({}, 'verify', backups, '--json')])
    expect(list.stdout).toContain(left)
    expect(list.stdout).toMatch(/left by process \d+, which is gone: the next backup here removes it/)
    expect(json(verify).leftovers).toEqual([expect.objectContaining({ kind: 'backup', stale: true })])

    const store = await FlowStore.open(db)
    await backupToDirectory(store, backups)
    await store.close()
    expect(await temporaries(backups)).toEqual([])
    expect(await listBackups(backups)).toHaveLength(1)
  })

  it('a temporary whose writer still runs is reported as such and not removed', async () => {
    const { dir, db } = await storeOf(5000)
    const backups = join(dir, 'backups')
    const child = await pausedRun('backup-dir', db, backups)
    await temporaryAppears(backups)
    const store = await FlowStore.open(join(dir, 'other'))
    await store.save({ id: 'x' })
    await backupToDirectory(store, backups)
    await store.close()
    expect(await listLeftovers(backups)).toEqual([expect.objectContaining({ kind: 'backup', pid: child.process.pid, stale: false })])
    child.send('go')
    await child.waitForLine((line) => line === 'done')
    expect(await temporaries(backups)).toEqual([])
  })

  it('a killed restore leaves its directory, which the next restore into the same place removes', async () => {
    const { dir, db } = await storeOf(5000)
    const store = await FlowStore.open(db)
    const full = (await store.backup(join(dir, 'full.fsbk'))).file
    await store.close()
    const target = join(dir, 'target')
    const child = await pausedRun('restore', target, full)
    const [left] = await temporaries(dir)
    child.kill('SIGKILL')
    await child.exited
    expect(await listLeftovers(dir)).toEqual([expect.objectContaining({ kind: 'restore', stale: true, path: join(dir, left!) })])
    await restoreBackup(full, target)
    expect(await temporaries(dir)).toEqual([])
    expect(await idsOf(target)).toHaveLength(5000)
  })
})

describe('a check or repair killed outright', () => {
  it.each(['check', 'repair'] as const)('a killed %s leaves its lock directory, which list and verify report, and the next check or repair removes', async (mode) => {
    const { dir, db } = await storeOf(500)
    const child = await pausedRun(mode, db)
    const locks = (await readdir(dir)).filter((name) => name.startsWith('.db.lock-'))
    expect(locks).toHaveLength(1)
    child.kill('SIGKILL')
    expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' })
    expect((await readdir(dir)).filter((name) => name.startsWith('.db.lock-'))).toEqual(locks)

    const leftovers = await listLeftovers(dir)
    expect(leftovers).toContainEqual(expect.objectContaining({ kind: 'lock', target: 'db', pid: child.process.pid, stale: true, path: join(dir, locks[0]!) }))
    // A repair stops once its copy is begun: that copy is a leftover too.
    if (mode === 'repair') expect(leftovers).toContainEqual(expect.objectContaining({ kind: 'repair', target: 'db', pid: child.process.pid, stale: true }))
    expect(leftovers).toHaveLength(mode === 'repair' ? 2 : 1)
    const [list, verify] = await Promise.all([runFlowstore({}, 'list', dir), runFlowstore({}, 'verify', dir, '--json')])
    expect(list.stdout).toContain(locks[0])
    expect(list.stdout).toMatch(/lock directory of a check or repair of the store db, left by process \d+, which is gone: the next check or repair of that store here removes it/)
    expect(json(verify).leftovers).toContainEqual(expect.objectContaining({ kind: 'lock', stale: true }))

    // The next run (of the other kind, too) removes what the killed one left.
    if (mode === 'check') expect((await repairStore(db)).repaired).toBe(false)
    else expect((await checkStore(db)).ok).toBe(true)
    expect(await listLeftovers(dir)).toEqual(mode === 'repair' ? [expect.objectContaining({ kind: 'repair' })] : [])
    if (mode === 'repair') await repairStore(db)
    expect(await readdir(dir)).toEqual(['db'])
    expect(await idsOf(db)).toHaveLength(500)
  })

  it('a lock directory whose process still runs is reported as held, and not removed', async () => {
    const { dir, db } = await storeOf(50)
    const child = await pausedRun('check', db)
    const err = await checkStore(db).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_LOCKED')).toBe(true)
    expect(await listLeftovers(dir)).toEqual([expect.objectContaining({ kind: 'lock', pid: child.process.pid, stale: false })])
    expect((await runFlowstore({}, 'list', dir)).stdout).toMatch(/lock directory of a check or repair of the store db, held by process \d+/)
    child.send('go')
    await child.waitForLine((line) => line === 'done')
    await child.exited
    expect(await readdir(dir)).toEqual(['db'])
  })
})

describe('a restore killed between the two renames of its swap', () => {
  // The swap's two renames run back to back in one synchronous step, so no test can stop a
  // process between them; the state such a kill leaves is made here instead, with the pid of
  // a process that has exited, exactly as the swap names it.
  async function deadPid (): Promise<number> {
    const child = spawn(process.execPath, ['-e', ''])
    await new Promise((resolve) => child.on('close', resolve))
    return child.pid!
  }

  async function interruptedSwap (withNew: boolean): Promise<{ dir: string, target: string }> {
    const dir = await tempDir()
    const target = join(dir, 'db')
    const old = await FlowStore.open(target)
    await old.saveMany([{ id: 'old-1' }, { id: 'old-2' }])
    const backup = await old.backup(join(dir, 'new.fsbk'))
    await old.save({ id: 'old-3' })
    await old.close()
    const token = `${await deadPid()}-0123456789ab`
    if (withNew) await restoreBackup(backup.file, join(dir, `.db.restore-${token}`))
    await rename(target, join(dir, `.db.old-${token}`))
    return { dir, target }
  }

  it('the next open finishes it: the new store is in place, the old one removed, no empty store made', async () => {
    const { dir, target } = await interruptedSwap(true)
    expect(await idsOf(target)).toEqual(['old-1', 'old-2'])
    expect((await readdir(dir)).sort()).toEqual(['db', 'new.fsbk'])
  })

  it('without the new store, the next open puts the old one back', async () => {
    const { dir, target } = await interruptedSwap(false)
    expect(await idsOf(target)).toEqual(['old-1', 'old-2', 'old-3'])
    expect((await readdir(dir)).sort()).toEqual(['db', 'new.fsbk'])
  })

  it('the next restore finishes it first, then restores', async () => {
    const { dir, target } = await interruptedSwap(true)
    const second = join(dir, 'other')
    await mkdir(second)
    await cp(join(dir, 'new.fsbk'), join(second, 'copy.fsbk'))
    const err = await restoreBackup(join(second, 'copy.fsbk'), target).catch((e: unknown) => e)
    // Finished, the swap left a store there: without overwrite it is not replaced.
    expect(isFlowStoreError(err, 'FLOWSTORE_TARGET_NOT_EMPTY')).toBe(true)
    expect(await idsOf(target)).toEqual(['old-1', 'old-2'])
    expect((await stat(target)).isDirectory()).toBe(true)
  })

  it('while the process that set the old store aside still runs, open refuses with FLOWSTORE_LOCKED and creates nothing', async () => {
    const dir = await tempDir()
    const target = join(dir, 'db')
    await (await FlowStore.open(target)).close()
    const child = startChild('hold-open.ts', join(dir, 'unrelated'))
    await child.waitForLine((line) => line === 'ready')
    await rename(target, join(dir, `.db.old-${child.process.pid}-0123456789ab`))
    const err = await FlowStore.open(target).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_LOCKED')).toBe(true)
    expect((await readdir(dir)).sort()).toEqual([`.db.old-${child.process.pid}-0123456789ab`, 'unrelated'])
    child.send('close')
    await child.exited
  })
})

describe('a repair killed between the two renames of its swap', () => {
  // As for a restore: the state such a kill leaves is made here, named exactly as a repair
  // names it (hardening-repair.test.ts checks that name on a real repair): the original set
  // aside as `db.before-repair-<time>-<token>`, the rebuilt store at `.db.restore-<token>`,
  // and no `db`.
  async function deadPid (): Promise<number> {
    const child = spawn(process.execPath, ['-e', ''])
    await new Promise((resolve) => child.on('close', resolve))
    return child.pid!
  }

  async function interruptedRepair (pid?: number): Promise<{ dir: string, target: string, original: string }> {
    const dir = await tempDir()
    const target = join(dir, 'db')
    const old = await FlowStore.open(target)
    await old.saveMany([{ id: 'old-1' }, { id: 'old-2' }, { id: 'lost-3' }])
    await old.close()
    const token = `${pid ?? await deadPid()}-0123456789ab`
    const rebuilt = await FlowStore.open(join(dir, `.db.restore-${token}`))
    await rebuilt.saveMany([{ id: 'old-1' }, { id: 'old-2' }])
    await rebuilt.close()
    const original = join(dir, `db.before-repair-20261129T101500123Z-${token}`)
    await rename(target, original)
    return { dir, target, original }
  }

  it('the next open finishes it: the repaired store is in place, the original kept, no empty store made', async () => {
    const { dir, target, original } = await interruptedRepair()
    expect(await idsOf(target)).toEqual(['old-1', 'old-2'])
    expect((await readdir(dir)).sort()).toEqual(['db', basename(original)])
    expect(await idsOf(original)).toEqual(['lost-3', 'old-1', 'old-2'])
  })

  it('the next repair finishes it first, then checks the repaired store', async () => {
    const { dir, target, original } = await interruptedRepair()
    const report = await repairStore(target)
    expect(report).toMatchObject({ repaired: false, flows: 2 })
    expect((await readdir(dir)).sort()).toEqual(['db', basename(original)])
    expect(await idsOf(target)).toEqual(['old-1', 'old-2'])
  })

  it('"flowstore repair" finishes it too', async () => {
    const { dir, target, original } = await interruptedRepair()
    const run = await runFlowstore({}, 'repair', target, '--json')
    expect(run.code, run.stderr).toBe(0)
    expect(json(run)).toMatchObject({ repaired: false, flows: 2 })
    expect((await readdir(dir)).sort()).toEqual(['db', basename(original)])
    expect(await idsOf(target)).toEqual(['old-1', 'old-2'])
  })

  it('the next restore finishes it first, then restores', async () => {
    const { dir, target, original } = await interruptedRepair()
    const source = await FlowStore.open(join(dir, 'source'))
    await source.save({ id: 'other' })
    const backups = join(dir, 'backups')
    await mkdir(backups)
    const full = (await source.backup(join(backups, 'full.fsbk'))).file
    await source.close()
    const err = await restoreBackup(full, target).catch((e: unknown) => e)
    // Finished, the swap left a store there: without overwrite it is not replaced.
    expect(isFlowStoreError(err, 'FLOWSTORE_TARGET_NOT_EMPTY')).toBe(true)
    expect(await idsOf(target)).toEqual(['old-1', 'old-2'])
    await restoreBackup(full, target, { overwrite: true })
    expect(await idsOf(target)).toEqual(['other'])
    expect(await idsOf(original)).toEqual(['lost-3', 'old-1', 'old-2'])
  })

  it('while the repairing process still runs, open and repair refuse with FLOWSTORE_LOCKED and create nothing', async () => {
    const holder = startChild('hold-open.ts', join(await tempDir(), 'unrelated'))
    await holder.waitForLine((line) => line === 'ready')
    const { dir, target, original } = await interruptedRepair(holder.process.pid)
    const before = (await readdir(dir)).sort()
    for (const attempt of [async () => await FlowStore.open(target), async () => await repairStore(target)]) {
      const err = await attempt().catch((e: unknown) => e)
      expect(isFlowStoreError(err, 'FLOWSTORE_LOCKED'), String(err)).toBe(true)
    }
    expect((await readdir(dir)).sort()).toEqual(before)
    expect(before).toContain(basename(original))
    holder.send('close')
    await holder.exited
  })

  it('a kept original without its rebuilt store is a finished repair, never moved back', async () => {
    const { dir, target, original } = await interruptedRepair()
    const token = basename(original).replace(/^db\.before-repair-\d{8}T\d{9}Z-/, '')
    await rm(join(dir, `.db.restore-${token}`), { recursive: true })
    // The repaired store was removed by its user: open makes a new, empty one, as for any missing store.
    expect(await idsOf(target)).toEqual([])
    expect(await idsOf(original)).toEqual(['lost-3', 'old-1', 'old-2'])
  })
})
