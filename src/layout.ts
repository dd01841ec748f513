// How a store lies in LevelDB: key prefixes, the record header, and version encoding.
//
//   f!<id>              flow record: [FORMAT][version: 6 bytes BE][msgpack of the flow]
//   t!<id>              tombstone: [version: 6 bytes BE], the version that deleted <id>
//   c!<version hex>!<id> change record: one entry per id, at the version that last changed it
//                       (value [0] = saved, [1] = deleted); "changes since V" is a range read
//   m!version           the store version: [6 bytes BE]
//   m!format            the layout version: [LAYOUT_VERSION]
//   m!id                the store's identity: a random UUID (UTF-8), made when the store is
//                       created; a restored store gets a new one (its history may fork)
//
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
export const VERSION_KEY = 'm!version'
export const FORMAT_KEY = 'm!format'
export const STORE_ID_KEY = 'm!id'

export const LAYOUT_VERSION = 1
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
