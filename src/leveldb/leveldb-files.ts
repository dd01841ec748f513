// LevelDB's own files, read by flowstore itself. classic-level opens a database with
// LevelDB's defaults and offers no way to change them: `paranoid_checks` is off and reads do
// not verify block checksums. Under those defaults LevelDB meets damage silently:
//
//  - a missing CURRENT file: LevelDB starts a new, empty database and then deletes the old
//    table files as obsolete;
//  - a write-ahead log record that fails its checksum: the write (and the rest of its 32 KiB
//    block) is dropped at open, and the log is deleted once replayed;
//  - a flipped byte in a table file: most often read back as a different value or key.
//
// So before LevelDB opens a directory, flowstore reads CURRENT, the manifest it names and the
// write-ahead logs LevelDB would replay, and refuses (FLOWSTORE_CORRUPT) what LevelDB would
// silently drop: exactly the damage LevelDB reports when `paranoid_checks` is on. A log that
// merely ends inside its last write is what a crash during that write leaves (LevelDB drops
// the unfinished write, which was never acknowledged), so it is accepted and only noted.
// `flowstore check` also verifies the checksum of every block of every table file. (LevelDB
// 1.20's formats: leveldb-log.ts, leveldb-table.ts; the manifest is a log of version edits.)

import { open, readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Cursor, FormatError } from './leveldb-coding.ts'
import { type LogScan, scanLogFile } from './leveldb-log.ts'
import { FOOTER_BYTES, hasMagic, verifyTable } from './leveldb-table.ts'

export interface FileProblem {
  /** The file's name in the database directory (e.g. '000005.ldb'). */
  readonly file: string
  /** What is wrong with it, as a phrase that follows the file name. */
  readonly what: string
}

export interface FileInspection {
  /** Whether the directory holds a LevelDB database (or what is left of one). */
  readonly database: boolean
  /** Damage that LevelDB would refuse, or silently drop data for. Empty when none. */
  readonly problems: readonly FileProblem[]
  /** Findings that are not damage (e.g. a log ending inside an unfinished last write). */
  readonly notes: readonly string[]
  /** Live table files (listed by the manifest) and write-ahead logs LevelDB would replay. */
  readonly tables: number
  readonly logs: number
  /** Bytes of table blocks whose checksums were verified (0 without `checksums`). */
  readonly verifiedBytes: number
}

export interface InspectOptions {
  /**
   * Also verify the checksum of every block of every live table file (reads the whole
   * database). Without it only each table's size and footer are checked.
   * @default false
   */
  readonly checksums?: boolean
}

const MANIFEST_NAME = /^MANIFEST-(\d+)$/
const NUMBERED_NAME = /^(\d+)\.(log|ldb|sst|dbtmp)$/

// ---------------------------------------------------------------------------------------
// The manifest

export interface Manifest {
  /** Logs numbered at least this (or equal to prevLogNumber) are replayed at open. */
  readonly logNumber: number
  readonly prevLogNumber: number
  /** Live table files: number -> size in bytes. */
  readonly tables: ReadonlyMap<number, number>
  readonly problems: ReadonlyArray<{ readonly offset?: number, readonly what: string }>
}

