// Migration from the legacy flows.json: an object keyed by flow id (what the old
// JsonFlowRepository wrote), an array of flows, or JSON Lines. The file is streamed, never
// loaded whole: JSON documents through stream-json's tokenizer, JSON Lines line by line.
// Every record is checked on its own, so one bad record is reported and skipped while the
// rest import; flows already stored with the same value are left alone, so a second run
// writes nothing.

import { createReadStream } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import { extname, resolve } from 'node:path'
import { StringDecoder } from 'node:string_decoder'
import { gen, none } from 'stream-chain/core'
import parser from 'stream-json/parser.js'
import streamArray from 'stream-json/streamers/stream-array.js'
import streamObject from 'stream-json/streamers/stream-object.js'
import { describe, FlowCodec } from '../codec.ts'
import { FlowStoreError, isFlowStoreError } from '../errors.ts'
import { HEADER_BYTES } from '../layout.ts'
import type { FlowStore } from '../store.ts'
import type { Flow, FlowShape } from '../types.ts'

/** How a legacy file is laid out. */
export type LegacyFormat = 'object' | 'array' | 'jsonl'

/** Progress of an import: records read so far and how far into the file. */
export interface ImportProgress {
  /** Records read so far (imported, unchanged and skipped). */
  readonly records: number
  /** Bytes of the file read so far. */
  readonly bytes: number
  /** The file's size in bytes. */
  readonly totalBytes: number
}

export interface ImportOptions {
  /**
   * The file's layout. `'auto'` takes `.jsonl`/`.ndjson` files as JSON Lines, a file
   * starting with `[` as an array, and a file starting with `{` as an object keyed by id,
   * unless its first line is a whole flow object (then it is JSON Lines).
   * @default 'auto'
   */
  format?: LegacyFormat | 'auto'
  /**
   * Flows written per batch; the import waits for each batch to commit, so memory stays
   * flat whatever the file size.
   * @default 1000
   */
  batchSize?: number
  /**
   * At most this many skipped records, and this many duplicates, are listed in the report
   * (all are counted).
   * @default 100
   */
  maxSkippedListed?: number
  /** Called after every batch and at the end. */
  onProgress?: (progress: ImportProgress) => void
}

/** A record that was not imported, and why. */
export interface SkippedRecord {
  /** The record's key, for an object keyed by id. */
  readonly key?: string
  /** The record's position (from 0), for an array. */
  readonly index?: number
  /** The record's line (from 1), for JSON Lines. */
  readonly line?: number
  /** The record's id, when it had a usable one. */
  readonly id?: string
  readonly reason: string
}

/**
 * A record replaced by a later record with the same id: the last one is kept, as the legacy
 * loader's `JSON.parse` did (for an object with a repeated key).
 */
export interface DuplicateRecord {
  /** The replaced record's key, for an object keyed by id. */
  readonly key?: string
  /** The replaced record's position (from 0), for an array. */
  readonly index?: number
  /** The replaced record's line (from 1), for JSON Lines. */
  readonly line?: number
  readonly id: string
  /** Where the record that replaced it is, e.g. `record [7]`. */
  readonly replacedBy: string
}

/** What `importLegacyJson()` returns (and what a failed import's error carries as `report`). */
export interface ImportReport {
  /** The file (absolute path). */
  readonly file: string
  readonly format: LegacyFormat
  /** Records read: imported + unchanged + skipped, plus duplicates replaced before they were written. */
  readonly total: number
  /**
   * Flows written (new, or different from the stored flow). A record replaced by a later one
   * with the same id after its batch was written counts here too (and the later one is written).
   */
  readonly imported: number
  /** Flows already stored with the same value: not written again. */
  readonly unchanged: number
  /** Records skipped, counting those not listed. */
  readonly skippedCount: number
  /** The first skipped records (see `maxSkippedListed`), with the reason. */
  readonly skipped: readonly SkippedRecord[]
  /** Records replaced by a later record with the same id (the last one is kept), counting those not listed. */
  readonly duplicateCount: number
  /** The first of them (see `maxSkippedListed`). */
  readonly duplicates: readonly DuplicateRecord[]
  /** The store version after the import. */
  readonly version: number
  readonly durationMs: number
}

