// The backup file format (docs/backup-format.md): one gzip member holding a header frame,
// record frames and a trailer frame. A frame is a u32 BE payload length and a msgpack map.
// The trailer carries the record counts and a sha256 over every uncompressed byte before it,
// so truncation and any flipped byte are caught. Writing and reading both stream with
// backpressure: memory stays flat whatever the number of records.
//
// The gzip header's MTIME, XFL and OS bytes are not covered by any gzip check, and zlib writes
// XFL and OS differently per level and platform. The writer pins them (all zero, OS 255
// "unknown") and the reader insists on exactly those ten bytes, so a flip there is caught too.

import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { resolve } from 'node:path'
import { Readable, Transform, type TransformCallback, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip, createGzip } from 'node:zlib'
import { Packr } from 'msgpackr'
import { FlowStoreError } from '../errors.ts'
import { writeFileAtomically, writeToStream } from '../fs/atomic-file.ts'
import { errnoCode, ioError, isSystemError } from '../fs/io-error.ts'
import { MAX_VERSION } from '../layout.ts'
import { MAX_FLOW_BYTES } from '../options.ts'

export { syncDirectory } from '../fs/atomic-file.ts'

export const BACKUP_MAGIC = 'FLOWSTORE-BACKUP'
export const BACKUP_FORMAT_VERSION = 1
/** File name suffix used by backupToDirectory(); any name works for the other functions. */
export const BACKUP_EXTENSION = '.fsbk'
export const DEFAULT_COMPRESSION_LEVEL = 3

/** The exact first ten bytes of every backup file: a gzip header with MTIME 0, XFL 0, OS 255. */
export const GZIP_HEADER = Uint8Array.of(0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff)
/** Largest header frame payload a reader accepts. */
export const MAX_HEADER_FRAME = 64 * 1024
/**
 * Largest record or trailer frame payload a reader accepts: a flow of MAX_FLOW_BYTES (the
 * largest a store accepts), its id (up to MAX_ID_BYTES) and framing.
 */
export const MAX_RECORD_FRAME = MAX_FLOW_BYTES + 64 * 1024
/** Longest storeId a reader accepts (a store's is a 36-character UUID). */
export const MAX_STORE_ID_LENGTH = 128
const LENGTH_BYTES = 4
const WRITE_CHUNK = 1024 * 1024
const ZLIB_CHUNK = 256 * 1024

export type BackupKind = 'full' | 'changes'

/** What a backup's header frame says. */
export interface BackupHeader {
  /** The file it was read from (absolute). */
  readonly file: string
  /** The format version (1). */
  readonly format: number
  readonly kind: BackupKind
  /** The store version the backup holds. */
  readonly version: number
  /** For a changed-only backup, the version it applies on; 0 for a full one. */
  readonly baseVersion: number
  /** When the backup was taken (ISO 8601). */
  readonly createdAt: string
  /**
   * The identity of the store backed up (`store.storeId`); undefined in a file written
   * before backups recorded it.
   */
  readonly storeId: string | undefined
}

/** A flow as stored (its msgpack encoding, verbatim), or a deletion. */
export type BackupRecord =
  | { readonly id: string, readonly version: number, readonly bytes: Uint8Array, readonly deleted?: undefined }
  | { readonly id: string, readonly version: number, readonly deleted: true, readonly bytes?: undefined }

/** What a completely read (or written) backup holds, as its trailer says. */
export interface BackupSummary {
  readonly flows: number
  readonly deletions: number
  /** sha256 (hex) over the uncompressed bytes before the trailer frame. */
  readonly checksum: string
  /** The file's size (compressed). */
  readonly bytes: number
}

export interface WriteBackupOptions {
  readonly compressionLevel?: number
  /** Replace an existing file (never a file in `reads`). @default false */
  readonly overwrite?: boolean | undefined
  /** Files and directories the backup reads (its base, the store's directory). */
  readonly reads?: ReadonlyArray<string | undefined>
  /** Called after each batch of records with the records and bytes (uncompressed) so far. */
  readonly onRecords?: (records: number, bytes: number) => void
}

export interface ReadBackupOptions {
  /** Called with the header before the first record; may throw to stop reading. */
  readonly onHeader?: (header: BackupHeader) => void
  /** Called now and then with the records read and the compressed bytes read so far. */
  readonly onRecords?: (records: number, bytes: number) => void
}

