// Backups and restores: full backups round-trip a store exactly (flows, bytes, versions);
// changed-only backups hold just what changed and, applied in a chain, restore the latest
// state; a backup reads one snapshot, so one taken while a writer rewrites every flow holds
// exactly one committed batch.

import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { MemoryLevel } from 'memory-level'
import { afterEach, describe, expect, it } from 'vitest'
import { type GeneratedFlow, generateFlow, generateFlows, mutateFlow } from '../examples/generate-flows.ts'
import { type BackupRecord, readBackup, writeBackupFile } from '../src/backup/format.ts'
import { type BackupInfo, type Flow, FlowStore, isFlowStoreError, readBackupHeader, restoreBackup, verifyBackup } from '../src/index.ts'
import { tempDir } from './helpers.ts'

const stores: FlowStore<any>[] = []

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => {})
})

async function open<F extends Flow = GeneratedFlow> (dir: string): Promise<FlowStore<F>> {
  const store = await FlowStore.open<F>(dir)
  stores.push(store)
  return store
}

/** A store in a fresh temp dir holding generated flows 0..n-1, each saved in one batch. */
async function storeWith (n: number): Promise<FlowStore<GeneratedFlow>> {
  const store = await open(join(await tempDir(), 'db'))
  if (n > 0) await store.saveMany(generateFlows(n))
  return store
}

/** Every flow as its stored bytes and version, by id. */
function contents (store: FlowStore<any>): Map<string, { bytes: string, version: number }> {
  const out = new Map<string, { bytes: string, version: number }>()
  for (const id of store.flows.keys()) {
    const lazy = store.lazy(id)!
    out.set(id, { bytes: Buffer.from(lazy.bytes).toString('base64'), version: lazy.version })
  }
  return out
}

/** Restores `files` into a fresh location and opens it. */
async function restored (files: string | string[]): Promise<FlowStore<GeneratedFlow>> {
  const location = join(await tempDir(), 'restored')
  await restoreBackup(files, location)
  return await open(location)
}

/** The records of a backup file, as [id, version, deleted]. */
async function recordsOf (file: string): Promise<Array<[string, number, boolean]>> {
  const out: Array<[string, number, boolean]> = []
  for await (const record of readBackup(file)) out.push([record.id, record.version, record.deleted === true])
  return out
}

