// Faults: the store keeps its promises when the storage fails under it. Real databases with
// injected failures (test/faulty-level.ts): batch writes that fail at random points of a long
// random workload, iterator steps that fail during open and during a backup, snapshots that
// fail; and a real small file system that fills up (a 4 MiB tmpfs, where the machine lets the
// test mount one), under a store, a backup, an export and a restore, and a gzip bomb restored
// onto it. Acknowledged means on disk; failed means reported and retried; after the faults
// stop, a reopened store equals the model of every write.

import { execFileSync } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import { Packr } from 'msgpackr'
import { afterEach, describe, expect, it } from 'vitest'
import { generateFlow, type GeneratedFlow, mulberry32, mutateFlow } from '../examples/generate-flows.ts'
import { GZIP_HEADER } from '../src/backup/format.ts'
import { exportJson, FlowStore, FlowStoreError, isFlowStoreError, restoreBackup } from '../src/index.ts'
import { checkStore } from '../src/maintenance/check.ts'
import { repairStore } from '../src/maintenance/repair.ts'
import { FaultyClassicLevel, InjectedFault } from './faulty-level.ts'
import { tempDir } from './helpers.ts'

/** A small deterministic PRNG (mulberry32): a failing seed reproduces. */
const prng = mulberry32

interface Outcome {
  readonly id: string
  readonly flow: GeneratedFlow | null
  /** The write count of its id when it was issued: a later write supersedes it. */
  readonly serial: number
  readonly promise: Promise<void>
}

/** The store's contents as plain values, for comparing with a model. */
function contents (store: FlowStore<GeneratedFlow>): Map<string, unknown> {
  return new Map([...store.flows.keys()].map((id) => [id, structuredClone(store.get(id))]))
}