/** Reads a manifest: the sequence of version edits that describe the live files. */
export async function readManifest (path: string): Promise<Manifest> {
  let logNumber = 0
  let prevLogNumber = 0
  const seen = new Set<number>()
  const tables = new Map<number, number>()
  const problems: Array<{ offset?: number, what: string }> = []
  const scan = await scanLogFile(path, { onRecord: (record, offset) => {
    try {
      const edit = new Cursor(record)
      const deleted: number[] = []
      const added: Array<[number, number]> = []
      while (!edit.done) {
        const tag = edit.varint()
        seen.add(tag)
        switch (tag) {
          case 1: edit.lengthPrefixed(); break // comparator
          case 2: logNumber = edit.varint(); break
          case 3: edit.varint(); break // next file number
          case 4: edit.varint(); break // last sequence
          case 5: edit.varint(); edit.lengthPrefixed(); break // compact pointer
          case 6: edit.varint(); deleted.push(edit.varint()); break
          case 7: {
            edit.varint()
            const number = edit.varint()
            const size = edit.varint()
            edit.lengthPrefixed()
            edit.lengthPrefixed()
            added.push([number, size])
            break
          }
          case 9: prevLogNumber = edit.varint(); break
          default: throw new FormatError(`unknown tag ${tag}`)
        }
      }
      for (const number of deleted) tables.delete(number)
      for (const [number, size] of added) tables.set(number, size)
    } catch (err) {
      if (!(err instanceof FormatError)) throw err
      problems.push({ offset, what: `a version edit that does not parse (${err.message})` })
    }
  } })
  // What LevelDB insists on finding (it refuses the database without them).
  for (const [tag, what] of [[3, 'next file number'], [2, 'log number'], [4, 'last sequence number']] as const) {
    if (!seen.has(tag)) problems.push({ what: `it has no ${what} entry (is it cut short?)` })
  }
  return { logNumber, prevLogNumber, tables, problems: [...scan.problems, ...problems] }
}

// ---------------------------------------------------------------------------------------
// The directory

function pad6 (n: number): string {
  return String(n).padStart(6, '0')
}

interface Listing {
  readonly names: ReadonlySet<string>
  readonly manifests: number[]
  readonly logs: number[]
  readonly tables: Map<number, string>
}

function classify (names: readonly string[]): Listing {
  const manifests: number[] = []
  const logs: number[] = []
  const tables = new Map<number, string>()
  for (const name of names) {
    const manifest = MANIFEST_NAME.exec(name)
    if (manifest !== null) {
      manifests.push(Number(manifest[1]))
      continue
    }
    const numbered = NUMBERED_NAME.exec(name)
    if (numbered === null) continue
    const number = Number(numbered[1])
    if (numbered[2] === 'log') logs.push(number)
    else if (numbered[2] === 'ldb' || (numbered[2] === 'sst' && !tables.has(number))) tables.set(number, name)
  }
  return { names: new Set(names), manifests, logs, tables }
}

/** A file that went away while being read: a concurrent owner may have deleted it. */
class Vanished extends Error {}

async function readIfThere<T> (read: () => Promise<T>): Promise<T> {
  try {
    return await read()
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') throw new Vanished()
    throw err
  }
}

/**
 * Inspects the LevelDB files of `directory` without opening it. Safe while another process
 * has the database open: a file it deletes meanwhile (a compaction, a new log) makes the
 * inspection look again, and only an absence that persists is reported.
 */
export async function inspectDatabaseFiles (directory: string, options: InspectOptions = {}): Promise<FileInspection> {
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      return await inspectOnce(directory, options, false)
    } catch (err) {
      if (!(err instanceof Vanished)) throw err
    }
  }
  return await inspectOnce(directory, options, true)
}

