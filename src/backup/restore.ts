// Restore: builds a store from a full backup and the changed-only backups after it, aside in
// a temporary directory next to the target, then swaps it in. The chain is checked from the
// headers before anything is written; every checksum is checked while streaming; the target
// is touched only once everything succeeded, so a failed or interrupted restore leaves it as
// it was. Memory stays flat: records are applied in batches, and whether an earlier backup
// left a flow of an id is looked up in the store being built, never kept in memory.
//
// Every file of a chain must be of the same store (the same storeId in its header): a
// changed-only backup of another store may not continue this one's history. The restored
// store gets no m!id: when opened it gets an identity of its own, since its history may fork
// from the original's from here on.

import { randomBytes } from 'node:crypto'
import { lstat, mkdir, readdir, rename, rm } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { noop } from '../deferred.ts'
import { FlowStoreError, isFlowStoreError } from '../errors.ts'
import {
  encodeLogEntry, encodeVersion, FORMAT_KEY, flowKey, HEADER_BYTES, HORIZON_KEY, LAYOUT_VERSION, LOG_RANGE, logKey,
  RECORD_FORMAT, VERSION_KEY, writeVersion
} from '../layout.ts'
import { type OpenedLocation, openLocation } from '../engine/level-location.ts'
import { type BackupHeader, type BackupRecord, corrupt, readBackup, readBackupHeader, syncDirectory } from './format.ts'
import type { RestoreInfo, RestoreOptions } from './types.ts'
import { verifyBackup } from './verify.ts'

/** Records per LevelDB batch, and a cap on a batch's bytes. */
const BATCH_RECORDS = 1000
const BATCH_BYTES = 8 * 1024 * 1024

type Operation =
  | { type: 'put', key: string, value: Uint8Array }
  | { type: 'del', key: string }

/**
 * Restores `files` (a full backup, then changed-only backups in order) into a new store at
 * `location`. Refuses a location that is not empty unless `overwrite` is set, and one a
 * FlowStore has open (FLOWSTORE_LOCKED).
 */
export async function restoreBackup (files: string | readonly string[], location: string, options: RestoreOptions = {}): Promise<RestoreInfo> {
  const started = performance.now()
  const list = (typeof files === 'string' ? [files] : [...files]).map((file) => {
    if (typeof file !== 'string' || file.length === 0) throw new TypeError(`restoreBackup() takes backup file paths, got ${String(file)}`)
    return resolve(file)
  })
  if (list.length === 0) throw new TypeError('restoreBackup() needs at least one backup file')
  if (typeof location !== 'string' || location.length === 0) throw new TypeError(`restoreBackup() needs a target directory, got ${String(location)}`)
  const overwrite = options.overwrite ?? false
  const target = resolve(location)

  const headers: BackupHeader[] = []
  for (const file of list) headers.push(await readBackupHeader(file))
  try {
    checkChain(headers)
  } catch (err) {
    // Headers are read before the files are verified: damage to a header can look like a
    // broken chain. Say that a file is damaged, when one is, rather than blame the chain.
    for (const file of list) {
      const report = await verifyBackup(file)
      if (!report.ok) throw new FlowStoreError('FLOWSTORE_BACKUP_CORRUPT', `Backup ${file} is damaged: ${report.problems.join('; ')}`, { cause: err })
    }
    throw err
  }
  await checkTarget(target, overwrite)

  const parent = dirname(target)
  await mkdir(parent, { recursive: true })
  const temporary = join(parent, `.${basename(target)}.restore-${randomBytes(6).toString('hex')}`)
  const db = new ClassicLevel<string, Uint8Array>(temporary, { keyEncoding: 'utf8', valueEncoding: 'view', errorIfExists: true })
  let flows = 0
  try {
    await db.open()
    const progress = { records: 0, bytes: 0 }
    const log = new RestoredLog()
    for (let i = 0; i < list.length; i++) {
      flows = await applyFile(db, list[i]!, headers[i]!, flows, progress, options.onProgress, log)
    }
    const last = headers[headers.length - 1]!
    // The change log holds what the changed-only backups changed: changes since the full
    // backup's version are known (the horizon), earlier ones not.
    let horizon = headers[0]!.version
    if (!log.complete) {
      await db.clear({ gte: LOG_RANGE.gte, lt: LOG_RANGE.lt })
      horizon = last.version
    }
    await db.batch([
      { type: 'put', key: FORMAT_KEY, value: Uint8Array.of(LAYOUT_VERSION) },
      { type: 'put', key: VERSION_KEY, value: encodeVersion(last.version) },
      { type: 'put', key: HORIZON_KEY, value: encodeVersion(horizon) }
    ], { sync: true })
    await db.close()
    await swapIn(temporary, target, overwrite)
    return { location: target, version: last.version, flows, files: list, durationMs: performance.now() - started }
  } catch (err) {
    await db.close().catch(noop)
    await rm(temporary, { recursive: true, force: true }).catch(noop)
    throw err
  }
}