describe('full backups', () => {
  it.each([0, 1, 1000, 10_000])('a full backup of %i flows restores to a store equal to the source, byte for byte and version for version', async (n) => {
    const source = await storeWith(n)
    const file = join(await tempDir(), 'full.fsbk')
    const info = await source.backup(file)
    expect(info).toMatchObject({ kind: 'full', version: source.version, baseVersion: 0, flows: n, deletions: 0 })
    const copy = await restored(file)
    expect(copy.version).toBe(source.version)
    expect(copy.size).toBe(n)
    expect(contents(copy)).toEqual(contents(source))
  })

  it('a restored store holds flows deep-equal to the source flows', async () => {
    const source = await open<Flow>(join(await tempDir(), 'db'))
    await source.saveMany([
      { id: 'plain', name: 'x', n: 1.5, list: [1, 'two', null, true], nested: { deep: { er: [] } } },
      { id: 'dated', at: new Date(Date.UTC(2024, 1, 29, 12)), missing: undefined },
      { id: 'binary', blob: Uint8Array.of(0, 1, 2, 255) },
      { id: 'ünï-cødé ✓ 🚀', text: 'ok' }
    ])
    const file = join(await tempDir(), 'full.fsbk')
    await source.backup(file)
    const copy = await restored(file)
    expect(new Map(copy.flows)).toEqual(new Map(source.flows))
  })

  it('a full backup reports its file, size and checksum as verify sees them', async () => {
    const source = await storeWith(50)
    const file = join(await tempDir(), 'full.fsbk')
    const info = await source.backup(file)
    const report = await verifyBackup(file)
    expect(report).toMatchObject({ file: info.file, ok: true, kind: 'full', version: info.version, flows: 50, checksum: info.checksum, problems: [] })
    expect(info.bytes).toBeGreaterThan(0)
    expect(info.checksum).toMatch(/^[0-9a-f]{64}$/)
  })

  it('a full backup holds the last committed state, not saves still pending', async () => {
    const source = await FlowStore.open<GeneratedFlow>(join(await tempDir(), 'db'), { flush: 'manual' })
    stores.push(source)
    const committed = source.saveMany(generateFlows(3))
    await source.flush()
    await committed
    const pending = source.save(generateFlow(3))
    const file = join(await tempDir(), 'full.fsbk')
    const info = await source.backup(file)
    await source.flush()
    await pending
    expect(info.flows).toBe(3)
    expect((await recordsOf(file)).map(([id]) => id)).not.toContain(generateFlow(3).id)
  })

  it('a store closed while its backup runs lets the backup finish, complete, before closing', async () => {
    const source = await storeWith(3000)
    const dir = await tempDir()
    let closing: Promise<void> | undefined
    let closedDuringBackup: boolean | undefined
    const info = await source.backup(join(dir, 'full.fsbk'), {
      onProgress: () => {
        closing ??= source.close()
        closedDuringBackup ??= source.closed
      }
    })
    await closing
    expect(closedDuringBackup).toBe(false)
    expect(source.closed).toBe(true)
    expect(info.flows).toBe(3000)
    expect((await verifyBackup(info.file)).ok).toBe(true)
    expect(await readdir(dir)).toEqual(['full.fsbk'])
  })

  it('a backup started after close() began is refused with FLOWSTORE_CLOSED and writes no file', async () => {
    const source = await storeWith(10)
    const dir = await tempDir()
    const closing = source.close()
    const err = await source.backup(join(dir, 'full.fsbk')).catch((e: unknown) => e)
    await closing
    expect(isFlowStoreError(err, 'FLOWSTORE_CLOSED')).toBe(true)
    expect(await readdir(dir)).toEqual([])
  })

  it('a closed store refuses to take a backup with FLOWSTORE_CLOSED', async () => {
    const source = await storeWith(1)
    await source.close()
    const err = await source.backup(join(await tempDir(), 'full.fsbk')).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_CLOSED')).toBe(true)
  })

  it('a store on a memory-level database is backed up and restored into a directory', async () => {
    const source = await FlowStore.open<GeneratedFlow>(new MemoryLevel())
    stores.push(source)
    await source.saveMany(generateFlows(100))
    await source.delete(generateFlow(3).id)
    const file = join(await tempDir(), 'full.fsbk')
    await source.backup(file)
    const copy = await restored(file)
    expect(contents(copy)).toEqual(contents(source))
  })

  it('the header of a backup gives its kind and versions without reading the rest', async () => {
    const source = await storeWith(10)
    const file = join(await tempDir(), 'full.fsbk')
    const info = await source.backup(file)
    expect(await readBackupHeader(file)).toMatchObject({ file: info.file, format: 1, kind: 'full', version: info.version, baseVersion: 0, createdAt: info.createdAt })
  })
})

