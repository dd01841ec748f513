// Resolves FlowStoreOptions once into a readonly, checked object.

import type { FlowStoreOptions, FlushMode, WriteOptions } from './types.ts'

export interface ResolvedOptions {
  readonly flush: 'auto' | 'manual' | { readonly intervalMs: number }
  readonly sync: boolean
  readonly maxFlowBytes: number
  readonly maxIdBytes: number
  /** Checked by the LevelDB engine (see engine/level-engine.ts); undefined: its default. */
  readonly retainChanges: number | undefined
  readonly preload: 'all' | 'keys'
  readonly maxCachedBytes: number
}

/**
 * The largest maxFlowBytes accepted: the largest flow a backup record holds (backup/format.ts
 * sizes its record frames from it). One limit, checked at save, that every later operation
 * (backup, restore, the owner's socket) can carry.
 */
export const MAX_FLOW_BYTES = 16 * 1024 * 1024
/** The largest maxIdBytes accepted: the longest id a backup record (beside a flow of MAX_FLOW_BYTES) and a socket message carry. */
export const MAX_ID_BYTES = 16 * 1024
export const DEFAULT_MAX_FLOW_BYTES = MAX_FLOW_BYTES
export const DEFAULT_MAX_CACHED_BYTES = 256 * 1024 * 1024
export const DEFAULT_MAX_ID_BYTES = 1024

export function resolveOptions (options: FlowStoreOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError(`FlowStore options must be an object, got ${String(options)}`)
  return Object.freeze({
    flush: resolveFlush(options.flush ?? 'auto'),
    sync: resolveBoolean('sync', options.sync ?? false),
    maxFlowBytes: resolveSize('maxFlowBytes', options.maxFlowBytes ?? DEFAULT_MAX_FLOW_BYTES, MAX_FLOW_BYTES, 'the largest flow a backup holds'),
    maxIdBytes: resolveSize('maxIdBytes', options.maxIdBytes ?? DEFAULT_MAX_ID_BYTES, MAX_ID_BYTES, 'the longest id a backup and the owner\'s socket carry'),
    retainChanges: options.retainChanges,
    preload: resolvePreload(options.preload ?? 'all'),
    maxCachedBytes: resolveMaxCached(options.preload, options.maxCachedBytes)
  })
}

function resolveFlush (flush: FlushMode): ResolvedOptions['flush'] {
  if (flush === 'auto' || flush === 'manual') return flush
  if (typeof flush === 'object' && flush !== null) {
    const { intervalMs } = flush
    if (typeof intervalMs === 'number' && Number.isFinite(intervalMs) && intervalMs > 0) return Object.freeze({ intervalMs })
  }
  throw new TypeError(`Option flush must be 'auto', 'manual' or { intervalMs: number > 0 }, got ${JSON.stringify(flush)}`)
}

function resolvePreload (preload: unknown): 'all' | 'keys' {
  if (preload === 'all' || preload === 'keys') return preload
  throw new TypeError(`Option preload must be 'all' or 'keys', got ${JSON.stringify(preload)}`)
}

function resolveMaxCached (preload: unknown, maxCachedBytes: unknown): number {
  if (maxCachedBytes === undefined) return DEFAULT_MAX_CACHED_BYTES
  if (preload !== 'keys') throw new TypeError('Option maxCachedBytes applies only with preload: \'keys\'')
  return resolveSize('maxCachedBytes', maxCachedBytes)
}

function resolveBoolean (name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`Option ${name} must be a boolean, got ${String(value)}`)
  return value
}

function resolveSize (name: string, value: unknown, max = Number.MAX_SAFE_INTEGER, why?: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
    const bound = why === undefined ? '' : ` of at most ${max} (${why})`
    throw new TypeError(`Option ${name} must be a positive integer${bound}, got ${String(value)}`)
  }
  return value
}

/** The `ifVersion` of a write's options (undefined: no condition); a TypeError shows a bad one. */
export function resolveIfVersion (options: WriteOptions | undefined, call: string): number | undefined {
  if (options === undefined) return undefined
  if (typeof options !== 'object' || options === null) throw new TypeError(`${call}() options must be an object, got ${String(options)}`)
  const { ifVersion } = options
  if (ifVersion === undefined) return undefined
  if (typeof ifVersion !== 'number' || !Number.isSafeInteger(ifVersion) || ifVersion < 0) {
    throw new TypeError(`Option ifVersion of ${call}() must be a version (an integer >= 0, as lazy(id).version gives), got ${typeof ifVersion === 'string' ? JSON.stringify(ifVersion) : String(ifVersion)}`)
  }
  return ifVersion
}
