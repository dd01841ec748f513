// LevelDB's table format (doc/table_format.md): data blocks, a filter block, a meta-index and
// an index block, each followed by [type: 1 (0 raw, 1 snappy)][masked crc32c: 4], then a
// 48-byte footer [metaindex handle][index handle][padding][magic: 8]. A block is a run of
// entries [shared: varint][unshared: varint][value length: varint][key delta][value] and a
// restart array. Keys are LevelDB's internal keys: the user key and 8 bytes of sequence
// number and type. Verifying every checksum (LevelDB does not when it reads), salvaging the
// intact blocks of a damaged table, and writing one.

import { crc32c, crc32cStep, maskCrc, unmaskCrc } from './crc32c.ts'
import { Cursor, FormatError, putVarint, u32 } from './leveldb-coding.ts'
import { snappyUncompress } from './snappy.ts'

export const FOOTER_BYTES = 48
const TABLE_MAGIC = Uint8Array.of(0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb)
const BLOCK_TRAILER = 5
/** Index and meta-index blocks are small; a larger one is damage, not data. */
const MAX_INDEX_BLOCK = 64 * 1024 * 1024

export interface BlockHandle {
  readonly offset: number
  readonly size: number
}

function readHandle (cursor: Cursor): BlockHandle {
  return { offset: cursor.varint(), size: cursor.varint() }
}

export function hasMagic (footer: Uint8Array): boolean {
  for (let i = 0; i < TABLE_MAGIC.length; i++) {
    if (footer[footer.length - TABLE_MAGIC.length + i] !== TABLE_MAGIC[i]) return false
  }
  return true
}

/** The contents of a block after its checksum was verified; undefined when it fails. */
function checkedBlock (table: Uint8Array, handle: BlockHandle, limit: number): { data: Uint8Array, compressed: boolean } | undefined {
  if (handle.offset + handle.size + BLOCK_TRAILER > limit) throw new FormatError(`a block handle points outside the file (offset ${handle.offset}, ${handle.size} bytes)`)
  const end = handle.offset + handle.size
  const expected = unmaskCrc(u32(table, end + 1))
  if (crc32c(table, handle.offset, end + 1) !== expected) return undefined
  const type = table[end]!
  if (type !== 0 && type !== 1) throw new FormatError(`a block of unknown type ${type} at offset ${handle.offset}`)
  return { data: table.subarray(handle.offset, end), compressed: type === 1 }
}

/** The values of a block's entries (index and meta-index blocks hold block handles). */
export function blockEntries (block: Uint8Array): Array<{ key: Uint8Array, value: Uint8Array }> {
  if (block.length < 4) throw new FormatError('a block too short for its restart array')
  const restarts = u32(block, block.length - 4)
  const entriesEnd = block.length - 4 - restarts * 4
  if (restarts > block.length || entriesEnd < 0) throw new FormatError('a block with a bad restart array')
  const cursor = new Cursor(block, 0, entriesEnd)
  const entries: Array<{ key: Uint8Array, value: Uint8Array }> = []
  let key: Uint8Array = new Uint8Array(0)
  while (!cursor.done) {
    const shared = cursor.varint()
    const unshared = cursor.varint()
    const valueLength = cursor.varint()
    if (shared > key.length) throw new FormatError('a block entry sharing more key bytes than the previous key has')
    const next = new Uint8Array(shared + unshared)
    next.set(key.subarray(0, shared))
    next.set(cursor.slice(unshared), shared)
    key = next
    entries.push({ key, value: cursor.slice(valueLength) })
  }
  return entries
}

function blockContents (table: Uint8Array, handle: BlockHandle, limit: number, what: string): Uint8Array {
  const block = checkedBlock(table, handle, limit)
  if (block === undefined) throw new FormatError(`its ${what} block fails its checksum`)
  try {
    return block.compressed ? snappyUncompress(block.data, MAX_INDEX_BLOCK) : block.data
  } catch (err) {
    throw new FormatError(`its ${what} block does not decompress (${(err as Error).message})`)
  }
}

