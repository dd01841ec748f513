// Backup directories: the manifest, changed-only backups against the latest one, pruning
// that never breaks a kept chain, restoring the latest chain, and scheduled backups (awaited
// through their callbacks, never through time passing).

import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { type GeneratedFlow, generateFlow, generateFlows, mutateFlow } from '../examples/generate-flows.ts'
import {
  type BackupEntry, type BackupSchedule, backupToDirectory, FlowStore, isFlowStoreError, listBackups, pruneBackups,
  restoreBackup, restoreFromDirectory, startBackups, verifyBackup
} from '../src/index.ts'
import { tempDir } from './helpers.ts'

const stores: FlowStore<any>[] = []
const schedules: BackupSchedule[] = []

afterEach(async () => {
  for (const schedule of schedules.splice(0)) await schedule.stop()
  for (const store of stores.splice(0)) await store.close().catch(() => {})
})

async function storeWith (n: number): Promise<FlowStore<GeneratedFlow>> {
  const store = await FlowStore.open<GeneratedFlow>(join(await tempDir(), 'db'))
  stores.push(store)
  if (n > 0) await store.saveMany(generateFlows(n))
  return store
}

/** Changes one flow (a new revision of flow `i`), committed. */
async function touch (store: FlowStore<GeneratedFlow>, i: number, revision: number): Promise<void> {
  await store.save(mutateFlow(generateFlow(i), revision))
}

/** Every flow's bytes and version, by id. */
function contents (store: FlowStore<any>): Map<string, [string, number]> {
  return new Map([...store.flows.keys()].map((id) => {
    const lazy = store.lazy(id)!
    return [id, [Buffer.from(lazy.bytes).toString('base64'), lazy.version]]
  }))
}

/** Takes backups into `dir`: 'F' full, 'C' changed-only, each after one change to the store. */
async function series (store: FlowStore<GeneratedFlow>, dir: string, kinds: string): Promise<BackupEntry[]> {
  const out: BackupEntry[] = []
  let revision = 0
  for (const kind of kinds) {
    await touch(store, revision % 5, ++revision)
    out.push(await backupToDirectory(store, dir, { full: kind === 'F' }))
  }
  return out
}

/** Rewrites the manifest so that each backup's createdAt is the given ISO date. */
async function backdate (dir: string, dates: string[]): Promise<void> {
  const path = join(dir, 'manifest.json')
  const manifest = JSON.parse(await readFile(path, 'utf8')) as { backups: Array<{ createdAt: string }> }
  manifest.backups.forEach((entry, i) => { entry.createdAt = dates[i]! })
  await writeFile(path, JSON.stringify(manifest))
}

const names = (entries: readonly BackupEntry[]): string[] => entries.map((entry) => basename(entry.file))

/** A store restored from `files` into a fresh location, opened: it has a storeId of its own. */
async function fork (files: string[]): Promise<FlowStore<GeneratedFlow>> {
  const location = join(await tempDir(), 'fork')
  await restoreBackup(files, location)
  const store = await FlowStore.open<GeneratedFlow>(location)
  stores.push(store)
  return store
}

/** Commits changes to `store` until its version is past `version`. */
async function pass (store: FlowStore<GeneratedFlow>, version: number): Promise<void> {
  for (let revision = 100; store.version <= version; revision++) await touch(store, 3, revision)
}