describe('batch writes failing at random points of a long random workload', () => {
  it.each([1, 2, 3])('acknowledges only what is on disk, reports and retries the rest, and reopens equal to the model (seed %i)', async (seed) => {
    const random = prng(seed)
    const dir = await tempDir()
    const db = new FaultyClassicLevel(dir)
    const store = await FlowStore.open<GeneratedFlow>(db)
    // The intended final state of every id, and how many writes each id received.
    const model = new Map<string, GeneratedFlow | null>()
    const serials = new Map<string, number>()
    const outcomes: Outcome[] = []
    const issue = (id: string, flow: GeneratedFlow | null, promise: Promise<void>): Outcome => {
      const serial = (serials.get(id) ?? 0) + 1
      serials.set(id, serial)
      // Observed later (allSettled); a transaction's promise, unlike a save's, must be handled.
      promise.catch(() => {})
      model.set(id, flow)
      const outcome = { id, flow, serial, promise }
      outcomes.push(outcome)
      return outcome
    }
    const nextFlow = (index: number): GeneratedFlow => {
      const id = generateFlow(index).id
      const current = model.get(id)
      return current === undefined || current === null ? generateFlow(index) : mutateFlow(current, (serials.get(id) ?? 0) + 1)
    }
    /** After an acknowledgement: the disk holds that write, unless a later one superseded it. */
    const expectDurable = async (outcome: Outcome): Promise<void> => {
      if (serials.get(outcome.id) !== outcome.serial) return
      const record = await db.get(`f!${outcome.id}`, { keyEncoding: 'utf8', valueEncoding: 'view' } as never) as Uint8Array | undefined
      if (outcome.flow === null) expect(record, `${outcome.id} was deleted`).toBeUndefined()
      else expect(Buffer.from(record!.subarray(7)).equals(Buffer.from(store.lazy(outcome.id)!.bytes))).toBe(true)
    }

    db.faults.batchIf = () => random() < 0.3
    const ids = 40
    for (let step = 0; step < 400; step++) {
      const index = Math.floor(random() * ids)
      const roll = random()
      if (roll < 0.45) {
        // Awaited save: its outcome is known before the next step.
        const flow = nextFlow(index)
        const outcome = issue(flow.id, flow, store.save(flow))
        try {
          await outcome.promise
          await expectDurable(outcome)
        } catch (err) {
          expect(isFlowStoreError(err, 'FLOWSTORE_WRITE_FAILED')).toBe(true)
        }
      } else if (roll < 0.7) {
        // Unawaited save: settles with a later flush.
        const flow = nextFlow(index)
        issue(flow.id, flow, store.save(flow))
      } else if (roll < 0.8) {
        const id = generateFlow(index).id
        if (store.has(id)) issue(id, null, store.delete(id))
      } else if (roll < 0.88) {
        const flows = [nextFlow(index), nextFlow((index + 7) % ids)].filter((f, i, all) => all.findIndex((g) => g.id === f.id) === i)
        const promise = store.saveMany(flows)
        for (const flow of flows) issue(flow.id, flow, promise)
      } else if (roll < 0.95) {
        const a = nextFlow(index)
        const promise = store.transaction((tx) => { tx.save(a) })
        issue(a.id, a, promise)
      } else {
        await store.flush().catch((err: unknown) => { expect(isFlowStoreError(err, 'FLOWSTORE_WRITE_FAILED')).toBe(true) })
      }
    }
    // Every failure so far was reported as WRITE_FAILED, caused by the injected fault.
    const settled = await Promise.allSettled([...outcomes.map((o) => o.promise), store.flush()])
    db.faults.clear()
    for (const result of settled) {
      if (result.status === 'rejected') {
        expect(result.reason).toBeInstanceOf(FlowStoreError)
        expect((result.reason as FlowStoreError).code).toBe('FLOWSTORE_WRITE_FAILED')
        expect((result.reason as FlowStoreError).cause).toBeInstanceOf(InjectedFault)
      }
    }
    expect(db.faults.counts.failedBatches).toBeGreaterThan(10)
    expect(settled.filter((r) => r.status === 'fulfilled').length).toBeGreaterThan(10)
    // The faults stop: one flush retries everything still pending.
    await store.flush()
    expect(store.pending).toBe(0)
    expect(store.lastFlushError).toBeUndefined()
    const expected = new Map([...model].filter(([, flow]) => flow !== null).map(([id, flow]) => [id, flow]))
    expect(contents(store)).toEqual(expected)
    const version = store.version
    await store.close()
    await db.close()

    const reopened = await FlowStore.open<GeneratedFlow>(dir)
    try {
      expect(contents(reopened)).toEqual(expected)
      expect(reopened.version).toBe(version)
      // Deleted ids are in the change record as deletions at versions no later than the store's.
      const { changes } = await reopened.changesSince(0)
      for (const [id, flow] of model) {
        const change = changes.find((c) => c.id === id)
        expect(change?.deleted, id).toBe(flow === null)
      }
    } finally {
      await reopened.close()
    }
    // And the change record agrees with the flows, tombstones and version throughout.
    expect((await checkStore(dir)).ok).toBe(true)
  })
})

describe('iterator steps failing during open', () => {
  it.each([[0, 'the first step of the flow scan'], [1, 'its second step'], [3, 'the tombstone scan, after the flow scan\'s three steps']] as const)(
    'fail the open with FLOWSTORE_OPEN_FAILED at %i steps in (%s), writing nothing', async (after, _where) => {
      const dir = await tempDir()
      const seed = await FlowStore.open(dir)
      // Enough flows for the scan to take more than one step (1000 entries a step).
      await seed.saveMany(Array.from({ length: 1500 }, (_, i) => ({ id: `f${String(i).padStart(5, '0')}`, i })))
      await seed.delete('f00000')
      await seed.close()

      const db = new FaultyClassicLevel(dir)
      await db.open()
      db.faults.nextv(1, after)
      const err = await FlowStore.open(db).then(async (store) => { await store.close(); return undefined }, (e: unknown) => e)
      expect(err).toBeInstanceOf(FlowStoreError)
      expect((err as FlowStoreError).code).toBe('FLOWSTORE_OPEN_FAILED')
      expect((err as FlowStoreError).message).toContain('Reading the store at open failed')
      expect((err as FlowStoreError).cause).toBeInstanceOf(InjectedFault)
      expect(db.faults.counts.failedIteratorSteps).toBe(1)
      expect(db.faults.counts.writes).toBe(0)

      // Nothing was lost: the next open (no faults) has everything.
      const store = await FlowStore.open(db)
      expect(store.size).toBe(1499)
      expect(store.has('f00000')).toBe(false)
      await store.close()
      await db.close()
    })
})