const PROGRESS_EVERY = 1000

function newPackr (): Packr {
  // int64AsType: a uint64 version decodes as a number (exact up to 2^53), not a BigInt.
  return new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' })
}

export function corrupt (file: string, what: string, cause?: unknown): FlowStoreError {
  return new FlowStoreError('FLOWSTORE_BACKUP_CORRUPT', `Backup file ${file} is corrupt or not a flowstore backup: ${what}`, cause === undefined ? {} : { cause })
}

/** Checks a compression level; returns the default for undefined. */
export function compressionLevel (level: number | undefined): number {
  if (level === undefined) return DEFAULT_COMPRESSION_LEVEL
  if (!Number.isInteger(level) || level < 1 || level > 9) throw new TypeError(`compressionLevel must be an integer from 1 to 9, got ${String(level)}`)
  return level
}

// ---------------------------------------------------------------------------------------
// Writing

/**
 * Writes a backup from `records` (in batches), pulled as fast as gzip and the disk take them,
 * into `target`: a file, which appears under its name only once complete and fsynced
 * (fs/atomic-file.ts: nothing is left behind on failure, an existing file is replaced only
 * with `overwrite`), or a stream (standard output), written straight through.
 */
export async function writeBackupFile (
  target: string | NodeJS.WritableStream,
  header: Omit<BackupHeader, 'file' | 'format'>,
  records: AsyncIterable<readonly BackupRecord[]>,
  options: WriteBackupOptions = {}
): Promise<BackupSummary> {
  const level = compressionLevel(options.compressionLevel)
  const framer = new Framer(header, options.onRecords)
  const pin = new PinGzipHeader()
  const write = async (out: Writable): Promise<BackupSummary> => {
    await pipeline(
      Readable.from(framer.chunks(records), { objectMode: false, highWaterMark: 4 * WRITE_CHUNK }),
      createGzip({ level, chunkSize: ZLIB_CHUNK }),
      pin,
      out
    )
    return { flows: framer.flows, deletions: framer.deletions, checksum: framer.checksum, bytes: pin.bytes }
  }
  if (typeof target !== 'string') return await writeToStream(target, write, 'backup')
  return await writeFileAtomically(target, write, { what: 'backup', kind: 'backup', overwrite: options.overwrite, reads: options.reads })
}

/** Turns records into frames, packed into large chunks; hashes everything before the trailer. */
class Framer {
  readonly #packr = newPackr()
  readonly #hash = createHash('sha256')
  readonly #header: Omit<BackupHeader, 'file' | 'format'>
  readonly #onRecords: ((records: number, bytes: number) => void) | undefined
  #chunk = Buffer.allocUnsafe(WRITE_CHUNK)
  #used = 0
  #total = 0
  flows = 0
  deletions = 0
  checksum = ''

  constructor (header: Omit<BackupHeader, 'file' | 'format'>, onRecords: ((records: number, bytes: number) => void) | undefined) {
    this.#header = header
    this.#onRecords = onRecords
  }

  async * chunks (batches: AsyncIterable<readonly BackupRecord[]>): AsyncGenerator<Buffer> {
    const h = this.#header
    const header: Record<string, unknown> = { type: 'header', magic: BACKUP_MAGIC, format: BACKUP_FORMAT_VERSION, kind: h.kind, version: h.version, baseVersion: h.baseVersion, createdAt: h.createdAt }
    if (h.storeId !== undefined) header.storeId = h.storeId
    yield * this.#frame(header)
    for await (const batch of batches) {
      for (const record of batch) {
        if (record.deleted === true) {
          this.deletions++
          yield * this.#frame({ id: record.id, version: record.version, deleted: true })
        } else {
          this.flows++
          yield * this.#flowFrame(record.id, record.version, record.bytes)
        }
      }
      this.#onRecords?.(this.flows + this.deletions, this.#total)
    }
    yield * this.#flush()
    this.checksum = this.#hash.digest('hex')
    const trailer = this.#packr.pack({ type: 'trailer', records: this.flows + this.deletions, deletions: this.deletions, sha256: this.checksum })
    const last = Buffer.allocUnsafe(LENGTH_BYTES + trailer.length)
    last.writeUInt32BE(trailer.length, 0)
    last.set(trailer, LENGTH_BYTES)
    yield last
  }