export interface TableCheck {
  /** What is wrong, or undefined when every checksum matches. */
  readonly problem: string | undefined
  /** Data blocks that failed their checksum. */
  readonly damagedBlocks: readonly BlockHandle[]
  readonly blocks: number
}

/** The data blocks of an intact table, through its index, with the last user key of each. */
export function listDataBlocks (table: Uint8Array): Array<BlockHandle & { readonly lastKey: string }> {
  const footer = table.subarray(table.length - FOOTER_BYTES)
  if (!hasMagic(footer)) throw new FormatError('not a table (bad magic number)')
  const cursor = new Cursor(footer)
  readHandle(cursor)
  const index = readHandle(cursor)
  return blockEntries(blockContents(table, index, table.length - FOOTER_BYTES, 'index')).map(({ key, value }) => ({
    ...readHandle(new Cursor(value)),
    lastKey: Buffer.from(key.subarray(0, Math.max(0, key.length - 8))).toString('utf8')
  }))
}

/** Verifies a whole table file: footer, index and meta-index blocks, every block's checksum. */
export function verifyTable (table: Uint8Array): TableCheck {
  const damagedBlocks: BlockHandle[] = []
  let blocks = 0
  try {
    if (table.length < FOOTER_BYTES) throw new FormatError(`it is ${table.length} bytes long, too short for a table`)
    const footer = table.subarray(table.length - FOOTER_BYTES)
    if (!hasMagic(footer)) throw new FormatError('its footer is damaged (bad magic number)')
    const cursor = new Cursor(footer)
    const metaindex = readHandle(cursor)
    const index = readHandle(cursor)
    const limit = table.length - FOOTER_BYTES
    for (const [handles, what] of [[blockEntries(blockContents(table, index, limit, 'index')), 'data'], [blockEntries(blockContents(table, metaindex, limit, 'meta-index')), 'meta']] as const) {
      blocks++
      for (const { value } of handles) {
        const handle = readHandle(new Cursor(value))
        blocks++
        if (checkedBlock(table, handle, limit) === undefined) {
          if (what === 'meta') throw new FormatError(`its filter block at offset ${handle.offset} fails its checksum`)
          damagedBlocks.push(handle)
        }
      }
    }
    if (damagedBlocks.length > 0) {
      const offsets = damagedBlocks.slice(0, 3).map((b) => b.offset).join(', ')
      return { problem: `${damagedBlocks.length} data block(s) fail their checksum (at offset ${offsets}${damagedBlocks.length > 3 ? ', …' : ''})`, damagedBlocks, blocks }
    }
    return { problem: undefined, damagedBlocks, blocks }
  } catch (err) {
    if (!(err instanceof FormatError)) throw err
    return { problem: err.message, damagedBlocks, blocks }
  }
}

export interface InternalEntry {
  readonly key: Uint8Array
  readonly value: Uint8Array
}

export interface TableSalvage {
  /** The entries of every intact data block, in the table's order. */
  readonly entries: InternalEntry[]
  /** Data blocks (or stretches of the file) that could not be read, and their bytes. */
  readonly droppedBlocks: number
  readonly droppedBytes: number
  /** User keys read from the damaged blocks as far as they parse (any may be wrong). */
  readonly damagedKeys: Uint8Array[]
  /** How the blocks were found: through the index, or by their checksums (no usable index). */
  readonly route: 'index' | 'scan'
}

function looksLikeDataBlock (entries: ReadonlyArray<{ key: Uint8Array }>): boolean {
  let previous: Uint8Array | undefined
  for (const { key } of entries) {
    if (key.length < 8) return false
    const type = key[key.length - 8]!
    if (type !== 0 && type !== 1) return false
    const user = key.subarray(0, key.length - 8)
    if (previous !== undefined && Buffer.compare(previous, user) > 0) return false
    previous = user
  }
  return entries.length > 0
}