/** FLOWSTORE_IMPORT_FAILED: the import stopped; `report` says what was imported before. */
export class LegacyImportError extends FlowStoreError {
  readonly report: ImportReport
  constructor (message: string, report: ImportReport, cause?: unknown) {
    super('FLOWSTORE_IMPORT_FAILED', message, { cause })
    this.report = report
  }
}

const READ_CHUNK = 64 * 1024
/** JSON text is fed to the tokenizer in slices this big, so a syntax error is located to one. */
const PARSE_SLICE = 16 * 1024
const SNIFF_BYTES = 64 * 1024

/** Where a record sits in the file. */
type Place = { key: string } | { index: number } | { line: number }

/**
 * Imports the flows of a legacy flows.json file into `store`. Streams the file; writes in
 * batches of `batchSize`, each awaited. A record that is not a flow object, has no usable id
 * (or, in an object keyed by id, an id different from its key), or holds a value the store
 * refuses, is skipped with the reason; so is a JSON Lines line that is not valid JSON. An id
 * that appears again later in the file: the last importable record with it is kept (as the
 * legacy loader's JSON.parse kept the last of repeated keys), and the replaced ones are
 * reported as duplicates. A syntax error in a JSON object or
 * array file stops the import with FLOWSTORE_IMPORT_FAILED (a LegacyImportError whose
 * `report` tells what was imported before it; those flows stay imported). The text is
 * parsed in 16 KiB slices, and records that end in the slice holding the error are not
 * imported: the error names that slice's byte range.
 */
export async function importLegacyJson<F extends FlowShape> (store: FlowStore<F>, file: string, options: ImportOptions = {}): Promise<ImportReport> {
  const resolved = resolveImportOptions(options)
  const path = resolve(file)
  const importer = new Importer<F>(store, path, resolved)
  let size: number
  try {
    const info = await stat(path)
    if (!info.isFile()) throw new Error('it is not a file')
    size = info.size
    importer.format = resolved.format === 'auto' ? await sniffFormat(path, size) : resolved.format
  } catch (cause) {
    throw new LegacyImportError(`Cannot read the legacy file ${path}: ${messageOf(cause)}`, importer.report(), cause)
  }
  importer.totalBytes = size
  try {
    if (importer.format === 'jsonl') await importer.readLines()
    else await importer.readDocument()
    await importer.commit()
  } catch (err) {
    // Whatever was accepted before the failure is committed if it can be, then reported.
    if (!isFlowStoreError(err, 'FLOWSTORE_WRITE_FAILED')) await importer.commit().catch(() => {})
    if (err instanceof LegacyImportError) throw new LegacyImportError(err.message, importer.report(), err.cause)
    throw new LegacyImportError(`Importing ${path} failed after ${importer.imported} flow(s) were imported: ${messageOf(err)}`, importer.report(), err)
  }
  importer.progress()
  return importer.report()
}

interface ResolvedImportOptions {
  readonly format: LegacyFormat | 'auto'
  readonly batchSize: number
  readonly maxSkippedListed: number
  readonly onProgress: ((progress: ImportProgress) => void) | undefined
}

function resolveImportOptions (options: ImportOptions): ResolvedImportOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError(`importLegacyJson() options must be an object, got ${String(options)}`)
  const format = options.format ?? 'auto'
  if (!['auto', 'object', 'array', 'jsonl'].includes(format)) throw new TypeError(`Option format must be 'auto', 'object', 'array' or 'jsonl', got ${JSON.stringify(format)}`)
  const batchSize = options.batchSize ?? 1000
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new TypeError(`Option batchSize must be a positive integer, got ${String(batchSize)}`)
  const maxSkippedListed = options.maxSkippedListed ?? 100
  if (!Number.isSafeInteger(maxSkippedListed) || maxSkippedListed < 0) throw new TypeError(`Option maxSkippedListed must be an integer >= 0, got ${String(maxSkippedListed)}`)
  const onProgress = options.onProgress
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new TypeError('Option onProgress must be a function')
  return { format, batchSize, maxSkippedListed, onProgress }
}