async function inspectOnce (directory: string, options: InspectOptions, final: boolean): Promise<FileInspection> {
  let names: string[]
  try {
    names = await readdir(directory)
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return empty(false)
    throw err
  }
  const first = classify(names)
  const problems: FileProblem[] = []
  const notes: string[] = []

  if (!first.names.has('CURRENT')) {
    // A database being created writes MANIFEST-000001 and then CURRENT: with nothing else,
    // it is a creation cut short, which LevelDB simply starts again.
    if (first.logs.length === 0 && first.tables.size === 0 && first.manifests.every((n) => n === 1)) return empty(false)
    const dataFiles = [...first.manifests.map((n) => `MANIFEST-${pad6(n)}`), ...first.logs.map((n) => `${pad6(n)}.log`), ...first.tables.values()]
    problems.push({
      file: 'CURRENT',
      what: `is missing, but the directory holds LevelDB files (${summarize(dataFiles)}): opened as it is, LevelDB would start a new empty database and delete them`
    })
    return { ...empty(true), problems }
  }

  const current = await readIfThere(async () => await readFile(join(directory, 'CURRENT'), 'latin1'))
  const named = /^(MANIFEST-\d+)\n$/.exec(current)
  if (named === null) {
    problems.push({ file: 'CURRENT', what: 'is damaged: it does not name a manifest file' })
    return { ...empty(true), problems }
  }
  const manifestName = named[1]!
  let manifest: Manifest
  try {
    manifest = await readIfThere(async () => await readManifest(join(directory, manifestName)))
  } catch (err) {
    if (!(err instanceof Vanished) || !final) throw err
    problems.push({ file: manifestName, what: 'is missing (CURRENT names it): the list of the database\'s table files is lost' })
    return { ...empty(true), problems }
  }
  for (const problem of manifest.problems) {
    problems.push({ file: manifestName, what: `is damaged: ${problem.what}${problem.offset === undefined ? '' : ` at offset ${problem.offset}`}` })
  }

  // Listed after the manifest was read: a table it lists was written before it was listed.
  const listing = classify(await readdir(directory))
  let verifiedBytes = 0
  for (const [number, size] of manifest.tables) {
    const name = listing.tables.get(number)
    let problem: string | undefined
    try {
      if (name === undefined) throw new Vanished()
      const path = join(directory, name)
      problem = await readIfThere(async () => options.checksums === true ? await verifyTableFile(path, size) : await checkTableFooter(path, size))
    } catch (err) {
      if (!(err instanceof Vanished) || !final) throw err
      problem = 'is missing (the manifest lists it)'
    }
    if (problem !== undefined) problems.push({ file: name ?? `${pad6(number)}.ldb`, what: problem })
    else if (options.checksums === true) verifiedBytes += size
  }

  const replayed = listing.logs.filter((n) => n >= manifest.logNumber || n === manifest.prevLogNumber).sort((a, b) => a - b)
  for (const number of replayed) {
    const name = `${pad6(number)}.log`
    let scan: LogScan
    try {
      scan = await readIfThere(async () => await scanLogFile(join(directory, name)))
    } catch (err) {
      // A log deleted meanwhile was replayed into a table by its owner.
      if (err instanceof Vanished) continue
      throw err
    }
    const found = scan.problems[0]
    if (found !== undefined) {
      const more = scan.problems.length > 1 ? ` (and ${scan.problems.length - 1} more)` : ''
      problems.push({ file: name, what: `is damaged: ${found.what} at offset ${found.offset}${more}; LevelDB would silently drop the committed writes there` })
    }
    if (scan.tornTail) notes.push(`${name} ends inside its last write: a write cut off by a crash, never acknowledged; LevelDB drops it`)
  }
  return { database: true, problems, notes, tables: manifest.tables.size, logs: replayed.length, verifiedBytes }
}

function empty (database: boolean): FileInspection {
  return { database, problems: [], notes: [], tables: 0, logs: 0, verifiedBytes: 0 }
}

function summarize (names: readonly string[]): string {
  return names.length <= 4 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`
}

/** Checks a table's size (against the manifest) and footer: cheap, done at every open. */
async function checkTableFooter (path: string, expectedSize: number): Promise<string | undefined> {
  const handle = await open(path, 'r')
  try {
    const { size } = await handle.stat()
    if (size !== expectedSize) return `is ${size} bytes long, but the manifest says ${expectedSize} (truncated or overwritten)`
    if (size < FOOTER_BYTES) return `is ${size} bytes long, too short for a table`
    const footer = Buffer.alloc(FOOTER_BYTES)
    await handle.read(footer, 0, FOOTER_BYTES, size - FOOTER_BYTES)
    return hasMagic(footer) ? undefined : 'is damaged: its footer has a bad magic number'
  } finally {
    await handle.close()
  }
}

async function verifyTableFile (path: string, expectedSize: number): Promise<string | undefined> {
  const { size } = await stat(path)
  if (size !== expectedSize) return `is ${size} bytes long, but the manifest says ${expectedSize} (truncated or overwritten)`
  const { problem } = verifyTable(await readFile(path))
  return problem === undefined ? undefined : `is damaged: ${problem}`
}

/** Names of LevelDB's own files (what a copy of a database must take). */
export function isLevelDbFile (name: string): boolean {
  return name === 'CURRENT' || name === 'LOCK' || name === 'LOG' || name === 'LOG.old' || MANIFEST_NAME.test(name) || NUMBERED_NAME.test(name)
}
