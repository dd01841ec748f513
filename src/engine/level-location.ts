// Where a store lives: a directory (opened with classic-level) or an abstract-level database
// the caller built. Also the in-process guard against a second open of one location.
//
// LevelDB's lock is a POSIX lock: when a second open of the same directory fails inside one
// process, closing that failed handle releases the lock the first handle holds, and another
// process could then open the database too. So a second open must be refused here, before
// LevelDB sees it. The guard is process-wide by nature; it lives on globalThis under a
// registered symbol so that two copies of flowstore loaded in one process share it.
//
// Before LevelDB opens a directory, its files are inspected (leveldb/leveldb-files.ts):
// LevelDB's defaults meet some damage silently, even by deleting data, so a damaged database
// is refused with FLOWSTORE_CORRUPT before LevelDB touches it. A new store directory is made
// owner-only (0700): the LevelDB files inside hold every flow.

import { mkdir, realpath } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import type { AbstractLevel } from 'abstract-level'
import { ClassicLevel } from 'classic-level'
import { FlowStoreError } from '../errors.ts'
import { corruptFilesError, isLevelCorruption, levelCorruptionError } from '../leveldb/corruption.ts'
import { inspectDatabaseFiles } from '../leveldb/leveldb-files.ts'

// Keys and values are passed as strings and Uint8Arrays with explicit encodings on every call,
// so the database's own default encodings do not matter.
export type Database = AbstractLevel<any, any, any>

export interface OpenedLocation {
  readonly db: Database
  /** The directory, when the store opened one. */
  readonly directory: string | undefined
  /** Closes what the store opened and releases the in-process guard. */
  close (): Promise<void>
  /**
   * Closes and reopens a database the store opened itself, after a failed write (see
   * level-engine.ts); a no-op for a database passed in, which the store does not own.
   */
  reopen (): Promise<void>
}

interface Registry {
  readonly directories: Set<string>
  readonly databases: WeakSet<object>
}

const REGISTRY = Symbol.for('flowstore.open-locations')

function registry (): Registry {
  const holder = globalThis as { [REGISTRY]?: Registry }
  holder[REGISTRY] ??= { directories: new Set(), databases: new WeakSet() }
  return holder[REGISTRY]
}

function lockedError (where: string): FlowStoreError {
  return new FlowStoreError('FLOWSTORE_LOCKED', `${where} is already open in this process; close the other FlowStore first (only one may own a database)`)
}

/**
 * Paths claimed in the in-process registry (by FlowStore.open, check and repair): a path
 * already claimed is refused with FLOWSTORE_LOCKED. Claim the absolute path synchronously,
 * before any await, so that two claims in one tick cannot both pass; then the real path.
 */
export class DirectoryClaim {
  readonly #paths: string[] = []

  add (path: string): void {
    const { directories } = registry()
    if (directories.has(path)) throw lockedError(`Database ${path}`)
    directories.add(path)
    this.#paths.push(path)
  }

  release (): void {
    const { directories } = registry()
    for (const path of this.#paths.splice(0)) directories.delete(path)
  }
}

export function isDatabase (value: unknown): value is Database {
  return typeof value === 'object' && value !== null &&
    typeof (value as Database).batch === 'function' && typeof (value as Database).iterator === 'function'
}

export async function openLocation (location: string | Database): Promise<OpenedLocation> {
  if (typeof location === 'string') return await openDirectory(location)
  if (isDatabase(location)) return await openDatabase(location)
  throw new TypeError(`FlowStore.open() takes a directory path or an abstract-level database, got ${typeof location}`)
}

async function openDatabase (db: Database): Promise<OpenedLocation> {
  const { databases } = registry()
  if (databases.has(db)) throw lockedError('This database')
  databases.add(db)
  try {
    if (db.status !== 'open') await db.open()
  } catch (cause) {
    databases.delete(db)
    throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', 'The database passed to FlowStore.open() failed to open', { cause })
  }
  return {
    db,
    directory: undefined,
    close: async () => { databases.delete(db) },
    reopen: async () => {}
  }
}

async function openDirectory (location: string): Promise<OpenedLocation> {
  if (location.length === 0) throw new TypeError('FlowStore.open() needs a non-empty directory path')
  const claim = new DirectoryClaim()
  const absolute = resolve(location)
  claim.add(absolute)
  let db: ClassicLevel<string, Uint8Array> | undefined
  try {
    await makeOwnerOnlyDirectory(absolute)
    const real = await realpath(absolute)
    if (real !== absolute) claim.add(real)
    const files = await inspectDatabaseFiles(real)
    if (files.problems.length > 0) throw corruptFilesError(real, files.problems)
    db = new ClassicLevel<string, Uint8Array>(real, { keyEncoding: 'utf8', valueEncoding: 'view' })
    await db.open()
    const opened = db
    return {
      db: opened,
      directory: real,
      close: async () => {
        try {
          await opened.close()
        } finally {
          claim.release()
        }
      },
      reopen: async () => {
        await opened.close()
        await opened.open()
      }
    }
  } catch (err) {
    claim.release()
    if (err instanceof FlowStoreError) throw err
    if (isLockError(err)) {
      throw new FlowStoreError('FLOWSTORE_LOCKED', `Database ${absolute} is locked by another process; stop that process or reach the store through it`, { cause: err })
    }
    if (isLevelCorruption(err)) throw levelCorruptionError(absolute, err)
    throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', `Database ${absolute} failed to open`, { cause: err })
  }
}

/** Creates `directory` (and missing parents) with the directory itself owner-only (0700). */
async function makeOwnerOnlyDirectory (directory: string): Promise<void> {
  await mkdir(dirname(directory), { recursive: true })
  try {
    await mkdir(directory, { mode: 0o700 })
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'EEXIST') throw err
  }
}

export function isLockError (err: unknown): boolean {
  for (let e = err as { code?: unknown, cause?: unknown } | undefined, depth = 0; e != null && depth < 4; e = e.cause as typeof e, depth++) {
    if (e.code === 'LEVEL_LOCKED') return true
  }
  return false
}
