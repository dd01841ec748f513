// The names of flowstore's temporary files and directories, and how to tell that one was
// left behind by a process that is gone. Everything is written under a hidden name beside its
// target: `.<target name>.<kind>-<pid>-<12 hex digits>`, e.g. `.full.fsbk.backup-4711-9f…`.
// The pid says who writes it: once that process is gone, the temporary can only be a leftover
// of a killed run (SIGKILL, a crash, a power loss), and the next run of the same kind
// removes it. Names written by earlier versions carry no pid: they are reported, never
// removed, since nothing proves that their writer is gone.

import { randomBytes } from 'node:crypto'
import { basename, dirname, join } from 'node:path'

/**
 * What a temporary is for: a backup file, a JSON export, a backup directory's manifest, a
 * store being restored (or rebuilt by a repair), a store set aside while a restore swaps the
 * new one in, the lock directory check and repair hold a store's lock through, or the copy a
 * repair works on.
 */
export type TempKind = 'backup' | 'export' | 'manifest' | 'restore' | 'old' | 'lock' | 'repair'

const KINDS: readonly string[] = ['backup', 'export', 'manifest', 'restore', 'old', 'lock', 'repair']
const CURRENT_NAME = /^\.(.+)\.(backup|export|manifest|restore|old|lock|repair)-(\d{1,10})-([0-9a-f]{12})$/s
// Earlier versions: `<name>.tmp-<hex>` (backups, manifests), `.<name>.<hex>.tmp` (exports),
// `.<name>.restore-<hex>` and `.<name>.old-<hex>` (restores), `.<name>.lock-<6 characters>`
// (check, repair), `.<name>.repair-<hex>` and `.<name>.repaired-<hex>` (repairs).
const EARLIER_NAMES: ReadonlyArray<readonly [RegExp, TempKind]> = [
  [/^(.+)\.tmp-([0-9a-f]{12})$/s, 'backup'],
  [/^\.(.+)\.([0-9a-f]{12})\.tmp$/s, 'export'],
  [/^\.(.+)\.restore-([0-9a-f]{12})$/s, 'restore'],
  [/^\.(.+)\.old-([0-9a-f]{12})$/s, 'old'],
  [/^\.(.+)\.lock-([0-9A-Za-z]{6})$/s, 'lock'],
  [/^\.(.+)\.repair(?:ed)?-([0-9a-f]{12})$/s, 'repair']
]

export interface TempName {
  /** The name of the target it stands for (the final file or directory name). */
  readonly target: string
  readonly kind: TempKind
  /** The writing process; undefined for a name written by an earlier version. */
  readonly pid: number | undefined
  /** `<pid>-<hex>` (or `<hex>`): the same for a restore's new store and the old one set aside. */
  readonly token: string
}

/** A fresh token: this process's pid and 48 random bits. */
export function newToken (): string {
  return `${process.pid}-${randomBytes(6).toString('hex')}`
}

/** The temporary path for `target` of `kind`, beside it. */
export function tempPath (target: string, kind: TempKind, token = newToken()): string {
  return join(dirname(target), `.${basename(target)}.${kind}-${token}`)
}

/** Parses a directory entry's name; undefined when it is not one of flowstore's temporaries. */
export function parseTempName (name: string): TempName | undefined {
  const current = CURRENT_NAME.exec(name)
  if (current !== null) {
    const kind = current[2]!
    if (!KINDS.includes(kind)) return undefined
    return { target: current[1]!, kind: kind as TempKind, pid: Number(current[3]), token: `${current[3]}-${current[4]}` }
  }
  for (const [pattern, kind] of EARLIER_NAMES) {
    const earlier = pattern.exec(name)
    if (earlier !== null) return { target: earlier[1]!, kind, pid: undefined, token: earlier[2]! }
  }
  return undefined
}

/** True when process `pid` exists (as far as this process can see: same host and pid namespace). */
export function isProcessAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as { code?: unknown }).code === 'EPERM'
  }
}

/**
 * True when the temporary's writer is provably gone: it names a pid, not this process's,
 * and no such process exists.
 */
export function writerIsGone (temp: TempName): boolean {
  return temp.pid !== undefined && temp.pid !== process.pid && !isProcessAlive(temp.pid)
}
