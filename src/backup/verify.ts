// Verification: reads a backup file to the end, checking everything a restore would check
// (gzip, header, every record, counts, checksum), and reports instead of throwing.

import { resolve } from 'node:path'
import { type BackupHeader, readBackup } from './format.ts'
import type { BackupReport } from './types.ts'

export { readBackupHeader } from './format.ts'

export interface VerifyOptions {
  /** Called now and then with the records read and the (compressed) file bytes read so far. */
  readonly onProgress?: (progress: { readonly records: number, readonly bytes: number }) => void
}

/**
 * Checks a backup file completely. Never throws for a bad file: a corrupt, truncated or
 * missing file gives `ok: false` with the problems found.
 */
export async function verifyBackup (file: string, options: VerifyOptions = {}): Promise<BackupReport> {
  const path = resolve(String(file))
  let header: BackupHeader | undefined
  let flows = 0
  let deletions = 0
  try {
    const onProgress = options.onProgress
    const reader = readBackup(path, {
      onHeader: (h) => { header = h },
      onRecords: onProgress === undefined ? undefined : (records, bytes) => { onProgress({ records, bytes }) }
    })
    for (;;) {
      const step = await reader.next()
      if (step.done === true) {
        return report(path, header, step.value.flows, step.value.deletions, step.value.checksum, [])
      }
      if (step.value.deleted === true) deletions++
      else flows++
    }
  } catch (err) {
    return report(path, header, flows, deletions, undefined, [describeProblem(err)])
  }
}

function report (file: string, header: BackupHeader | undefined, flows: number, deletions: number, checksum: string | undefined, problems: string[]): BackupReport {
  return {
    file,
    ok: problems.length === 0,
    kind: header?.kind,
    version: header?.version,
    baseVersion: header?.baseVersion,
    flows,
    deletions,
    checksum,
    storeId: header?.storeId,
    problems
  }
}

function describeProblem (err: unknown): string {
  const e = err as { code?: unknown, message?: unknown, cause?: { code?: unknown } }
  // A file-system failure is FLOWSTORE_IO_ERROR with the system's error as cause.
  const code = e.code === 'FLOWSTORE_IO_ERROR' ? e.cause?.code : e.code
  if (code === 'ENOENT') return 'the file does not exist'
  if (code === 'EISDIR') return 'it is a directory, not a backup file'
  return typeof e.message === 'string' ? e.message : String(err)
}
