// Replacing a directory (a store) by a complete new one built beside it, so that no crash
// can leave the name empty. The swap is two renames: the old directory to
// `.<name>.old-<token>`, then the new one from `.<name>.restore-<token>` to `<name>`, with one
// token for both. They run synchronously, back to back, so no signal handler of this process
// runs between them; a SIGKILL or a power loss can still fall between the two. Then the name
// is missing, and whoever opens it next (FlowStore.open, a restore) finishes the swap:
// the new directory is complete (it is renamed only after it was built, closed and synced),
// so it is moved into place; the old one is then removed. Without the new one, the old one is
// moved back. Never is an empty store created where one of them sits aside.
//
// A restore removes the old directory once the swap is done: it sets it aside under a hidden
// temporary name, `.<name>.old-<token>`. A repair keeps it (the original, as it was before the
// repair): it sets it aside under its final, visible name, `<name>.before-repair-<time>-<token>`,
// so no third rename is needed. A kept original is never moved back: without the new
// directory beside it, it is what a finished repair left (the new store may have been removed
// since), not an interrupted swap.

import { renameSync } from 'node:fs'
import { lstat, readdir, readlink, realpath, rename, rm } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { FlowStoreError } from '../errors.ts'
import { syncDirectory } from './atomic-file.ts'
import { errnoCode } from './io-error.ts'
import { isProcessAlive, parseTempName, tempPath } from './temp-names.ts'

export interface SwapPaths {
  /** Where the new directory is built: `.<name>.restore-<token>`. */
  readonly replacement: string
  /**
   * Where the old directory is set aside during the swap: `.<name>.old-<token>` (removed by
   * the caller), or for a kept one `<name>.before-repair-<time>-<token>`.
   */
  readonly aside: string
}

// `<name>.before-repair-<yyyymmddThhmmssmmmZ>-<pid>-<12 hex digits>`
const KEPT_ASIDE = /^(.+)\.before-repair-\d{8}T\d{9}Z-(\d{1,10})-([0-9a-f]{12})$/s

/** The paths of a swap of `target` (beside it, one token for both). */
export function swapPaths (target: string, token: string): SwapPaths {
  return { replacement: tempPath(target, 'restore', token), aside: tempPath(target, 'old', token) }
}

/**
 * The paths of a swap of `target` that keeps the old directory (a repair's original), set
 * aside as `<target>.before-repair-<at>-<token>`.
 */
export function keptSwapPaths (target: string, token: string, at: Date): SwapPaths {
  const time = at.toISOString().replace(/[-:.]/g, '')
  return { replacement: tempPath(target, 'restore', token), aside: `${resolve(target)}.before-repair-${time}-${token}` }
}

/**
 * Puts `paths.replacement` in place of the directory `target`, which is moved to
 * `paths.aside` (the caller removes it). Synchronous on purpose (see the header). If the
 * second rename fails, the old directory is put back and the error thrown.
 */
export function swapDirectorySync (target: string, paths: SwapPaths): void {
  renameSync(target, paths.aside)
  try {
    renameSync(paths.replacement, target)
  } catch (err) {
    renameSync(paths.aside, target)
    throw err
  }
}

async function exists (path: string): Promise<boolean> {
  try {
    await lstat(path)
    return true
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false
    throw err
  }
}

/** `path` with symbolic links followed as far as they lead (to a missing name, possibly). */
async function finalPath (path: string): Promise<string> {
  let current = resolve(path)
  for (let hops = 0; hops < 40; hops++) {
    const parent = await realpath(dirname(current)).catch(() => dirname(current))
    current = join(parent, basename(current))
    let stats
    try {
      stats = await lstat(current)
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return current
      throw err
    }
    if (!stats.isSymbolicLink()) return current
    current = resolve(parent, await readlink(current))
  }
  return current
}

/**
 * Finishes (or undoes) a swap of the directory `target` that was interrupted between its two
 * renames: does nothing when `target` exists or no old directory of it is set aside. Throws
 * FLOWSTORE_LOCKED when the process that set it aside is still running (it is swapping now).
 * Returns what it did.
 */
export async function recoverDirectorySwap (target: string): Promise<'none' | 'finished' | 'rolled back'> {
  const path = await finalPath(target)
  if (await exists(path)) return 'none'
  const parent = dirname(path)
  const name = basename(path)
  let names: string[]
  try {
    names = await readdir(parent)
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return 'none'
    throw err
  }
  const candidates: Array<{ aside: string, replacement: string, pid: number | undefined, kept: boolean }> = []
  for (const entry of names) {
    const temp = parseTempName(entry)
    if (temp?.kind === 'old' && temp.target === name) {
      candidates.push({ aside: join(parent, entry), replacement: join(parent, `.${name}.restore-${temp.token}`), pid: temp.pid, kept: false })
      continue
    }
    const kept = KEPT_ASIDE.exec(entry)
    if (kept === null || kept[1] !== name) continue
    const replacement = join(parent, `.${name}.restore-${kept[2]!}-${kept[3]!}`)
    // Without its new directory, a kept original is what a finished repair left (see above).
    if (await exists(replacement)) candidates.push({ aside: join(parent, entry), replacement, pid: Number(kept[2]), kept: true })
  }
  if (candidates.length === 0) return 'none'
  // One interrupted swap at most can have left the name missing; prefer one that can be
  // finished (its new directory is there).
  for (const candidate of candidates) {
    if (candidate.pid !== undefined && candidate.pid !== process.pid && isProcessAlive(candidate.pid)) {
      throw new FlowStoreError('FLOWSTORE_LOCKED', `${path} is being replaced by a ${candidate.kept ? 'repair' : 'restore'} (process ${candidate.pid}); try again once it has finished`)
    }
  }
  let chosen = candidates[0]!
  for (const candidate of candidates) {
    if (await exists(candidate.replacement)) {
      chosen = candidate
      break
    }
  }
  let outcome: 'finished' | 'rolled back'
  if (await exists(chosen.replacement)) {
    await rename(chosen.replacement, path)
    outcome = 'finished'
  } else {
    await rename(chosen.aside, path)
    outcome = 'rolled back'
  }
  await syncDirectory(parent)
  if (outcome === 'finished' && !chosen.kept) await rm(chosen.aside, { recursive: true, force: true })
  return outcome
}