function blockData (table: Uint8Array, offset: number, size: number): Uint8Array | undefined {
  const raw = table.subarray(offset, offset + size)
  const type = table[offset + size]
  try {
    return type === 1 ? snappyUncompress(raw, MAX_INDEX_BLOCK) : type === 0 ? raw : undefined
  } catch {
    return undefined
  }
}

/**
 * Salvages a damaged table: every data block that passes its checksum, found through the
 * index when the footer and index are intact, otherwise by walking the file and finding each
 * block by its checksum (a truncated table, a damaged footer or index).
 */
export function salvageTable (table: Uint8Array): TableSalvage {
  const entries: InternalEntry[] = []
  const damagedKeys: Uint8Array[] = []
  let droppedBlocks = 0
  let droppedBytes = 0
  const takeDamaged = (offset: number, size: number): void => {
    droppedBlocks++
    droppedBytes += size
    const data = blockData(table, offset, size)
    if (data === undefined) return
    try {
      for (const { key } of blockEntries(data)) if (key.length >= 8) damagedKeys.push(key.slice(0, key.length - 8))
    } catch {
      // As far as it parsed.
    }
  }
  const take = (data: Uint8Array): void => {
    for (const { key, value } of blockEntries(data)) entries.push({ key: key.slice(), value: value.slice() })
  }

  // Through the index.
  try {
    if (table.length < FOOTER_BYTES || !hasMagic(table.subarray(table.length - FOOTER_BYTES))) throw new FormatError('no footer')
    const cursor = new Cursor(table.subarray(table.length - FOOTER_BYTES))
    readHandle(cursor)
    const index = readHandle(cursor)
    const handles = blockEntries(blockContents(table, index, table.length - FOOTER_BYTES, 'index')).map(({ value }) => readHandle(new Cursor(value)))
    for (const handle of handles) {
      if (handle.offset + handle.size + BLOCK_TRAILER > table.length - FOOTER_BYTES) throw new FormatError('bad handle')
    }
    for (const handle of handles) {
      const block = checkedBlock(table, handle, table.length - FOOTER_BYTES)
      const data = block === undefined ? undefined : blockData(table, handle.offset, handle.size)
      let ok = data !== undefined
      if (ok) {
        try {
          take(data!)
        } catch {
          ok = false
        }
      }
      if (!ok) takeDamaged(handle.offset, handle.size)
    }
    return { entries, droppedBlocks, droppedBytes, damagedKeys, route: 'index' }
  } catch (err) {
    if (!(err instanceof FormatError)) throw err
    entries.length = 0
    damagedKeys.length = 0
    droppedBlocks = 0
    droppedBytes = 0
  }

  // By checksums: a block is [contents][type][crc of contents + type], back to back.
  const found: BlockHandle[] = []
  let start = 0
  let crc = -1
  for (let i = 0; i + BLOCK_TRAILER <= table.length; i++) {
    // The running CRC covers table[start, i]: contents and a candidate type byte at i.
    crc = crc32cStep(crc, table[i]!)
    if ((table[i] === 0 || table[i] === 1) && i + BLOCK_TRAILER <= table.length && (~crc >>> 0) === unmaskCrc(u32(table, i + 1))) {
      found.push({ offset: start, size: i - start })
      start = i + BLOCK_TRAILER
      i = start - 1
      crc = -1
    }
  }
  const offsets = new Set(found.map((h) => `${h.offset}:${h.size}`))
  let covered = 0
  for (const handle of found) {
    covered += handle.size + BLOCK_TRAILER
    const data = blockData(table, handle.offset, handle.size)
    let parsed: Array<{ key: Uint8Array, value: Uint8Array }> | undefined
    try {
      parsed = data === undefined ? undefined : blockEntries(data)
    } catch {
      parsed = undefined
    }
    if (parsed === undefined || !looksLikeDataBlock(parsed)) continue
    // The index block: every value is the handle of a block found here.
    const isIndex = parsed.every(({ value }) => {
      try {
        const c = new Cursor(value)
        const h = readHandle(c)
        return c.done && offsets.has(`${h.offset}:${h.size}`)
      } catch {
        return false
      }
    })
    if (isIndex) continue
    // Index keys that were shortened carry the largest sequence number; data keys never do.
    if (parsed.some(({ key }) => hasMaxSequence(key))) continue
    for (const { key, value } of parsed) entries.push({ key: key.slice(), value: value.slice() })
  }
  const uncovered = Math.max(0, table.length - FOOTER_BYTES - covered)
  if (uncovered > 0) {
    droppedBlocks++
    droppedBytes += uncovered
  }
  return { entries, droppedBlocks, droppedBytes, damagedKeys, route: 'scan' }
}

