// Where a restore may put a store, decided before anything is read or written. A restore
// creates a missing directory, fills an empty one, or (with `overwrite`) replaces a flowstore
// store. It never replaces anything else: a store is recognised by its layout alone — a
// directory holding nothing but LevelDB's files (CURRENT, LOCK, LOG, MANIFEST-*, *.log,
// *.ldb, …) and flowstore's own (OWNER.json, the flowstore-owner socket directory) — so the
// check never opens a database that is not ours, and a damaged store can still be replaced.
// A project directory, a home directory or a backup directory always holds something else.
//
// Refused whatever the options (FLOWSTORE_TARGET_UNSAFE): the root directory, the home
// directory, the working directory and any directory containing one of them; a target that
// contains, or is inside, a backup file or directory the restore reads; a file, device or
// dangling link. Paths are compared after resolving symbolic links, and a store reached
// through a link is locked and replaced where it really is (the link keeps pointing at it).

import { lstat, readdir, readlink, realpath, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { FlowStoreError } from '../errors.ts'
import { errnoCode, ioError } from '../fs/io-error.ts'
import { isInside, realPathOf } from '../fs/paths.ts'
import { isLevelDbFile } from '../leveldb/leveldb-files.ts'
import { type HeldDirectory, holdDirectory } from '../maintenance/lock.ts'

// flowstore's own files in a store directory (service/owner-file.ts): the owner's
// advertisement, the temporary it is written under, and the owner socket's directory.
const OWNER_FILE = 'OWNER.json'
const OWNER_TEMP = /^OWNER\.json\.\d+\.[0-9a-f]+\.tmp$/
const SOCKET_DIR = 'flowstore-owner'

export type TargetState = 'absent' | 'empty' | 'store'

export interface RestoreTarget {
  /** The location as given, made absolute (for messages and RestoreInfo). */
  readonly shown: string
  /** Where the store goes: `shown` with symbolic links resolved. */
  readonly path: string
  readonly state: TargetState
  /** The old store's lock (state 'store'), held until it has been swapped out. */
  readonly held: HeldDirectory | undefined
}

function unsafe (message: string): FlowStoreError {
  return new FlowStoreError('FLOWSTORE_TARGET_UNSAFE', message)
}

function describeType (stats: { isFile (): boolean, isCharacterDevice (): boolean, isBlockDevice (): boolean, isFIFO (): boolean, isSocket (): boolean }): string {
  if (stats.isFile()) return 'a file'
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device'
  if (stats.isFIFO()) return 'a named pipe (FIFO)'
  if (stats.isSocket()) return 'a socket'
  return 'not a directory'
}

/** Refuses the places a restore never touches, and any overlap with what it reads. */
async function checkPlace (path: string, shown: string, reads: readonly string[]): Promise<void> {
  const places: Array<[string, string]> = [
    ['the root directory', resolve('/')],
    ['your home directory', await realPathOf(homedir())],
    ['the working directory', await realPathOf(process.cwd())]
  ]
  for (const [name, place] of places) {
    if (path === place) throw unsafe(`Cannot restore into ${shown}: it is ${name}, which a restore never replaces; restore into a new directory`)
    if (isInside(place, path)) throw unsafe(`Cannot restore into ${shown}: it contains ${name} (${place}); restore into a new directory`)
  }
  for (const read of reads) {
    const real = await realPathOf(read)
    if (isInside(real, path)) throw unsafe(`Cannot restore into ${shown}: it contains ${read}, which this restore reads; restore into another directory`)
    if (isInside(path, real)) throw unsafe(`Cannot restore into ${shown}: it is inside ${read}, which this restore reads; restore into another directory`)
  }
}

interface Layout {
  readonly empty: boolean
  /** Only LevelDB's and flowstore's files, and at least one of LevelDB's. */
  readonly store: boolean
  /** Entries that belong to neither (directories end in "/"). */
  readonly foreign: readonly string[]
}

/** What a directory holds, judged by its entries' names and types only. */
async function inspectLayout (directory: string): Promise<Layout> {
  const entries = await readdir(directory, { withFileTypes: true })
  const foreign: string[] = []
  let leveldb = false
  for (const entry of entries) {
    if (entry.isFile() && isLevelDbFile(entry.name)) {
      leveldb = true
    } else if (entry.isFile() && (entry.name === OWNER_FILE || OWNER_TEMP.test(entry.name))) {
      // flowstore's own
    } else if (entry.isDirectory() && entry.name === SOCKET_DIR && (await readdir(join(directory, entry.name))).every((name) => name === 'socket')) {
      // the owner socket's private directory
    } else {
      foreign.push(entry.isDirectory() ? `${entry.name}/` : entry.name)
    }
  }
  return { empty: entries.length === 0, store: leveldb && foreign.length === 0, foreign }
}

function listed (names: readonly string[]): string {
  const shown = names.slice(0, 3).map((name) => JSON.stringify(name)).join(', ')
  return names.length > 3 ? `${shown} and ${names.length - 3} more` : shown
}

/**
 * Checks `location` as a restore target (see the header) and, for a store to replace, takes
 * its lock (FLOWSTORE_LOCKED when a FlowStore has it open, here or in another process).
 * `reads` are the backup files and directories the restore reads.
 */
export async function checkRestoreTarget (location: string, overwrite: boolean, reads: readonly string[]): Promise<RestoreTarget> {
  const shown = resolve(location)
  let stats
  try {
    stats = await lstat(shown)
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw ioError(err, 'Checking the restore target', shown)
  }
  let path: string
  if (stats === undefined) {
    path = await realPathOf(shown)
  } else if (stats.isSymbolicLink()) {
    try {
      path = await realpath(shown)
      stats = await stat(path)
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw ioError(err, 'Checking the restore target', shown)
      const points = await readlink(shown).catch(() => '?')
      throw unsafe(`Cannot restore into ${shown}: it is a symbolic link to nothing (${points}); remove the link or restore elsewhere`)
    }
  } else {
    path = join(await realPathOf(dirname(shown)), basename(shown))
  }
  await checkPlace(path, shown, reads)
  if (stats === undefined) return { shown, path, state: 'absent', held: undefined }
  if (!stats.isDirectory()) throw unsafe(`Cannot restore into ${shown}: it is ${describeType(stats)}, not a directory`)
  let layout: Layout
  try {
    layout = await inspectLayout(path)
  } catch (err) {
    throw ioError(err, 'Checking the restore target', shown)
  }
  if (layout.empty) return { shown, path, state: 'empty', held: undefined }
  if (!layout.store) {
    throw unsafe(`Cannot restore into ${shown}: it holds files that are not a flowstore store's (${listed(layout.foreign)}); a restore replaces only a flowstore store or an empty directory. Restore into a new directory`)
  }
  if (!overwrite) {
    throw new FlowStoreError('FLOWSTORE_TARGET_NOT_EMPTY', `${shown} is not empty: it holds a store. Restore into a new or empty directory, or pass { overwrite: true } to replace that store`)
  }
  // FLOWSTORE_LOCKED ("Cannot restore into …") when a FlowStore has it open.
  return { shown, path, state: 'store', held: await holdDirectory(path, 'restore into') }
}
