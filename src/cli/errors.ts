// How the command line reports failures: a usage error (exit 2) is told apart from a failure
// (exit 1), and a FlowStoreError is printed with its code and, for the common cases, what to
// do next. Stacks only with FLOWSTORE_DEBUG=1.

import { isFlowStoreError } from '../index.ts'

/** Exit codes: documented in `flowstore --help`. */
export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

/** A wrong command line: unknown command or option, missing or extra argument, bad value. */
export class UsageError extends Error {
  /** The command whose help applies, if any. */
  readonly command: string | undefined
  constructor (message: string, command?: string) {
    super(message)
    this.name = 'UsageError'
    this.command = command
  }
}

/** True for the TypeErrors util.parseArgs throws on an unknown option or a missing value. */
export function isParseArgsError (err: unknown): err is Error & { code: string } {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')
}

/** What to print for a failure: lines for stderr, and the code for --json output. */
export interface FailureReport {
  readonly code: string | undefined
  readonly message: string
  readonly lines: readonly string[]
}

export function describeFailure (err: unknown, debug: boolean): FailureReport {
  const message = err instanceof Error ? err.message : String(err)
  const code = isFlowStoreError(err) ? err.code : (err as { code?: unknown } | null)?.code
  const codeText = typeof code === 'string' ? code : undefined
  const lines = [`flowstore: ${message}${codeText === undefined ? '' : ` (${codeText})`}`]
  lines.push(...adviceFor(err).map((line) => `  ${line}`))
  if (debug) {
    for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
      lines.push(depth === 0 ? (e.stack ?? String(e)) : `Caused by: ${e.stack ?? String(e)}`)
    }
  } else if (err instanceof Error && err.cause instanceof Error && !isFlowStoreError(err, 'FLOWSTORE_LOCKED')) {
    lines.push(`  cause: ${err.cause.message}`)
  }
  return { code: codeText, message, lines }
}

function adviceFor (err: unknown): string[] {
  if (isFlowStoreError(err, 'FLOWSTORE_LOCKED')) {
    return [
      'Another process has this database open: most likely the application that owns the store.',
      'A store has one owner at a time, so this command cannot open it while that process runs.',
      'What to do: stop the application and run the command again, or take the backup from inside',
      'the application (store.backup(), or its scheduled backups), which never stops it.'
    ]
  }
  const report = (err as { report?: { imported?: unknown, unchanged?: unknown, skippedCount?: unknown } } | null)?.report
  if (isFlowStoreError(err, 'FLOWSTORE_IMPORT_FAILED') && report !== undefined) {
    return [`Before it stopped: ${String(report.imported)} imported, ${String(report.unchanged)} unchanged, ${String(report.skippedCount)} skipped. Those imports are kept; fix the file and run the import again (it skips what is already stored).`]
  }
  if (isFlowStoreError(err, 'FLOWSTORE_TARGET_NOT_EMPTY')) {
    return ['Restore into an empty or new directory, or add --overwrite to replace what is there.']
  }
  if (isFlowStoreError(err, 'FLOWSTORE_BACKUP_CHAIN')) {
    return ['Pass a full backup first, then its changed-only backups in the order they were taken.']
  }
  return []
}
