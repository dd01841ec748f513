// Holding a database's lock without opening the database. check and repair must keep every
// FlowStore out (in this process and in others) while they look at the files, but opening a
// damaged database with LevelDB is exactly what may lose data. LevelDB's lock is an fcntl
// lock on <dir>/LOCK, and fcntl locks belong to the file (the inode), not its name: so a
// small LevelDB database made next to it, whose LOCK is a hard link to <dir>/LOCK, takes and
// holds the very same lock while it is open, and LevelDB's own locking says whether another
// process has it (FLOWSTORE_LOCKED). In this process the registry guard comes first, as for
// FlowStore.open(): a second lock on the same inode from one process would not be refused,
// and closing it would release the first.
//
// The lock directory is named like a temporary (fs/temp-names.ts): `.<name>.lock-<pid>-<hex>`.
// A process killed outright (SIGKILL) leaves it behind; `flowstore list` and `verify` report
// it, and the next check or repair of the same store removes it once its process is gone (its
// lock went with the process; its LOCK is only a second name of the store's).

import { link, mkdir, open, realpath, rm, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { noop } from '../deferred.ts'
import { FlowStoreError } from '../errors.ts'
import { cleanUpOnInterrupt, removeTreeSync } from '../fs/interrupt-cleanup.ts'
import { removeStaleLeftovers } from '../fs/leftovers.ts'
import { tempPath } from '../fs/temp-names.ts'
import { DirectoryClaim, isLockError } from '../engine/level-location.ts'

export interface HeldDirectory {
  /** The directory's real path. */
  readonly directory: string
  /** Releases the lock and the in-process claim. */
  release (): Promise<void>
}

/**
 * Takes the lock of the database directory `location` (which must exist) and holds it until
 * `release()`. Throws FLOWSTORE_LOCKED when a FlowStore (here or in another process) has it.
 */
export async function holdDirectory (location: string, purpose: string): Promise<HeldDirectory> {
  const claim = new DirectoryClaim()
  const absolute = resolve(location)
  let holder: string | undefined
  // The holder directory is removed on SIGINT/SIGTERM too (fs/interrupt-cleanup.ts).
  let forget: (() => void) | undefined
  let db: ClassicLevel | undefined
  try {
    claim.add(absolute)
    const real = await realpath(absolute)
    if (real !== absolute) claim.add(real)
    if (!(await stat(real)).isDirectory()) throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', `${absolute} is not a directory`)
    const lockFile = join(real, 'LOCK')
    // LevelDB makes this file at every open; a database that lost it is held by no one.
    await (await open(lockFile, 'a', 0o600)).close()
    const name = basename(real)
    // Not a reason to fail: what cannot be removed now is reported again by list and verify.
    await removeStaleLeftovers(dirname(real), ['lock'], (leftover) => leftover.target === name).catch(noop)
    const made = tempPath(real, 'lock')
    await mkdir(made, { mode: 0o700 })
    holder = made
    forget = cleanUpOnInterrupt(() => { removeTreeSync(made) })
    await link(lockFile, join(holder, 'LOCK'))
    const opened = new ClassicLevel(holder)
    db = opened
    await opened.open()
    const held = holder
    return {
      directory: real,
      release: async () => {
        try {
          await opened.close()
        } finally {
          await rm(held, { recursive: true, force: true }).catch(noop)
          forget?.()
          claim.release()
        }
      }
    }
  } catch (err) {
    await db?.close().catch(noop)
    if (holder !== undefined) await rm(holder, { recursive: true, force: true }).catch(noop)
    forget?.()
    claim.release()
    if (err instanceof FlowStoreError) {
      if (err.code === 'FLOWSTORE_LOCKED') throw new FlowStoreError('FLOWSTORE_LOCKED', `Cannot ${purpose} ${absolute}: ${err.message}`)
      throw err
    }
    if (isLockError(err)) {
      throw new FlowStoreError('FLOWSTORE_LOCKED', `Cannot ${purpose} ${absolute}: another process has it open; stop that process first`, { cause: err })
    }
    if ((err as { code?: unknown }).code === 'ENOENT') throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', `Database ${absolute} does not exist`, { cause: err })
    throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', `Cannot ${purpose} ${absolute}: taking its lock failed (a lock file is made next to it, so its parent directory must be writable)`, { cause: err })
  }
}
