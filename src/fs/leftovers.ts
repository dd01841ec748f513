// Leftovers of killed runs in a directory: flowstore's temporaries (temp-names.ts) found
// there, with their size and whether their writer is provably gone. Removing them is the
// job of the next run of the same kind (a backup removes stale backup temporaries, a restore
// stale restore directories, a check or repair stale lock directories); `flowstore list` and
// `verify` report them.

import { lstat, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { parseTempName, type TempKind, writerIsGone } from './temp-names.ts'

/** A temporary file or directory left in a directory. */
export interface Leftover {
  /** Its path (absolute when the directory was). */
  readonly path: string
  /** What it was for: 'backup', 'export', 'manifest', 'restore', 'old', 'lock' or 'repair'. */
  readonly kind: TempKind
  /** The name of the file or directory it was to become (or was set aside from). */
  readonly target: string
  /** The process that wrote it; undefined for a name written by an earlier version. */
  readonly pid: number | undefined
  /**
   * True when that process is gone, so this can only be a leftover of a killed run: the next
   * run of the same kind removes it. False while its writer may still be running (or when
   * the name carries no pid).
   */
  readonly stale: boolean
  /** Its size in bytes (a directory: the files directly in it). */
  readonly bytes: number
}

/** flowstore's temporaries in `directory` ([] when it does not exist). */
export async function findLeftovers (directory: string, kinds?: readonly TempKind[]): Promise<Leftover[]> {
  let names: string[]
  try {
    names = await readdir(directory)
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return []
    throw err
  }
  const found: Leftover[] = []
  for (const name of names.sort()) {
    const temp = parseTempName(name)
    if (temp === undefined || (kinds !== undefined && !kinds.includes(temp.kind))) continue
    const path = join(directory, name)
    const bytes = await sizeOf(path)
    if (bytes === undefined) continue
    found.push({ path, kind: temp.kind, target: temp.target, pid: temp.pid, stale: writerIsGone(temp), bytes })
  }
  return found
}

async function sizeOf (path: string): Promise<number | undefined> {
  try {
    const stats = await lstat(path)
    if (!stats.isDirectory()) return stats.size
    let bytes = 0
    for (const entry of await readdir(path, { withFileTypes: true })) {
      if (entry.isFile()) bytes += (await lstat(join(path, entry.name)).catch(() => ({ size: 0 }))).size
    }
    return bytes
  } catch {
    // Gone meanwhile: its writer finished or removed it.
    return undefined
  }
}

/**
 * Removes the stale leftovers of `kinds` in `directory` (those `accept` agrees to, when
 * given); returns what was removed. Failures to remove are ignored: they are reported again
 * next time.
 */
export async function removeStaleLeftovers (
  directory: string,
  kinds: readonly TempKind[],
  accept?: (leftover: Leftover) => boolean | Promise<boolean>
): Promise<Leftover[]> {
  const removed: Leftover[] = []
  for (const leftover of await findLeftovers(directory, kinds)) {
    if (!leftover.stale || (accept !== undefined && !await accept(leftover))) continue
    try {
      await rm(leftover.path, { recursive: true, force: true })
      removed.push(leftover)
    } catch {
      // Reported again by the next list or verify.
    }
  }
  return removed
}
