// File-system failures as FlowStoreErrors (FLOWSTORE_IO_ERROR). The system's error names the
// path of the call that failed, which is often a temporary name the user never chose
// (`.full.fsbk.backup-4711-…`); the message here names the user's path and says what was
// being done, and the system's error is kept as the cause.

import { FlowStoreError } from '../errors.ts'

/** The errno-style code of a file-system error (ENOSPC, EACCES, …), if it has one. */
export function errnoCode (err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

const REASONS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the device (the disk is full)',
  EDQUOT: 'the disk quota is exceeded',
  EACCES: 'permission denied',
  EPERM: 'the operation is not permitted',
  ENOENT: 'no such file or directory',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  EROFS: 'the file system is read-only',
  EEXIST: 'it already exists',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EIO: 'an input/output error of the device',
  EFBIG: 'the file is too large for the file system',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many symbolic links',
  EXDEV: 'it is on another file system',
  EBUSY: 'it is busy',
  EPIPE: 'the reader closed it (broken pipe)'
}

/** Why `err` happened, in words (LevelDB's I/O errors carry the system's text). */
export function describeIoFailure (err: unknown): string {
  const code = errnoCode(err)
  if (code !== undefined && REASONS[code] !== undefined) return REASONS[code]!
  const message = err instanceof Error ? err.message : String(err)
  if (/no space left on device/i.test(message)) return REASONS.ENOSPC!
  if (/permission denied/i.test(message)) return REASONS.EACCES!
  if (/read-only file system/i.test(message)) return REASONS.EROFS!
  return message
}

/**
 * The FlowStoreError for a failed file operation: `${doing} ${path} failed: ${why}`. A
 * FlowStoreError passes through unchanged (it already says what went wrong).
 */
export function ioError (err: unknown, doing: string, path: string): FlowStoreError {
  if (err instanceof FlowStoreError) return err
  return new FlowStoreError('FLOWSTORE_IO_ERROR', `${doing} ${path} failed: ${describeIoFailure(err)}`, { cause: err })
}

/** True for an error of the file system (an errno code), as opposed to a flowstore or a program error. */
export function isSystemError (err: unknown): boolean {
  const code = errnoCode(err)
  return code !== undefined && /^E[A-Z0-9]+$/.test(code)
}
