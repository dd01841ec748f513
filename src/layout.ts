// How a store lies in LevelDB: key prefixes, the record header, and version encoding.
//
// Layout 2:
//   f!<id>              flow record: [FORMAT][version: 6 bytes BE][msgpack of the flow]
//   L!<version hex>     the change log: one entry per commit, listing every id the commit
//                       saved or deleted (see encodeLogEntry); "changes since V" is a range
//                       read of the entries after V. Old entries are pruned (the engine's
//                       retention): m!horizon says up to which version. It sorts before the
//                       flow records, so a table file cut short keeps the log that names them
//                       (what a repair needs to tell which flows were lost).
//   m!version           the store version: [6 bytes BE]
//   m!horizon           the pruned part of the change log: every entry at or below this
//                       version is gone, so "changes since V" is only known for V >= it
//                       [6 bytes BE]; absent: 0, nothing pruned
//   m!format            the layout version: [LAYOUT_VERSION]
//   m!id                the store's identity: a random UUID (UTF-8), made when the store is
//                       created; a restored store gets a new one (its history may fork)
//
// A commit writes its flow puts and deletes, its log entry and the store version in one
// batch: one operation per flow plus two. Deletions leave nothing but their log entry, so
// they are forgotten with it (there are no tombstones to keep forever).
//
// Layout 1 (read only to migrate it, see engine/level-migrate.ts, and by check and repair):
//   t!<id>              tombstone: [version: 6 bytes BE], the version that deleted <id>
//   c!<version hex>!<id> change record: one entry per id, at the version that last changed it
//                       (value [0] = saved, [1] = deleted)
// Ids are non-empty strings of valid Unicode, stored as UTF-8. Bytes under these prefixes that
// are not (foreign writes) are never bent into another id silently: see checkKeyBytes.

import { isUtf8 } from 'node:buffer'
import { FlowStoreError } from './errors.ts'

export const FLOW_PREFIX = 'f!'
export const FLOW_RANGE = { gte: 'f!', lt: 'f"' } as const
export const TOMBSTONE_PREFIX = 't!'
export const TOMBSTONE_RANGE = { gte: 't!', lt: 't"' } as const
export const CHANGE_PREFIX = 'c!'
export const CHANGE_END = 'c"'
export const LOG_PREFIX = 'L!'
export const LOG_RANGE = { gte: 'L!', lt: 'L"' } as const
export const VERSION_KEY = 'm!version'
export const HORIZON_KEY = 'm!horizon'
export const FORMAT_KEY = 'm!format'
export const STORE_ID_KEY = 'm!id'

export const LAYOUT_VERSION = 2
/** First byte of every flow record; anything else is not a record of this layout. */
export const RECORD_FORMAT = 0xf1
export const HEADER_BYTES = 7
const VERSION_BYTES = 6
const VERSION_HEX = 12
/** Versions are stored in 48 bits. */
export const MAX_VERSION = 2 ** 48 - 1

export const CHANGE_SAVED = Uint8Array.of(0)
export const CHANGE_DELETED = Uint8Array.of(1)

export function flowKey (id: string): string {
  return FLOW_PREFIX + id
}

export function tombstoneKey (id: string): string {
  return TOMBSTONE_PREFIX + id
}

export function changeKey (version: number, id: string): string {
  return CHANGE_PREFIX + version.toString(16).padStart(VERSION_HEX, '0') + '!' + id
}

/** The first change key after every change at or before `version`. */
export function changesAfter (version: number): string {
  return CHANGE_PREFIX + (version + 1).toString(16).padStart(VERSION_HEX, '0')
}

/** Iterator bounds (as bytes) of every change-record entry after `version`. */
export function changesAfterRange (version: number): { gte: Uint8Array, lt: Uint8Array } {
  return { gte: Buffer.from(changesAfter(version)), lt: Buffer.from(CHANGE_END) }
}

const CHANGE_ID_START = CHANGE_PREFIX.length + VERSION_HEX + 1
const CHANGE_VERSION = /^[0-9a-f]{12}$/

