// Open-time load of a LevelDB store: one sequential scan of every flow record (keys and raw
// bytes, nothing decoded, each handed to `onFlow`), the tombstones, and the store version.
// The only full read a LevelEngine makes; it creates the layout and identity of a new store.

import { randomUUID } from 'node:crypto'
import { FlowStoreError } from '../errors.ts'
import {
  decodeVersion, FLOW_PREFIX, FLOW_RANGE, FORMAT_KEY, LAYOUT_VERSION,
  keyString, STORE_ID_KEY, TOMBSTONE_PREFIX, TOMBSTONE_RANGE, VERSION_KEY
} from '../layout.ts'
import { isLevelCorruption, levelCorruptionError } from '../leveldb/corruption.ts'
import type { EngineState } from './types.ts'
import type { Database } from './level-location.ts'

// A large read-ahead buffer: measured here, it halves a full scan against the default.
const SCAN_HIGH_WATER_MARK_BYTES = 4 * 1024 * 1024
const SCAN_BATCH = 1000

export async function loadState (db: Database, onFlow: (id: string, record: Uint8Array) => void): Promise<EngineState> {
  try {
    const format = await db.get(FORMAT_KEY, { keyEncoding: 'utf8', valueEncoding: 'view' }) as Uint8Array | undefined
    if (format === undefined) {
      await db.put(FORMAT_KEY, Uint8Array.of(LAYOUT_VERSION), { keyEncoding: 'utf8', valueEncoding: 'view' })
    } else if (format.length !== 1 || format[0] !== LAYOUT_VERSION) {
      throw new FlowStoreError('FLOWSTORE_INCOMPATIBLE', `This database was written by an incompatible flowstore layout (${Array.from(format).join(',')}); this version reads layout ${LAYOUT_VERSION}`)
    }
    let storeId = (await db.get(STORE_ID_KEY, { keyEncoding: 'utf8', valueEncoding: 'utf8' }) as string | undefined)
    if (storeId === undefined) {
      storeId = randomUUID()
      await db.put(STORE_ID_KEY, storeId, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    }
    const version = decodeVersion(await db.get(VERSION_KEY, { keyEncoding: 'utf8', valueEncoding: 'view' }) as Uint8Array | undefined) ?? 0

    await scan(db, FLOW_RANGE, FLOW_PREFIX.length, onFlow)
    const tombstones = new Map<string, number>()
    await scan(db, TOMBSTONE_RANGE, TOMBSTONE_PREFIX.length, (id, value) => {
      tombstones.set(id, decodeVersion(value) ?? 0)
    })
    return { tombstones, version, storeId }
  } catch (err) {
    if (err instanceof FlowStoreError) throw err
    // A damaged table block (LevelDB checks what it can while reading).
    if (isLevelCorruption(err)) throw levelCorruptionError((db as { location?: string }).location, err)
    throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', 'Reading the store at open failed', { cause: err })
  }
}

async function scan (
  db: Database,
  range: { readonly gte: string, readonly lt: string },
  prefixLength: number,
  onEntry: (id: string, value: Uint8Array) => void
): Promise<void> {
  const iterator = db.iterator({
    gte: Buffer.from(range.gte),
    lt: Buffer.from(range.lt),
    keyEncoding: 'view',
    valueEncoding: 'view',
    highWaterMarkBytes: SCAN_HIGH_WATER_MARK_BYTES
  } as never) as unknown as { nextv (size: number): Promise<Array<[Uint8Array, Uint8Array]>>, close (): Promise<void> }
  try {
    for (;;) {
      const entries = await iterator.nextv(SCAN_BATCH)
      if (entries.length === 0) break
      for (const [key, value] of entries) onEntry(keyString(key, prefixLength), value)
    }
  } finally {
    await iterator.close()
  }
}
