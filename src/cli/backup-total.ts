// How many records a backup the command line is about to take will hold, for the progress
// line's total and ETA. The command opened the store itself and writes nothing to it, so
// the store's cache is exactly what the backup's snapshot holds: a full backup has one record
// per flow, a changed-only one a record per id changed after its base (the change record).

import { type FlowStore, listBackups, readBackupHeader } from '../index.ts'

export interface BackupPlan {
  /** Into a backup directory (changed-only against the newest backup there, if it is this store's). */
  readonly toDirectory: boolean
  readonly destination: string
  /** A file target's base: a version or an earlier backup file. */
  readonly since: number | string | undefined
  readonly full: boolean
}

/** The records the backup will hold, or undefined when that cannot be told beforehand. */
export async function expectedRecords (store: FlowStore, plan: BackupPlan): Promise<number | undefined> {
  try {
    const base = await baseVersion(store, plan)
    if (base === undefined) return store.size
    if (base > store.version) return undefined // refused by the backup itself
    return (await store.changesSince(base)).changes.length
  } catch {
    return undefined // the backup itself reports what is wrong
  }
}

/** The version a changed-only backup will start from; undefined for a full backup. */
async function baseVersion (store: FlowStore, plan: BackupPlan): Promise<number | undefined> {
  if (plan.full) return undefined
  if (!plan.toDirectory) {
    if (plan.since === undefined) return undefined
    return typeof plan.since === 'number' ? plan.since : (await readBackupHeader(plan.since)).version
  }
  // backupToDirectory takes a changed-only backup against the newest backup listed when it
  // is this store's (and falls back to a full one when that chain is broken: the total is
  // then too small, and the progress line drops it once the count passes it).
  const newest = (await listBackups(plan.destination).catch(() => [])).at(-1)
  return newest !== undefined && newest.storeId === store.storeId && newest.version <= store.version ? newest.version : undefined
}
