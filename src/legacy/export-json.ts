// The way back to the legacy format: every flow written into one JSON object keyed by id,
// the layout the old JsonFlowRepository read. Written flow by flow (memory stays flat),
// atomically (fs/atomic-file.ts: a temporary file fsynced and moved into place, so a crash
// never leaves a half file under the final name), or streamed to standard output. JSON cannot
// hold every stored value exactly; such a flow is refused, naming it.

import { once } from 'node:events'
import { resolve } from 'node:path'
import type { Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { FlowCodec } from '../codec.ts'
import { pathSegment } from '../domain.ts'
import { FlowStoreError } from '../errors.ts'
import { isWritableStream, writeFileAtomically, writeToStream } from '../fs/atomic-file.ts'
import type { FlowShape, LazyFlow } from '../types.ts'

export interface ExportOptions {
  /**
   * Indent the file (two spaces), like the legacy repository wrote it.
   * @default false (compact)
   */
  pretty?: boolean
  /**
   * Replace the file if it exists (a regular file only). Without it, an existing file is
   * refused with FLOWSTORE_TARGET_EXISTS.
   * @default false
   */
  overwrite?: boolean
  /** Called now and then with the flows written so far. */
  onProgress?: (progress: ExportProgress) => void
}

export interface ExportProgress {
  /** Flows written so far. */
  readonly records: number
  /** Flows to write in all. */
  readonly total: number
  /** Bytes written so far. */
  readonly bytes: number
}

/** What `exportJson()` returns. */
export interface ExportReport {
  /** The file written (absolute path); '-' for an export written to a stream. */
  readonly file: string
  /** Flows written. */
  readonly flows: number
  /** The file's size in bytes. */
  readonly bytes: number
  /** The store version when the export started (saves not yet committed are included). */
  readonly version: number
  readonly durationMs: number
}

/**
 * What exportJson() reads: a FlowStore, or anything with the same read surface (a
 * FlowService, over a store this process opened or one another process owns).
 */
export interface ExportSource<F extends FlowShape> {
  readonly flows: ReadonlyMap<string, unknown>
  lazy (id: string): LazyFlow<F> | undefined
  readonly version: number
}

const WRITE_CHUNK = 64 * 1024

/**
 * Writes every flow of `store` into `file` as one JSON object keyed by flow id. The flows
 * are those in the store when the call is made (later saves are not included). The file is
 * created owner-only (0600) under a temporary name and moved into place when complete; an
 * existing file is replaced only with `overwrite` (FLOWSTORE_TARGET_EXISTS otherwise). `file`
 * may also be a writable stream (process.stdout): streamed, and left open. A flow holding a value JSON cannot carry exactly (a Date, a Uint8Array, undefined, NaN or
 * ±Infinity) is refused with FLOWSTORE_INVALID_FLOW naming the flow and the path to the
 * value; nothing is written under `file` then.
 */
export async function exportJson<F extends FlowShape> (store: ExportSource<F>, file: string | NodeJS.WritableStream, options: ExportOptions = {}): Promise<ExportReport> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`exportJson() options must be an object, got ${String(options)}`)
  const toStream = isWritableStream(file)
  if (!toStream && (typeof file !== 'string' || file.length === 0)) throw new TypeError(`exportJson() needs a file path or a writable stream, got ${String(file)}`)
  const pretty = options.pretty ?? false
  if (typeof pretty !== 'boolean') throw new TypeError(`Option pretty must be a boolean, got ${String(pretty)}`)
  const overwrite = options.overwrite ?? false
  if (typeof overwrite !== 'boolean') throw new TypeError(`Option overwrite must be a boolean, got ${String(overwrite)}`)
  const onProgress = options.onProgress
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new TypeError('Option onProgress must be a function')
  const started = performance.now()
  // Cache entries are immutable (a save replaces the entry), so holding them is a
  // point-in-time view of the store that costs one reference per flow.
  const entries: Array<LazyFlow<F>> = []
  for (const id of store.flows.keys()) entries.push(store.lazy(id)!)
  const version = store.version
  // Decoded here, not through the store, so the export does not fill the decoded cache; with
  // the store's own checks, so a damaged or hostile value fails with FLOWSTORE_DECODE_ERROR.
  const codec = new FlowCodec({ maxFlowBytes: Number.MAX_SAFE_INTEGER, maxIdBytes: Number.MAX_SAFE_INTEGER })

  let bytes = 0
  let written = 0
  const write = async (out: Writable): Promise<void> => {
    let pending: string[] = []
    let pendingLength = 0
    const drain = async (): Promise<void> => {
      const buffer = Buffer.from(pending.join(''), 'utf8')
      pending = []
      pendingLength = 0
      bytes += buffer.length
      // Waiting for 'drain' is the backpressure: at most about one chunk is held in memory.
      if (!out.write(buffer)) await once(out, 'drain')
    }
    const push = async (text: string): Promise<void> => {
      pending.push(text)
      pendingLength += text.length
      if (pendingLength >= WRITE_CHUNK) await drain()
    }
    await push('{')
    for (const entry of entries) {
      const value = codec.decodeBody(entry.id, entry.bytes).value
      checkJson(entry.id, value)
      const key = JSON.stringify(entry.id)
      const json = pretty ? JSON.stringify(value, null, 2).replaceAll('\n', '\n  ') : JSON.stringify(value)
      await push(`${written === 0 ? '' : ','}${pretty ? '\n  ' : ''}${key}:${pretty ? ' ' : ''}${json}`)
      written++
      if (onProgress !== undefined && written % 1000 === 0) onProgress({ records: written, total: entries.length, bytes })
    }
    await push(pretty && written > 0 ? '\n}\n' : '}\n')
    await drain()
    out.end()
    await finished(out)
  }
  const target = toStream ? '-' : resolve(file)
  if (toStream) await writeToStream(file, write, 'JSON export')
  else {
    // Never into the store's own directory (a FlowStore says where it is).
    const directory = (store as { directory?: unknown }).directory
    await writeFileAtomically(target, write, { what: 'JSON export', kind: 'export', overwrite, reads: [typeof directory === 'string' ? directory : undefined] })
  }
  onProgress?.({ records: written, total: entries.length, bytes })
  return { file: target, flows: written, bytes, version, durationMs: performance.now() - started }
}

