// Damaged backups and unsafe targets: every flipped byte and every truncation of a backup is
// caught by verify and by restore, garbage is reported rather than trusted, chains are
// checked before anything is written, and a restore never damages its target: refused when
// it is not empty, when a store has it open, and when it fails or is interrupted.

import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { ClassicLevel } from 'classic-level'
import { Packr } from 'msgpackr'
import { afterEach, describe, expect, it } from 'vitest'
import { generateFlow, generateFlows, mutateFlow } from '../examples/generate-flows.ts'
import { GZIP_HEADER } from '../src/backup/format.ts'
import {
  type BackupInfo, type Flow, FlowStore, type FlowStoreErrorCode, isFlowStoreError, readBackupHeader, restoreBackup,
  verifyBackup
} from '../src/index.ts'
import { killChildren, startChild } from './fixtures/child.ts'
import { tempDir } from './helpers.ts'

afterEach(killChildren)

const stores: FlowStore<any>[] = []
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => {})
})

async function open (dir: string): Promise<FlowStore> {
  const store = await FlowStore.open(dir)
  stores.push(store)
  return store
}

/** The rejection of `promise`; fails the test if it fulfils. */
async function rejectionOf (promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (err) {
    return err
  }
  return expect.unreachable('expected a rejection')
}

function expectCode (err: unknown, code: FlowStoreErrorCode): void {
  if (!isFlowStoreError(err, code)) throw new Error(`expected ${code}, got ${String(err)}`, { cause: err })
}

/** A small store: a few flows, one updated, one deleted; its full and changed-only backups. */
async function smallBackups (): Promise<{ full: BackupInfo, changes: BackupInfo, dir: string }> {
  const dir = await tempDir()
  const store = await open(join(dir, 'db'))
  await store.saveMany([{ id: 'a', n: 1, name: 'first' }, { id: 'b', list: [1, 2, 3] }, { id: 'c', nested: { x: 'y' } }])
  const full = await store.backup(join(dir, 'full.fsbk'))
  await store.save({ id: 'a', n: 2 })
  await store.delete('b')
  const changes = await store.backup(join(dir, 'changes.fsbk'), { since: full })
  return { full, changes, dir }
}

/** Entries of `dir` other than `keep` (leftover temp or aside directories). */
async function leftovers (dir: string, keep: string[]): Promise<string[]> {
  return (await readdir(dir)).filter((name) => !keep.includes(name))
}

function flipped (bytes: Buffer, index: number): Buffer {
  const copy = Buffer.from(bytes)
  copy[index] = copy[index]! ^ 0xff
  return copy
}

/** Builds a backup file by hand: gzip (with the pinned header) of the given frames. */
function craft (frames: Buffer[]): Buffer {
  const gz = gzipSync(Buffer.concat(frames))
  Buffer.from(GZIP_HEADER).copy(gz, 0)
  return gz
}

function frame (value: unknown): Buffer {
  const payload = new Packr({ useRecords: false }).pack(value)
  const prefix = Buffer.alloc(4)
  prefix.writeUInt32BE(payload.length)
  return Buffer.concat([prefix, payload])
}

const HEADER = { type: 'header', magic: 'FLOWSTORE-BACKUP', format: 1, kind: 'full', version: 1, baseVersion: 0, createdAt: '2024-01-01T00:00:00.000Z' }
const RECORD = { id: 'a', version: 1, bytes: new Packr({ useRecords: false }).pack({ id: 'a' }) }

/** Frames and a trailer whose checksum and counts are right unless overridden. */
function craftValid (frames: Buffer[], trailer: Record<string, unknown> = {}): Buffer {
  const sha256 = createHash('sha256').update(Buffer.concat(frames)).digest('hex')
  return craft([...frames, frame({ type: 'trailer', records: frames.length - 1, deletions: 0, sha256, ...trailer })])
}

