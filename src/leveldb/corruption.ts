// FLOWSTORE_CORRUPT: a database whose files are damaged. Raised before LevelDB opens it (from
// flowstore's own inspection of the files, see leveldb-files.ts) and for the corruption
// LevelDB itself reports (code LEVEL_CORRUPTION, at open or while reading), always with what
// is damaged and what to do: `flowstore repair`, which works on a copy.

import { FlowStoreError } from '../errors.ts'
import type { FileProblem } from './leveldb-files.ts'

/** True when `err` (or an error in its cause chain) is LevelDB reporting corruption. */
export function isLevelCorruption (err: unknown): boolean {
  for (let e = err as { code?: unknown, cause?: unknown } | undefined, depth = 0; e != null && depth < 4; e = e.cause as typeof e, depth++) {
    if (e.code === 'LEVEL_CORRUPTION') return true
  }
  return false
}

function levelMessage (err: unknown): string {
  for (let e = err as { code?: unknown, cause?: unknown, message?: unknown } | undefined, depth = 0; e != null && depth < 4; e = e.cause as typeof e, depth++) {
    if (e.code === 'LEVEL_CORRUPTION' && typeof e.message === 'string') return e.message
  }
  return String((err as { message?: unknown } | undefined)?.message ?? err)
}

function advice (directory: string | undefined): string {
  return directory === undefined
    ? 'Restore it from a backup'
    : `Run "flowstore repair ${directory}" to recover what can be recovered (it works on a copy and keeps the original), or restore a backup`
}

/** The database's files are damaged (found before LevelDB opened it: nothing was changed). */
export function corruptFilesError (directory: string, problems: readonly FileProblem[]): FlowStoreError {
  const listed = problems.slice(0, 3).map((p) => `${p.file} ${p.what}`).join('; ')
  const more = problems.length > 3 ? `; and ${problems.length - 3} more problem(s)` : ''
  return new FlowStoreError('FLOWSTORE_CORRUPT', `Database ${directory} is damaged: ${listed}${more}. It was not opened, and nothing in it was changed. ${advice(directory)}`)
}

/** LevelDB reported corruption while opening or reading the database. */
export function levelCorruptionError (directory: string | undefined, err: unknown): FlowStoreError {
  const where = directory === undefined ? 'The database' : `Database ${directory}`
  return new FlowStoreError('FLOWSTORE_CORRUPT', `${where} is damaged: LevelDB reports "${levelMessage(err)}". ${advice(directory)}`, { cause: err })
}
