// checkStore: a complete, read-only check of a store's database. It takes the database's
// lock (FLOWSTORE_LOCKED while a FlowStore has it open, here or in another process), checks
// LevelDB's files first (CURRENT, the manifest, the write-ahead logs, and the checksum of
// every block of every table file), and only when they are sound opens the database and
// reads every entry: every flow must decode, and the change log must agree with the flows
// and the store version (the invariants layout.ts describes):
//
//   - every change-log entry L!<version> parses, lies above the horizon m!horizon and at or
//     below the store version m!version, and continues the count of the entry before it;
//   - the latest change the log holds for an id says what is stored: saved at the version
//     in the flow's header, or deleted (then there is no flow);
//   - a flow the log holds no change for is at or below the horizon (its change was pruned);
//   - every key under the flow and change-log prefixes (and layout 1's tombstone and
//     change-record prefixes) names an id exactly (a non-empty id of valid UTF-8) and every
//     log or change key parses.
//
// A store of layout 1 (not opened by this version yet) is checked against layout 1's
// invariants: each flow's header version and each tombstone t!<id> has exactly one
// change-record entry c!<version>!<id>; no entry without its flow or tombstone.

import { stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { FlowCodec } from '../codec.ts'
import { noop } from '../deferred.ts'
import { FlowStoreError, isFlowStoreError } from '../errors.ts'
import {
  decodeLogEntry, decodeVersion, FLOW_PREFIX, FORMAT_KEY, HORIZON_KEY, keyString, LAYOUT_VERSION, LOG_PREFIX, type LogEntry, MAX_VERSION, recordVersion,
  STORE_ID_KEY, TOMBSTONE_PREFIX, VERSION_KEY
} from '../layout.ts'
import { isLevelCorruption } from '../leveldb/corruption.ts'
import { inspectDatabaseFiles } from '../leveldb/leveldb-files.ts'
import { holdDirectory } from './lock.ts'
import { scanDatabase } from './scan.ts'

/** What a problem concerns. */
export type CheckProblemKind =
  /** A LevelDB file is damaged (the values were then not read). */
  | 'file'
  /** A flow's stored value does not decode (FLOWSTORE_DECODE_ERROR when read). */
  | 'undecodable'
  /** A flow, change-log entry (or layout 1's tombstone or change-record entry) disagrees with the others. */
  | 'change-record'
  /** A version is missing, malformed or above the store version. */
  | 'version'
  /** The store's metadata (m!format, m!version) is damaged. */
  | 'metadata'

export interface CheckProblem {
  readonly kind: CheckProblemKind
  /** The flow id it is about, when there is one. */
  readonly id?: string
  /** The LevelDB file it is about, for 'file' problems. */
  readonly file?: string
  readonly message: string
}

export interface CheckReport {
  /** The database directory (real path). */
  readonly directory: string
  readonly ok: boolean
  /** Problems found (the first `maxProblems`; `problemCount` counts them all). */
  readonly problems: readonly CheckProblem[]
  readonly problemCount: number
  /** Findings that are not problems. */
  readonly notes: readonly string[]
  /** Whether every entry was read (false when damaged files kept the check from opening it). */
  readonly valuesChecked: boolean
  readonly flows: number
  readonly tombstones: number
  readonly changes: number
  /** The store version (m!version), or undefined when there is none. */
  readonly version: number | undefined
  readonly files: { readonly tables: number, readonly logs: number, readonly verifiedBytes: number }
  readonly durationMs: number
}

/** How far a check (or a repair) has come: the step it is in, and how far into it. */
export interface MaintenanceProgress {
  /**
   * `'checksums'` (every block of every table file) and `'values'` (every entry read) for a
   * check; a repair adds `'copy'`, `'analyse'` and `'rebuild'`, and checks its copies too.
   */
  readonly step: 'checksums' | 'values' | 'copy' | 'analyse' | 'rebuild'
  /** Done so far in this step: table files for 'checksums' and files for 'copy'; entries for 'values' and 'analyse'; flows for 'rebuild'. */
  readonly done: number
  /** How many in all, when known. */
  readonly total: number | undefined
  /** Bytes done so far (file bytes; for 'values' and 'analyse', LevelDB's estimate of the table bytes read). */
  readonly bytes: number
  /** Bytes in all, when known. */
  readonly totalBytes: number | undefined
}

export interface CheckOptions {
  /**
   * How many problems to list (all are counted).
   * @default 1000
   */
  readonly maxProblems?: number
  /** Called as the check goes (at most every 1,000 entries, and after each table file). */
  readonly onProgress?: (progress: MaintenanceProgress) => void
}

interface Entry {
  version: number
  deleted: boolean
}

/**
 * Checks the store at `location` completely; never changes it. Resolves with a report (ok or
 * the problems found, by id); throws FLOWSTORE_LOCKED when the store is open elsewhere and
 * FLOWSTORE_OPEN_FAILED when there is no database there.
 */
export async function checkStore (location: string, options: CheckOptions = {}): Promise<CheckReport> {
  if (typeof location !== 'string' || location.length === 0) throw new TypeError(`checkStore() needs a database directory, got ${String(location)}`)
  const absolute = resolve(location)
  await requireDatabase(absolute)
  const held = await holdDirectory(absolute, 'check')
  try {
    return await checkHeldDirectory(held.directory, options)
  } finally {
    await held.release()
  }
}

/** checkStore() for a directory whose lock the caller holds (repair). */
export async function checkHeldDirectory (directory: string, options: CheckOptions = {}): Promise<CheckReport> {
  const started = performance.now()
  const maxProblems = options.maxProblems ?? 1000
  const problems: CheckProblem[] = []
  let problemCount = 0
  const add = (problem: CheckProblem): void => {
    problemCount++
    if (problems.length < maxProblems) problems.push(problem)
  }
  let counts = { flows: 0, tombstones: 0, changes: 0 }
  let version: number | undefined
  let valuesChecked = false
  const notes: string[] = []
  const onProgress = options.onProgress
  const inspection = await inspectDatabaseFiles(directory, {
    checksums: true,
    onTable: onProgress === undefined ? undefined : (p) => { onProgress({ step: 'checksums', done: p.files, total: p.totalFiles, bytes: p.bytes, totalBytes: p.totalBytes }) }
  })
  const files = { tables: inspection.tables, logs: inspection.logs, verifiedBytes: inspection.verifiedBytes }
  notes.push(...inspection.notes)
  for (const problem of inspection.problems) add({ kind: 'file', file: problem.file, message: `${problem.file} ${problem.what}` })
  if (inspection.problems.length === 0) {
    const result = await checkEntries(directory, add, notes, onProgress)
    valuesChecked = result.complete
    version = result.version
    counts = result.counts
  } else {
    notes.push('The values were not read: opening a database with damaged files can lose data. "flowstore repair" recovers what can be recovered, on a copy.')
  }
  return {
    directory,
    ok: problemCount === 0,
    problems,
    problemCount,
    notes,
    valuesChecked,
    ...counts,
    version,
    files,
    durationMs: performance.now() - started
  }
}

/**
 * An afterBatch hook for scanDatabase that reports entries read so far, with LevelDB's
 * estimate of the table bytes up to the last key read against all of them (for an ETA).
 * Call it when the scan starts.
 */
export function entriesProgress (db: ClassicLevel<string, Uint8Array>, step: 'values' | 'analyse', onProgress: (progress: MaintenanceProgress) => void): (lastKey: string, entries: number) => Promise<void> {
  let totalBytes: number | undefined
  // Reported at once (nothing read yet), so that the step's rate and ETA count from its start.
  onProgress({ step, done: 0, total: undefined, bytes: 0, totalBytes: undefined })
  return async (lastKey, entries) => {
    // Every key of the layout is ASCII, between these two.
    totalBytes ??= await db.approximateSize('\u0000', '\uffff')
    const bytes = Math.min(totalBytes, await db.approximateSize('\u0000', lastKey))
    onProgress({ step, done: entries, total: undefined, bytes, totalBytes: totalBytes > 0 ? totalBytes : undefined })
  }
}

/** Throws FLOWSTORE_OPEN_FAILED unless `directory` holds a database (or what is left of one). */
export async function requireDatabase (directory: string): Promise<void> {
  let isDirectory
  try {
    isDirectory = (await stat(directory)).isDirectory()
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', `Database ${directory} does not exist`, { cause: err })
    throw err
  }
  if (!isDirectory) throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', `${directory} is not a directory (a database is a directory)`)
  if (!(await inspectDatabaseFiles(directory)).database) {
    throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', `${directory} is not a flowstore database (it holds no LevelDB files)`)
  }
}

interface EntriesResult {
  readonly complete: boolean
  readonly version: number | undefined
  readonly counts: { flows: number, tombstones: number, changes: number }
}

async function checkEntries (directory: string, add: (problem: CheckProblem) => void, notes: string[], onProgress: CheckOptions['onProgress']): Promise<EntriesResult> {
  const codec = new FlowCodec({ maxFlowBytes: Number.MAX_SAFE_INTEGER, maxIdBytes: Number.MAX_SAFE_INTEGER })
  const changes = new Map<string, Entry[]>()
  // A flow's header version, or undefined when its header is damaged (it is undecodable).
  const flows = new Map<string, number | undefined>()
  const tombstones = new Map<string, number | undefined>()
  const log: Array<{ version: number, entry: LogEntry | undefined }> = []
  const meta = new Map<string, Uint8Array>()
  let others = 0
  let complete = true
  // Opening takes LevelDB's lock too: this process already holds it, through the holder.
  const db = new ClassicLevel<string, Uint8Array>(directory, { createIfMissing: false, keyEncoding: 'utf8', valueEncoding: 'view' })
  try {
    await db.open()
    await scanDatabase(db, {
      log (version, value) {
        log.push({ version, entry: decodeLogEntry(value) })
      },
      change (id, version, value) {
        const deleted = value.length === 1 && value[0] === 1
        if (!(value.length === 1 && (value[0] === 0 || value[0] === 1))) {
          add({ kind: 'change-record', id, message: `change-record entry of ${JSON.stringify(id)} at version ${version} has a malformed value` })
        }
        const list = changes.get(id)
        if (list === undefined) changes.set(id, [{ version, deleted }])
        else list.push({ version, deleted })
      },
      flow (id, record) {
        flows.set(id, recordVersion(record))
        try {
          codec.decode(id, record)
        } catch (err) {
          if (!isFlowStoreError(err, 'FLOWSTORE_DECODE_ERROR')) throw err
          add({ kind: 'undecodable', id, message: err.message })
        }
      },
      tombstone (id, value) {
        tombstones.set(id, decodeVersion(value))
      },
      meta (key, value) {
        meta.set(key, value.slice())
      },
      other () {
        others++
      },
      foreign (key, problem) {
        const text = keyString(key, 0)
        const flow = text.startsWith(FLOW_PREFIX)
        const tombstone = text.startsWith(TOMBSTONE_PREFIX)
        add({
          kind: flow ? 'undecodable' : 'change-record',
          ...(flow || tombstone ? { id: text.slice(2) } : {}),
          message: `${flow ? 'flow record' : tombstone ? 'tombstone' : text.startsWith(LOG_PREFIX) ? 'change-log entry' : 'change-record entry'} under key ${JSON.stringify(text)} (hex ${Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex')}) has ${problem}: a store never writes such a key${flow ? ', and reading it fails' : ''}`
        })
      }
    }, { afterBatch: onProgress === undefined ? undefined : entriesProgress(db, 'values', onProgress) })
  } catch (err) {
    if (isFlowStoreError(err)) throw err
    complete = false
    add({
      kind: 'file',
      message: isLevelCorruption(err)
        ? `LevelDB reports damage while reading: ${(err as Error).message}`
        : `Reading the database failed: ${(err as Error).message}`
    })
  } finally {
    await db.close().catch(noop)
  }
  if (others > 0) notes.push(`${others} key(s) outside the flowstore layout (not read by a store)`)

  const version = decodeVersion(meta.get(VERSION_KEY))
  const format = meta.get(FORMAT_KEY)
  const layout1 = format !== undefined && format.length === 1 && format[0] === 1
  if (format === undefined) notes.push('no layout version (m!format) yet: the next open writes it')
  else if (layout1) notes.push(`layout 1: the next open migrates the store to layout ${LAYOUT_VERSION}`)
  else if (format.length !== 1 || format[0] !== LAYOUT_VERSION) add({ kind: 'metadata', message: `the layout version (m!format) is ${Array.from(format).join(',')}, not ${LAYOUT_VERSION}` })
  if (meta.get(STORE_ID_KEY) === undefined) notes.push('no store id (m!id) yet: the next open makes one')
  if (meta.has(VERSION_KEY) && version === undefined) add({ kind: 'metadata', message: 'the store version (m!version) is malformed' })
  const storeVersion = version ?? 0
  if (version === undefined && (flows.size > 0 || tombstones.size > 0 || changes.size > 0 || log.length > 0)) {
    add({ kind: 'version', message: 'the store version (m!version) is missing, yet the store holds flows or changes' })
  }
  const checkVersion = (id: string, what: string, v: number | undefined): void => {
    if (v === undefined || v < 1 || v > MAX_VERSION) add({ kind: 'version', id, message: `${what} ${JSON.stringify(id)} has no valid version` })
    else if (v > storeVersion) add({ kind: 'version', id, message: `${what} ${JSON.stringify(id)} is at version ${v}, above the store version ${storeVersion}` })
  }
  if (layout1) return { complete, version, counts: checkLayout1(flows, tombstones, changes, storeVersion, checkVersion, add) }
  if (tombstones.size > 0 || changes.size > 0) {
    notes.push(`${tombstones.size + [...changes.values()].reduce((sum, list) => sum + list.length, 0)} tombstone(s) and change-record entries of layout 1 left by an interrupted migration: the next open clears them`)
  }

  const horizonBytes = meta.get(HORIZON_KEY)
  const horizon = decodeVersion(horizonBytes) ?? 0
  if (horizonBytes !== undefined && decodeVersion(horizonBytes) === undefined) add({ kind: 'metadata', message: 'the change-log horizon (m!horizon) is malformed' })
  else if (horizon > storeVersion) add({ kind: 'metadata', message: `the change-log horizon (m!horizon) is ${horizon}, above the store version ${storeVersion}` })
  // The latest change the log holds for each id, in log (version) order.
  const latest = new Map<string, Entry>()
  let changeCount = 0
  let expectedBefore: number | undefined
  for (const { version: at, entry } of log) {
    if (entry === undefined) {
      add({ kind: 'change-record', message: `the change-log entry at version ${at} is malformed` })
      expectedBefore = undefined
      continue
    }
    if (at <= horizon || at > storeVersion) add({ kind: 'version', message: `the change-log entry at version ${at} lies outside ${horizon + 1}..${storeVersion} (the horizon and the store version)` })
    if (expectedBefore !== undefined && entry.before !== expectedBefore) {
      add({ kind: 'change-record', message: `the change-log entry at version ${at} counts ${entry.before} changes before it; the entry before it ends at ${expectedBefore}` })
    }
    expectedBefore = entry.before + entry.count
    changeCount += entry.count
    entry.ids.forEach((id, i) => { latest.set(id, { version: at, deleted: entry.deleted[i]! }) })
  }
  let deletions = 0
  for (const [id, header] of flows) {
    if (header === undefined) continue
    checkVersion(id, 'flow', header)
    const change = latest.get(id)
    if (change === undefined) {
      if (header > horizon) add({ kind: 'change-record', id, message: `flow ${JSON.stringify(id)} (version ${header}) has no change-log entry, and its version is above the horizon ${horizon}` })
    } else if (change.deleted) {
      add({ kind: 'change-record', id, message: `flow ${JSON.stringify(id)} is stored (version ${header}), but the change log says it was deleted at version ${change.version}` })
    } else if (change.version !== header) {
      add({ kind: 'change-record', id, message: `flow ${JSON.stringify(id)} is at version ${header}, but the change log says it was last saved at version ${change.version}` })
    }
  }
  for (const [id, change] of latest) {
    if (change.deleted) deletions++
    else if (!flows.has(id)) add({ kind: 'change-record', id, message: `the change log says ${JSON.stringify(id)} was saved at version ${change.version}, but there is no flow record` })
  }
  return { complete, version, counts: { flows: flows.size, tombstones: deletions, changes: changeCount } }
}

/** The invariants of a layout-1 store (see the header). */
function checkLayout1 (
  flows: ReadonlyMap<string, number | undefined>,
  tombstones: ReadonlyMap<string, number | undefined>,
  changes: ReadonlyMap<string, Entry[]>,
  storeVersion: number,
  checkVersion: (id: string, what: string, v: number | undefined) => void,
  add: (problem: CheckProblem) => void
): EntriesResult['counts'] {
  const matches = (id: string, wanted: Entry): void => {
    const entries = changes.get(id) ?? []
    const what = wanted.deleted ? 'tombstone' : 'flow'
    if (entries.length === 0) {
      add({ kind: 'change-record', id, message: `${what} ${JSON.stringify(id)} (version ${wanted.version}) has no change-record entry` })
    } else if (entries.length > 1) {
      add({ kind: 'change-record', id, message: `${what} ${JSON.stringify(id)} has ${entries.length} change-record entries (versions ${entries.map((e) => e.version).join(', ')}); it should have one` })
    } else if (entries[0]!.version !== wanted.version || entries[0]!.deleted !== wanted.deleted) {
      const entry = entries[0]!
      add({ kind: 'change-record', id, message: `${what} ${JSON.stringify(id)} is at version ${wanted.version}, but its change-record entry says ${entry.deleted ? 'deleted' : 'saved'} at version ${entry.version}` })
    }
  }
  for (const [id, v] of flows) {
    if (v !== undefined) {
      checkVersion(id, 'flow', v)
      matches(id, { version: v, deleted: false })
    }
    if (tombstones.has(id)) add({ kind: 'change-record', id, message: `${JSON.stringify(id)} has both a flow and a tombstone` })
  }
  for (const [id, v] of tombstones) {
    checkVersion(id, 'tombstone', v)
    if (v !== undefined) matches(id, { version: v, deleted: true })
  }
  let changeCount = 0
  for (const [id, entries] of changes) {
    changeCount += entries.length
    if (!flows.has(id) && !tombstones.has(id)) {
      add({ kind: 'change-record', id, message: `change-record entry of ${JSON.stringify(id)} (version ${entries.map((e) => e.version).join(', ')}) has neither a flow nor a tombstone` })
    }
    for (const entry of entries) {
      if (entry.version < 1 || entry.version > storeVersion) add({ kind: 'version', id, message: `change-record entry of ${JSON.stringify(id)} is at version ${entry.version}, outside 1..${storeVersion}` })
    }
  }
  return { flows: flows.size, tombstones: tombstones.size, changes: changeCount }
}