class Importer<F extends FlowShape> {
  format: LegacyFormat = 'object'
  totalBytes = 0
  bytes = 0
  total = 0
  imported = 0
  unchanged = 0
  skippedCount = 0
  readonly skipped: SkippedRecord[] = []
  duplicateCount = 0
  readonly duplicates: DuplicateRecord[] = []
  readonly #store: FlowStore<F>
  readonly #file: string
  readonly #options: ResolvedImportOptions
  readonly #started = performance.now()
  /** Ids met so far in the file, with where their latest record is: a later one replaces it. */
  readonly #seen = new Map<string, Place>()
  /** Only for the value check and the "unchanged" comparison: the store applies its own limits. */
  readonly #codec = new FlowCodec({ maxFlowBytes: Number.MAX_SAFE_INTEGER, maxIdBytes: Number.MAX_SAFE_INTEGER })
  /** Flows checked and waiting to be saved in the next batch, by id. */
  #pending = new Map<string, [Place, Flow]>()
  /** Flows saved whose batch has not committed yet. */
  #unflushed = 0

  constructor (store: FlowStore<F>, file: string, options: ResolvedImportOptions) {
    this.#store = store
    this.#file = file
    this.#options = options
  }

  report (): ImportReport {
    return {
      file: this.#file,
      format: this.format,
      total: this.total,
      imported: this.imported,
      unchanged: this.unchanged,
      skippedCount: this.skippedCount,
      skipped: [...this.skipped],
      duplicateCount: this.duplicateCount,
      duplicates: [...this.duplicates],
      version: this.#store.version,
      durationMs: performance.now() - this.#started
    }
  }

  progress (): void {
    this.#options.onProgress?.({ records: this.total, bytes: this.bytes, totalBytes: this.totalBytes })
  }

  /** Saves the flows accepted since the last batch, as one batch, and waits for the commit. */
  async commit (): Promise<void> {
    if (this.#pending.size === 0) return
    const batch = [...this.#pending.values()]
    this.#pending = new Map()
    let saved = batch.length
    try {
      this.#store.saveMany(batch.map(([, flow]) => flow as unknown as F))
    } catch (err) {
      if (!isFlowStoreError(err, 'FLOWSTORE_INVALID_FLOW')) throw err
      // saveMany saves all or nothing: save one by one to skip just the refused flows.
      saved = 0
      for (const [place, flow] of batch) {
        try {
          this.#store.save(flow as unknown as F)
          saved++
        } catch (err) {
          if (!isFlowStoreError(err, 'FLOWSTORE_INVALID_FLOW')) throw err
          this.#skip(place, flow.id, err.message)
        }
      }
    }
    this.#unflushed += saved
    await this.#store.flush()
    this.imported += this.#unflushed
    this.#unflushed = 0
  }

  /** Streams a JSON document (an object keyed by id, or an array) through the tokenizer. */
  async readDocument (): Promise<void> {
    const isObject = this.format === 'object'
    type Item = { key: string | number, value: unknown }
    type Run = (chunk: string | typeof none) => AsyncGenerator<Item>
    const pipeline: Run = isObject
      ? gen(parser({ streamValues: false }), streamObject()) as unknown as Run
      : gen(parser({ streamValues: false }), streamArray()) as unknown as Run
    const decoder = new StringDecoder('utf8')
    let line = 1
    const feed = async (text: string | typeof none, start: number, end: number): Promise<void> => {
      try {
        for await (const { key, value } of pipeline(text)) {
          await this.#record(isObject ? { key: String(key) } : { index: key as number }, value)
        }
      } catch (err) {
        if (err instanceof FlowStoreError) throw err
        const where = text === none ? 'at the end of the file' : `between bytes ${start} and ${end} (line ${line} or later)`
        throw new LegacyImportError(
          `${this.#file} is not valid JSON: ${messageOf(err)} ${where}. The ${this.total} record(s) read before it were handled as usual (see the report)`,
          this.report(), err)
      }
    }
    await this.#readChunks(async (chunk, offset) => {
      for (let at = 0; at < chunk.length; at += PARSE_SLICE) {
        const slice = chunk.subarray(at, at + PARSE_SLICE)
        const text = decoder.write(slice)
        if (text.length > 0) await feed(text, offset + at, offset + at + slice.length)
        line += countNewlines(slice)
      }
    })
    const rest = decoder.end()
    if (rest.length > 0) await feed(rest, this.totalBytes, this.totalBytes)
    await feed(none, this.totalBytes, this.totalBytes)
  }