describe('a backup whose storage reads fail', () => {
  /** A FlowStoreError that keeps the storage failure as its cause. */
  async function expectFailedRead (backup: Promise<unknown>): Promise<void> {
    const err = await backup.then(() => expect.unreachable('the backup succeeded'), (e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_OPEN_FAILED')).toBe(true)
    expect((err as Error).cause).toBeInstanceOf(InjectedFault)
  }

  async function storeOnFaultyDb (): Promise<{ dir: string, backups: string, db: InstanceType<typeof FaultyClassicLevel>, store: FlowStore }> {
    const dir = await tempDir()
    const backups = await tempDir()
    const db = new FaultyClassicLevel(dir)
    const store = await FlowStore.open(db)
    await store.saveMany(Array.from({ length: 1200 }, (_, i) => ({ id: `f${i}`, i })))
    return { dir, backups, db, store }
  }

  it('rejects when the snapshot fails, leaves no file, and the store keeps working', async () => {
    const { backups, db, store } = await storeOnFaultyDb()
    db.faults.snapshot(1)
    await expectFailedRead(store.backup(join(backups, 'a.fsbk')))
    expect(await readdir(backups)).toEqual([])
    await store.save({ id: 'after', ok: true })
    const info = await store.backup(join(backups, 'b.fsbk'))
    expect(info.flows).toBe(1201)
    expect(await readdir(backups)).toEqual(['b.fsbk'])
    await store.close()
    await db.close()
  })

  it('rejects when an iterator step fails in the middle, leaves no partial file, and the store keeps working', async () => {
    const { backups, db, store } = await storeOnFaultyDb()
    // The first step reads 1000 flows; the second fails after the backup file was started.
    db.faults.nextv(1, 1)
    await expectFailedRead(store.backup(join(backups, 'a.fsbk')))
    expect(await readdir(backups)).toEqual([])
    await store.save({ id: 'after', ok: true })
    expect((await store.backup(join(backups, 'b.fsbk'))).flows).toBe(1201)
    await store.close()
    await db.close()
  })
})

// ---------------------------------------------------------------------------------------
// Disk full: a real 4 MiB tmpfs, filled up.

function probeMount (): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false
  const probe = execFileSync('mktemp', ['-d', join(tmpdir(), 'flowstore-mount-probe-XXXXXX')]).toString().trim()
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' })
    execFileSync('umount', [probe], { stdio: 'ignore' })
    return true
  } catch {
    return false
  } finally {
    execFileSync('rmdir', [probe])
  }
}

const canMount = probeMount()
const mounted: string[] = []

async function smallFileSystem (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flowstore-full-'))
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', dir])
  mounted.push(dir)
  return dir
}

afterEach(async () => {
  for (const dir of mounted.splice(0)) {
    execFileSync('umount', [dir])
    await rm(dir, { recursive: true, force: true })
  }
})

/** Saves new flows one by one (awaited) until `failures` of them were refused. */
async function fillUntilFull (store: FlowStore<GeneratedFlow>, failures: number): Promise<{ acknowledged: GeneratedFlow[], refused: GeneratedFlow[] }> {
  const acknowledged: GeneratedFlow[] = []
  const refused: GeneratedFlow[] = []
  for (let i = 0; refused.length < failures; i++) {
    expect(i, 'the file system never filled up').toBeLessThan(20_000)
    const flow = generateFlow(i)
    try {
      await store.save(flow)
      acknowledged.push(flow)
    } catch (err) {
      expect(isFlowStoreError(err, 'FLOWSTORE_WRITE_FAILED')).toBe(true)
      // The first failure is the write itself; later ones may be the reopen that recovers
      // from it (flusher.ts), which fails too while the disk is full.
      expect(causeChain(err)).toMatch(/No space left on device/)
      refused.push(flow)
    }
  }
  return { acknowledged, refused }
}

function causeChain (err: unknown): string {
  const messages: string[] = []
  for (let e = err as { message?: unknown, cause?: unknown } | undefined, depth = 0; e != null && depth < 6; e = e.cause as typeof e, depth++) messages.push(String(e.message))
  return messages.join(' <- ')
}

const skipReason = canMount ? '' : ' (skipped: this machine does not permit mounting a tmpfs)'

