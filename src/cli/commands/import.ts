// flowstore import <flows.json> --to <db>: migrates a legacy flows.json into a store. A new
// store is built aside (a hidden directory next to <db>) and moved into place only when the
// import succeeded, so a failed or interrupted import leaves no partial store behind; into an
// existing store, what was imported before a failure is kept, and the message says so.

import { randomBytes } from 'node:crypto'
import { access, constants, mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { syncDirectory } from '../../backup/format.ts'
import { FlowStore, FlowStoreError, importLegacyJson, type ImportReport, type LegacyFormat, LegacyImportError } from '../../index.ts'
import { describePlace } from '../../legacy/import-json.ts'
import { type Command, expectPositionals, stringOption } from '../command.ts'
import { displayName, existingDatabase } from '../database.ts'
import { isPostgresUrl } from '../../engine/postgres-url.ts'
import { EXIT_FAILURE, UsageError } from '../errors.ts'
import { formatCount, formatDuration } from '../output.ts'

const FORMATS = ['auto', 'object', 'array', 'jsonl']
/** Skipped records and duplicates shown in human output; --json lists what the report lists. */
const SHOWN = 20

export const importCommand: Command = {
  name: 'import',
  summary: 'import a legacy flows.json (object keyed by id, array, or JSON Lines) into a store',
  synopsis: '<flows.json> --to <db> [options]',
  description: [
    'Reads the legacy file as a stream (any size), saving its flows into the store at <db>',
    '(created if missing) in batches. A bad record (not a flow object, no usable id, a value',
    'the store cannot hold exactly) is skipped and reported; the rest are imported. An id that',
    'appears more than once keeps its last record (as JSON.parse did); the replaced records are',
    'reported. Flows already stored with the same value are not written again, so running it',
    'twice changes nothing.',
    '',
    'Exits 1 when nothing could be imported from a non-empty file, with --strict when any',
    'record was skipped, and on a syntax error in a JSON file. A new store is built aside and',
    'moved to <db> only when the import succeeds: a failed import creates nothing. Into an',
    'existing store, the flows imported before a failure are kept (the message says how many).'
  ],
  options: {
    to: { type: 'string', value: '<db>', help: 'the store directory to import into (required)' },
    format: { type: 'string', value: '<format>', help: 'auto (default), object, array or jsonl' },
    strict: { type: 'boolean', help: 'fail (exit 1) when any record is skipped; a new store is then not created' }
  },
  store: 'to',
  whenLocked: 'import writes into the store, which one process owns: stop that process and run import again, or import inside it (importLegacyJson()).',
  examples: [
    'flowstore import ./flows.json --to ./data/flows-db',
    'flowstore import ./flows.json --to ./data/flows-db --strict',
    'flowstore import ./flows.jsonl --to ./data/flows-db --json'
  ],
  async run (args, { io, progress }) {
    const [file] = expectPositionals(this, args, 1, 1, '<flows.json>')
    const to = stringOption(args, 'to')
    if (to === undefined) throw new UsageError('import: missing --to <db>: the store to import into', this.name)
    const format = stringOption(args, 'format') ?? 'auto'
    if (!FORMATS.includes(format)) throw new UsageError(`import: --format must be one of ${FORMATS.join(', ')}, got ${JSON.stringify(format)}`, this.name)
    const strict = args.values.strict === true
    // Checked before anything is created: a typo in the file name must not leave an empty
    // database behind.
    await readable(file!)
    // A PostgreSQL store is imported into in place: its commits are atomic per batch, and
    // there is no directory to build aside.
    const postgresTarget = isPostgresUrl(to)
    const target = postgresTarget ? to : resolve(to)
    const shown = displayName(target)
    const aside = !postgresTarget && await isNewStore(target) ? await startAside(target) : undefined
    try {
      let report: ImportReport | undefined
      try {
        report = await importInto(aside?.directory ?? target, file!, format as LegacyFormat | 'auto', progress, aside, (err) => {
          const kept = aside !== undefined
            ? `Nothing was kept: ${shown} was not created`
            : err.report.imported > 0 ? `The ${formatCount(err.report.imported)} flow(s) imported before it are kept in ${shown}` : `Nothing in ${shown} changed`
          return new LegacyImportError(`${err.message}. ${kept}`, err.report, err.cause)
        })
      } catch (err) {
        if (aside?.interrupted === undefined) throw err
      }
      // Interrupted (the import failed for it, or finished just as the signal came): nothing is kept.
      if (report === undefined || aside?.interrupted !== undefined) {
        const signal = aside?.interrupted ?? 'SIGINT'
        const message = `import interrupted (${signal}); ${shown} was not created`
        io.stderr.write(`flowstore: ${message}\n`)
        return { json: { ok: false, error: { code: 'INTERRUPTED', message }, db: shown, created: false }, text: [], exitCode: signal === 'SIGINT' ? 130 : 143 }
      }
      const failure = failureOf(report, strict)
      if (failure === undefined && aside !== undefined) await aside.moveTo(target)
      const created = failure === undefined && aside !== undefined
      const text = describe(report, created || aside === undefined
        ? `imported ${formatCount(report.imported)} flow(s) from ${report.file} (${report.format}) into ${shown}`
        : `read ${report.file} (${report.format}); ${shown} was not created`)
      if (failure === undefined) {
        return { json: { ok: true, ...report, db: shown, created }, text }
      }
      const kept = aside !== undefined
        ? `${shown} was not created`
        : report.imported > 0 ? `the ${formatCount(report.imported)} flow(s) imported are kept in ${shown}` : `nothing in ${shown} changed`
      const message = `${failure}; ${kept}`
      io.stderr.write(`flowstore: ${message} (FLOWSTORE_IMPORT_FAILED)\n`)
      return { json: { ok: false, error: { code: 'FLOWSTORE_IMPORT_FAILED', message }, ...report, db: shown, created }, text, exitCode: EXIT_FAILURE }
    } finally {
      await aside?.discard()
    }
  }
}

type Progress = (label: string) => { update (p: { records: number, bytes: number, totalBytes?: number }): void, done (): void }

/** Imports `file` into the store at `directory` (opened, then closed); an interruption of `aside` closes the store, which stops the import. */
async function importInto (directory: string, file: string, format: LegacyFormat | 'auto', progress: Progress, aside: Aside | undefined, failed: (err: LegacyImportError) => Error): Promise<ImportReport> {
  const store = await FlowStore.open(directory)
  const line = progress('import')
  aside?.onInterrupt(() => { store.close().catch(() => {}) })
  try {
    return await importLegacyJson(store, file, {
      format,
      onProgress: (p) => { line.update({ records: p.records, bytes: p.bytes, totalBytes: p.totalBytes }) }
    })
  } catch (err) {
    throw err instanceof LegacyImportError ? failed(err) : err
  } finally {
    line.done()
    await store.close()
  }
}

/** Why the import counts as failed (exit 1), or undefined when it succeeded. */
function failureOf (report: ImportReport, strict: boolean): string | undefined {
  if (report.total > 0 && report.imported === 0 && report.unchanged === 0) {
    return `nothing was imported from ${report.file}: all ${formatCount(report.total)} record(s) were skipped`
  }
  if (strict && report.skippedCount > 0) return `--strict: ${formatCount(report.skippedCount)} record(s) of ${report.file} were skipped`
  return undefined
}

function describe (report: ImportReport, headline: string): string[] {
  const text = [
    headline,
    `  unchanged ${formatCount(report.unchanged)}, skipped ${formatCount(report.skippedCount)}, duplicates replaced ${formatCount(report.duplicateCount)}, records ${formatCount(report.total)}, store version ${report.version}, ${formatDuration(report.durationMs)}`
  ]
  for (const skipped of report.skipped.slice(0, SHOWN)) text.push(`  skipped ${describePlace(skipped)}: ${skipped.reason}`)
  if (report.skippedCount > Math.min(report.skipped.length, SHOWN)) {
    text.push(`  … and ${formatCount(report.skippedCount - Math.min(report.skipped.length, SHOWN))} more skipped (use --json for the list)`)
  }
  for (const duplicate of report.duplicates.slice(0, SHOWN)) {
    text.push(`  duplicate id ${JSON.stringify(duplicate.id)}: ${describePlace(duplicate)} was replaced by ${duplicate.replacedBy} (the last one is kept)`)
  }
  if (report.duplicateCount > Math.min(report.duplicates.length, SHOWN)) {
    text.push(`  … and ${formatCount(report.duplicateCount - Math.min(report.duplicates.length, SHOWN))} more duplicates (use --json for the list)`)
  }
  return text
}

/** True when there is nothing at `target` (or an empty directory); false for a store; refuses anything else. */
async function isNewStore (target: string): Promise<boolean> {
  let entries: string[]
  try {
    entries = await readdir(target)
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (code === 'ENOENT') return true
    if (code === 'ENOTDIR') throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', `${target} is not a directory (a store is a directory)`, { cause: err })
    throw err
  }
  if (entries.length === 0) return true
  // Not a store and not empty: refused (FLOWSTORE_OPEN_FAILED) rather than filled with LevelDB files.
  await existingDatabase(target)
  return false
}

interface Aside {
  /** The hidden directory the new store is built in. */
  readonly directory: string
  /** The signal that interrupted the import, if one did. */
  readonly interrupted: NodeJS.Signals | undefined
  /** Calls `stop` at once if interrupted already, or when SIGINT or SIGTERM comes. */
  onInterrupt (stop: () => void): void
  /** Moves the built store to `target` (an empty directory there is replaced). */
  moveTo (target: string): Promise<void>
  /** Removes what is still aside (after a failure), and stops watching for Ctrl-C. */
  discard (): Promise<void>
}

/**
 * A hidden directory next to `target` to build the new store in; removed, with the parents
 * created for it, when the import fails or is interrupted. An interruption (SIGINT, SIGTERM)
 * closes the store (LevelDB must finish its own work in the directory before it can be
 * removed); the import then stops, and the command removes the directory and exits.
 */
async function startAside (target: string): Promise<Aside> {
  const parent = dirname(target)
  const createdParent = await mkdir(parent, { recursive: true })
  const directory = join(parent, `.${basename(target)}.import-${randomBytes(6).toString('hex')}`)
  let moved = false
  let signal: NodeJS.Signals | undefined
  let stop: (() => void) | undefined
  const interrupted = (received: NodeJS.Signals): void => {
    signal = received
    stop?.()
  }
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)
  return {
    directory,
    get interrupted () { return signal },
    onInterrupt (callback) {
      stop = callback
      if (signal !== undefined) callback()
    },
    async moveTo (to) {
      // An empty directory is in the way of the rename (on some platforms): it is replaced.
      await rmdir(to).catch((err: { code?: unknown }) => { if (err.code !== 'ENOENT') throw err })
      await rename(directory, to)
      moved = true
      await syncDirectory(parent)
    },
    async discard () {
      process.off('SIGINT', interrupted)
      process.off('SIGTERM', interrupted)
      if (moved) return
      await rm(directory, { recursive: true, force: true })
      if (createdParent !== undefined) await rm(createdParent, { recursive: true, force: true })
    }
  }
}

async function readable (file: string): Promise<void> {
  try {
    await access(file, constants.R_OK)
  } catch (cause) {
    throw new FlowStoreError('FLOWSTORE_IMPORT_FAILED', `Cannot read the legacy file ${resolve(file)}: ${(cause as Error).message}`, { cause })
  }
}
