// Where a store lives: a directory (opened with classic-level) or an abstract-level database
// the caller built. Also the in-process guard against a second open of one location.
//
// LevelDB's lock is a POSIX lock: when a second open of the same directory fails inside one
// process, closing that failed handle releases the lock the first handle holds, and another
// process could then open the database too. So a second open must be refused here, before
// LevelDB sees it. The guard is process-wide by nature; it lives on globalThis under a
// registered symbol so that two copies of flowstore loaded in one process share it.

import { mkdir, realpath } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { AbstractLevel } from 'abstract-level'
import { ClassicLevel } from 'classic-level'
import { FlowStoreError } from './errors.ts'

// Keys and values are passed as strings and Uint8Arrays with explicit encodings on every call,
// so the database's own default encodings do not matter.
export type Database = AbstractLevel<any, any, any>

export interface OpenedLocation {
  readonly db: Database
  /** The directory, when the store opened one. */
  readonly directory: string | undefined
  /** Closes what the store opened and releases the in-process guard. */
  close (): Promise<void>
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
    close: async () => { databases.delete(db) }
  }
}

async function openDirectory (location: string): Promise<OpenedLocation> {
  if (location.length === 0) throw new TypeError('FlowStore.open() needs a non-empty directory path')
  const { directories } = registry()
  const claimed: string[] = []
  const claim = (path: string): void => {
    if (directories.has(path)) throw lockedError(`Database ${path}`)
    directories.add(path)
    claimed.push(path)
  }
  const release = (): void => {
    for (const path of claimed) directories.delete(path)
  }
  // Claim synchronously, before any await, so two opens in one tick cannot both pass.
  const absolute = resolve(location)
  claim(absolute)
  let db: ClassicLevel<string, Uint8Array> | undefined
  try {
    await mkdir(absolute, { recursive: true })
    const real = await realpath(absolute)
    if (real !== absolute) claim(real)
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
          release()
        }
      }
    }
  } catch (err) {
    release()
    if (err instanceof FlowStoreError) throw err
    if (isLockError(err)) {
      throw new FlowStoreError('FLOWSTORE_LOCKED', `Database ${absolute} is locked by another process; stop that process or reach the store through it`, { cause: err })
    }
    throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', `Database ${absolute} failed to open`, { cause: err })
  }
}

function isLockError (err: unknown): boolean {
  for (let e = err as { code?: unknown, cause?: unknown } | undefined, depth = 0; e != null && depth < 4; e = e.cause as typeof e, depth++) {
    if (e.code === 'LEVEL_LOCKED') return true
  }
  return false
}
