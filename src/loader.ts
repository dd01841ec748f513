// Open-time load: one sequential scan of every flow record (keys and raw bytes, nothing
// decoded), the tombstones, and the store version. The only storage reads a store makes.

import { randomUUID } from 'node:crypto'
import { CachedFlow } from './cached-flow.ts'
import type { FlowCodec } from './codec.ts'
import { FlowStoreError } from './errors.ts'
import {
  decodeVersion, encodeVersion, FLOW_PREFIX, FLOW_RANGE, FORMAT_KEY, LAYOUT_VERSION, recordVersion,
  keyString, STORE_ID_KEY, TOMBSTONE_PREFIX, TOMBSTONE_RANGE, VERSION_KEY
} from './layout.ts'
import type { Database } from './location.ts'
import { isLevelCorruption, levelCorruptionError } from './leveldb/corruption.ts'
import type { FlowShape } from './types.ts'

export interface LoadedState<F extends FlowShape> {
  readonly flows: Map<string, CachedFlow<F>>
  readonly tombstones: Map<string, number>
  readonly version: number
  /** The store's identity (see layout.ts). */
  readonly storeId: string
}

// A large read-ahead buffer: measured here, it halves a full scan against the default.
const SCAN_HIGH_WATER_MARK_BYTES = 4 * 1024 * 1024
const SCAN_BATCH = 1000

export async function loadState<F extends FlowShape> (db: Database, codec: FlowCodec): Promise<LoadedState<F>> {
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

    const flows = new Map<string, CachedFlow<F>>()
    await scan(db, FLOW_RANGE, FLOW_PREFIX.length, (id, record) => {
      // A damaged header gives version 0; reading that flow then fails with DECODE_ERROR.
      flows.set(id, new CachedFlow<F>(id, record, recordVersion(record) ?? 0, codec))
    })
    const tombstones = new Map<string, number>()
    await scan(db, TOMBSTONE_RANGE, TOMBSTONE_PREFIX.length, (id, value) => {
      tombstones.set(id, decodeVersion(value) ?? 0)
    })
    return { flows, tombstones, version, storeId }
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
