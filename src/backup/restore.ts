// Restore: builds a store from a full backup and the changed-only backups after it, aside in
// a temporary owner-only directory next to the target, then swaps it in. The chain is
// checked from the headers, the target (restore-target.ts), then every file is read to the
// end and checked (records, counts, checksum) before anything is written; the target is
// touched only once everything succeeded, so a failed or interrupted restore leaves it as it
// was, and a kill between the two renames of the swap is finished by the next open
// (fs/directory-swap.ts). Memory stays flat: records are applied in batches, and what an
// earlier backup said about an id is looked up in the store being built, never kept in
// memory.
//
// Every file of a chain must be of the same store (the same storeId in its header): a
// changed-only backup of another store may not continue this one's history. The restored
// store gets no m!id: when opened it gets an identity of its own, since its history may fork
// from the original's from here on.

import { renameSync } from 'node:fs'
import { chmod, lstat, mkdir, readdir, rm } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { noop } from '../deferred.ts'
import { FlowStoreError } from '../errors.ts'
import { syncDirectory } from '../fs/atomic-file.ts'
import { recoverDirectorySwap, type SwapPaths, swapDirectorySync, swapPaths } from '../fs/directory-swap.ts'
import { cleanUpOnInterrupt, removeTreeSync } from '../fs/interrupt-cleanup.ts'
import { errnoCode, ioError } from '../fs/io-error.ts'
import { removeStaleLeftovers } from '../fs/leftovers.ts'
import { newToken } from '../fs/temp-names.ts'
import {
  encodeLogEntry, encodeVersion, FORMAT_KEY, flowKey, HEADER_BYTES, HORIZON_KEY, LAYOUT_VERSION, LOG_RANGE, logKey,
  RECORD_FORMAT, VERSION_KEY, writeVersion
} from '../layout.ts'
import { isPostgresUrl } from '../engine/postgres-url.ts'
import { holdDirectory } from '../maintenance/lock.ts'
import { type BackupHeader, type BackupRecord, corrupt, readBackup, readBackupHeader } from './format.ts'
import { checkRestoreTarget, type RestoreTarget } from './restore-target.ts'
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
 * FlowStore has open (FLOWSTORE_LOCKED); never replaces anything but a store or an empty
 * directory (restore-target.ts).
 */
export async function restoreBackup (files: string | readonly string[], location: string, options: RestoreOptions = {}): Promise<RestoreInfo> {
  return await restoreFiles(files, location, options, [])
}

/** restoreBackup(), also given the backup directories the files were found in (never a target). */
export async function restoreFiles (files: string | readonly string[], location: string, options: RestoreOptions, directories: readonly string[]): Promise<RestoreInfo> {
  const started = performance.now()
  const list = (typeof files === 'string' ? [files] : [...files]).map((file) => {
    if (typeof file !== 'string' || file.length === 0) throw new TypeError(`restoreBackup() takes backup file paths, got ${String(file)}`)
    return resolve(file)
  })
  if (list.length === 0) throw new TypeError('restoreBackup() needs at least one backup file')
  if (typeof location !== 'string' || location.length === 0) throw new TypeError(`restoreBackup() needs a target directory, got ${String(location)}`)
  const overwrite = options.overwrite ?? false
  if (typeof overwrite !== 'boolean') throw new TypeError(`Option overwrite must be a boolean, got ${String(overwrite)}`)

  // A restore killed in the middle of its swap left the name missing: finish that first.
  if (!isPostgresUrl(location)) await recoverDirectorySwap(location)
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
  if (isPostgresUrl(location)) return await (await import('./restore-postgres.ts')).restoreIntoPostgres(list, headers, location, options, started)
  const target = await checkRestoreTarget(location, overwrite, [...list, ...directories])
  try {
    await removeStaleRestores(target.path)
    // Every file is read to the end and checked before anything is written: a damaged or
    // hostile file (a gzip bomb refused only by its checksum) costs reading time, never disk.
    const progress = { records: 0, bytes: 0, total: undefined as number | undefined }
    let total = 0
    for (let i = 0; i < list.length; i++) total += await checkFile(list[i]!, headers[i]!, progress, options.onProgress)
    progress.records = 0
    progress.bytes = 0
    progress.total = total
    const flows = await build(target, list, headers, progress, options.onProgress)
    return { location: target.shown, version: headers[headers.length - 1]!.version, flows, files: list, durationMs: performance.now() - started }
  } finally {
    await target.held?.release().catch(noop)
  }
}

/** Removes restore directories beside `target` left by killed restores (their writer is gone, their lock free). */
async function removeStaleRestores (target: string): Promise<void> {
  const name = basename(target)
  await removeStaleLeftovers(dirname(target), ['restore', 'old'], async (leftover) => {
    if (leftover.target !== name) return false
    // An old store set aside whose swap was never finished is recovered, not removed.
    if (leftover.kind === 'old' && !await exists(target)) return false
    try {
      const held = await holdDirectory(leftover.path, 'remove')
      await held.release()
      return true
    } catch {
      return false
    }
  }).catch(noop)
}