describe('every flipped byte and every truncation is caught', () => {
  it('verify reports every single-byte flip of a small full and changed-only backup', async () => {
    const { full, changes, dir } = await smallBackups()
    const bad = join(dir, 'bad.fsbk')
    for (const info of [full, changes]) {
      const bytes = await readFile(info.file)
      for (let i = 0; i < bytes.length; i++) {
        await writeFile(bad, flipped(bytes, i))
        const report = await verifyBackup(bad)
        if (report.ok) expect.unreachable(`a flip of byte ${i} of ${info.kind} went unnoticed`)
        expect(report.problems[0]).toContain(bad)
      }
    }
  })

  it('restore refuses every single-byte flip with FLOWSTORE_BACKUP_CORRUPT and leaves the location absent', async () => {
    const { full, changes, dir } = await smallBackups()
    const target = await tempDir()
    const location = join(target, 'restored')
    const bad = join(dir, 'bad.fsbk')
    for (const [index, files] of [[0, [bad, changes.file]], [1, [full.file, bad]]] as const) {
      const bytes = await readFile(index === 0 ? full.file : changes.file)
      for (let i = 0; i < bytes.length; i++) {
        await writeFile(bad, flipped(bytes, i))
        const err = await restoreBackup([...files], location).then(() => undefined, (e: unknown) => e)
        if (err === undefined) expect.unreachable(`restore accepted a flip of byte ${i} of backup ${index + 1}`)
        // A flip in a header can also make the chain look wrong.
        if (!isFlowStoreError(err, 'FLOWSTORE_BACKUP_CHAIN')) expectCode(err, 'FLOWSTORE_BACKUP_CORRUPT')
        expect(await readdir(target)).toEqual([])
      }
    }
  })

  it('verify reports every truncation of a small full and changed-only backup', async () => {
    const { full, changes, dir } = await smallBackups()
    const bad = join(dir, 'bad.fsbk')
    for (const info of [full, changes]) {
      const bytes = await readFile(info.file)
      for (let length = 0; length < bytes.length; length++) {
        await writeFile(bad, bytes.subarray(0, length))
        const report = await verifyBackup(bad)
        if (report.ok) expect.unreachable(`a truncation of ${info.kind} to ${length} bytes went unnoticed`)
        expect(report.problems[0]).toContain(bad)
      }
    }
  })

  it('restore refuses every truncation of a small backup and leaves the location absent', async () => {
    const { full, dir } = await smallBackups()
    const target = await tempDir()
    const bad = join(dir, 'bad.fsbk')
    const bytes = await readFile(full.file)
    for (let length = 0; length < bytes.length; length++) {
      await writeFile(bad, bytes.subarray(0, length))
      expectCode(await rejectionOf(restoreBackup(bad, join(target, 'restored'))), 'FLOWSTORE_BACKUP_CORRUPT')
      expect(await readdir(target)).toEqual([])
    }
  })

  it('sampled byte flips across a larger backup are caught by verify and restore', async () => {
    const dir = await tempDir()
    const store = await open(join(dir, 'db'))
    await store.saveMany(generateFlows(1000))
    const info = await store.backup(join(dir, 'full.fsbk'))
    const bytes = await readFile(info.file)
    const target = await tempDir()
    const bad = join(dir, 'bad.fsbk')
    // Evenly spread positions plus the last bytes (the gzip trailer).
    const positions = new Set<number>()
    for (let k = 0; k < 24; k++) positions.add(Math.floor((bytes.length - 1) * k / 23))
    for (let k = 1; k <= 12; k++) positions.add(bytes.length - k)
    for (const i of positions) {
      await writeFile(bad, flipped(bytes, i))
      expect((await verifyBackup(bad)).ok).toBe(false)
      expectCode(await rejectionOf(restoreBackup(bad, join(target, 'restored'))), 'FLOWSTORE_BACKUP_CORRUPT')
      expect(await readdir(target)).toEqual([])
    }
  })
})