function checkChain (headers: readonly BackupHeader[]): void {
  const first = headers[0]!
  if (first.kind !== 'full') {
    throw new FlowStoreError('FLOWSTORE_BACKUP_CHAIN', `A restore starts from a full backup, but ${first.file} is a changed-only backup (based on version ${first.baseVersion}); put its full backup and the changed-only backups between them first`)
  }
  for (let i = 1; i < headers.length; i++) {
    const previous = headers[i - 1]!
    const header = headers[i]!
    if (header.storeId !== first.storeId) {
      throw new FlowStoreError('FLOWSTORE_BACKUP_CHAIN', `${header.file} (backup ${i + 1}) is a backup of ${storeName(header.storeId)}, but the chain starts with a backup of ${storeName(first.storeId)} (${first.file}): a chain holds the backups of one store only (a store restored from a backup has an identity of its own)`)
    }
    if (header.kind !== 'changes') {
      throw new FlowStoreError('FLOWSTORE_BACKUP_CHAIN', `Only the first backup of a restore may be a full one, but ${header.file} (backup ${i + 1}) is full too; restore from it alone, or leave it out`)
    }
    if (header.baseVersion !== previous.version) {
      const why = header.baseVersion > previous.version ? 'a backup between them is missing' : 'the backups are out of order, or from another store'
      throw new FlowStoreError('FLOWSTORE_BACKUP_CHAIN', `${header.file} applies on version ${header.baseVersion}, but the backup before it (${previous.file}) holds version ${previous.version}: ${why}`)
    }
  }
}

function storeName (storeId: string | undefined): string {
  return storeId === undefined ? 'an unidentified store (written before backups recorded the store identity)' : `store ${storeId}`
}

interface TargetState {
  readonly state: 'absent' | 'empty' | 'occupied'
  /** The target looks like a LevelDB database (it has a CURRENT file). */
  readonly database: boolean
}

async function inspectTarget (target: string): Promise<TargetState> {
  let stats
  try {
    stats = await lstat(target)
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return { state: 'absent', database: false }
    throw err
  }
  if (!stats.isDirectory()) return { state: 'occupied', database: false }
  const entries = await readdir(target)
  return { state: entries.length === 0 ? 'empty' : 'occupied', database: entries.includes('CURRENT') }
}

function notEmpty (target: string): FlowStoreError {
  return new FlowStoreError('FLOWSTORE_TARGET_NOT_EMPTY', `${target} is not empty; restore into a new or empty directory, or pass { overwrite: true } to replace what is there`)
}

/**
 * Takes the target the way FlowStore.open() does (the in-process guard, then LevelDB's lock),
 * so a store open here or in another process is refused with FLOWSTORE_LOCKED. A directory
 * that is not a database, or a damaged one, is no one's store: undefined, nothing held.
 */
async function holdTarget (target: string, state: TargetState): Promise<OpenedLocation | undefined> {
  if (!state.database) return undefined
  try {
    return await openLocation(target)
  } catch (err) {
    if (isFlowStoreError(err, 'FLOWSTORE_LOCKED')) {
      throw new FlowStoreError('FLOWSTORE_LOCKED', `Cannot restore into ${target}: a FlowStore has it open (${err.message}). Close that store first`, { cause: err })
    }
    return undefined
  }
}

/** Refuses early what the swap would refuse at the end, before any work is done. */
async function checkTarget (target: string, overwrite: boolean): Promise<void> {
  const state = await inspectTarget(target)
  if (state.state !== 'occupied') return
  if (!overwrite) throw notEmpty(target)
  const held = await holdTarget(target, state)
  await held?.close()
}

async function swapIn (temporary: string, target: string, overwrite: boolean): Promise<void> {
  const parent = dirname(target)
  const state = await inspectTarget(target)
  if (state.state !== 'occupied') {
    try {
      // rename() replaces an empty directory and refuses a non-empty one, atomically.
      await rename(temporary, target)
    } catch (err) {
      const code = (err as { code?: unknown }).code
      if (code === 'ENOTEMPTY' || code === 'EEXIST') throw notEmpty(target)
      throw err
    }
    await syncDirectory(parent)
    return
  }
  if (!overwrite) throw notEmpty(target)
  // Holding the old store (guard + lock) while it is moved keeps every FlowStore out of it.
  const held = await holdTarget(target, state)
  const aside = join(parent, `.${basename(target)}.old-${randomBytes(6).toString('hex')}`)
  try {
    await rename(target, aside)
    try {
      await rename(temporary, target)
    } catch (err) {
      await rename(aside, target)
      throw err
    }
  } finally {
    await held?.close().catch(noop)
  }
  await syncDirectory(parent)
  await rm(aside, { recursive: true, force: true })
}

