// Opening a store written by layout 1 (see layout.ts) migrates it to layout 2, once:
//
//   1. its change record (c!<version>!<id>: each id at the version that last changed it) is
//      rewritten as change-log entries (L!<version>: the ids of each version), so every
//      "changes since V" answers exactly as before, for every V: the horizon is 0;
//   2. one batch writes the last log entries, m!horizon and m!format = 2: from then on the
//      store is a layout-2 store. Log entries written by earlier batches of an interrupted
//      migration are rewritten by the next attempt (the old record is still all there);
//   3. the old change record and tombstones are cleared, range by range. A layout-2 store
//      reads neither, and the next open clears what an interrupted clear left
//      (removeLayout1Leftovers).

import {
  CHANGE_END, CHANGE_PREFIX, encodeLogEntry, encodeVersion, FORMAT_KEY, HORIZON_KEY, LAYOUT_VERSION, logKey,
  parseChange, TOMBSTONE_RANGE
} from '../layout.ts'
import { type Operation, put } from './level-batch.ts'
import type { Database } from './level-location.ts'

/** Change-record entries read per step, and log entries per batch. */
const STEP = 1000
const OLD_RANGES = [
  { gte: CHANGE_PREFIX, lt: CHANGE_END },
  TOMBSTONE_RANGE
] as const

interface NextvIterator {
  nextv (size: number): Promise<Array<[Uint8Array, Uint8Array]>>
  close (): Promise<void>
}

/** Migrates a layout-1 store in `db` to layout 2 (see above). */
export async function migrateLayout1 (db: Database): Promise<void> {
  const iterator = db.iterator({
    gte: Buffer.from(CHANGE_PREFIX),
    lt: Buffer.from(CHANGE_END),
    keyEncoding: 'view',
    valueEncoding: 'view'
  } as never) as unknown as NextvIterator
  let ops: Operation[] = []
  let logged = 0
  // The entries of one version, gathered until the next version starts (the record is
  // sorted by version, then id).
  let version = 0
  let ids: string[] = []
  let deleted: boolean[] = []
  const endVersion = (): void => {
    if (ids.length === 0) return
    ops.push(put(logKey(version), encodeLogEntry(logged, ids, deleted)))
    logged += ids.length
    ids = []
    deleted = []
  }
  try {
    for (;;) {
      const entries = await iterator.nextv(STEP)
      if (entries.length === 0) break
      for (const [key, value] of entries) {
        const change = parseChange(key, value)
        if (!Number.isSafeInteger(change.version) || change.version < 1 || change.id.length === 0) continue
        if (change.version !== version) {
          endVersion()
          version = change.version
        }
        ids.push(change.id)
        deleted.push(change.deleted)
      }
      if (ops.length >= STEP) {
        await db.batch(ops as never)
        ops = []
      }
    }
  } finally {
    await iterator.close()
  }
  endVersion()
  ops.push(put(HORIZON_KEY, encodeVersion(0)), put(FORMAT_KEY, Uint8Array.of(LAYOUT_VERSION)))
  await db.batch(ops as never)
  await removeLayout1Leftovers(db, true)
}

/**
 * Clears the layout-1 change record and tombstones from a layout-2 store: after a migration
 * (`known`), or at an open that finds some left by an interrupted one (one seek per range).
 */
export async function removeLayout1Leftovers (db: Database, known = false): Promise<void> {
  for (const range of OLD_RANGES) {
    const bounds = { gte: Buffer.from(range.gte), lt: Buffer.from(range.lt) }
    if (!known && !(await hasAny(db, bounds))) continue
    await db.clear({ ...bounds, keyEncoding: 'view' } as never)
  }
}

async function hasAny (db: Database, bounds: { gte: Uint8Array, lt: Uint8Array }): Promise<boolean> {
  const iterator = db.keys({ ...bounds, keyEncoding: 'view', limit: 1 } as never) as unknown as { next (): Promise<unknown>, close (): Promise<void> }
  try {
    return (await iterator.next()) !== undefined
  } finally {
    await iterator.close()
  }
}