/**
 * Why the id in `key` from byte `start` (decoded as `id`) is not one a store writes, or
 * undefined when it is: an empty id, or bytes that are not UTF-8 (decoding replaced them with
 * U+FFFD, so the id differs from the key, and two keys can read as one id).
 */
export function checkKeyBytes (key: Uint8Array, start: number, id: string): string | undefined {
  if (id.length === 0) return 'an empty id'
  // Only a decoded U+FFFD can hide invalid bytes; valid ids rarely hold one.
  if (id.includes('\uFFFD') && !isUtf8(key.subarray(start))) return 'an id that is not valid UTF-8'
  return undefined
}

/**
 * As checkKeyBytes, from the key's bytes alone (the keys-only open makes no string per id):
 * only a key holding a non-ASCII byte is checked for valid UTF-8.
 */
export function keyBytesProblem (key: Uint8Array, start: number): string | undefined {
  if (key.length <= start) return 'an empty id'
  for (let i = start; i < key.length; i++) {
    if (key[i]! >= 0x80) return isUtf8(key.subarray(start)) ? undefined : 'an id that is not valid UTF-8'
  }
  return undefined
}

/**
 * Reads a change-record entry (key and value as bytes); the id is a fresh, flat string.
 * Throws FLOWSTORE_DECODE_ERROR for an entry a store never writes (foreign or damaged).
 */
export function parseChange (key: Uint8Array, value: Uint8Array): { id: string, version: number, deleted: boolean } {
  const hex = keyString(key, CHANGE_PREFIX.length).slice(0, VERSION_HEX)
  const id = keyString(key, CHANGE_ID_START)
  const problem = !CHANGE_VERSION.test(hex) || key[CHANGE_ID_START - 1] !== 0x21
    ? `its key is not ${CHANGE_PREFIX}<12 hex digits>!<id>`
    : checkKeyBytes(key, CHANGE_ID_START, id) ?? (value.length === 1 && value[0]! <= 1 ? undefined : 'its value is not [0] (saved) or [1] (deleted)')
  if (problem !== undefined) {
    throw new FlowStoreError('FLOWSTORE_DECODE_ERROR', `The change record holds an entry a store never writes (key ${JSON.stringify(keyString(key, 0))}, hex ${Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex')}): ${problem}. "flowstore check" lists such entries; "flowstore repair" rebuilds the change record`)
  }
  return { id, version: parseInt(hex, 16), deleted: value[0] === CHANGE_DELETED[0] }
}

export function logKey (version: number): string {
  return LOG_PREFIX + version.toString(16).padStart(VERSION_HEX, '0')
}

/** Iterator bounds (as bytes) of every change-log entry after `version`. */
export function logAfterRange (version: number): { gte: Uint8Array, lt: Uint8Array } {
  return { gte: Buffer.from(logKey(version + 1)), lt: Buffer.from(LOG_RANGE.lt) }
}

/** The version of a change-log key (as bytes), or undefined when it is not one. */
export function logKeyVersion (key: Uint8Array): number | undefined {
  if (key.length !== LOG_PREFIX.length + VERSION_HEX) return undefined
  const hex = keyString(key, LOG_PREFIX.length)
  return /^[0-9a-f]{12}$/.test(hex) ? parseInt(hex, 16) : undefined
}

/** First byte of every change-log entry. */
export const LOG_FORMAT = 0x01
const LOG_HEADER_BYTES = 1 + VERSION_BYTES + 4
const LOG_SAVED = 0
const LOG_DELETED = 1

/** One change-log entry: the changes of one commit. */
export interface LogEntry {
  /**
   * How many changes were logged before this entry since the store began (or was restored,
   * repaired or migrated): with `count`, the retained log's size is read off its first and
   * last entries.
   */
  readonly before: number
  readonly count: number
  /** The commit's ids, in commit order, and whether each was deleted (else saved). */
  readonly ids: string[]
  readonly deleted: boolean[]
}

/**
 * A change-log entry: [LOG_FORMAT][before: 6 bytes BE][count: 4 bytes BE], then for each
 * change [0 saved | 1 deleted][id length: 4 bytes BE][id, UTF-8].
 */