describe('garbage and crafted files', () => {
  it('verify reports files that are not backups, naming the file', async () => {
    const dir = await tempDir()
    const { full } = await smallBackups()
    const valid = await readFile(full.file)
    const cases: Record<string, Buffer> = {
      empty: Buffer.alloc(0),
      text: Buffer.from('{"flows": []}\n'),
      random: createHash('sha512').update('seed').digest(),
      'plain gzip': gzipSync(Buffer.from('FLOWSTORE-BACKUP hello')),
      'pinned gzip of text': craft([Buffer.from('FLOWSTORE-BACKUP hello world')]),
      // A good header, then something wrong after the end.
      'backup with bytes appended': Buffer.concat([valid, Buffer.from('extra')]),
      // gunzip stops at the end of the member and ignores zeros after it.
      'backup with zeros appended': Buffer.concat([valid, Buffer.alloc(10)]),
      'backup with a megabyte of zeros appended': Buffer.concat([valid, Buffer.alloc(1024 * 1024)]),
      'two backups concatenated': Buffer.concat([valid, valid])
    }
    for (const [name, bytes] of Object.entries(cases)) {
      const file = join(dir, `${name}.fsbk`)
      await writeFile(file, bytes)
      const report = await verifyBackup(file)
      expect({ name, ok: report.ok }).toEqual({ name, ok: false })
      expect(report.problems[0]).toContain(file)
      expectCode(await rejectionOf(restoreBackup(file, join(dir, 'restored'))), 'FLOWSTORE_BACKUP_CORRUPT')
      if (!name.startsWith('backup') && !name.startsWith('two')) {
        expectCode(await rejectionOf(readBackupHeader(file)), 'FLOWSTORE_BACKUP_CORRUPT')
      }
    }
    expect((await readdir(dir)).filter((name) => !name.endsWith('.fsbk'))).toEqual([])
  })

  it('verify reports a missing file and a directory as problems instead of throwing', async () => {
    const dir = await tempDir()
    expect(await verifyBackup(join(dir, 'missing.fsbk'))).toMatchObject({ ok: false, problems: ['the file does not exist'] })
    expect(await verifyBackup(dir)).toMatchObject({ ok: false, problems: ['it is a directory, not a backup file'] })
  })

  it('a hand-built backup with a correct checksum is accepted, so the crafted cases below test only their flaw', async () => {
    const dir = await tempDir()
    const file = join(dir, 'ok.fsbk')
    await writeFile(file, craftValid([frame(HEADER), frame(RECORD)]))
    expect(await verifyBackup(file)).toMatchObject({ ok: true, flows: 1 })
  })

  it.each([
    ['a header frame larger than 64 KiB', () => craft([Buffer.from([0, 1, 0, 1])]), 'header frame of 65537 bytes is larger than the limit'],
    ['a record frame larger than the limit', () => craft([frame(HEADER), Buffer.from([0xff, 0xff, 0xff, 0xff])]), 'record frame of 4294967295 bytes is larger than the limit'],
    ['a wrong magic', () => craftValid([frame({ ...HEADER, magic: 'SOMETHING-ELSE' })]), 'bad magic'],
    ['an unknown format version', () => craftValid([frame({ ...HEADER, format: 2 })]), 'unsupported backup format 2'],
    ['a storeId that is not a string', () => craftValid([frame({ ...HEADER, storeId: 42 })]), 'bad header (storeId)'],
    ['an empty storeId', () => craftValid([frame({ ...HEADER, storeId: '' })]), 'bad header (storeId)'],
    ['a record newer than the header version', () => craftValid([frame(HEADER), frame({ ...RECORD, version: 2 })]), 'bad record #1'],
    ['a deletion in a full backup', () => craftValid([frame(HEADER), frame({ id: 'a', version: 1, deleted: true })]), 'a deletion in a full backup'],
    ['records out of id order', () => craftValid([frame(HEADER), frame({ ...RECORD, id: 'b' }), frame(RECORD)]), 'id out of order'],
    ['a trailer that counts wrong', () => craftValid([frame(HEADER), frame(RECORD)], { records: 2 }), 'count mismatch'],
    ['a wrong checksum', () => craftValid([frame(HEADER), frame(RECORD)], { sha256: '0'.repeat(64) }), 'checksum mismatch'],
    ['no trailer', () => craft([frame(HEADER), frame(RECORD)]), 'truncated: no trailer after 1 record(s)']
  ])('a backup with %s is refused as corrupt, saying what is wrong', async (_name, build, problem) => {
    const dir = await tempDir()
    const file = join(dir, 'crafted.fsbk')
    await writeFile(file, build())
    const report = await verifyBackup(file)
    expect(report.ok).toBe(false)
    expect(report.problems[0]).toContain(problem)
    const err = await rejectionOf(restoreBackup(file, join(dir, 'restored')))
    expectCode(err, 'FLOWSTORE_BACKUP_CORRUPT')
    expect((err as Error).message).toContain(problem)
    expect(await leftovers(dir, ['crafted.fsbk'])).toEqual([])
  })
})

