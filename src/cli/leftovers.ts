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

function describe (leftover: Leftover): string {
  const what = leftover.kind === 'restore'
    ? 'a store being restored'
    : leftover.kind === 'old'
      ? 'a store set aside by a restore'
      : `a temporary ${leftover.kind === 'export' ? 'JSON export' : leftover.kind === 'manifest' ? 'manifest' : 'backup'} file`
  if (leftover.pid === undefined) return `${what}, left by an earlier flowstore version: remove it by hand while no flowstore command runs`
  const next = leftover.kind === 'old' || leftover.kind === 'restore' ? 'restore' : leftover.kind === 'manifest' ? 'backup' : leftover.kind
  if (leftover.stale) return `${what}, left by process ${leftover.pid}, which is gone: the next ${next} here removes it`
  return `${what}, being written by process ${leftover.pid}`
}
