// Restore into PostgreSQL: restoreBackup(files, 'postgres://…') lands here once the chain of
// headers has been checked. Every record of every file is streamed into the (empty) store
// in ONE transaction (PostgresEngine.fillEmpty): a failed or interrupted restore leaves the
// store empty, as a failed LevelDB restore leaves its directory as it was. Flows keep the
// versions they had, deletions become tombstones, the store takes the last backup's version
// and a new identity: the same store a LevelDB restore builds (changes are known from the
// full backup's version on: its horizon). Memory stays flat: records go
// to the server in batches as they are read.

import { FlowStoreError } from '../errors.ts'
import { HEADER_BYTES, RECORD_FORMAT, writeVersion } from '../layout.ts'
import { openPostgresEngine, type RestoreRow } from '../engine/postgres.ts'
import { withoutPassword } from '../engine/postgres-url.ts'
import { type BackupHeader, corrupt, readBackup } from './format.ts'
import type { RestoreInfo, RestoreOptions } from './types.ts'

const BATCH_RECORDS = 1000
const BATCH_BYTES = 8 * 1024 * 1024

/** Restores the checked chain `files` (with their `headers`) into the PostgreSQL store at `url`. */
export async function restoreIntoPostgres (
  files: readonly string[],
  headers: readonly BackupHeader[],
  url: string,
  options: RestoreOptions,
  started: number
): Promise<RestoreInfo> {
  const engine = openPostgresEngine(url)
  try {
    await engine.load(() => {})
    const last = headers[headers.length - 1]!
    const progress = { records: 0, bytes: 0 }
    const flows = await engine.fillEmpty(last.version, async (write) => {
      for (let i = 0; i < files.length; i++) await applyFile(files[i]!, headers[i]!, write, progress, options.onProgress)
    }, headers[0]!.version)
    return { location: withoutPassword(url), version: last.version, flows, files: [...files], durationMs: performance.now() - started }
  } catch (err) {
    if (err instanceof FlowStoreError) throw err
    throw new FlowStoreError('FLOWSTORE_WRITE_FAILED', `Restoring into ${engine.description} failed; nothing was restored`, { cause: err })
  } finally {
    await engine.close()
  }
}

async function applyFile (
  file: string,
  expected: BackupHeader,
  write: (rows: readonly RestoreRow[]) => Promise<void>,
  progress: { records: number, bytes: number },
  onProgress: RestoreOptions['onProgress']
): Promise<void> {
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
  let batch: RestoreRow[] = []
  let batchBytes = 0
  for await (const record of reader) {
    if (record.deleted === true) {
      batch.push({ id: record.id, version: record.version, record: undefined })
    } else {
      const bytes = new Uint8Array(HEADER_BYTES + record.bytes.length)
      bytes[0] = RECORD_FORMAT
      writeVersion(bytes, 1, record.version)
      bytes.set(record.bytes, HEADER_BYTES)
      batch.push({ id: record.id, version: record.version, record: bytes })
      batchBytes += bytes.length
    }
    if (batch.length >= BATCH_RECORDS || batchBytes >= BATCH_BYTES) {
      await write(batch)
      progress.records += batch.length
      batch = []
      batchBytes = 0
    }
  }
  if (batch.length > 0) {
    await write(batch)
    progress.records += batch.length
  }
}