interface ProgressState {
  records: number
  bytes: number
}

/** Streams one backup file into `db`; returns the flow count after it. */
async function applyFile (
  db: ClassicLevel<string, Uint8Array>,
  file: string,
  expected: BackupHeader,
  flows: number,
  progress: ProgressState,
  onProgress: RestoreOptions['onProgress'],
  log: RestoredLog
): Promise<number> {
  const full = expected.kind === 'full'
  let batch: BackupRecord[] = []
  let batchBytes = 0
  let count = flows
  const baseBytes = progress.bytes
  const reader = readBackup(file, {
    onHeader: (header) => {
      if (header.kind !== expected.kind || header.version !== expected.version || header.baseVersion !== expected.baseVersion ||
          header.storeId !== expected.storeId) {
        throw corrupt(file, 'its header changed while it was being restored')
      }
    },
    onRecords: (records, bytes) => {
      progress.bytes = baseBytes + bytes
      onProgress?.({ records: progress.records, total: undefined, bytes: progress.bytes })
    }
  })
  for await (const record of reader) {
    batch.push(record)
    batchBytes += record.bytes?.length ?? 0
    if (batch.length >= BATCH_RECORDS || batchBytes >= BATCH_BYTES) {
      count = await applyBatch(db, batch, full, count, log)
      progress.records += batch.length
      batch = []
      batchBytes = 0
    }
  }
  if (batch.length > 0) {
    count = await applyBatch(db, batch, full, count, log)
    progress.records += batch.length
  }
  const ops: Operation[] = []
  log.end(ops)
  if (ops.length > 0) await db.batch(ops)
  return count
}

/**
 * The change log of the store being built: the records of changed-only backups, one entry
 * per version. They come in version order (as backups are written); a file that does not
 * leaves the restored store without a log (`complete` false: its horizon is then its version).
 */
class RestoredLog {
  complete = true
  #before = 0
  #version = 0
  #ids: string[] = []
  #deleted: boolean[] = []

  add (version: number, id: string, deleted: boolean, ops: Operation[]): void {
    if (!this.complete) return
    if (version !== this.#version) {
      this.end(ops)
      if (version < this.#version) {
        this.complete = false
        return
      }
      this.#version = version
    }
    this.#ids.push(id)
    this.#deleted.push(deleted)
  }

  /** Writes the entry being gathered (at the end of a file, or when the version moves on). */
  end (ops: Operation[]): void {
    if (this.#ids.length === 0) return
    ops.push({ type: 'put', key: logKey(this.#version), value: encodeLogEntry(this.#before, this.#ids, this.#deleted) })
    this.#before += this.#ids.length
    this.#ids = []
    this.#deleted = []
  }
}

/**
 * Writes a batch of records: a later record for an id replaces the earlier one; a deletion
 * removes the flow. The records of changed-only backups go into the change log too. Returns
 * the flow count after it.
 */
async function applyBatch (db: ClassicLevel<string, Uint8Array>, records: readonly BackupRecord[], full: boolean, flows: number, log: RestoredLog): Promise<number> {
  // A full backup is the first file and lists each id once (the reader checks the order):
  // the store being built holds nothing about its ids yet.
  const stored = full ? new Set<string>() : await lookUp(db, records)
  const ops: Operation[] = []
  let count = flows
  for (const record of records) {
    const { id, version } = record
    if (!full) log.add(version, id, record.deleted === true, ops)
    if (record.deleted === true) {
      if (stored.delete(id)) {
        ops.push({ type: 'del', key: flowKey(id) })
        count--
      }
    } else {
      if (!stored.has(id)) count++
      const value = new Uint8Array(HEADER_BYTES + record.bytes.length)
      value[0] = RECORD_FORMAT
      writeVersion(value, 1, version)
      value.set(record.bytes, HEADER_BYTES)
      ops.push({ type: 'put', key: flowKey(id), value })
      stored.add(id)
    }
  }
  await db.batch(ops)
  return count
}

/** The ids of `records` the store being built holds a flow for. */
async function lookUp (db: ClassicLevel<string, Uint8Array>, records: readonly BackupRecord[]): Promise<Set<string>> {
  const ids = [...new Set(records.map((record) => record.id))]
  const saved = await db.getMany(ids.map(flowKey))
  const stored = new Set<string>()
  for (let i = 0; i < ids.length; i++) if (saved[i] !== undefined) stored.add(ids[i]!)
  return stored
}
