// File errors as the command line tells them. The library's messages name its options
// ("pass { overwrite: true }"); a command names its flags instead. A file-system error that
// reaches a command unwrapped becomes FLOWSTORE_IO_ERROR naming the user's path, never a raw
// errno message about an internal temporary name.

import { FlowStoreError, isFlowStoreError } from '../index.ts'

export interface CliFileHints {
  /** The flag that replaces an existing file or store (e.g. "--force", "--overwrite"). */
  readonly overwrite?: string
  /** The path the command was working on, for an unwrapped file-system error. */
  readonly path?: string
  /** What the command was doing, for an unwrapped file-system error ("Writing the backup"). */
  readonly doing?: string
}

/** `err` with the command's flags in its message (and raw file-system errors wrapped). */
export function forCommandLine (err: unknown, hints: CliFileHints): unknown {
  if (isFlowStoreError(err)) {
    const library = /([Pp])ass \{ overwrite: true \}/g
    if (hints.overwrite === undefined || !err.message.match(library)) return err
    const flag = hints.overwrite
    const message = err.message.replace(library, (_all, p: string) => `${p === 'P' ? 'Add' : 'add'} ${flag}`)
    return new FlowStoreError(err.code, message, { cause: err.cause, ...(err.id === undefined ? {} : { id: err.id }) })
  }
  const e = err as { code?: unknown, path?: unknown, message?: unknown } | null
  if (typeof e?.code === 'string' && /^E[A-Z0-9]+$/.test(e.code)) {
    const path = hints.path ?? (typeof e.path === 'string' ? e.path : 'a file')
    return new FlowStoreError('FLOWSTORE_IO_ERROR', `${hints.doing ?? 'Working on'} ${path} failed: ${String(e.message)}`, { cause: err })
  }
  return err
}