/** Throws FLOWSTORE_INVALID_FLOW when JSON cannot carry `value` exactly. */
function checkJson (id: string, value: unknown): void {
  const where = findNonJson(value)
  if (where === undefined) return
  throw new FlowStoreError('FLOWSTORE_INVALID_FLOW',
    `Flow ${JSON.stringify(id)} cannot be exported to JSON: at flow${where.path}, ${where.reason}. Change or delete the flow, or take a backup instead (backups keep every value exactly)`,
    { id })
}

function findNonJson (value: unknown): { path: string, reason: string } | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined
    case 'number':
      return Number.isFinite(value) ? undefined : { path: '', reason: `${value} would become null in JSON` }
    case 'undefined':
      return { path: '', reason: 'undefined has no JSON form (it would be dropped or become null)' }
    case 'object': {
      if (value === null) return undefined
      if (value instanceof Date) return { path: '', reason: 'a Date would become a string in JSON' }
      if (value instanceof Uint8Array) return { path: '', reason: 'a Uint8Array has no JSON form' }
      const entries: Array<[string | number, unknown]> = Array.isArray(value) ? value.map((item, i) => [i, item]) : Object.entries(value)
      for (const [key, item] of entries) {
        const found = findNonJson(item)
        if (found !== undefined) return { path: pathSegment(key) + found.path, reason: found.reason }
      }
      return undefined
    }
    default:
      return { path: '', reason: `a ${typeof value} has no JSON form` }
  }
}
