// Leftovers of killed runs, as `flowstore list <dir>` and `verify <dir>` report them: one line
// each, saying what it is and what will become of it.

import { basename } from 'node:path'
import type { Leftover } from '../index.ts'
import { formatBytes } from './output.ts'

/** Lines for people about `leftovers` (none when there are none). */
export function leftoverLines (leftovers: readonly Leftover[]): string[] {
  if (leftovers.length === 0) return []
  return [`${leftovers.length} leftover(s) of interrupted runs:`, ...leftovers.map((leftover) => `  ${basename(leftover.path)}  ${formatBytes(leftover.bytes)}, ${describe(leftover)}`)]
}

const WHAT: Readonly<Record<Leftover['kind'], string>> = {
  backup: 'a temporary backup file',
  export: 'a temporary JSON export file',
  manifest: 'a temporary manifest file',
  restore: 'a store being restored (or rebuilt by a repair)',
  old: 'a store set aside by a restore',
  lock: 'a lock directory of a check or repair of the store',
  repair: 'a copy a repair works on, of the store'
}

/** The run that removes a stale leftover of each kind. */
const NEXT: Readonly<Record<Leftover['kind'], string>> = {
  backup: 'backup',
  export: 'export',
  manifest: 'backup',
  restore: 'restore',
  old: 'restore',
  lock: 'check or repair of that store',
  repair: 'repair of that store'
}

function describe (leftover: Leftover): string {
  const what = leftover.kind === 'lock' || leftover.kind === 'repair' ? `${WHAT[leftover.kind]} ${leftover.target}` : WHAT[leftover.kind]
  if (leftover.pid === undefined) return `${what}, left by an earlier flowstore version: remove it by hand while no flowstore command runs`
  if (leftover.stale) return `${what}, left by process ${leftover.pid}, which is gone: the next ${NEXT[leftover.kind]} here removes it`
  return `${what}, ${leftover.kind === 'lock' ? 'held' : 'being written'} by process ${leftover.pid}`
}