describe('backups into a directory', () => {
  it('the first backup is full, the next ones changed-only against the latest', async () => {
    const store = await storeWith(20)
    const dir = join(await tempDir(), 'backups')
    const [first, second, third] = await series(store, dir, 'CCC')
    expect(first).toMatchObject({ kind: 'full', baseVersion: 0, base: undefined })
    expect(second).toMatchObject({ kind: 'changes', baseVersion: first!.version, base: first!.file, flows: 1 })
    expect(third).toMatchObject({ kind: 'changes', baseVersion: second!.version, base: second!.file, flows: 1 })
  })

  it('backup files are named after their version and kind', async () => {
    const store = await storeWith(3)
    const dir = await tempDir()
    const [full, changes] = await series(store, dir, 'FC')
    expect(basename(full!.file)).toMatch(new RegExp(`^flowstore-${full!.version}-full-\\d{8}T\\d{9}Z\\.fsbk$`))
    expect(basename(changes!.file)).toMatch(new RegExp(`^flowstore-${changes!.version}-changes-\\d{8}T\\d{9}Z\\.fsbk$`))
  })

  it('the manifest lists every backup with its kind, versions, base, size and checksum', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    const taken = await series(store, dir, 'FCC')
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { format: number, backups: unknown[] }
    expect(manifest.format).toBe(1)
    expect(manifest.backups).toEqual(taken.map((entry) => expect.objectContaining({
      file: basename(entry.file),
      kind: entry.kind,
      version: entry.version,
      baseVersion: entry.baseVersion,
      base: entry.base === undefined ? null : basename(entry.base),
      bytes: entry.bytes,
      checksum: entry.checksum,
      createdAt: entry.createdAt
    })))
    expect((await listBackups(dir)).map((entry) => ({ ...entry, durationMs: 0 }))).toEqual(taken.map((entry) => ({ ...entry, durationMs: 0 })))
    expect((await readdir(dir)).filter((name) => name.includes('.tmp-'))).toEqual([])
  })

  it('a directory without a manifest lists no backups', async () => {
    expect(await listBackups(await tempDir())).toEqual([])
    expect(await listBackups(join(await tempDir(), 'missing'))).toEqual([])
  })

  it('a damaged manifest is reported with FLOWSTORE_BACKUP_CORRUPT', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'manifest.json'), '{"format": 1, "backups": [')
    const err = await listBackups(dir).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_BACKUP_CORRUPT')).toBe(true)
  })

  it('a manifest entry naming a file outside the directory is refused', async () => {
    const store = await storeWith(2)
    const dir = await tempDir()
    await series(store, dir, 'F')
    const path = join(dir, 'manifest.json')
    await writeFile(path, (await readFile(path, 'utf8')).replace(/"file": "[^"]+"/, '"file": "../elsewhere.fsbk"'))
    const err = await listBackups(dir).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_BACKUP_CORRUPT')).toBe(true)
  })

  it('when nothing changed since the latest backup, no backup is written and the latest entry is returned', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    const [, latest] = await series(store, dir, 'FC')
    const files = await readdir(dir)
    const again = await backupToDirectory(store, dir)
    // The manifest keeps durations in whole milliseconds.
    expect({ ...again, durationMs: 0 }).toEqual({ ...latest, durationMs: 0 })
    expect(await readdir(dir)).toEqual(files)
    expect(await listBackups(dir)).toHaveLength(2)
  })

  it('full: true takes a full backup even when nothing changed since the latest backup', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    const [latest] = await series(store, dir, 'C')
    const again = await backupToDirectory(store, dir, { full: true })
    expect(again).toMatchObject({ kind: 'full', version: latest!.version, flows: 5 })
    expect(again.file).not.toBe(latest!.file)
    expect(names(await listBackups(dir))).toEqual(names([latest!, again]))
  })

  it('when nothing changed but a backup of the latest chain is missing, a full backup is taken', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    const [full, latest] = await series(store, dir, 'FC')
    await rm(full!.file)
    const next = await backupToDirectory(store, dir)
    expect(next).toMatchObject({ kind: 'full', version: latest!.version, flows: 5 })
  })

  it('full: true takes a full backup even when a changed-only one could be taken', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    const [, second] = await series(store, dir, 'CF')
    expect(second).toMatchObject({ kind: 'full', baseVersion: 0, flows: 5 })
  })

  it('when a backup of the latest chain is missing, the next backup is a full one', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    const [full] = await series(store, dir, 'FC')
    await rm(full!.file)
    const [next] = await series(store, dir, 'C')
    expect(next).toMatchObject({ kind: 'full', flows: 5 })
  })

  it('when the latest backup is newer than the store, the next backup is a full one', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    await series(store, dir, 'FCC')
    const other = await storeWith(5)
    const next = await backupToDirectory(other, dir)
    expect(next).toMatchObject({ kind: 'full', version: other.version })
  })
})