  /** Room for a frame of `size` bytes (prefix included) in the current chunk. */
  * #reserve (size: number): Generator<Buffer> {
    if (this.#used + size > this.#chunk.length) {
      yield * this.#flush()
      if (size > this.#chunk.length) this.#chunk = Buffer.allocUnsafe(size)
    }
  }

  * #frame (value: object): Generator<Buffer> {
    // packr.pack returns a view of a buffer it reuses: copied out before packing again.
    const payload = this.#packr.pack(value)
    yield * this.#reserve(LENGTH_BYTES + payload.length)
    this.#chunk.writeUInt32BE(payload.length, this.#used)
    this.#chunk.set(payload, this.#used + LENGTH_BYTES)
    this.#used += LENGTH_BYTES + payload.length
    this.#total += LENGTH_BYTES + payload.length
  }

  /**
   * A flow record frame, encoded straight into the chunk as the msgpack fixmap
   * { id: str, version: uint, bytes: bin } (docs/backup-format.md), without packing it into a
   * buffer of its own first: the flow bytes are most of a backup, and are copied only once.
   */
  * #flowFrame (id: string, version: number, bytes: Uint8Array): Generator<Buffer> {
    const idLength = Buffer.byteLength(id, 'utf8')
    const payloadLength = 1 + 3 + strHeader(idLength) + idLength + 8 + uintSize(version) + 6 + binHeader(bytes.length) + bytes.length
    if (payloadLength > MAX_RECORD_FRAME) {
      throw new FlowStoreError('FLOWSTORE_INVALID_FLOW', `Flow ${JSON.stringify(id)} is too large for a backup record (${payloadLength} bytes; backups hold flows up to 16 MiB)`, { id })
    }
    yield * this.#reserve(LENGTH_BYTES + payloadLength)
    const c = this.#chunk
    let o = this.#used
    o = c.writeUInt32BE(payloadLength, o)
    c[o++] = 0x83
    o += c.write('\xa2id', o, 'latin1')
    o = writeStrHeader(c, o, idLength)
    o += c.write(id, o, 'utf8')
    o += c.write('\xa7version', o, 'latin1')
    o = writeUint(c, o, version)
    o += c.write('\xa5bytes', o, 'latin1')
    o = writeBinHeader(c, o, bytes.length)
    c.set(bytes, o)
    o += bytes.length
    this.#total += o - this.#used
    this.#used = o
  }

  * #flush (): Generator<Buffer> {
    if (this.#used === 0) return
    const out = this.#chunk.subarray(0, this.#used)
    this.#hash.update(out)
    this.#chunk = Buffer.allocUnsafe(WRITE_CHUNK)
    this.#used = 0
    yield out
  }
}

function strHeader (length: number): number {
  return length < 32 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5
}

function writeStrHeader (c: Buffer, o: number, length: number): number {
  if (length < 32) {
    c[o] = 0xa0 | length
    return o + 1
  }
  if (length < 0x100) {
    c[o] = 0xd9
    c[o + 1] = length
    return o + 2
  }
  if (length < 0x10000) {
    c[o] = 0xda
    return c.writeUInt16BE(length, o + 1)
  }
  c[o] = 0xdb
  return c.writeUInt32BE(length, o + 1)
}

function binHeader (length: number): number {
  return length < 0x100 ? 2 : length < 0x10000 ? 3 : 5
}

function writeBinHeader (c: Buffer, o: number, length: number): number {
  if (length < 0x100) {
    c[o] = 0xc4
    c[o + 1] = length
    return o + 2
  }
  if (length < 0x10000) {
    c[o] = 0xc5
    return c.writeUInt16BE(length, o + 1)
  }
  c[o] = 0xc6
  return c.writeUInt32BE(length, o + 1)
}

function uintSize (value: number): number {
  return value < 0x80 ? 1 : value < 0x100 ? 2 : value < 0x10000 ? 3 : value < 0x100000000 ? 5 : 9
}

function writeUint (c: Buffer, o: number, value: number): number {
  if (value < 0x80) {
    c[o] = value
    return o + 1
  }
  if (value < 0x100) {
    c[o] = 0xcc
    c[o + 1] = value
    return o + 2
  }
  if (value < 0x10000) {
    c[o] = 0xcd
    return c.writeUInt16BE(value, o + 1)
  }
  if (value < 0x100000000) {
    c[o] = 0xce
    return c.writeUInt32BE(value, o + 1)
  }
  c[o] = 0xcf
  c.writeUInt32BE(Math.floor(value / 0x100000000), o + 1)
  return c.writeUInt32BE(value >>> 0, o + 5)
}