  /** Reads JSON Lines: one record per line; blank lines are ignored. */
  async readLines (): Promise<void> {
    let parts: Buffer[] = []
    let line = 0
    const take = async (bytes: Buffer): Promise<void> => {
      line++
      let text = bytes.toString('utf8')
      if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1)
      if (text.endsWith('\r')) text = text.slice(0, -1)
      if (text.trim() === '') return
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch (err) {
        this.total++
        this.#skip({ line }, undefined, `invalid JSON: ${messageOf(err)}`)
        return
      }
      await this.#record({ line }, value)
    }
    await this.#readChunks(async (chunk) => {
      let start = 0
      for (let end = chunk.indexOf(0x0a); end !== -1; end = chunk.indexOf(0x0a, start)) {
        parts.push(chunk.subarray(start, end))
        const whole = parts.length === 1 ? parts[0]! : Buffer.concat(parts)
        parts = []
        await take(whole)
        start = end + 1
      }
      if (start < chunk.length) parts.push(chunk.subarray(start))
    })
    if (parts.length > 0) await take(Buffer.concat(parts))
  }

  async #readChunks (onChunk: (chunk: Buffer, offset: number) => Promise<void>): Promise<void> {
    const stream = createReadStream(this.#file, { highWaterMark: READ_CHUNK })
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        const offset = this.bytes
        this.bytes += chunk.length
        await onChunk(chunk, offset)
      }
    } finally {
      stream.destroy()
    }
  }

  /** Checks one record; queues it for the next batch (unless stored already with the same value) or skips it. */
  async #record (place: Place, value: unknown): Promise<void> {
    this.total++
    const flow = this.#flowOf(place, value)
    if (flow !== undefined) {
      try {
        const earlier = this.#seen.get(flow.id)
        // A new id is checked by the store when its batch is saved; a stored one, or one that
        // replaces an earlier record, is encoded here: to tell whether anything changed, and
        // so that a refused later record does not replace an importable one.
        const stored = this.#store.lazy(flow.id)
        const encoded = stored !== undefined || earlier !== undefined ? this.#codec.encode(flow).record : undefined
        if (earlier !== undefined) this.#replace(earlier, place, flow.id)
        this.#seen.set(flow.id, place)
        if (stored !== undefined && encoded !== undefined && sameBytes(encoded, stored.bytes)) this.unchanged++
        else this.#pending.set(flow.id, [place, flow])
      } catch (err) {
        if (!isFlowStoreError(err, 'FLOWSTORE_INVALID_FLOW')) throw err
        this.#skip(place, flow.id, err.message)
      }
    }
    if (this.#pending.size >= this.#options.batchSize) await this.commit()
    if (this.total % this.#options.batchSize === 0) this.progress()
  }

  /** The flow a record holds, with its id settled; undefined (and reported) when none. */
  #flowOf (place: Place, value: unknown): Flow | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.#skip(place, undefined, `not a flow object: got ${describe(value)}`)
      return undefined
    }
    const record = value as Record<string, unknown>
    let id = record.id
    if ('key' in place) {
      if (id === undefined) {
        // The legacy file keyed every flow by its id; a record without one takes its key.
        id = place.key
        value = { id, ...record }
      } else if (id !== place.key) {
        this.#skip(place, typeof id === 'string' ? id : undefined, `its id ${describe(id)} differs from its key ${JSON.stringify(place.key)}`)
        return undefined
      }
    }
    if (typeof id !== 'string' || id.length === 0) {
      this.#skip(place, undefined, id === undefined ? 'it has no id' : `its id must be a non-empty string, got ${describe(id)}`)
      return undefined
    }
    return value as Flow
  }

  /** The record at `earlier` is replaced by the one at `later` (same id): drop it if not written yet, and report it. */
  #replace (earlier: Place, later: Place, id: string): void {
    if (this.#pending.get(id)?.[0] === earlier) this.#pending.delete(id)
    this.duplicateCount++
    if (this.duplicates.length < this.#options.maxSkippedListed) this.duplicates.push({ ...earlier, id, replacedBy: describePlace(later) })
  }

  #skip (place: Place, id: string | undefined, reason: string): void {
    this.skippedCount++
    if (this.skipped.length < this.#options.maxSkippedListed) {
      this.skipped.push(id === undefined ? { ...place, reason } : { ...place, id, reason })
    }
  }
}