describe('changed-only backups', () => {
  it('a changed-only backup holds only the flows changed since its base, and the deletions', async () => {
    const source = await storeWith(200)
    const dir = await tempDir()
    const full = await source.backup(join(dir, 'full.fsbk'))
    const flows = generateFlows(5)
    await source.saveMany([mutateFlow(flows[1]!, 1), mutateFlow(flows[2]!, 1)])
    await source.delete(flows[3]!.id)
    const changes = await source.backup(join(dir, 'changes.fsbk'), { since: full })
    expect(changes).toMatchObject({ kind: 'changes', baseVersion: full.version, version: source.version, flows: 2, deletions: 1 })
    expect((await recordsOf(changes.file)).sort()).toEqual([
      [flows[1]!.id, full.version + 1, false],
      [flows[2]!.id, full.version + 1, false],
      [flows[3]!.id, full.version + 2, true]
    ].sort())
  })

  it('a full backup followed by changed-only backups with deletions and re-saves restores to the latest state exactly', async () => {
    const source = await storeWith(300)
    const dir = await tempDir()
    const flows = generateFlows(300)
    const full = await source.backup(join(dir, '0-full.fsbk'))

    await source.saveMany(flows.slice(0, 20).map((flow) => mutateFlow(flow, 1)))
    for (const flow of flows.slice(20, 30)) await source.delete(flow.id)
    await source.save(generateFlow(1000))
    const first = await source.backup(join(dir, '1-changes.fsbk'), { since: full })
    const atFirst = contents(source)

    // Re-save deleted ids, delete updated and new ones, update an id twice.
    await source.saveMany(flows.slice(20, 25).map((flow) => mutateFlow(flow, 2)))
    await source.delete(flows[0]!.id)
    await source.delete(generateFlow(1000).id)
    await source.save(mutateFlow(flows[5]!, 2))
    await source.save(mutateFlow(flows[5]!, 3))
    const second = await source.backup(join(dir, '2-changes.fsbk'), { since: first })

    const copy = await restored([full.file, first.file, second.file])
    expect(copy.version).toBe(source.version)
    expect(contents(copy)).toEqual(contents(source))
    const middle = await restored([full.file, first.file])
    expect(middle.version).toBe(first.version)
    expect(contents(middle)).toEqual(atFirst)
  })

  it('a store restored from a chain answers changesSince like the source for versions the chain covers', async () => {
    const source = await storeWith(100)
    const dir = await tempDir()
    const flows = generateFlows(100)
    const full = await source.backup(join(dir, 'full.fsbk'))
    await source.save(mutateFlow(flows[1]!, 1))
    await source.delete(flows[2]!.id)
    await source.delete(flows[3]!.id)
    const first = await source.backup(join(dir, 'c1.fsbk'), { since: full })
    await source.save(mutateFlow(flows[2]!, 2))
    await source.save(mutateFlow(flows[1]!, 2))
    const second = await source.backup(join(dir, 'c2.fsbk'), { since: first })
    const copy = await restored([full.file, first.file, second.file])
    for (const since of [full.version, first.version, second.version]) {
      expect(await copy.changesSince(since)).toEqual(await source.changesSince(since))
    }
  })

  it('a restored store keeps working: its own full and changed-only backups restore to its state', async () => {
    const source = await storeWith(50)
    const dir = await tempDir()
    const original = await source.backup(join(dir, 'original.fsbk'))
    const copy = await restored(original.file)
    await copy.save(mutateFlow(generateFlow(7), 9))
    const full = await copy.backup(join(dir, 'full.fsbk'))
    await copy.delete(generateFlow(8).id)
    const next = await copy.backup(join(dir, 'next.fsbk'), { since: full })
    const again = await restored([full.file, next.file])
    expect(contents(again)).toEqual(contents(copy))
  })

  it('since may be a version, a backup file or its BackupInfo, with the same result', async () => {
    const source = await storeWith(20)
    const dir = await tempDir()
    const full = await source.backup(join(dir, 'full.fsbk'))
    await source.save(mutateFlow(generateFlow(4), 1))
    const byVersion = await source.backup(join(dir, 'a.fsbk'), { since: full.version })
    const byFile = await source.backup(join(dir, 'b.fsbk'), { since: full.file })
    const byInfo = await source.backup(join(dir, 'c.fsbk'), { since: full })
    for (const info of [byVersion, byFile, byInfo]) {
      expect(info).toMatchObject({ kind: 'changes', baseVersion: full.version, version: source.version, flows: 1 })
      expect(await recordsOf(info.file)).toEqual([[generateFlow(4).id, source.version, false]])
    }
  })

  it('a changed-only backup since the current version is empty and valid', async () => {
    const source = await storeWith(20)
    const dir = await tempDir()
    const full = await source.backup(join(dir, 'full.fsbk'))
    const none = await source.backup(join(dir, 'none.fsbk'), { since: full })
    expect(none).toMatchObject({ kind: 'changes', baseVersion: full.version, version: full.version, flows: 0, deletions: 0 })
    expect((await verifyBackup(none.file)).ok).toBe(true)
    const copy = await restored([full.file, none.file])
    expect(contents(copy)).toEqual(contents(source))
  })

  it('a changed-only backup since a version newer than the store is refused with FLOWSTORE_BACKUP_CHAIN', async () => {
    const source = await storeWith(5)
    const file = join(await tempDir(), 'future.fsbk')
    const err = await source.backup(file, { since: source.version + 1 }).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_BACKUP_CHAIN')).toBe(true)
    expect(await verifyBackup(file)).toMatchObject({ ok: false, problems: ['the file does not exist'] })
  })

  it('since that is not a version is refused with a TypeError', async () => {
    const source = await storeWith(1)
    const file = join(await tempDir(), 'x.fsbk')
    await expect(source.backup(file, { since: -1 })).rejects.toThrow(TypeError)
    await expect(source.backup(file, { since: 1.5 })).rejects.toThrow(TypeError)
  })
})