describe('a disk that fills up', () => {
  it.skipIf(!canMount)(`refuses saves with FLOWSTORE_WRITE_FAILED, keeps them pending, and loses nothing once space is freed${skipReason}`, async () => {
    const fs = await smallFileSystem()
    // The filler is made first: deleting it frees the space later.
    await writeFile(join(fs, 'filler'), Buffer.alloc(3.5 * 1024 * 1024))
    const dir = join(fs, 'db')
    const store = await FlowStore.open<GeneratedFlow>(dir)
    const { acknowledged, refused } = await fillUntilFull(store, 5)
    expect(acknowledged.length).toBeGreaterThan(50)
    // Refused saves stay in the cache and pending.
    for (const flow of refused) expect(store.get(flow.id)).toEqual(flow)
    expect(store.pending).toBe(refused.length)

    await rm(join(fs, 'filler'))
    await store.flush()
    expect(store.pending).toBe(0)
    // More writes after the episode, acknowledged too.
    const later = Array.from({ length: 20 }, (_, i) => generateFlow(50_000 + i))
    for (const flow of later) await store.save(flow)
    await store.close()

    const reopened = await FlowStore.open<GeneratedFlow>(dir)
    try {
      const expected = new Map([...acknowledged, ...refused, ...later].map((flow) => [flow.id, flow]))
      expect(contents(reopened)).toEqual(expected)
    } finally {
      await reopened.close()
    }
  })

  it.skipIf(!canMount)(`leaves a log that "flowstore repair" recovers every acknowledged write from${skipReason}`, async () => {
    const fs = await smallFileSystem()
    await writeFile(join(fs, 'filler'), Buffer.alloc(3.5 * 1024 * 1024))
    const dir = join(fs, 'db')
    const store = await FlowStore.open<GeneratedFlow>(dir)
    const { acknowledged, refused } = await fillUntilFull(store, 5)
    await rm(join(fs, 'filler'))
    await store.flush()
    const later = Array.from({ length: 20 }, (_, i) => generateFlow(50_000 + i))
    for (const flow of later) await store.save(flow)
    await store.close()

    // Room for the copy the repair works on.
    execFileSync('mount', ['-o', 'remount,size=16m', fs])
    const report = await repairStore(dir)
    expect(report.lost).toEqual([])
    const reopened = await FlowStore.open<GeneratedFlow>(dir)
    try {
      const expected = new Map([...acknowledged, ...refused, ...later].map((flow) => [flow.id, flow]))
      expect(contents(reopened)).toEqual(expected)
    } finally {
      await reopened.close()
    }
  })
})