describe('backups of several stores in one directory', () => {
  it('each backup lists the storeId of its store, in the manifest and in listBackups', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    const taken = await series(store, dir, 'FC')
    expect(taken.map((entry) => entry.storeId)).toEqual([store.storeId, store.storeId])
    expect((await listBackups(dir)).map((entry) => entry.storeId)).toEqual([store.storeId, store.storeId])
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { backups: Array<{ storeId: unknown }> }
    expect(manifest.backups.map((entry) => entry.storeId)).toEqual([store.storeId, store.storeId])
  })

  it('a store restored from an older backup and gone past the latest backup\'s version takes a full backup, not one on the original\'s chain', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    const [older, latest] = await series(store, dir, 'FC')
    const copy = await fork([older!.file])
    await pass(copy, latest!.version)
    const next = await backupToDirectory(copy, dir)
    expect(next).toMatchObject({ kind: 'full', base: undefined, storeId: copy.storeId, version: copy.version, flows: 5 })
  })

  it('a restored store at the same version as the latest backup of the original takes a full backup of its own', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    const [latest] = await series(store, dir, 'F')
    const copy = await fork([latest!.file])
    expect(copy.version).toBe(latest!.version)
    const next = await backupToDirectory(copy, dir)
    expect(next).toMatchObject({ kind: 'full', storeId: copy.storeId })
    expect(next.file).not.toBe(latest!.file)
  })

  it('the next backups of the restored store chain onto its own full backup', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    const [older] = await series(store, dir, 'FCC')
    const copy = await fork([older!.file])
    const [full, changes] = await series(copy, dir, 'CC')
    expect(full).toMatchObject({ kind: 'full', storeId: copy.storeId })
    expect(changes).toMatchObject({ kind: 'changes', base: full!.file, baseVersion: full!.version, storeId: copy.storeId })
  })

  it('the newest backup is the last taken, even when the store it is of is at a lower version than another store\'s backups', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    const original = await series(store, dir, 'FCCCC')
    const copy = await fork([original[0]!.file])
    const forked = await series(copy, dir, 'FC')
    expect(forked[1]!.version).toBeLessThan(original[4]!.version)
    expect(names(await listBackups(dir))).toEqual(names([...original, ...forked]))
  })

  it('restoreFromDirectory restores the latest chain of the store of the newest backup', async () => {
    const store = await storeWith(10)
    const dir = await tempDir()
    const original = await series(store, dir, 'FCCCC')
    const copy = await fork([original[0]!.file])
    const forked = await series(copy, dir, 'FC')
    const location = join(await tempDir(), 'restored')
    const info = await restoreFromDirectory(dir, location)
    expect(info).toMatchObject({ version: copy.version, files: [forked[0]!.file, forked[1]!.file] })
    const restored = await FlowStore.open(location)
    stores.push(restored)
    expect(contents(restored)).toEqual(contents(copy))
  })

  it('restoreFromDirectory with a version picks among the backups of the newest backup\'s store only', async () => {
    const store = await storeWith(10)
    const dir = await tempDir()
    const original = await series(store, dir, 'FCC')
    const copy = await fork([original[0]!.file])
    const forked = await series(copy, dir, 'FC')
    const info = await restoreFromDirectory(dir, join(await tempDir(), 'restored'), { version: forked[0]!.version })
    expect(info).toMatchObject({ version: forked[0]!.version, files: [forked[0]!.file] })
    // The original's full backup is older than any of the copy's: not picked.
    const err = await restoreFromDirectory(dir, join(await tempDir(), 'r2'), { version: original[0]!.version }).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_BACKUP_CHAIN')).toBe(true)
    expect((err as Error).message).toContain('pass storeId')
  })

  it('restoreFromDirectory with a storeId restores the latest chain of that store', async () => {
    const store = await storeWith(10)
    const dir = await tempDir()
    const original = await series(store, dir, 'FCC')
    const copy = await fork([original[0]!.file])
    await series(copy, dir, 'FC')
    const info = await restoreFromDirectory(dir, join(await tempDir(), 'restored'), { storeId: store.storeId })
    expect(info).toMatchObject({ version: store.version, files: original.map((entry) => entry.file) })
    const none = await restoreFromDirectory(dir, join(await tempDir(), 'r2'), { storeId: 'no-such-store' }).catch((e: unknown) => e)
    expect(isFlowStoreError(none, 'FLOWSTORE_BACKUP_CHAIN')).toBe(true)
  })

  it('keepLast keeps the newest backups by when they were taken, with their chains, across stores', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    const original = await series(store, dir, 'FCCCC')
    const copy = await fork([original[0]!.file])
    const forked = await series(copy, dir, 'FC')
    const { kept, deleted } = await pruneBackups(dir, { keepLast: 1 })
    expect(names(kept)).toEqual(names(forked))
    expect(names(deleted)).toEqual(names(original))
  })

  it('a manifest whose entries have no storeId (written before backups recorded it) is read, and the next backup is a full one', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    await series(store, dir, 'FC')
    const path = join(dir, 'manifest.json')
    const manifest = JSON.parse(await readFile(path, 'utf8')) as { backups: Array<{ storeId?: unknown }> }
    for (const entry of manifest.backups) delete entry.storeId
    await writeFile(path, JSON.stringify(manifest))
    expect((await listBackups(dir)).map((entry) => entry.storeId)).toEqual([undefined, undefined])
    const [next] = await series(store, dir, 'C')
    expect(next).toMatchObject({ kind: 'full', storeId: store.storeId })
  })
})