describe('consistency', () => {
  it('a backup taken while a writer rewrites every flow in atomic batches restores to one committed batch', async () => {
    const n = 2000
    const source = await open(join(await tempDir(), 'db'))
    const base = generateFlows(n)
    await source.saveMany(base.map((flow) => mutateFlow(flow, 0)))
    const revisionAt = new Map<number, number>([[source.version, 0]])

    let revision = 0
    let stop = false
    let rewrites: Promise<void>[] = []
    const rewrite = async (): Promise<void> => {
      const rev = ++revision
      await source.saveMany(base.map((flow) => mutateFlow(flow, rev)))
      revisionAt.set(source.version, rev)
    }
    const writer = (async () => {
      while (!stop) await rewrite()
    })()

    const file = join(await tempDir(), 'during.fsbk')
    let started = false
    const info = await source.backup(file, {
      // Rewrites issued after the snapshot was taken, while the backup is reading.
      onProgress: () => { if (!started) { started = true; rewrites = [rewrite(), rewrite()] } }
    }).finally(async () => {
      stop = true
      await writer
      await Promise.all(rewrites)
    })
    expect(source.version).toBeGreaterThan(info.version)

    const copy = await restored(file)
    expect(copy.version).toBe(info.version)
    expect(copy.size).toBe(n)
    const revisions = new Set([...copy.flows.values()].map((flow) => flow.metadata.revision))
    expect(revisions.size).toBe(1)
    expect([...revisions][0]).toBe(revisionAt.get(info.version))
  })

  it('a changed-only backup taken while a writer rewrites every flow restores, on its full backup, to one committed batch', async () => {
    const n = 1000
    const source = await open(join(await tempDir(), 'db'))
    const base = generateFlows(n)
    await source.saveMany(base.map((flow) => mutateFlow(flow, 0)))
    const dir = await tempDir()
    const full = await source.backup(join(dir, 'full.fsbk'))
    const revisionAt = new Map<number, number>()
    let revision = 0
    const rewrite = async (): Promise<void> => {
      const rev = ++revision
      await source.saveMany(base.map((flow) => mutateFlow(flow, rev)))
      revisionAt.set(source.version, rev)
    }
    await rewrite()
    let stop = false
    const writer = (async () => {
      while (!stop) await rewrite()
    })()
    let rewrites: Promise<void>[] = []
    const changes = await source.backup(join(dir, 'changes.fsbk'), {
      since: full,
      onProgress: () => { if (rewrites.length === 0) rewrites = [rewrite(), rewrite()] }
    }).finally(async () => {
      stop = true
      await writer
      await Promise.all(rewrites)
    })
    expect(changes.flows).toBe(n)

    const copy = await restored([full.file, changes.file])
    expect(copy.version).toBe(changes.version)
    const revisions = new Set([...copy.flows.values()].map((flow) => flow.metadata.revision))
    expect([...revisions]).toEqual([revisionAt.get(changes.version)])
  })

  it('flows saved while a backup runs are all in the next changed-only backup', async () => {
    const source = await storeWith(2000)
    const dir = await tempDir()
    let during: Promise<void> | undefined
    const full: BackupInfo = await source.backup(join(dir, 'full.fsbk'), {
      onProgress: () => { during ??= source.saveMany(generateFlows(10).map((flow) => mutateFlow(flow, 1))) }
    })
    await during
    const next = await source.backup(join(dir, 'next.fsbk'), { since: full })
    const copy = await restored([full.file, next.file])
    expect(contents(copy)).toEqual(contents(source))
  })
})

