// What killed runs left in a backup directory (or beside a store): temporaries of backups,
// exports, manifests and restores (fs/temp-names.ts). The next run of the same kind removes
// those whose writer is provably gone; this lists them, for `flowstore list` and `verify`.

import { resolve } from 'node:path'
import { findLeftovers, type Leftover } from '../fs/leftovers.ts'

export type { Leftover } from '../fs/leftovers.ts'

/**
 * flowstore's temporary files and directories in `dir`: each with its kind, its writer's pid,
 * its size, and whether it is stale (its writer is gone, so the next run of the same kind
 * removes it). [] when there are none (or `dir` does not exist).
 */
export async function listLeftovers (dir: string): Promise<Leftover[]> {
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`listLeftovers() needs a directory path, got ${String(dir)}`)
  return await findLeftovers(resolve(dir))
}
