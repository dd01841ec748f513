// Opening a store from the command line: a <db> is a LevelDB directory or a postgres:// URL.
// FlowStore.open() creates a missing database, which is right for `import --to` but wrong for
// commands that read one: a typo in a path (or a table name) must not quietly back up (or
// report on) a new empty store.

import { readdir, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { isPostgresUrl, withoutPassword } from '../engine/postgres-url.ts'
import { FlowStore, FlowStoreError, postgres } from '../index.ts'
import { UsageError } from './errors.ts'

/** Opens the store at `location`, which must already exist. */
export async function openExisting (location: string): Promise<FlowStore> {
  if (isPostgresUrl(location)) return await FlowStore.open(postgres({ connectionString: location, create: false }))
  return await FlowStore.open(await existingDatabase(location))
}

/** How to show `location` in output: a URL without its password, a path as given. */
export function displayName (location: string): string {
  return isPostgresUrl(location) ? withoutPassword(location) : location
}

/** Refuses a PostgreSQL URL for a command that works on LevelDB's own files. */
export function levelDirectoryOnly (command: string, location: string): void {
  if (isPostgresUrl(location)) {
    throw new UsageError(`${command}: works on a LevelDB directory; a PostgreSQL store is checked and repaired by PostgreSQL itself (its WAL, amcheck, backups)`, command)
  }
}

/**
 * The absolute path of the database at `location`, or a postgres:// URL as given;
 * FLOWSTORE_OPEN_FAILED when there is no database at that path.
 */
export async function existingDatabase (location: string): Promise<string> {
  if (isPostgresUrl(location)) return location
  const directory = resolve(location)
  if (!await isFile(join(directory, 'CURRENT'))) {
    // LevelDB files without CURRENT: a damaged database, which FlowStore.open reports as
    // FLOWSTORE_CORRUPT (with the way to repair it), not a missing one.
    if (await hasLevelDbFiles(directory)) return directory
    const what = await exists(directory) ? 'is not a flowstore database (no LevelDB files in it)' : 'does not exist'
    throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', `Database ${directory} ${what}`)
  }
  return directory
}

/** Opens the store at `location`, creating it if needed. */
export async function openOrCreate (location: string): Promise<FlowStore> {
  return await FlowStore.open(isPostgresUrl(location) ? location : resolve(location))
}

export async function isDirectory (path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return false
  }
}

async function isFile (path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}

async function exists (path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

async function hasLevelDbFiles (directory: string): Promise<boolean> {
  try {
    return (await readdir(directory)).some((name) => /^MANIFEST-\d+$|\.(ldb|log|sst)$/.test(name))
  } catch {
    return false
  }
}