describe('backups, exports and restores on a disk that is full', () => {
  it.skipIf(!canMount)(`a backup onto a full disk fails with FLOWSTORE_IO_ERROR naming the backup, not a temporary, and leaves nothing there${skipReason}`, async () => {
    const fs = await smallFileSystem()
    await writeFile(join(fs, 'filler'), Buffer.alloc(3.9 * 1024 * 1024))
    const store = await FlowStore.open<GeneratedFlow>(join(await tempDir(), 'db'))
    for (let i = 0; i < 2000; i += 500) await store.saveMany(Array.from({ length: 500 }, (_, j) => generateFlow(i + j)))
    const target = join(fs, 'full.fsbk')
    const err = await store.backup(target).then(() => expect.unreachable('the backup fit'), (e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_IO_ERROR')).toBe(true)
    expect((err as Error).message).toBe(`Writing the backup ${target} failed: no space left on the device (the disk is full)`)
    expect((err as Error).cause).toMatchObject({ code: 'ENOSPC' })
    expect(await readdir(fs)).toEqual(['filler'])
    // The same through an export.
    const exported = await exportJson(store, join(fs, 'flows.json')).then(() => expect.unreachable('the export fit'), (e: unknown) => e)
    expect(isFlowStoreError(exported, 'FLOWSTORE_IO_ERROR')).toBe(true)
    expect(await readdir(fs)).toEqual(['filler'])
    await store.close()
  })

  it.skipIf(!canMount)(`a backup while the store's database is closed after a failed write is refused with FLOWSTORE_WRITE_FAILED, keeping the cause${skipReason}`, async () => {
    const fs = await smallFileSystem()
    await writeFile(join(fs, 'filler'), Buffer.alloc(3.5 * 1024 * 1024))
    const store = await FlowStore.open<GeneratedFlow>(join(fs, 'db'))
    // The second failure is the reopen before the retried batch: the database stays closed.
    await fillUntilFull(store, 2)
    const err = await store.backup(join(await tempDir(), 'b.fsbk')).then(() => expect.unreachable('the backup ran'), (e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_WRITE_FAILED')).toBe(true)
    expect((err as Error).message).toMatch(/database is closed/)
    expect((err as Error).cause).toMatchObject({ code: 'LEVEL_DATABASE_NOT_OPEN' })
    await rm(join(fs, 'filler'))
    await store.flush()
    const info = await store.backup(join(await tempDir(), 'b.fsbk'))
    expect(info.flows).toBe(store.size)
    await store.close()
  })

  it.skipIf(!canMount)(`a restore onto a full disk fails with FLOWSTORE_IO_ERROR naming the target, leaves the store there as it was and nothing beside it${skipReason}`, async () => {
    const source = await FlowStore.open<GeneratedFlow>(join(await tempDir(), 'db'))
    for (let i = 0; i < 20_000; i += 1000) await source.saveMany(Array.from({ length: 1000 }, (_, j) => generateFlow(i + j)))
    const backup = await source.backup(join(await tempDir(), 'full.fsbk'))
    await source.close()
    const fs = await smallFileSystem()
    const target = join(fs, 'db')
    const old = await FlowStore.open(target)
    await old.saveMany([{ id: 'old-1' }, { id: 'old-2' }])
    await old.close()
    const err = await restoreBackup(backup.file, target, { overwrite: true }).then(() => expect.unreachable('the restore fit'), (e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_IO_ERROR')).toBe(true)
    expect((err as Error).message).toContain(target)
    expect((err as Error).message).toMatch(/no space left on the device/)
    expect(await readdir(fs)).toEqual(['db'])
    const reopened = await FlowStore.open(target)
    expect([...reopened.flows.keys()].sort()).toEqual(['old-1', 'old-2'])
    await reopened.close()
  })
})

describe('a gzip bomb', () => {
  /** A backup of 16 flows of 16 MiB each ("aaaa…", a few KiB compressed) whose trailer has a wrong checksum. */
  async function bomb (file: string): Promise<void> {
    const packr = new Packr({ useRecords: false })
    const frame = (value: unknown): Buffer => {
      const payload = packr.pack(value)
      const out = Buffer.alloc(4 + payload.length)
      out.writeUInt32BE(payload.length)
      out.set(payload, 4)
      return out
    }
    async function * content (): AsyncGenerator<Buffer> {
      yield frame({ type: 'header', magic: 'FLOWSTORE-BACKUP', format: 1, kind: 'full', version: 1, baseVersion: 0, createdAt: new Date(0).toISOString() })
      const blob = 'a'.repeat(16 * 1024 * 1024 - 1024)
      for (let i = 0; i < 16; i++) {
        const id = `bomb-${String(i).padStart(2, '0')}`
        yield frame({ id, version: 1, bytes: packr.pack({ id, blob }) })
      }
      yield frame({ type: 'trailer', records: 16, deletions: 0, sha256: '0'.repeat(64) })
    }
    await pipeline(Readable.from(content()), createGzip({ level: 9 }), new PinHeader(), createWriteStream(file))
  }

  it.skipIf(!canMount)(`is refused by its checksum before anything is written: a restore onto a 4 MiB disk fails with FLOWSTORE_BACKUP_CORRUPT, not a full disk${skipReason}`, async () => {
    const file = join(await tempDir(), 'bomb.fsbk')
    await bomb(file)
    const fs = await smallFileSystem()
    const err = await restoreBackup(file, join(fs, 'restored')).then(() => expect.unreachable('restored'), (e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_BACKUP_CORRUPT')).toBe(true)
    expect((err as Error).message).toContain('checksum mismatch')
    expect(await readdir(fs)).toEqual([])
  })
})

/** Pins the gzip header's MTIME, XFL and OS bytes as a backup file has them. */
class PinHeader extends Transform {
  #seen = 0

  override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    for (let i = Math.max(4, this.#seen); i < GZIP_HEADER.length && i - this.#seen < chunk.length; i++) chunk[i - this.#seen] = GZIP_HEADER[i]!
    this.#seen += chunk.length
    callback(null, chunk)
  }
}