describe('chains', () => {
  async function chain (): Promise<{ full: BackupInfo, first: BackupInfo, second: BackupInfo }> {
    const dir = await tempDir()
    const store = await open(join(dir, 'db'))
    await store.saveMany(generateFlows(10))
    const full = await store.backup(join(dir, 'full.fsbk'))
    await store.save(mutateFlow(generateFlow(1), 1))
    const first = await store.backup(join(dir, 'c1.fsbk'), { since: full })
    await store.delete(generateFlow(2).id)
    const second = await store.backup(join(dir, 'c2.fsbk'), { since: first })
    return { full, first, second }
  }

  it.each([
    ['starts with a changed-only backup', (c: Awaited<ReturnType<typeof chain>>) => [c.first.file, c.second.file]],
    ['is out of order', (c: Awaited<ReturnType<typeof chain>>) => [c.full.file, c.second.file, c.first.file]],
    ['misses a backup in the middle', (c: Awaited<ReturnType<typeof chain>>) => [c.full.file, c.second.file]],
    ['has a second full backup', (c: Awaited<ReturnType<typeof chain>>) => [c.full.file, c.full.file]]
  ])('a chain that %s is refused with FLOWSTORE_BACKUP_CHAIN before anything is written', async (_name, pick) => {
    const files = pick(await chain())
    const target = await tempDir()
    expectCode(await rejectionOf(restoreBackup(files, join(target, 'restored'))), 'FLOWSTORE_BACKUP_CHAIN')
    expect(await readdir(target)).toEqual([])
  })

  it('a chain mixing two stores\' backups is refused with FLOWSTORE_BACKUP_CHAIN before anything is written, even when the versions line up', async () => {
    const { full } = await chain()
    // A store restored from the full backup, with its own changes, backed up since that
    // version: its changed-only backup applies on the version, but it is another store's.
    const forkAt = join(await tempDir(), 'fork')
    await restoreBackup(full.file, forkAt)
    const fork = await open(forkAt)
    await fork.save({ id: 'fork-only' })
    const forked = await fork.backup(join(await tempDir(), 'forked.fsbk'), { since: full.version })
    expect(forked).toMatchObject({ kind: 'changes', baseVersion: full.version, storeId: fork.storeId })
    const target = await tempDir()
    const err = await rejectionOf(restoreBackup([full.file, forked.file], join(target, 'restored')))
    expectCode(err, 'FLOWSTORE_BACKUP_CHAIN')
    expect((err as Error).message).toContain(forked.file)
    expect(await readdir(target)).toEqual([])
  })

  it('a chain whose full backup has no storeId and whose changed-only backup has one is refused with FLOWSTORE_BACKUP_CHAIN', async () => {
    const dir = await tempDir()
    const store = await open(join(dir, 'db'))
    await store.save({ id: 'a' })
    const legacy = join(dir, 'legacy.fsbk')
    // A full backup at version 1 as written before backups recorded the store identity.
    await writeFile(legacy, craftValid([frame(HEADER), frame(RECORD)]))
    expect(await verifyBackup(legacy)).toMatchObject({ ok: true, storeId: undefined })
    await store.save({ id: 'b' })
    const changes = await store.backup(join(dir, 'changes.fsbk'), { since: 1 })
    const target = await tempDir()
    expectCode(await rejectionOf(restoreBackup([legacy, changes.file], join(target, 'restored'))), 'FLOWSTORE_BACKUP_CHAIN')
    expect(await readdir(target)).toEqual([])
  })

  it('a chain in order is restored', async () => {
    const { full, first, second } = await chain()
    const info = await restoreBackup([full.file, first.file, second.file], join(await tempDir(), 'restored'))
    expect(info).toMatchObject({ version: second.version, flows: 9, files: [full.file, first.file, second.file] })
  })
})