describe('pruning', () => {
  it('keepLast keeps the newest backups and the chains they need, and deletes the rest', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    const taken = await series(store, dir, 'FCCFCC')
    const { kept, deleted } = await pruneBackups(dir, { keepLast: 1 })
    expect(names(kept)).toEqual(names(taken.slice(3)))
    expect(names(deleted)).toEqual(names(taken.slice(0, 3)))
    expect((await readdir(dir)).filter((name) => name.endsWith('.fsbk')).sort()).toEqual(names(taken.slice(3)).sort())
    expect(names(await listBackups(dir))).toEqual(names(taken.slice(3)))
  })

  it('keepLast never deletes the full backup a kept changed-only backup applies on', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    const taken = await series(store, dir, 'FCCCC')
    const { kept, deleted } = await pruneBackups(dir, { keepLast: 2 })
    expect(names(kept)).toEqual(names(taken))
    expect(deleted).toEqual([])
  })

  it('keepDaily keeps the newest backup of each of the last N days, with its chain', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    const taken = await series(store, dir, 'FCFCCFC')
    await backdate(dir, [
      '2024-03-01T10:00:00.000Z', // F0
      '2024-03-01T22:00:00.000Z', // C1: newest of March 1
      '2024-03-02T08:00:00.000Z', // F2
      '2024-03-02T09:00:00.000Z', // C3
      '2024-03-02T23:00:00.000Z', // C4: newest of March 2
      '2024-03-04T01:00:00.000Z', // F5
      '2024-03-04T02:00:00.000Z' // C6: newest of March 4
    ])
    const { kept, deleted } = await pruneBackups(dir, { keepDaily: 2 })
    // March 4 and March 2 are the last two days with backups; C4 needs C3 and F2.
    expect(names(kept)).toEqual(names([taken[2]!, taken[3]!, taken[4]!, taken[5]!, taken[6]!]))
    expect(names(deleted)).toEqual(names([taken[0]!, taken[1]!]))
  })

  it('keepLast and keepDaily together keep what either keeps', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    const taken = await series(store, dir, 'FFFF')
    await backdate(dir, ['2024-03-01T10:00:00.000Z', '2024-03-02T10:00:00.000Z', '2024-03-03T10:00:00.000Z', '2024-03-03T11:00:00.000Z'])
    const { kept } = await pruneBackups(dir, { keepLast: 1, keepDaily: 2 })
    expect(names(kept)).toEqual(names([taken[1]!, taken[3]!]))
  })

  it('pruning with nothing to keep is refused with a TypeError, deleting nothing', async () => {
    const store = await storeWith(2)
    const dir = await tempDir()
    await series(store, dir, 'FC')
    await expect(pruneBackups(dir, {})).rejects.toThrow(TypeError)
    await expect(pruneBackups(dir, { keepLast: -1 })).rejects.toThrow(TypeError)
    expect(await listBackups(dir)).toHaveLength(2)
  })

  it('the backups kept after pruning still restore to the latest state', async () => {
    const store = await storeWith(10)
    const dir = await tempDir()
    await series(store, dir, 'FCCFCC')
    await pruneBackups(dir, { keepLast: 1 })
    const location = join(await tempDir(), 'restored')
    await restoreFromDirectory(dir, location)
    const copy = await FlowStore.open(location)
    stores.push(copy)
    expect(contents(copy)).toEqual(contents(store))
  })
})