function hasMaxSequence (key: Uint8Array): boolean {
  for (let i = key.length - 7; i < key.length; i++) if (key[i] !== 0xff) return false
  return true
}


const TARGET_BLOCK_BYTES = 4096


/** Builds a table file (uncompressed blocks, no filter) holding `entries`, which are sorted. */
export function encodeTable (entries: readonly InternalEntry[]): Uint8Array {
  const parts: Uint8Array[] = []
  let offset = 0
  const index: InternalEntry[] = []
  const writeBlock = (block: Uint8Array): BlockHandle => {
    const withTrailer = new Uint8Array(block.length + BLOCK_TRAILER)
    withTrailer.set(block)
    withTrailer[block.length] = 0
    new DataView(withTrailer.buffer).setUint32(block.length + 1, maskCrc(crc32c(withTrailer, 0, block.length + 1)), true)
    parts.push(withTrailer)
    const handle = { offset, size: block.length }
    offset += withTrailer.length
    return handle
  }
  const handleBytes = (handle: BlockHandle): Uint8Array => {
    const out: number[] = []
    putVarint(out, handle.offset)
    putVarint(out, handle.size)
    return Uint8Array.from(out)
  }
  let pending: InternalEntry[] = []
  let pendingBytes = 0
  const finishData = (): void => {
    if (pending.length === 0) return
    const handle = writeBlock(encodeBlock(pending))
    index.push({ key: pending[pending.length - 1]!.key, value: handleBytes(handle) })
    pending = []
    pendingBytes = 0
  }
  for (const entry of entries) {
    pending.push(entry)
    pendingBytes += entry.key.length + entry.value.length
    if (pendingBytes >= TARGET_BLOCK_BYTES) finishData()
  }
  finishData()
  const metaindex = writeBlock(encodeBlock([]))
  const indexHandle = writeBlock(encodeBlock(index))
  const footer = new Uint8Array(FOOTER_BYTES)
  const handles = [...handleBytes(metaindex), ...handleBytes(indexHandle)]
  footer.set(handles)
  footer.set(TABLE_MAGIC, FOOTER_BYTES - TABLE_MAGIC.length)
  parts.push(footer)
  return new Uint8Array(Buffer.concat(parts))
}

/** A block with a restart point at every entry (no key prefix sharing): simple and valid. */
function encodeBlock (entries: readonly InternalEntry[]): Uint8Array {
  const head: number[] = []
  const parts: Uint8Array[] = []
  const restarts: number[] = []
  let size = 0
  for (const { key, value } of entries) {
    restarts.push(size)
    head.length = 0
    putVarint(head, 0)
    putVarint(head, key.length)
    putVarint(head, value.length)
    const header = Uint8Array.from(head)
    parts.push(header, key, value)
    size += header.length + key.length + value.length
  }
  if (restarts.length === 0) restarts.push(0)
  const tail = new Uint8Array(4 * restarts.length + 4)
  const view = new DataView(tail.buffer)
  restarts.forEach((r, i) => view.setUint32(4 * i, r, true))
  view.setUint32(4 * restarts.length, restarts.length, true)
  parts.push(tail)
  return new Uint8Array(Buffer.concat(parts))
}
