// LevelDB's log format (doc/log_format.md), shared by the write-ahead logs and the manifest:
// 32 KiB blocks of records [masked crc32c: 4][length: 2 LE][type: 1][payload], a logical
// record split into FIRST/MIDDLE/LAST fragments where it crosses a block. Reading it the way
// LevelDB does (to find what LevelDB would drop), salvaging a damaged one more thoroughly
// than LevelDB, and writing one.

import { type FileHandle, open } from 'node:fs/promises'
import { crc32c, maskCrc, unmaskCrc } from './crc32c.ts'
import { u32 } from './leveldb-coding.ts'

const LOG_BLOCK = 32 * 1024
const LOG_HEADER = 7
const FULL = 1
const FIRST = 2
const MIDDLE = 3
const LAST = 4
/** Log bytes read per file read: a whole number of blocks. */
const LOG_CHUNK_BLOCKS = 32
const EMPTY = new Uint8Array(0)

export interface LogScan {
  /** Logical records read whole and intact. */
  readonly records: number
  /** What LevelDB would report (and, without paranoid checks, silently drop). */
  readonly problems: ReadonlyArray<{ readonly offset: number, readonly what: string }>
  /** The file ends inside a record: an unfinished last write (normal after a crash). */
  readonly tornTail: boolean
}

export interface LogCallbacks {
  /** Each intact logical record. */
  readonly onRecord?: (record: Uint8Array, offset: number) => void
}

/**
 * Reads a log file the way LevelDB's log::Reader does, reporting exactly what it reports to
 * its corruption reporter.
 */
export async function scanLogFile (path: string, callbacks: LogCallbacks = {}): Promise<LogScan> {
  const handle = await open(path, 'r')
  try {
    return await scanLog(handle, (await handle.stat()).size, callbacks)
  } finally {
    await handle.close()
  }
}

async function scanLog (handle: FileHandle, size: number, { onRecord }: LogCallbacks): Promise<LogScan> {
  const problems: Array<{ offset: number, what: string }> = []
  const report = (offset: number, what: string): void => { problems.push({ offset, what }) }
  let records = 0
  let tornTail = false
  // The fragments of the record being read (copied only when someone wants the records).
  let fragments: Uint8Array[] | undefined
  let fragmentsStart = 0
  let fragmentsBytes = 0
  const keep = (payload: Uint8Array): Uint8Array => (onRecord === undefined ? EMPTY : new Uint8Array(payload))
  const emit = (record: () => Uint8Array, offset: number): void => {
    records++
    onRecord?.(record(), offset)
  }
  const chunk = Buffer.allocUnsafe(LOG_BLOCK * LOG_CHUNK_BLOCKS)

  for (let chunkStart = 0; chunkStart < size; chunkStart += chunk.length) {
    const { bytesRead } = await handle.read(chunk, 0, Math.min(chunk.length, size - chunkStart), chunkStart)
    for (let blockStart = 0; blockStart < bytesRead; blockStart += LOG_BLOCK) {
      const blockEnd = Math.min(blockStart + LOG_BLOCK, bytesRead)
      // LevelDB's reader sees end of file once a block read comes back short.
      const lastBlock = chunkStart + blockEnd >= size && blockEnd - blockStart < LOG_BLOCK
      let p = blockStart
      while (blockEnd - p >= LOG_HEADER) {
        const offset = chunkStart + p
        const length = chunk[p + 4]! | (chunk[p + 5]! << 8)
        const type = chunk[p + 6]!
        if (p + LOG_HEADER + length > blockEnd) {
          if (!lastBlock) {
            report(offset, 'bad record length')
            if (fragments !== undefined) report(fragmentsStart, 'error in middle of record')
            fragments = undefined
          } else {
            tornTail = true
          }
          p = blockEnd
          break
        }
        if (type === 0 && length === 0) {
          // Zero-filled space (preallocation): skipped, without a report.
          p = blockEnd
          break
        }
        const expected = unmaskCrc(u32(chunk, p))
        if (crc32c(chunk, p + 6, p + LOG_HEADER + length) !== expected) {
          report(offset, 'checksum mismatch')
          if (fragments !== undefined) report(fragmentsStart, 'error in middle of record')
          fragments = undefined
          p = blockEnd
          break
        }
        const payload = chunk.subarray(p + LOG_HEADER, p + LOG_HEADER + length)
        p += LOG_HEADER + length
        switch (type) {
          case FULL:
            if (fragments !== undefined && fragmentsBytes > 0) report(fragmentsStart, 'partial record without end(1)')
            fragments = undefined
            emit(() => keep(payload), offset)
            break
          case FIRST:
            if (fragments !== undefined && fragmentsBytes > 0) report(fragmentsStart, 'partial record without end(2)')
            fragments = [keep(payload)]
            fragmentsStart = offset
            fragmentsBytes = payload.length
            break
          case MIDDLE:
            if (fragments === undefined) {
              report(offset, 'missing start of fragmented record(1)')
            } else {
              fragments.push(keep(payload))
              fragmentsBytes += payload.length
            }
            break
          case LAST:
            if (fragments === undefined) {
              report(offset, 'missing start of fragmented record(2)')
            } else {
              fragments.push(keep(payload))
              const parts = fragments
              emit(() => new Uint8Array(Buffer.concat(parts)), fragmentsStart)
              fragments = undefined
            }
            break
          default:
            report(offset, `unknown record type ${type}`)
            fragments = undefined
        }
      }
      // Fewer than 7 bytes left: a block trailer, or at the very end a header cut short.
      if (lastBlock && p < blockEnd && chunk.subarray(p, blockEnd).some((byte) => byte !== 0)) tornTail = true
    }
  }
  // A record begun and never finished: the writer stopped in the middle of it.
  if (fragments !== undefined) tornTail = true
  return { records, problems, tornTail }
}