describe('restoring from a directory', () => {
  it('restores the latest chain to the state of the latest backup', async () => {
    const store = await storeWith(30)
    const dir = await tempDir()
    const taken = await series(store, dir, 'FCCFC')
    await store.delete(generateFlow(9).id)
    const last = await backupToDirectory(store, dir)
    const location = join(await tempDir(), 'restored')
    const info = await restoreFromDirectory(dir, location)
    expect(info).toMatchObject({ version: last.version, files: [taken[3]!.file, taken[4]!.file, last.file] })
    const copy = await FlowStore.open(location)
    stores.push(copy)
    expect(contents(copy)).toEqual(contents(store))
  })

  it('restores the newest backup at or before a given version', async () => {
    const store = await storeWith(10)
    const dir = await tempDir()
    const taken = await series(store, dir, 'FCC')
    const info = await restoreFromDirectory(dir, join(await tempDir(), 'restored'), { version: taken[1]!.version })
    expect(info).toMatchObject({ version: taken[1]!.version, files: [taken[0]!.file, taken[1]!.file] })
  })

  it('a directory without backups, or with a broken latest chain, is refused with FLOWSTORE_BACKUP_CHAIN', async () => {
    const empty = await restoreFromDirectory(await tempDir(), join(await tempDir(), 'r1')).catch((e: unknown) => e)
    expect(isFlowStoreError(empty, 'FLOWSTORE_BACKUP_CHAIN')).toBe(true)
    const store = await storeWith(5)
    const dir = await tempDir()
    const [full] = await series(store, dir, 'FC')
    await rm(full!.file)
    const broken = await restoreFromDirectory(dir, join(await tempDir(), 'r2')).catch((e: unknown) => e)
    expect(isFlowStoreError(broken, 'FLOWSTORE_BACKUP_CHAIN')).toBe(true)
  })
})

