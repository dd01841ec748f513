// One ordered pass over every key of a store's database, sorted into the layout's parts
// (layout.ts): change-log entries, flow records, metadata, the change-record entries and
// tombstones of layout 1, and anything else.
// Used by check and repair, which must see what is really there, not what the store assumes.

import { CHANGE_PREFIX, checkKeyBytes, FLOW_PREFIX, keyString, LOG_PREFIX, TOMBSTONE_PREFIX } from '../layout.ts'
import type { Database } from '../engine/level-location.ts'

export interface ScanHandler {
  /** A well-formed change-log key (layout 2); `value` should be a log entry. */
  log (version: number, value: Uint8Array): void
  /** A well-formed change-record key (layout 1); `value` should be [0] (saved) or [1] (deleted). */
  change (id: string, version: number, value: Uint8Array): void
  flow (id: string, record: Uint8Array): void
  /** A tombstone (layout 1). */
  tombstone (id: string, value: Uint8Array): void
  meta (key: string, value: Uint8Array): void
  /** A key outside the layout (or a malformed change key, unless `foreign` is given). */
  other (key: string, value: Uint8Array): void
  /**
   * When given: a key under a flow, change-log, tombstone or change-record prefix that a
   * store never writes (an empty id, an id that is not UTF-8, a log or change key that does
   * not parse), with
   * the reason; such keys then reach no other method.
   */
  foreign? (key: Uint8Array, problem: string, value: Uint8Array): void
}

const SCAN_HIGH_WATER_MARK_BYTES = 4 * 1024 * 1024
const SCAN_BATCH = 1000
const CHANGE_KEY = /^c!([0-9a-f]{12})!(.+)$/s
const LOG_KEY = /^L!([0-9a-f]{12})$/

interface NextvIterator {
  nextv (size: number): Promise<Array<[Uint8Array, Uint8Array]>>
  close (): Promise<void>
}

export interface ScanOptions {
  readonly gte?: string
  readonly lt?: string
  /**
   * Awaited after each batch of entries was handled (to write, with backpressure; to report
   * progress: `entries` read so far, up to `lastKey`).
   */
  readonly afterBatch?: (lastKey: string, entries: number) => Promise<void>
}

/** Reads every entry of `db` (or those from `gte`, before `lt`) in key order. */
export async function scanDatabase (db: Database, handler: ScanHandler, range: ScanOptions = {}): Promise<void> {
  const iterator = db.iterator({
    ...(range.gte === undefined ? {} : { gte: Buffer.from(range.gte) }),
    ...(range.lt === undefined ? {} : { lt: Buffer.from(range.lt) }),
    keyEncoding: 'view',
    valueEncoding: 'view',
    highWaterMarkBytes: SCAN_HIGH_WATER_MARK_BYTES
  } as never) as unknown as NextvIterator
  let read = 0
  try {
    for (;;) {
      const entries = await iterator.nextv(SCAN_BATCH)
      if (entries.length === 0) break
      let key = ''
      for (const [keyBytes, value] of entries) {
        key = keyString(keyBytes, 0)
        const problem = handler.foreign === undefined ? undefined : layoutKeyProblem(keyBytes, key)
        if (problem === undefined) route(key, value, handler)
        else handler.foreign!(keyBytes, problem, value)
      }
      read += entries.length
      await range.afterBatch?.(key, read)
    }
  } finally {
    await iterator.close()
  }
}

function layoutKeyProblem (bytes: Uint8Array, key: string): string | undefined {
  for (const prefix of [FLOW_PREFIX, TOMBSTONE_PREFIX]) {
    if (key.startsWith(prefix)) return checkKeyBytes(bytes, prefix.length, key.slice(prefix.length))
  }
  if (key.startsWith(LOG_PREFIX)) return LOG_KEY.test(key) ? undefined : `a key that is not ${LOG_PREFIX}<12 hex digits>`
  if (!key.startsWith(CHANGE_PREFIX)) return undefined
  const match = CHANGE_KEY.exec(key)
  if (match === null) return `a key that is not ${CHANGE_PREFIX}<12 hex digits>!<id>`
  // The version and both '!' are ASCII: the id starts at this byte.
  return checkKeyBytes(bytes, CHANGE_PREFIX.length + 13, match[2]!)
}

function route (key: string, value: Uint8Array, handler: ScanHandler): void {
  if (key.startsWith(FLOW_PREFIX) && key.length > FLOW_PREFIX.length) {
    handler.flow(key.slice(FLOW_PREFIX.length), value)
  } else if (key.startsWith(TOMBSTONE_PREFIX) && key.length > TOMBSTONE_PREFIX.length) {
    handler.tombstone(key.slice(TOMBSTONE_PREFIX.length), value)
  } else if (key.startsWith(CHANGE_PREFIX)) {
    const match = CHANGE_KEY.exec(key)
    if (match === null) handler.other(key, value)
    else handler.change(match[2]!, parseInt(match[1]!, 16), value)
  } else if (key.startsWith(LOG_PREFIX)) {
    const match = LOG_KEY.exec(key)
    if (match === null) handler.other(key, value)
    else handler.log(parseInt(match[1]!, 16), value)
  } else if (key.startsWith('m!')) {
    handler.meta(key, value)
  } else {
    handler.other(key, value)
  }
}
