// Open-time load of a LevelDB store: one sequential scan of every flow record (keys and raw
// bytes, nothing decoded, each handed to `onFlow`), the store version, and where the change
// log stands (its first and last entries: nothing else of it is read). The only full read a
// LevelEngine makes; it creates the layout and identity of a new store, and migrates a store
// of layout 1 (level-migrate.ts).

import { randomUUID } from 'node:crypto'
import { FlowStoreError } from '../errors.ts'
import {
  checkKeyBytes, decodeVersion, FLOW_PREFIX, FLOW_RANGE, FORMAT_KEY, HORIZON_KEY, keyBytesProblem, keyString, LAYOUT_VERSION, LOG_RANGE, logEntryHeader,
  STORE_ID_KEY, VERSION_KEY
} from '../layout.ts'
import { isLevelCorruption, levelCorruptionError } from '../leveldb/corruption.ts'
import type { LogState } from './level-log.ts'
import type { Database } from './level-location.ts'
import { migrateLayout1, removeLayout1Leftovers } from './level-migrate.ts'

// A large read-ahead buffer: measured here, it halves a full scan against the default.
const SCAN_HIGH_WATER_MARK_BYTES = 4 * 1024 * 1024
const SCAN_BATCH = 1000

export interface LoadedState {
  readonly storeId: string
  readonly version: number
  readonly log: LogState
}

/**
 * Reads the store's state and streams its flows to `onFlow`, or only their ids (as UTF-8
 * bytes, valid during the call) to `onId`. `keyProblem` (see checkKeyBytes) is set for a key
 * that no id names exactly; onId gets no such key: it goes to `onFlow` with its record.
 */
export async function loadState (
  db: Database,
  onFlow: ((id: string, record: Uint8Array, keyProblem: string | undefined) => void) | undefined,
  onId?: (key: Uint8Array, start: number) => void
): Promise<LoadedState> {
  try {
    const format = await db.get(FORMAT_KEY, { keyEncoding: 'utf8', valueEncoding: 'view' }) as Uint8Array | undefined
    if (format === undefined) {
      await db.put(FORMAT_KEY, Uint8Array.of(LAYOUT_VERSION), { keyEncoding: 'utf8', valueEncoding: 'view' })
    } else if (format.length === 1 && format[0] === 1) {
      await migrateLayout1(db)
    } else if (format.length !== 1 || format[0] !== LAYOUT_VERSION) {
      throw new FlowStoreError('FLOWSTORE_INCOMPATIBLE', `This database was written by an incompatible flowstore layout (${Array.from(format).join(',')}); this version reads layouts 1 and ${LAYOUT_VERSION}`)
    } else {
      await removeLayout1Leftovers(db)
    }
    let storeId = (await db.get(STORE_ID_KEY, { keyEncoding: 'utf8', valueEncoding: 'utf8' }) as string | undefined)
    if (storeId === undefined) {
      storeId = randomUUID()
      await db.put(STORE_ID_KEY, storeId, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    }
    const version = decodeVersion(await db.get(VERSION_KEY, { keyEncoding: 'utf8', valueEncoding: 'view' }) as Uint8Array | undefined) ?? 0
    const log = await logState(db)
    if (onId !== undefined) await scanKeys(db, FLOW_RANGE, FLOW_PREFIX.length, onId, onFlow)
    else await scan(db, FLOW_RANGE, FLOW_PREFIX.length, onFlow!)
    return { storeId, version, log }
  } catch (err) {
    if (err instanceof FlowStoreError) throw err
    // A damaged table block (LevelDB checks what it can while reading).
    if (isLevelCorruption(err)) throw levelCorruptionError((db as { location?: string }).location, err)
    throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', 'Reading the store at open failed', { cause: err })
  }
}

/** The change log's horizon and size, from m!horizon and its first and last entries. */
export async function logState (db: Database): Promise<LogState> {
  const horizon = decodeVersion(await db.get(HORIZON_KEY, { keyEncoding: 'utf8', valueEncoding: 'view' }) as Uint8Array | undefined) ?? 0
  const first = await edge(db, false)
  const last = await edge(db, true)
  if (first === undefined || last === undefined) return { horizon, logged: 0, oldest: 0 }
  return { horizon, logged: last.before + last.count, oldest: first.before }
}

async function edge (db: Database, reverse: boolean): Promise<{ before: number, count: number } | undefined> {
  const iterator = db.iterator({
    gte: Buffer.from(LOG_RANGE.gte),
    lt: Buffer.from(LOG_RANGE.lt),
    keyEncoding: 'view',
    valueEncoding: 'view',
    reverse,
    limit: 1
  } as never) as unknown as { next (): Promise<[Uint8Array, Uint8Array] | undefined>, close (): Promise<void> }
  try {
    const entry = await iterator.next()
    return entry === undefined ? undefined : logEntryHeader(entry[1])
  } finally {
    await iterator.close()
  }
}

async function scan (
  db: Database,
  range: { readonly gte: string, readonly lt: string },
  prefixLength: number,
  onEntry: (id: string, value: Uint8Array, keyProblem: string | undefined) => void
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
      for (const [key, value] of entries) {
        const id = keyString(key, prefixLength)
        onEntry(id, value, checkKeyBytes(key, prefixLength, id))
      }
    }
  } finally {
    await iterator.close()
  }
}

async function scanKeys (
  db: Database,
  range: { readonly gte: string, readonly lt: string },
  prefixLength: number,
  onKey: (key: Uint8Array, start: number) => void,
  onBadKey: ((id: string, record: Uint8Array, keyProblem: string | undefined) => void) | undefined
): Promise<void> {
  const iterator = db.keys({
    gte: Buffer.from(range.gte),
    lt: Buffer.from(range.lt),
    keyEncoding: 'view',
    highWaterMarkBytes: SCAN_HIGH_WATER_MARK_BYTES
  } as never) as unknown as { nextv (size: number): Promise<Uint8Array[]>, close (): Promise<void> }
  try {
    for (;;) {
      const keys = await iterator.nextv(SCAN_BATCH)
      if (keys.length === 0) break
      for (const key of keys) {
        // A key no id names exactly (rare: foreign writes) is read whole and handed over as
        // load() would, so that it is listed and refused rather than bent into another id.
        const problem = keyBytesProblem(key, prefixLength)
        if (problem === undefined) onKey(key, prefixLength)
        else if (onBadKey !== undefined) await badKey(db, key, prefixLength, problem, onBadKey)
      }
    }
  } finally {
    await iterator.close()
  }
}

async function badKey (db: Database, key: Uint8Array, prefixLength: number, problem: string, onFlow: (id: string, record: Uint8Array, keyProblem: string | undefined) => void): Promise<void> {
  const record = await db.get(Buffer.from(key) as never, { keyEncoding: 'view', valueEncoding: 'view' } as never) as Uint8Array | undefined
  if (record !== undefined) onFlow(keyString(key, prefixLength), record, problem)
}