describe('scheduled backups', () => {
  it('takes changed-only backups against the last one and a full one every fullEvery backups', async () => {
    const store = await storeWith(20)
    const dir = await tempDir()
    const taken: BackupEntry[] = []
    let revision = 0
    const done = new Promise<void>((resolve, reject) => {
      schedules.push(startBackups(store, dir, {
        intervalMs: 5,
        fullEvery: 3,
        onError: reject,
        onBackup: (entry) => {
          taken.push(entry)
          // One change per backup, so that every interval has something to back up.
          if (taken.length < 5) void touch(store, revision % 20, ++revision)
          else resolve()
        }
      }))
    })
    await done
    await schedules[0]!.stop()
    expect(taken.map((entry) => entry.kind)).toEqual(['full', 'changes', 'changes', 'full', 'changes'])
    expect(taken[1]!.base).toBe(taken[0]!.file)
    expect(names(await listBackups(dir))).toEqual(names(taken))
    for (const entry of taken) expect((await verifyBackup(entry.file)).ok).toBe(true)

    const location = join(await tempDir(), 'restored')
    await restoreFromDirectory(dir, location)
    const copy = await FlowStore.open(location)
    stores.push(copy)
    expect(contents(copy)).toEqual(contents(store))
  })

  it('takes no backup while nothing changed since the last one', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    const [first] = await series(store, dir, 'F')
    const taken: BackupEntry[] = []
    const done = new Promise<void>((resolve, reject) => {
      const onBackup = (entry: BackupEntry): void => { taken.push(entry); resolve() }
      schedules.push(startBackups(store, dir, { intervalMs: 5, fullEvery: 10, onError: reject, onBackup }))
    })
    // The schedule runs (and skips) until there is a change to back up.
    await touch(store, 1, 1)
    await done
    await schedules[0]!.stop()
    expect(taken).toHaveLength(1)
    expect(taken[0]).toMatchObject({ kind: 'changes', base: first!.file, flows: 1 })
  })

  it('prunes after each backup when keepLast is given', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    const taken: BackupEntry[] = []
    let revision = 0
    await new Promise<void>((resolve, reject) => {
      schedules.push(startBackups(store, dir, {
        intervalMs: 5,
        fullEvery: 2,
        keepLast: 1,
        onError: reject,
        onBackup: (entry) => {
          taken.push(entry)
          if (taken.length < 4) void touch(store, 0, ++revision)
          else resolve()
        }
      }))
    })
    await schedules[0]!.stop()
    // F C F C: the last changed-only backup and its full one remain.
    expect(names(await listBackups(dir))).toEqual(names(taken.slice(2)))
  })

  it('stop() called from a backup callback resolves once that backup is complete and listed', async () => {
    const store = await storeWith(5)
    const dir = await tempDir()
    let stopped: Promise<void> | undefined
    let count = 0
    await new Promise<void>((resolve, reject) => {
      const schedule = startBackups(store, dir, {
        intervalMs: 5,
        onError: reject,
        onBackup: () => {
          count++
          stopped = schedule.stop()
          void touch(store, 1, 1)
          resolve()
        }
      })
      schedules.push(schedule)
    })
    await stopped
    expect(count).toBe(1)
    expect(await listBackups(dir)).toHaveLength(1)
  })

  it('a failing backup is reported to onError and the schedule goes on', async () => {
    const store = await storeWith(5)
    const parent = await tempDir()
    const dir = join(parent, 'backups')
    // A file where the backup directory should be: every backup fails until it is removed.
    await writeFile(dir, 'not a directory')
    const errors: unknown[] = []
    let schedule!: BackupSchedule
    const taken = await new Promise<BackupEntry>((resolve) => {
      schedule = startBackups(store, dir, {
        intervalMs: 5,
        onError: (err) => {
          errors.push(err)
          if (errors.length === 2) void rm(dir)
        },
        onBackup: resolve
      })
      schedules.push(schedule)
    })
    await schedule.stop()
    expect(errors.length).toBeGreaterThanOrEqual(2)
    expect(isFlowStoreError(errors[0], 'FLOWSTORE_IO_ERROR')).toBe(true)
    expect((errors[0] as Error).message).toContain(dir)
    expect(['EEXIST', 'ENOTDIR']).toContain(((errors[0] as Error).cause as { code?: string }).code)
    expect(taken.kind).toBe('full')
  })

  it('options are checked when the schedule starts', async () => {
    const store = await storeWith(1)
    const dir = await tempDir()
    expect(() => startBackups(store, dir, { intervalMs: 0 })).toThrow(TypeError)
    expect(() => startBackups(store, dir, { intervalMs: 10, fullEvery: 0 })).toThrow(TypeError)
    expect(() => startBackups(store, dir, { intervalMs: 10, keepLast: -1 })).toThrow(TypeError)
  })
})