export function encodeLogEntry (before: number, ids: readonly string[], deleted: readonly boolean[]): Uint8Array {
  let size = LOG_HEADER_BYTES
  for (const id of ids) size += 5 + Buffer.byteLength(id)
  const bytes = Buffer.allocUnsafe(size)
  bytes[0] = LOG_FORMAT
  writeVersion(bytes, 1, before)
  bytes.writeUInt32BE(ids.length, 1 + VERSION_BYTES)
  let at = LOG_HEADER_BYTES
  for (let i = 0; i < ids.length; i++) {
    bytes[at] = deleted[i] === true ? LOG_DELETED : LOG_SAVED
    const length = bytes.write(ids[i]!, at + 5, 'utf8')
    bytes.writeUInt32BE(length, at + 1)
    at += 5 + length
  }
  return bytes
}

/** The header of a change-log entry ({ before, count }), or undefined when it is malformed. */
export function logEntryHeader (bytes: Uint8Array): { before: number, count: number } | undefined {
  if (bytes.length < LOG_HEADER_BYTES || bytes[0] !== LOG_FORMAT) return undefined
  return { before: readVersion(bytes, 1), count: readUint32(bytes, 1 + VERSION_BYTES) }
}

/** Reads a change-log entry; undefined when it is malformed. Ids are fresh, flat strings. */
export function decodeLogEntry (bytes: Uint8Array): LogEntry | undefined {
  const header = logEntryHeader(bytes)
  if (header === undefined) return undefined
  const ids: string[] = []
  const deleted: boolean[] = []
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let at = LOG_HEADER_BYTES
  for (let i = 0; i < header.count; i++) {
    if (at + 5 > buffer.length) return undefined
    const flag = buffer[at]!
    const length = readUint32(buffer, at + 1)
    const end = at + 5 + length
    if ((flag !== LOG_SAVED && flag !== LOG_DELETED) || length === 0 || end > buffer.length) return undefined
    // An id that is not valid UTF-8 would be bent into another (see checkKeyBytes).
    if (!isUtf8(buffer.subarray(at + 5, end))) return undefined
    ids.push(buffer.toString('utf8', at + 5, end))
    deleted.push(flag === LOG_DELETED)
    at = end
  }
  return at === buffer.length ? { ...header, ids, deleted } : undefined
}

function readUint32 (bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0
}

export function writeVersion (target: Uint8Array, offset: number, version: number): void {
  const high = Math.floor(version / 2 ** 32)
  const low = version >>> 0
  target[offset] = high >>> 8
  target[offset + 1] = high & 0xff
  target[offset + 2] = low >>> 24
  target[offset + 3] = (low >>> 16) & 0xff
  target[offset + 4] = (low >>> 8) & 0xff
  target[offset + 5] = low & 0xff
}

export function readVersion (source: Uint8Array, offset: number): number {
  const high = (source[offset]! << 8) | source[offset + 1]!
  const low = ((source[offset + 2]! << 24) | (source[offset + 3]! << 16) | (source[offset + 4]! << 8) | source[offset + 5]!) >>> 0
  return high * 2 ** 32 + low
}

export function encodeVersion (version: number): Uint8Array {
  const bytes = new Uint8Array(VERSION_BYTES)
  writeVersion(bytes, 0, version)
  return bytes
}

/** Reads a stored version value; undefined when it is not one. */
export function decodeVersion (bytes: Uint8Array | undefined): number | undefined {
  return bytes !== undefined && bytes.length === VERSION_BYTES ? readVersion(bytes, 0) : undefined
}

/** The version in a record's header, or undefined when the header is damaged. */
export function recordVersion (record: Uint8Array): number | undefined {
  return record.length > HEADER_BYTES && record[0] === RECORD_FORMAT ? readVersion(record, 1) : undefined
}

/** Decodes UTF-8 key bytes from `start` into a fresh, flat string (never a slice of another). */
export function keyString (bytes: Uint8Array, start: number): string {
  // classic-level hands out Buffers: decode in place, without a view object per key.
  if (Buffer.isBuffer(bytes)) return bytes.toString('utf8', start)
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, bytes.byteLength - start).toString('utf8')
}