// ---------------------------------------------------------------------------------------
// Salvaging a damaged log

export interface LogSalvage {
  /** Every logical record whose fragments all pass their checksums, in order. */
  readonly records: Uint8Array[]
  /** Damaged stretches: where, why, and their bytes (for the keys they may name). */
  readonly damaged: Array<{ readonly offset: number, readonly what: string, readonly bytes: Uint8Array }>
}

function validRecordAt (bytes: Uint8Array, pos: number): number {
  if (pos + LOG_HEADER > bytes.length) return -1
  const length = bytes[pos + 4]! | (bytes[pos + 5]! << 8)
  const type = bytes[pos + 6]!
  if (type < FULL || type > LAST || pos + LOG_HEADER + length > bytes.length || length > LOG_BLOCK - LOG_HEADER) return -1
  return crc32c(bytes, pos + 6, pos + LOG_HEADER + length) === unmaskCrc(u32(bytes, pos)) ? length : -1
}

/**
 * Reads every intact record of a damaged log, more thoroughly than LevelDB: records are
 * chained one after the other, and after a damaged stretch the next record is searched for
 * byte by byte (any record found must pass its checksum), not at the next 32 KiB block. This
 * matters after a failed write: LevelDB 1.20 goes on appending after a partly written record
 * (a disk that was full), and its later records are then out of step with the blocks, so
 * LevelDB's reader drops every one of them; this finds them.
 */
export function salvageLog (bytes: Uint8Array): LogSalvage {
  const records: Uint8Array[] = []
  const damaged: Array<{ offset: number, what: string, bytes: Uint8Array }> = []
  let fragments: Uint8Array[] | undefined
  let fragmentsStart = 0
  const dropFragments = (what: string): void => {
    if (fragments === undefined) return
    damaged.push({ offset: fragmentsStart, what, bytes: new Uint8Array(Buffer.concat(fragments)) })
    fragments = undefined
  }
  let pos = 0
  while (pos + LOG_HEADER <= bytes.length) {
    const length = validRecordAt(bytes, pos)
    if (length < 0) {
      // Block trailers and preallocated space are zeros.
      if (bytes[pos] === 0) {
        let zeros = pos
        while (zeros < bytes.length && bytes[zeros] === 0) zeros++
        if (zeros - pos < LOG_HEADER || zeros === bytes.length || validRecordAt(bytes, zeros) >= 0) {
          pos = zeros
          continue
        }
      }
      let next = pos + 1
      while (next + LOG_HEADER <= bytes.length && validRecordAt(bytes, next) < 0) next++
      if (next + LOG_HEADER > bytes.length) next = bytes.length
      // At the very end, a record cut short is a write a crash cut off: not damage.
      const tail = next === bytes.length && fragments === undefined && pos + LOG_HEADER <= bytes.length && (bytes[pos + 4]! | (bytes[pos + 5]! << 8)) + pos + LOG_HEADER > bytes.length
      if (!tail) {
        dropFragments('a record whose later fragments are damaged')
        damaged.push({ offset: pos, what: 'damaged bytes', bytes: bytes.subarray(pos, next) })
      }
      pos = next
      continue
    }
    const type = bytes[pos + 6]!
    const payload = bytes.subarray(pos + LOG_HEADER, pos + LOG_HEADER + length)
    if (type === FULL) {
      dropFragments('a record without its last fragment')
      records.push(payload.slice())
    } else if (type === FIRST) {
      dropFragments('a record without its last fragment')
      fragments = [payload.slice()]
      fragmentsStart = pos
    } else if (fragments === undefined) {
      damaged.push({ offset: pos, what: 'a fragment without the start of its record', bytes: payload })
    } else {
      fragments.push(payload.slice())
      if (type === LAST) {
        records.push(new Uint8Array(Buffer.concat(fragments)))
        fragments = undefined
      }
    }
    pos += LOG_HEADER + length
  }
  return { records, damaged }
}

// ---------------------------------------------------------------------------------------
// Writing a log of intact records

/** Writes `records` as a LevelDB log file (the framing LevelDB's log::Writer uses). */
export function encodeLog (records: readonly Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = []
  let blockOffset = 0
  for (const record of records) {
    let left = record.length
    let at = 0
    let begin = true
    do {
      const leftover = LOG_BLOCK - blockOffset
      if (leftover < LOG_HEADER) {
        if (leftover > 0) parts.push(new Uint8Array(leftover))
        blockOffset = 0
      }
      const avail = LOG_BLOCK - blockOffset - LOG_HEADER
      const length = Math.min(left, avail)
      const end = left === length
      const type = begin && end ? FULL : begin ? FIRST : end ? LAST : MIDDLE
      const physical = new Uint8Array(LOG_HEADER + length)
      physical[4] = length & 0xff
      physical[5] = length >>> 8
      physical[6] = type
      physical.set(record.subarray(at, at + length), LOG_HEADER)
      new DataView(physical.buffer).setUint32(0, maskCrc(crc32c(physical, 6)), true)
      parts.push(physical)
      blockOffset += LOG_HEADER + length
      at += length
      left -= length
      begin = false
    } while (left > 0)
  }
  return new Uint8Array(Buffer.concat(parts))
}

/** An entry of a table with its full internal key (user key + 8-byte sequence and type). */