/**
 * Guesses the layout from the extension, then from the first bytes: `[` is an array; `{`
 * is an object keyed by id, unless the first line alone is a whole flow (a string `id`) or
 * another JSON object line follows it: then it is JSON Lines.
 */
async function sniffFormat (file: string, size: number): Promise<LegacyFormat> {
  const extension = extname(file).toLowerCase()
  if (extension === '.jsonl' || extension === '.ndjson') return 'jsonl'
  const handle = await open(file, 'r')
  let head: string
  try {
    const buffer = Buffer.alloc(Math.min(size, SNIFF_BYTES))
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0)
    head = buffer.subarray(0, bytesRead).toString('utf8')
  } finally {
    await handle.close()
  }
  if (head.charCodeAt(0) === 0xfeff) head = head.slice(1)
  const text = head.trimStart()
  if (text.length === 0) return 'jsonl' // an empty file: nothing to import
  if (text[0] === '[') return 'array'
  if (text[0] !== '{') {
    throw new Error(`it does not look like a legacy flows file (an object keyed by id, an array of flows, or JSON Lines): it starts with ${JSON.stringify(text.slice(0, 20))}`)
  }
  const newline = text.indexOf('\n')
  const firstLine = newline === -1 ? (size <= SNIFF_BYTES ? text : undefined) : text.slice(0, newline)
  if (firstLine === undefined) return 'object'
  let first: unknown
  try {
    first = JSON.parse(firstLine)
  } catch {
    return 'object'
  }
  if (typeof (first as { id?: unknown }).id === 'string') return 'jsonl'
  return newline !== -1 && text.slice(newline + 1).trim().length > 0 ? 'jsonl' : 'object'
}

/** Where a record is, for people: `key "a"`, `record [7]` or `line 12`. */
export function describePlace (place: { key?: string, index?: number, line?: number }): string {
  return place.key !== undefined ? `key ${JSON.stringify(place.key)}` : place.index !== undefined ? `record [${place.index}]` : `line ${String(place.line)}`
}

function sameBytes (record: Uint8Array, bytes: Uint8Array): boolean {
  // The record carries a header the stored bytes do not; compare the msgpack bodies.
  const body = record.subarray(record.length - bytes.length)
  return record.length - bytes.length === HEADER_BYTES && Buffer.compare(body, bytes) === 0
}

function countNewlines (bytes: Uint8Array): number {
  let count = 0
  for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, i + 1)) count++
  return count
}

function messageOf (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
