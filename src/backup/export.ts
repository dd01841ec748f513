// Backup export: everything a backup holds is read through ONE engine snapshot (a LevelDB
// snapshot, a REPEATABLE READ transaction…), so it is the store exactly as of one committed
// version while saves and flushes go on. A full backup reads every flow record; a changed-only
// one reads the change record after its base version, with just those flows. Flow bytes are
// copied verbatim, never decoded. The header records the store's identity (read through the
// same snapshot): a changed-only backup based on an earlier backup is refused unless that
// backup is of the same store.

import { resolve } from 'node:path'
import type { Engine, EngineSnapshot } from '../engine/types.ts'
import { FlowStoreError } from '../errors.ts'
import { HEADER_BYTES, MAX_VERSION, recordVersion } from '../layout.ts'
import { type BackupRecord, readBackupHeader, writeBackupFile } from './format.ts'
import type { BackupInfo, BackupOptions, Progress } from './types.ts'

/** The backup a changed-only backup is based on, as resolveSince() reads it. */
export interface BackupBase {
  /** The store version it holds. */
  readonly version: number
  /** Its store's identity; undefined for a file written before backups recorded it. */
  readonly storeId: string | undefined
  /** Its file, when known (for messages). */
  readonly file: string | undefined
}

export interface ExportOptions {
  /**
   * Changed-only: what changed after this version, or after this earlier backup (which must
   * be of the same store). Undefined for a full backup.
   */
  readonly since?: number | BackupBase | undefined
  readonly compressionLevel?: number | undefined
  readonly onProgress?: ((progress: Progress) => void) | undefined
}

/**
 * Resolves BackupOptions.since: a version stays a version (taken on trust); a backup file
 * (its header is read) or a BackupInfo becomes a BackupBase, whose storeId exportBackup()
 * checks against the store's.
 */
export async function resolveSince (since: BackupOptions['since']): Promise<number | BackupBase | undefined> {
  if (since === undefined) return undefined
  if (typeof since === 'number') return checkVersion(since)
  if (typeof since === 'string') {
    const header = await readBackupHeader(since)
    return { version: header.version, storeId: header.storeId, file: header.file }
  }
  if (typeof since === 'object' && since !== null && typeof since.version === 'number') {
    const { storeId, file } = since as { storeId?: unknown, file?: unknown }
    return {
      version: checkVersion(since.version),
      storeId: typeof storeId === 'string' ? storeId : undefined,
      file: typeof file === 'string' ? file : undefined
    }
  }
  throw new TypeError(`since must be a version, a backup file or a BackupInfo, got ${typeof since}`)
}

function checkVersion (since: number): number {
  if (!Number.isSafeInteger(since) || since < 0 || since > MAX_VERSION) throw new TypeError(`since must be a store version (an integer >= 0), got ${String(since)}`)
  return since
}

/** Refuses a base backup of another store (or of an unknown one): its history may differ. */
function checkBase (base: BackupBase, storeId: string | undefined): void {
  if (base.storeId !== undefined && base.storeId === storeId) return
  const which = base.file === undefined ? 'the backup given as since' : `backup ${base.file}`
  const why = base.storeId === undefined
    ? 'it records no store identity (it was written before backups recorded one), so it cannot be shown to hold this store\'s history'
    : `it is a backup of store ${base.storeId}, this is store ${storeId ?? '(no identity)'}, and their histories may differ (a store restored from a backup has an identity of its own)`
  throw new FlowStoreError('FLOWSTORE_BACKUP_CHAIN', `Cannot take a changed-only backup on ${which}: ${why}. Take a full backup instead`)
}

/** Writes a backup of the committed state of `engine`'s store to `file` (see FlowStore.backup()). */
export async function exportBackup (engine: Engine, file: string, options: ExportOptions = {}): Promise<BackupInfo> {
  if (typeof file !== 'string' || file.length === 0) throw new TypeError(`backup() needs a file path, got ${String(file)}`)
  const started = performance.now()
  const createdAt = new Date().toISOString()
  const snapshot = await engine.snapshot()
  try {
    const { version, storeId } = snapshot
    const base = typeof options.since === 'object' ? options.since : undefined
    if (base !== undefined) checkBase(base, storeId)
    const since = base === undefined ? options.since as number | undefined : base.version
    if (since !== undefined && since > version) {
      throw new FlowStoreError('FLOWSTORE_BACKUP_CHAIN', `Cannot take a changed-only backup since version ${since}: the store is at version ${version}. The base is newer than the store (was the store replaced or restored from an older backup?); take a full backup instead`)
    }
    const kind = since === undefined ? 'full' : 'changes'
    const records = since === undefined ? fullRecords(snapshot, version) : changedRecords(snapshot, version, since)
    const onProgress = options.onProgress
    const written = await writeBackupFile(file, { kind, version, baseVersion: since ?? 0, createdAt, storeId }, records, {
      compressionLevel: options.compressionLevel,
      onRecords: onProgress === undefined ? undefined : (records, bytes) => { onProgress({ records, total: undefined, bytes }) }
    })
    return {
      file: resolve(file),
      version,
      baseVersion: since ?? 0,
      kind,
      flows: written.flows,
      deletions: written.deletions,
      bytes: written.bytes,
      checksum: written.checksum,
      createdAt,
      durationMs: performance.now() - started,
      storeId
    }
  } finally {
    await snapshot.close()
  }
}

function damaged (id: string, what: string): FlowStoreError {
  return new FlowStoreError('FLOWSTORE_DECODE_ERROR', `Stored flow ${JSON.stringify(id)} cannot be backed up: ${what}. Save the flow again or delete it, then back up again`, { id })
}

/** The record of `id` as a backup record: its msgpack body, verbatim, and its version. */
function flowRecord (id: string, value: Uint8Array, storeVersion: number): BackupRecord {
  const version = recordVersion(value)
  if (version === undefined) throw damaged(id, 'its record header is damaged')
  if (version < 1 || version > storeVersion) throw damaged(id, `its record says version ${version}, the store is at version ${storeVersion}`)
  return { id, version, bytes: value.subarray(HEADER_BYTES) }
}

async function * fullRecords (snapshot: EngineSnapshot, storeVersion: number): AsyncGenerator<BackupRecord[]> {
  for await (const entries of snapshot.flows()) {
    yield entries.map(([id, record]) => flowRecord(id, record, storeVersion))
  }
}

async function * changedRecords (snapshot: EngineSnapshot, storeVersion: number, since: number): AsyncGenerator<BackupRecord[]> {
  for await (const changes of snapshot.changesSince(since)) {
    yield changes.map((change): BackupRecord => {
      if (change.deleted) return { id: change.id, version: change.version, deleted: true }
      // One snapshot: a change entry and its flow record were committed together.
      if (change.record === undefined) throw damaged(change.id, `the change record lists it at version ${change.version} but its flow record is missing`)
      return flowRecord(change.id, change.record, storeVersion)
    })
  }
}