describe('the target location', () => {
  it('a location holding a store is refused with FLOWSTORE_TARGET_NOT_EMPTY without overwrite, and left as it was', async () => {
    const { full } = await smallBackups()
    const location = join(await tempDir(), 'db')
    const old = await FlowStore.open(location)
    await old.save({ id: 'old-1' })
    await old.close()
    expectCode(await rejectionOf(restoreBackup(full.file, location)), 'FLOWSTORE_TARGET_NOT_EMPTY')
    expect([...(await open(location)).flows.keys()]).toEqual(['old-1'])
  })

  it('a location holding anything but a store is refused with FLOWSTORE_TARGET_UNSAFE, even with overwrite, and left as it was', async () => {
    const { full } = await smallBackups()
    const location = await tempDir()
    await writeFile(join(location, 'notes.txt'), 'keep me')
    for (const overwrite of [false, true]) {
      const err = await rejectionOf(restoreBackup(full.file, location, { overwrite }))
      expectCode(err, 'FLOWSTORE_TARGET_UNSAFE')
      expect((err as Error).message).toContain('"notes.txt"')
    }
    expect(await readdir(location)).toEqual(['notes.txt'])
    expect(await readFile(join(location, 'notes.txt'), 'utf8')).toBe('keep me')
  })

  it('an existing empty directory is restored into without overwrite', async () => {
    const { full } = await smallBackups()
    const location = join(await tempDir(), 'empty')
    await mkdir(location)
    await restoreBackup(full.file, location)
    expect([...(await open(location)).flows.keys()].sort()).toEqual(['a', 'b', 'c'])
  })

  it('with overwrite, an existing store is replaced and nothing is left aside', async () => {
    const { full } = await smallBackups()
    const parent = await tempDir()
    const location = join(parent, 'db')
    const old = await FlowStore.open(location)
    await old.saveMany([{ id: 'old-1' }, { id: 'old-2' }])
    await old.close()
    await restoreBackup(full.file, location, { overwrite: true })
    expect([...(await open(location)).flows.keys()].sort()).toEqual(['a', 'b', 'c'])
    expect(await readdir(parent)).toEqual(['db'])
  })

  it('with overwrite, a failed restore leaves the existing store as it was', async () => {
    const { full, dir } = await smallBackups()
    const parent = await tempDir()
    const location = join(parent, 'db')
    const old = await FlowStore.open(location)
    await old.saveMany([{ id: 'old-1' }, { id: 'old-2' }])
    await old.close()
    const bytes = await readFile(full.file)
    const bad = join(dir, 'bad.fsbk')
    await writeFile(bad, flipped(bytes, bytes.length - 6))
    expectCode(await rejectionOf(restoreBackup(bad, location, { overwrite: true })), 'FLOWSTORE_BACKUP_CORRUPT')
    expect(await readdir(parent)).toEqual(['db'])
    expect([...(await open(location)).flows.keys()].sort()).toEqual(['old-1', 'old-2'])
  })

  it('a location a FlowStore in this process has open is refused with FLOWSTORE_LOCKED, even with overwrite', async () => {
    const { full } = await smallBackups()
    const location = join(await tempDir(), 'db')
    const store = await open(location)
    await store.save({ id: 'live' })
    expectCode(await rejectionOf(restoreBackup(full.file, location, { overwrite: true })), 'FLOWSTORE_LOCKED')
    await store.save({ id: 'still-works' })
    expect([...store.flows.keys()].sort()).toEqual(['live', 'still-works'])
  })

  it('a location another process has open is refused with FLOWSTORE_LOCKED, even with overwrite', async () => {
    const { full } = await smallBackups()
    const location = join(await tempDir(), 'db')
    const child = startChild('hold-open.ts', location)
    await child.waitForLine((line) => line === 'ready')
    expectCode(await rejectionOf(restoreBackup(full.file, location, { overwrite: true })), 'FLOWSTORE_LOCKED')
    child.send('close')
    await child.waitForLine((line) => line === 'closed')
    await child.exited
    expect([...(await open(location)).flows.keys()]).toEqual(['held-by'])
  })

  it('a restore killed halfway leaves the existing store as it was', async () => {
    const dir = await tempDir()
    const source = await open(join(dir, 'source'))
    await source.saveMany(generateFlows(3000))
    const full = await source.backup(join(dir, 'full.fsbk'))
    const location = join(dir, 'target')
    const old = await FlowStore.open(location)
    await old.saveMany([{ id: 'old-1' }, { id: 'old-2' }])
    await old.close()

    const child = startChild('restore-backup.ts', location, full.file)
    await child.waitForLine((line) => line === 'progress')
    child.kill()
    await child.exited
    expect([...(await open(location)).flows.keys()].sort()).toEqual(['old-1', 'old-2'])
  })
})