/** Rewrites gzip header bytes 4-9 (MTIME, XFL, OS) to fixed values; counts output bytes. */
class PinGzipHeader extends Transform {
  bytes = 0

  override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    for (let i = Math.max(4, this.bytes); i < GZIP_HEADER.length && i - this.bytes < chunk.length; i++) {
      chunk[i - this.bytes] = GZIP_HEADER[i]!
    }
    this.bytes += chunk.length
    callback(null, chunk)
  }
}

// ---------------------------------------------------------------------------------------
// Reading

/** Checks the first ten bytes against GZIP_HEADER exactly, then passes everything through. */
class CheckGzipHeader extends Transform {
  readonly #file: string
  #seen = 0
  bytes = 0

  constructor (file: string) {
    super()
    this.#file = file
  }

  override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    for (let i = 0; this.#seen < GZIP_HEADER.length && i < chunk.length; i++, this.#seen++) {
      if (chunk[i] !== GZIP_HEADER[this.#seen]) {
        callback(corrupt(this.#file, this.#seen < 2 ? 'it is not gzip data (bad magic bytes)' : `bad gzip header (byte ${this.#seen})`))
        return
      }
    }
    this.bytes += chunk.length
    callback(null, chunk)
  }

  override _flush (callback: TransformCallback): void {
    callback(this.#seen < GZIP_HEADER.length ? corrupt(this.#file, this.#seen === 0 ? 'the file is empty' : 'truncated inside the gzip header') : null)
  }
}

/** Collects stream chunks and hands out exact byte ranges (one copy only when a range spans chunks). */
class ByteQueue {
  #chunks: Buffer[] = []
  #head = 0
  length = 0

  push (chunk: Buffer): void {
    if (chunk.length === 0) return
    this.#chunks.push(chunk)
    this.length += chunk.length
  }

  /** The next `n` bytes (n <= length), removed from the queue. */
  take (n: number): Buffer {
    const first = this.#chunks[0]!
    let out: Buffer
    if (first.length - this.#head >= n) {
      out = first.subarray(this.#head, this.#head + n)
      this.#head += n
      if (this.#head === first.length) {
        this.#chunks.shift()
        this.#head = 0
      }
    } else {
      out = Buffer.allocUnsafe(n)
      let filled = 0
      while (filled < n) {
        const chunk = this.#chunks[0]!
        const part = Math.min(chunk.length - this.#head, n - filled)
        chunk.copy(out, filled, this.#head, this.#head + part)
        filled += part
        this.#head += part
        if (this.#head === chunk.length) {
          this.#chunks.shift()
          this.#head = 0
        }
      }
    }
    this.length -= n
    return out
  }
}

function isRecordVersion (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= MAX_VERSION
}

/** Checks a decoded header frame; returns the header or throws CORRUPT. */
function parseHeader (file: string, value: unknown): BackupHeader {
  if (typeof value !== 'object' || value === null || (value as { magic?: unknown }).magic !== BACKUP_MAGIC) {
    throw corrupt(file, 'bad magic (the first frame is not a flowstore backup header)')
  }
  const h = value as Record<string, unknown>
  if (h.type !== 'header') throw corrupt(file, 'bad header (type)')
  if (h.format !== BACKUP_FORMAT_VERSION) {
    throw corrupt(file, `unsupported backup format ${String(h.format)} (this version reads format ${BACKUP_FORMAT_VERSION})`)
  }
  const { kind, version, baseVersion, createdAt } = h
  if (kind !== 'full' && kind !== 'changes') throw corrupt(file, 'bad header (kind)')
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0 || version > MAX_VERSION) throw corrupt(file, 'bad header (version)')
  if (typeof baseVersion !== 'number' || !Number.isSafeInteger(baseVersion) || baseVersion < 0 || baseVersion > version ||
      (kind === 'full' && baseVersion !== 0)) {
    throw corrupt(file, 'bad header (base version)')
  }
  if (typeof createdAt !== 'string' || createdAt.length > 64 || Number.isNaN(Date.parse(createdAt))) throw corrupt(file, 'bad header (createdAt)')
  // Optional: files written before backups recorded the store's identity have none.
  const { storeId } = h
  if (storeId !== undefined && (typeof storeId !== 'string' || storeId.length === 0 || storeId.length > MAX_STORE_ID_LENGTH)) {
    throw corrupt(file, 'bad header (storeId)')
  }
  return { file, format: BACKUP_FORMAT_VERSION, kind, version, baseVersion, createdAt, storeId }
}

/** Checks a decoded record frame against the header; returns the record or throws CORRUPT. */
function parseRecord (file: string, header: BackupHeader, value: unknown, index: number): BackupRecord {
  const bad = (what: string): FlowStoreError => corrupt(file, `bad record #${index + 1}: ${what}`)
  if (typeof value !== 'object' || value === null) throw bad('not a map')
  const r = value as Record<string, unknown>
  const { id, version, bytes, deleted } = r
  if (typeof id !== 'string' || id.length === 0) throw bad('no id')
  if (!isRecordVersion(version) || version > header.version || version <= header.baseVersion) {
    throw bad(`version ${String(version)} outside ${header.baseVersion + 1}..${header.version}`)
  }
  if (deleted === true) {
    if (header.kind === 'full') throw bad('a deletion in a full backup')
    if (bytes !== undefined || Object.keys(r).length !== 3) throw bad('unexpected fields')
    return { id, version, deleted: true }
  }
  if (!(bytes instanceof Uint8Array) || bytes.length === 0 || deleted !== undefined || Object.keys(r).length !== 3) {
    throw bad('no flow bytes')
  }
  return { id, version, bytes }
}

/**
 * Reads a backup file: yields its records in order, after calling `onHeader`; returns the
 * summary once the trailer has been checked. Throws FLOWSTORE_BACKUP_CORRUPT (naming the
 * file and what is wrong) as soon as something does not match, at the latest at the end:
 * a consumer must read to the end before trusting what it read. A file that cannot be read
 * (missing, permission denied) gives FLOWSTORE_IO_ERROR naming it.
 */
export async function * readBackup (file: string, options: ReadBackupOptions = {}): AsyncGenerator<BackupRecord, BackupSummary & { header: BackupHeader }> {
  const path = resolve(file)
  const packr = newPackr()
  const hash = createHash('sha256')
  const source = createReadStream(path, { highWaterMark: ZLIB_CHUNK })
  const check = new CheckGzipHeader(path)
  const gunzip = createGunzip({ chunkSize: ZLIB_CHUNK })
  let failure: unknown
  const piping = pipeline(source, check, gunzip).catch((err: unknown) => { failure ??= err })
  const chunks = (gunzip as AsyncIterable<Buffer>)[Symbol.asyncIterator]()
  const queue = new ByteQueue()
  let header: BackupHeader | undefined
  let trailer: { records: number, deletions: number, sha256: string } | undefined
  let flows = 0
  let deletions = 0
  // The current frame's length prefix, once read: hashed with its payload unless that
  // payload turns out to be the trailer.
  let prefix: Buffer | undefined
  let previousId: Buffer | undefined
  let finished = false
  // gunzip stops at the end of the gzip member and ignores what follows (the pipeline then
  // fails with an abort): bytes fed to it that it never consumed are data after the member.
  const trailing = (): boolean => gunzip.bytesWritten < check.bytes

  const decode = (payload: Buffer, what: string): unknown => {
    try {
      return packr.unpack(payload)
    } catch (cause) {
      throw corrupt(path, `${what} is not valid msgpack`, cause)
    }
  }

  try {
    for (;;) {
      let step: IteratorResult<Buffer>
      try {
        step = await chunks.next()
      } catch (err) {
        throw mapReadError(path, err, trailing())
      }
      if (step.done === true) break
      queue.push(step.value)
      for (;;) {
        if (prefix === undefined) {
          if (queue.length < LENGTH_BYTES) break
          if (trailer !== undefined) throw corrupt(path, 'unexpected data after the trailer')
          prefix = queue.take(LENGTH_BYTES)
          const length = prefix.readUInt32BE(0)
          const limit = header === undefined ? MAX_HEADER_FRAME : MAX_RECORD_FRAME
          if (length > limit) {
            throw corrupt(path, `${header === undefined ? 'header' : 'record'} frame of ${length} bytes is larger than the limit (${limit})`)
          }
          if (length === 0) throw corrupt(path, 'empty frame')
        }
        const length = prefix.readUInt32BE(0)
        if (queue.length < length) break
        const payload = queue.take(length)
        const framePrefix = prefix
        prefix = undefined
        if (header === undefined) {
          hash.update(framePrefix)
          hash.update(payload)
          header = parseHeader(path, decode(payload, 'the header frame'))
          options.onHeader?.(header)
          continue
        }
        const value = decode(payload, `record #${flows + deletions + 1}`)
        if (typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'trailer') {
          trailer = parseTrailer(path, value, hash.digest('hex'))
          continue
        }
        hash.update(framePrefix)
        hash.update(payload)
        const record = parseRecord(path, header, value, flows + deletions)
        if (header.kind === 'full') {
          // A full backup lists each id once, in key (UTF-8 byte) order.
          const key = Buffer.from(record.id, 'utf8')
          if (previousId !== undefined && Buffer.compare(previousId, key) >= 0) throw corrupt(path, `bad record #${flows + 1}: id out of order`)
          previousId = key
        }
        if (record.deleted === true) deletions++
        else flows++
        yield record
        const count = flows + deletions
        if (options.onRecords !== undefined && count % PROGRESS_EVERY === 0) options.onRecords(count, check.bytes)
      }
    }
    await piping
    if (failure !== undefined) throw mapReadError(path, failure, trailing())
    if (trailing()) throw afterGzip(path)
    if (header === undefined) throw corrupt(path, queue.length === 0 && prefix === undefined ? 'no header (empty content)' : 'truncated inside the header')
    if (trailer === undefined) throw corrupt(path, `truncated: no trailer after ${flows + deletions} record(s)`)
    if (queue.length !== 0 || prefix !== undefined) throw corrupt(path, 'unexpected data after the trailer')
    if (trailer.records !== flows + deletions || trailer.deletions !== deletions) {
      throw corrupt(path, `count mismatch: the trailer counts ${trailer.records} record(s) and ${trailer.deletions} deletion(s), the file holds ${flows + deletions} and ${deletions}`)
    }
    options.onRecords?.(flows + deletions, check.bytes)
    finished = true
    return { header, flows, deletions, checksum: trailer.sha256, bytes: check.bytes }
  } finally {
    if (!finished) {
      gunzip.destroy()
      source.destroy()
      await piping
    }
  }
}

function parseTrailer (file: string, value: unknown, actual: string): { records: number, deletions: number, sha256: string } {
  const t = value as Record<string, unknown>
  const { records, deletions, sha256 } = t
  if (typeof records !== 'number' || !Number.isSafeInteger(records) || records < 0 ||
      typeof deletions !== 'number' || !Number.isSafeInteger(deletions) || deletions < 0 || deletions > records ||
      typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256) || Object.keys(t).length !== 4) {
    throw corrupt(file, 'bad trailer')
  }
  if (actual !== sha256) throw corrupt(file, `checksum mismatch (the trailer says sha256 ${sha256}, the content hashes to ${actual})`)
  return { records, deletions, sha256 }
}

function afterGzip (file: string): FlowStoreError {
  return corrupt(file, 'unexpected data after the end of the gzip data')
}

/** A failure while reading `file` as a FlowStoreError: damage is CORRUPT, the file system's IO_ERROR. */
function mapReadError (file: string, err: unknown, trailing: boolean): unknown {
  if (err instanceof FlowStoreError) return err
  const code = errnoCode(err)
  if (trailing && (code === 'ABORT_ERR' || code === 'ERR_STREAM_PREMATURE_CLOSE')) return afterGzip(file)
  if (code !== undefined && code.startsWith('Z_')) {
    const truncated = code === 'Z_BUF_ERROR' || /unexpected end/i.test(String((err as { message?: unknown }).message))
    return corrupt(file, truncated ? 'truncated (unexpected end of the gzip data)' : `bad gzip data (${String((err as { message?: unknown }).message)})`, err)
  }
  if (isSystemError(err)) return ioError(err, 'Reading the backup', file)
  return err
}

/** Reads only the header of a backup file (FLOWSTORE_BACKUP_CORRUPT if it is not one). */
export async function readBackupHeader (file: string): Promise<BackupHeader> {
  let header: BackupHeader | undefined
  const stop = new Error('header read')
  const reader = readBackup(file, { onHeader: (h) => { header = h; throw stop } })
  try {
    await reader.next()
  } catch (err) {
    if (err !== stop) throw err
  }
  if (header === undefined) throw corrupt(resolve(file), 'no header')
  return header
}
