// A store that is running: `backup`, `stats` and `export` work on a database another process
// has open when that process serves it (serveStore(store), advertised in <db>/OWNER.json). The
// command first opens the database itself; when another process holds it (FLOWSTORE_LOCKED),
// it asks that process's owner server instead. A database locked by a process that serves
// nothing, or an OWNER.json left behind by an owner that is gone, gives the plain "locked"
// failure, which then says how to allow live backups.

import { readFile, realpath } from 'node:fs/promises'
import { join } from 'node:path'
import { FlowStore, FlowStoreError, isFlowStoreError, type OwnerStats } from '../index.ts'
import { OWNER_FILE } from '../service/owner-file.ts'
import { displayName, existingDatabase, openExisting } from './database.ts'

/** How a command reached the store: it opened it, or it went through the live owner. */
export type Via = 'direct' | 'owner'

export type Reached<T> =
  | { readonly via: 'direct', readonly directory: string, readonly store: FlowStore }
  | { readonly via: 'owner', readonly directory: string, readonly owner: T, readonly stats: OwnerStats }

/** How to reach an owner: connect to the owner of a database directory, ask its stats. */
export interface OwnerAccess<T extends { close (): Promise<void> }> {
  connect (directory: string): Promise<T>
  stats (owner: T): Promise<OwnerStats>
}

/**
 * Opens the store at `location` (which must exist), or, when another process holds it and
 * serves it, connects to that owner. Closing the store (or the owner handle) is the caller's.
 */
export async function openOrReachOwner<T extends { close (): Promise<void> }> (location: string, access: OwnerAccess<T>): Promise<Reached<T>> {
  const directory = await existingDatabase(location)
  let locked: FlowStoreError
  try {
    const store = await openExisting(directory)
    return { via: 'direct', directory: displayName(directory), store }
  } catch (err) {
    if (!isFlowStoreError(err, 'FLOWSTORE_LOCKED')) throw err
    locked = err
  }
  const advertised = await readAdvertisedPid(directory)
  if (advertised === undefined) throw notServed(directory, locked, `it has no ${OWNER_FILE}`)
  let owner: T
  try {
    owner = await access.connect(directory)
  } catch (err) {
    // An OWNER.json left by an owner that stopped or crashed: nobody listens on its socket.
    if (isFlowStoreError(err, 'FLOWSTORE_DISCONNECTED')) {
      throw notServed(directory, locked, `its ${OWNER_FILE} is stale: ${advertised === 0 ? 'its owner' : `the owner it names (pid ${advertised})`} does not answer`)
    }
    throw err
  }
  try {
    const stats = await access.stats(owner)
    // A socket path reused by the owner of another database must not be taken for this one's.
    if (stats.directory !== undefined && !await sameDirectory(stats.directory, directory)) {
      throw notServed(directory, locked, `its ${OWNER_FILE} is stale: the socket it names is served by the owner of ${stats.directory}`)
    }
    return { via: 'owner', directory, owner, stats }
  } catch (err) {
    await owner.close().catch(() => {})
    throw err
  }
}

/** The pid named by `<directory>/OWNER.json` (0 if it names none); undefined when there is none. */
async function readAdvertisedPid (directory: string): Promise<number | undefined> {
  let text: string
  try {
    text = await readFile(join(directory, OWNER_FILE), 'utf8')
  } catch {
    return undefined
  }
  try {
    const pid = (JSON.parse(text) as { pid?: unknown } | null)?.pid
    return typeof pid === 'number' && Number.isSafeInteger(pid) && pid > 0 ? pid : 0
  } catch {
    return 0
  }
}

async function sameDirectory (a: string, b: string): Promise<boolean> {
  const [ra, rb] = await Promise.all([realpath(a).catch(() => a), realpath(b).catch(() => b)])
  return ra === rb
}

/**
 * The plain "locked" failure, saying why the owner could not be used; how to allow it
 * (serveStore(store)) is the command's advice (errors.ts), fitted to the command.
 */
function notServed (directory: string, locked: FlowStoreError, why: string): FlowStoreError {
  return new FlowStoreError('FLOWSTORE_LOCKED', `Database ${directory} is locked by another process, which does not serve it (${why})`, { cause: locked })
}

/** A line for people: where the figures or the backup came from. */
export function ownerNote (stats: OwnerStats): string {
  return `through the live owner (pid ${stats.pid}), which kept running`
}