async function exists (path: string): Promise<boolean> {
  return await lstat(path).then(() => true, () => false)
}

/** Reads `file` to the end, checking everything; returns its record count. */
async function checkFile (file: string, expected: BackupHeader, progress: ProgressState, onProgress: RestoreOptions['onProgress']): Promise<number> {
  const baseBytes = progress.bytes
  const baseRecords = progress.records
  const reader = readBackup(file, {
    onHeader: (header) => { checkSameHeader(file, header, expected) },
    onRecords: (records, bytes) => {
      progress.bytes = baseBytes + bytes
      progress.records = baseRecords + records
      onProgress?.({ records: progress.records, total: undefined, bytes: progress.bytes })
    }
  })
  for (;;) {
    const step = await reader.next()
    if (step.done === true) return step.value.flows + step.value.deletions
  }
}

function checkSameHeader (file: string, header: BackupHeader, expected: BackupHeader): void {
  if (header.kind !== expected.kind || header.version !== expected.version || header.baseVersion !== expected.baseVersion ||
      header.storeId !== expected.storeId) {
    throw corrupt(file, 'its header changed while it was being restored')
  }
}

/**
 * Builds the store in a new owner-only directory beside the target, then moves it into place
 * (fs/directory-swap.ts for a store replaced); returns its flow count.
 */
async function build (target: RestoreTarget, list: readonly string[], headers: readonly BackupHeader[], progress: ProgressState, onProgress: RestoreOptions['onProgress']): Promise<number> {
  const parent = dirname(target.path)
  try {
    await mkdir(parent, { recursive: true })
  } catch (err) {
    throw ioError(err, `Creating the directory ${parent} for the restored store`, target.shown)
  }
  const paths = swapPaths(target.path, newToken())
  const temporary = paths.replacement
  const forget = cleanUpOnInterrupt(() => { removeTreeSync(temporary) })
  let db: ClassicLevel<string, Uint8Array> | undefined
  let swapped = false
  try {
    try {
      // Owner-only like a new store: LevelDB would make it 0755 with 0644 files. Made before
      // the database object, which starts opening (and creating) on the next tick.
      await mkdir(temporary, { mode: 0o700 })
      db = new ClassicLevel<string, Uint8Array>(temporary, { keyEncoding: 'utf8', valueEncoding: 'view', errorIfExists: true })
      await db.open()
      let flows = 0
      const log = new RestoredLog()
      for (let i = 0; i < list.length; i++) {
        flows = await applyFile(db, list[i]!, headers[i]!, flows, progress, onProgress, log)
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
      await ownerOnlyFiles(temporary)
      swapIn(target, paths)
      swapped = true
      await syncDirectory(parent)
      return flows
    } catch (err) {
      if (err instanceof FlowStoreError) throw err
      throw ioError(err, 'Building the restored store for', target.shown)
    }
  } finally {
    forget()
    if (!swapped) {
      await db?.close().catch(noop)
      await rm(temporary, { recursive: true, force: true }).catch(noop)
    } else if (target.state === 'store') {
      await target.held?.release().catch(noop)
      const forgetAside = cleanUpOnInterrupt(() => { removeTreeSync(paths.aside) })
      await rm(paths.aside, { recursive: true, force: true }).catch(noop)
      forgetAside()
    }
  }
}

/** Makes every file of the built store owner-only (0600). */
async function ownerOnlyFiles (directory: string): Promise<void> {
  for (const name of await readdir(directory)) await chmod(join(directory, name), 0o600)
}

/** Moves the built store into place: a rename for a missing or empty target, the two-rename swap for a store. */
function swapIn (target: RestoreTarget, paths: SwapPaths): void {
  if (target.state === 'store') {
    swapDirectorySync(target.path, paths)
    return
  }
  try {
    // rename() replaces an empty directory and refuses a non-empty one, atomically.
    renameSync(paths.replacement, target.path)
  } catch (err) {
    const code = errnoCode(err)
    if (code === 'ENOTEMPTY' || code === 'EEXIST') {
      throw new FlowStoreError('FLOWSTORE_TARGET_NOT_EMPTY', `${target.shown} was filled by someone else while the store was being restored; it was left as it is. Restore again`, { cause: err })
    }
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

interface ProgressState {
  records: number
  bytes: number
  total: number | undefined
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
    onHeader: (header) => { checkSameHeader(file, header, expected) },
    onRecords: (_records, bytes) => {
      progress.bytes = baseBytes + bytes
      onProgress?.({ records: progress.records, total: progress.total, bytes: progress.bytes })
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