describe('store identity', () => {
  /** A copy of `file` as a backup written before backups recorded the store identity. */
  async function withoutStoreId (file: string, copy: string): Promise<void> {
    const header = await readBackupHeader(file)
    async function * batches (): AsyncGenerator<BackupRecord[]> {
      for await (const record of readBackup(file)) yield [record]
    }
    await writeBackupFile(copy, { kind: header.kind, version: header.version, baseVersion: header.baseVersion, createdAt: header.createdAt, storeId: undefined }, batches())
  }

  it('a backup records the storeId of its store: in its BackupInfo, its header and its verify report', async () => {
    const source = await storeWith(5)
    const info = await source.backup(join(await tempDir(), 'full.fsbk'))
    expect(source.storeId).toMatch(/^[0-9a-f-]{36}$/)
    expect(info.storeId).toBe(source.storeId)
    expect((await readBackupHeader(info.file)).storeId).toBe(source.storeId)
    expect(await verifyBackup(info.file)).toMatchObject({ ok: true, storeId: source.storeId })
  })

  it('a store restored from a backup has a storeId of its own, which its backups record', async () => {
    const source = await storeWith(5)
    const dir = await tempDir()
    const original = await source.backup(join(dir, 'original.fsbk'))
    const copy = await restored(original.file)
    expect(copy.storeId).not.toBe(source.storeId)
    expect((await copy.backup(join(dir, 'copy.fsbk'))).storeId).toBe(copy.storeId)
  })

  it.each([
    ['file', (info: BackupInfo) => info.file],
    ['BackupInfo', (info: BackupInfo) => info]
  ])('a restored store that went past the original\'s newest backup refuses a changed-only backup since that backup (given as its %s) with FLOWSTORE_BACKUP_CHAIN', async (_name, since) => {
    const source = await storeWith(20)
    const dir = await tempDir()
    const older = await source.backup(join(dir, 'older.fsbk'))
    await source.save(mutateFlow(generateFlow(1), 1))
    const newest = await source.backup(join(dir, 'newest.fsbk'), { since: older })
    // The restored store forks at the older backup and goes on with other changes.
    const copy = await restored(older.file)
    for (let revision = 2; copy.version <= newest.version; revision++) await copy.save(mutateFlow(generateFlow(2), revision))
    const file = join(dir, 'fork.fsbk')
    const err = await copy.backup(file, { since: since(newest) }).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_BACKUP_CHAIN')).toBe(true)
    expect((await readdir(dir)).sort()).toEqual(['newest.fsbk', 'older.fsbk'])
  })

  it('a backup of another store, given as since, is refused with FLOWSTORE_BACKUP_CHAIN even when its version fits', async () => {
    const one = await storeWith(3)
    const other = await storeWith(3)
    const dir = await tempDir()
    const base = await one.backup(join(dir, 'one.fsbk'))
    expect(other.version).toBe(base.version)
    const err = await other.backup(join(dir, 'other.fsbk'), { since: base }).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_BACKUP_CHAIN')).toBe(true)
  })

  it('a backup file without a storeId (written before backups recorded it) still verifies and restores', async () => {
    const source = await storeWith(10)
    const dir = await tempDir()
    const info = await source.backup(join(dir, 'full.fsbk'))
    const legacy = join(dir, 'legacy.fsbk')
    await withoutStoreId(info.file, legacy)
    expect((await readBackupHeader(legacy)).storeId).toBeUndefined()
    expect(await verifyBackup(legacy)).toMatchObject({ ok: true, flows: 10, storeId: undefined })
    expect(contents(await restored(legacy))).toEqual(contents(source))
  })

  it('a backup file without a storeId is refused as the base of a changed-only backup with FLOWSTORE_BACKUP_CHAIN', async () => {
    const source = await storeWith(10)
    const dir = await tempDir()
    const info = await source.backup(join(dir, 'full.fsbk'))
    const legacy = join(dir, 'legacy.fsbk')
    await withoutStoreId(info.file, legacy)
    await source.save(mutateFlow(generateFlow(3), 1))
    const err = await source.backup(join(dir, 'changes.fsbk'), { since: legacy }).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_BACKUP_CHAIN')).toBe(true)
  })
})