describe('backup files', () => {
  it('backup files are created readable and writable by their owner only (0600)', async () => {
    const { full, changes } = await smallBackups()
    for (const info of [full, changes]) expect((await stat(info.file)).mode & 0o777).toBe(0o600)
  })

  it('a backup that fails while writing leaves no file behind, final or temporary', async () => {
    const dir = await tempDir()
    const location = join(dir, 'db')
    const db = new ClassicLevel<string, Uint8Array>(location, { keyEncoding: 'utf8', valueEncoding: 'view' })
    // Many good records, then one whose header is damaged: the backup fails after writing some.
    const good = await FlowStore.open(db)
    await good.saveMany(generateFlows(2000))
    await good.close()
    await db.put('f!zzz-damaged', Uint8Array.of(0x00, 1, 2, 3, 4, 5, 6, 7, 8))
    const store = await FlowStore.open(db)
    stores.push(store)
    const out = join(dir, 'backups')
    await mkdir(out)
    const err = await rejectionOf(store.backup(join(out, 'full.fsbk')))
    expectCode(err, 'FLOWSTORE_DECODE_ERROR')
    expect((err as { id?: string }).id).toBe('zzz-damaged')
    expect(await readdir(out)).toEqual([])
    await store.close()
    await db.close()
  })

  it('a backup whose final name cannot be taken leaves no temporary file', async () => {
    const { dir } = await smallBackups()
    const store = await open(join(await tempDir(), 'db'))
    await store.save({ id: 'x' } satisfies Flow)
    const taken = join(dir, 'taken.fsbk')
    await mkdir(taken)
    await writeFile(join(taken, 'inside'), 'x')
    expectCode(await rejectionOf(store.backup(taken)), 'FLOWSTORE_TARGET_UNSAFE')
    expect(await leftovers(dir, ['db', 'full.fsbk', 'changes.fsbk', 'taken.fsbk'])).toEqual([])
  })

  it('a backup to an existing file name is refused with FLOWSTORE_TARGET_EXISTS, leaving the file as it was', async () => {
    const { full, dir } = await smallBackups()
    const before = await readFile(full.file)
    const store = await open(join(await tempDir(), 'db'))
    await store.saveMany(generateFlows(5))
    expectCode(await rejectionOf(store.backup(full.file)), 'FLOWSTORE_TARGET_EXISTS')
    expect(await readFile(full.file)).toEqual(before)
    expect(await leftovers(dir, ['db', 'full.fsbk', 'changes.fsbk'])).toEqual([])
  })

  it('with overwrite, a backup to an existing file name replaces that file whole', async () => {
    const { full, dir } = await smallBackups()
    const store = await open(join(await tempDir(), 'db'))
    await store.saveMany(generateFlows(5))
    const again = await store.backup(full.file, { overwrite: true })
    expect(await verifyBackup(full.file)).toMatchObject({ ok: true, flows: 5, checksum: again.checksum })
    expect(await leftovers(dir, ['db', 'full.fsbk', 'changes.fsbk'])).toEqual([])
  })
})
