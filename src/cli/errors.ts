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

/** What to print for a failure: lines for stderr, and the code for --json output. */
export interface FailureReport {
  readonly code: string | undefined
  readonly message: string
  readonly lines: readonly string[]
}

/** What the failing command was about, for messages that fit it. */
export interface FailureContext {
  /** The command that was run. */
  readonly command?: string | undefined
  /** The store it opened (absolute path), when it names one. */
  readonly store?: string | undefined
  /** One line of advice for a store locked by another process. */
  readonly whenLocked?: string | undefined
  /** The command's flag that stands for the library's `{ overwrite: true }`. */
  readonly overwriteFlag?: string | undefined
}

export function describeFailure (err: unknown, debug: boolean, context: FailureContext = {}): FailureReport {
  const code = isFlowStoreError(err) ? err.code : (err as { code?: unknown } | null)?.code
  const codeText = typeof code === 'string' ? code : undefined
  const message = cliMessage(err, context)
  const lines = [`flowstore: ${message}${codeText === undefined ? '' : ` (${codeText})`}`]
  lines.push(...adviceFor(err, message, context).map((line) => `  ${line}`))
  if (debug) {
    for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
      lines.push(depth === 0 ? (e.stack ?? String(e)) : `Caused by: ${e.stack ?? String(e)}`)
    }
  } else if (err instanceof Error && err.cause instanceof Error && !isFlowStoreError(err, 'FLOWSTORE_LOCKED') && !message.includes(err.cause.message)) {
    lines.push(`  cause: ${err.cause.message}`)
  }
  return { code: codeText, message, lines }
}

/** The error's message as the command line says it: CLI flags instead of library options. */
function cliMessage (err: unknown, context: FailureContext): string {
  let message = err instanceof Error ? err.message : String(err)
  if (isFlowStoreError(err, 'FLOWSTORE_LOCKED')) {
    // One fact on this line; what to do follows, fitted to the command. The reason an owner
    // could not be used (live-owner.ts) is part of the fact.
    const notServed = /^Database .* is locked by another process, which does not serve it \(.*\)$/.test(message)
    if (!notServed && context.store !== undefined) message = `Database ${context.store} is locked by another process`
  }
  if (context.overwriteFlag !== undefined) {
    message = message.replace(/\bpass \{ overwrite: true \}/g, `add ${context.overwriteFlag}`).replace(/\{ overwrite: true \}/g, context.overwriteFlag)
  }
  return message
}

function adviceFor (err: unknown, message: string, context: FailureContext): string[] {
  if (isFlowStoreError(err, 'FLOWSTORE_LOCKED')) {
    return [context.whenLocked ?? 'Stop the process that has it open (most likely the application that owns the store), then run the command again.']
  }
  const report = (err as { report?: { imported?: unknown, unchanged?: unknown, skippedCount?: unknown } } | null)?.report
  if (isFlowStoreError(err, 'FLOWSTORE_IMPORT_FAILED') && report !== undefined) {
    return [`Before it stopped: ${String(report.imported)} imported, ${String(report.unchanged)} unchanged, ${String(report.skippedCount)} skipped. Fix the file and run the import again (flows already stored are not written again).`]
  }
  if (isFlowStoreError(err, 'FLOWSTORE_TARGET_NOT_EMPTY') && context.overwriteFlag !== undefined && !message.includes(context.overwriteFlag)) {
    return [`Restore into an empty or new directory, or add ${context.overwriteFlag} to replace what is there.`]
  }
  if (isFlowStoreError(err, 'FLOWSTORE_BACKUP_CHAIN')) {
    return ['Pass a full backup first, then its changed-only backups in the order they were taken.']
  }
  return []
}
