// Backup directories: backups kept side by side with a manifest.json that lists them and
// which backup each changed-only one applies on. Taking backups into one (changed-only
// against the latest, full when there is no usable chain), pruning them (keep the last N,
// and the newest of each of the last N days, never a backup a kept one depends on),
// restoring the latest chain, and taking backups on a schedule in the owning process.
//
// A directory may hold the backups of several stores (typically: a store, and a store
// restored from one of its backups that went on in its place; each has its own storeId).
// A changed-only backup only ever applies on a backup of the same store. Versions order the
// backups of one store; the backups of different stores are interleaved by createdAt.
//
// One process at a time should write to a backup directory: the manifest is replaced
// atomically, but two writers could each drop the other's new entry.

import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { FlowStoreError, isFlowStoreError } from '../errors.ts'
import { writeFileAtomically } from '../fs/atomic-file.ts'
import { ioError } from '../fs/io-error.ts'
import { isInside, realPathOf } from '../fs/paths.ts'
import { BACKUP_EXTENSION } from './format.ts'
import { restoreFiles } from './restore.ts'
import type { BackupInfo, BackupOptions, Progress, RestoreInfo, RestoreOptions } from './types.ts'

/** What taking backups into a directory needs from a store (a FlowStore has it). */
export interface BackupSource {
  readonly storeId: string
  readonly version: number
  readonly closed: boolean
  /** The store's directory, when it has one (a backup directory may not lie inside it). */
  readonly directory: string | undefined
  backup (file: string, options?: BackupOptions): Promise<BackupInfo>
}

export const MANIFEST_FILE = 'manifest.json'
const MANIFEST_FORMAT = 1

/** A backup listed in a backup directory's manifest. */
export interface BackupEntry extends BackupInfo {
  /** For a changed-only backup, the backup file (absolute path) it applies on. */
  readonly base: string | undefined
}

export interface DirectoryBackupOptions {
  /**
   * Take a full backup even when a changed-only one could be taken.
   * @default false
   */
  full?: boolean
  /**
   * gzip level, 1 (fastest) to 9 (smallest).
   * @default 3
   */
  compressionLevel?: number
  /** Called now and then with the progress. */
  onProgress?: (progress: Progress) => void
}

export interface PruneOptions {
  /** Keep the newest N backups. */
  keepLast?: number
  /** Keep the newest backup of each of the last N days that have backups (UTC days). */
  keepDaily?: number
}

export interface PruneResult {
  readonly kept: BackupEntry[]
  readonly deleted: BackupEntry[]
}

export interface RestoreFromDirectoryOptions extends RestoreOptions {
  /**
   * Restore the backups of the store with this identity (a BackupEntry's `storeId`).
   * @default the store of the newest backup in the directory
   */
  storeId?: string
  /**
   * Restore that store's newest backup at or before this store version instead of its
   * newest one.
   * @default undefined (the newest backup)
   */
  version?: number
}

export interface BackupScheduleOptions extends PruneOptions {
  /** Time between two backups, in milliseconds (the first one is taken after one interval). */
  intervalMs: number
  /**
   * Take a full backup every this many backups; the others are changed-only.
   * @default 10
   */
  fullEvery?: number
  /**
   * gzip level, 1 (fastest) to 9 (smallest).
   * @default 3
   */
  compressionLevel?: number
  /** Called after each backup taken (and pruned). */
  onBackup?: (backup: BackupEntry) => void
  /**
   * Called when a scheduled backup fails; the schedule goes on.
   * @default a process warning
   */
  onError?: (error: unknown) => void
}

export interface BackupSchedule {
  /** Stops the schedule; resolves once a backup in progress has finished. */
  stop (): Promise<void>
}

interface ManifestEntry {
  file: string
  /** null for a backup taken before backups recorded the store identity. */
  storeId: string | null
  kind: 'full' | 'changes'
  version: number
  baseVersion: number
  base: string | null
  flows: number
  deletions: number
  bytes: number
  checksum: string
  createdAt: string
  durationMs: number
}

function manifestError (dir: string, what: string, cause?: unknown): FlowStoreError {
  return new FlowStoreError('FLOWSTORE_BACKUP_CORRUPT', `The backup manifest ${join(dir, MANIFEST_FILE)} is damaged: ${what}`, cause === undefined ? {} : { cause })
}

function isPlainName (name: unknown): name is string {
  return typeof name === 'string' && name.length > 0 && name === basename(name) && name !== '.' && name !== '..' && !name.includes('\\')
}

function isCount (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function toEntry (dir: string, raw: unknown, index: number): BackupEntry {
  const e = raw as Partial<ManifestEntry> | null
  const bad = (): FlowStoreError => manifestError(dir, `entry ${index + 1} is not a backup entry`)
  if (typeof e !== 'object' || e === null) throw bad()
  if (!isPlainName(e.file) || (e.kind !== 'full' && e.kind !== 'changes') || !isCount(e.version) || !isCount(e.baseVersion) ||
      !isCount(e.flows) || !isCount(e.deletions) || !isCount(e.bytes) || typeof e.checksum !== 'string' ||
      typeof e.createdAt !== 'string' || (e.base !== null && e.base !== undefined && !isPlainName(e.base)) ||
      (e.storeId !== null && e.storeId !== undefined && (typeof e.storeId !== 'string' || e.storeId.length === 0))) {
    throw bad()
  }
  return {
    file: join(dir, e.file),
    storeId: typeof e.storeId === 'string' ? e.storeId : undefined,
    kind: e.kind,
    version: e.version,
    baseVersion: e.baseVersion,
    base: typeof e.base === 'string' ? join(dir, e.base) : undefined,
    flows: e.flows,
    deletions: e.deletions,
    bytes: e.bytes,
    checksum: e.checksum,
    createdAt: e.createdAt,
    durationMs: typeof e.durationMs === 'number' ? e.durationMs : 0
  }
}

function fromEntry (entry: BackupEntry): ManifestEntry {
  return {
    file: basename(entry.file),
    storeId: entry.storeId ?? null,
    kind: entry.kind,
    version: entry.version,
    baseVersion: entry.baseVersion,
    base: entry.base === undefined ? null : basename(entry.base),
    flows: entry.flows,
    deletions: entry.deletions,
    bytes: entry.bytes,
    checksum: entry.checksum,
    createdAt: entry.createdAt,
    durationMs: Math.round(entry.durationMs)
  }
}

function createdTime (entry: BackupEntry): number {
  const time = Date.parse(entry.createdAt)
  return Number.isNaN(time) ? 0 : time
}

/** Within one store: by version (clocks may step back, versions do not), then time, full first. */
function byVersion (a: BackupEntry, b: BackupEntry): number {
  return a.version - b.version || createdTime(a) - createdTime(b) || (a.kind === b.kind ? 0 : a.kind === 'full' ? -1 : 1)
}

/**
 * Oldest first: each store's backups in version order, the stores' sequences merged by
 * createdAt (versions of different stores say nothing about which backup is newer).
 */
function byAge (entries: readonly BackupEntry[]): BackupEntry[] {
  const stores = new Map<string | undefined, BackupEntry[]>()
  for (const entry of entries) {
    const list = stores.get(entry.storeId)
    if (list === undefined) stores.set(entry.storeId, [entry])
    else list.push(entry)
  }
  const heads = [...stores.values()].map((list) => ({ list: list.sort(byVersion), next: 0 }))
  const out: BackupEntry[] = []
  while (out.length < entries.length) {
    let pick: { list: BackupEntry[], next: number } | undefined
    for (const head of heads) {
      if (head.next < head.list.length && (pick === undefined || createdTime(head.list[head.next]!) < createdTime(pick.list[pick.next]!))) pick = head
    }
    out.push(pick!.list[pick!.next++]!)
  }
  return out
}

/** The backups listed in `dir`'s manifest, oldest first ([] when there is none). */
export async function listBackups (dir: string): Promise<BackupEntry[]> {
  const directory = resolve(dir)
  let text: string
  try {
    text = await readFile(join(directory, MANIFEST_FILE), 'utf8')
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return []
    throw ioError(err, 'Reading the backup manifest', join(directory, MANIFEST_FILE))
  }
  let manifest: { format?: unknown, backups?: unknown }
  try {
    manifest = JSON.parse(text) as typeof manifest
  } catch (cause) {
    throw manifestError(directory, 'it is not valid JSON', cause)
  }
  if (typeof manifest !== 'object' || manifest === null || manifest.format !== MANIFEST_FORMAT || !Array.isArray(manifest.backups)) {
    throw manifestError(directory, `it is not a format ${MANIFEST_FORMAT} manifest`)
  }
  return byAge(manifest.backups.map((raw, i) => toEntry(directory, raw, i)))
}

/** Replaces the manifest atomically (fs/atomic-file.ts). */
async function writeManifest (directory: string, entries: readonly BackupEntry[]): Promise<void> {
  const text = JSON.stringify({ format: MANIFEST_FORMAT, backups: byAge(entries).map(fromEntry) }, null, 2) + '\n'
  await writeFileAtomically(join(directory, MANIFEST_FILE), async (out) => {
    await pipeline(Readable.from([Buffer.from(text, 'utf8')]), out)
  }, { what: 'backup manifest', kind: 'manifest', overwrite: true })
}

/**
 * The backups needed to restore `entry`, full one first; undefined when a link is missing
 * from the manifest (or, with `checkFiles`, from the disk).
 */
async function chainOf (entries: readonly BackupEntry[], entry: BackupEntry, checkFiles: boolean): Promise<BackupEntry[] | undefined> {
  const chain = [entry]
  for (let current = entry; current.kind === 'changes';) {
    const base = entries.find((e) => e.file === current.base && e.version === current.baseVersion && e.storeId === entry.storeId)
    if (base === undefined || chain.includes(base)) return undefined
    chain.unshift(base)
    current = base
  }
  if (checkFiles) {
    for (const link of chain) {
      try {
        await stat(link.file)
      } catch {
        return undefined
      }
    }
  }
  return chain
}

/**
 * The chain a new changed-only backup of `store` can extend: the latest backup's, when it is
 * a backup of this store (same storeId) at or before its version, and complete on disk.
 */
async function usableChain (entries: readonly BackupEntry[], store: { readonly storeId: string, readonly version: number }): Promise<BackupEntry[] | undefined> {
  const latest = entries[entries.length - 1]
  if (latest === undefined || latest.storeId !== store.storeId || latest.version > store.version) return undefined
  return await chainOf(entries, latest, true)
}

function timestamp (date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace('.', '')
}

async function freeName (directory: string, version: number, kind: string): Promise<string> {
  const stem = `flowstore-${version}-${kind}-${timestamp(new Date())}`
  for (let n = 1; ; n++) {
    const file = join(directory, `${stem}${n === 1 ? '' : `-${n}`}${BACKUP_EXTENSION}`)
    try {
      await stat(file)
    } catch {
      return file
    }
  }
}

/**
 * Takes a backup of `store` into the backup directory `dir` (created if needed) and lists
 * it in the manifest: changed-only against the latest backup there when that is a backup of
 * this store (same storeId) whose chain is complete; full when asked, when there is none,
 * when it is another store's, or when its chain is broken. When the latest backup is of this
 * store at its current version and its chain is complete (nothing changed since), no backup
 * is written and that latest entry is returned (`full: true` still takes a full one).
 */
export async function backupToDirectory (store: BackupSource, dir: string, options: DirectoryBackupOptions = {}): Promise<BackupEntry> {
  const directory = resolve(dir)
  const own = store.directory
  if (own !== undefined) {
    if (isInside(await realPathOf(directory), await realPathOf(own))) {
      throw new FlowStoreError('FLOWSTORE_TARGET_UNSAFE', `Cannot back up into ${directory}: it is inside the store's own directory ${own}, which holds only the store's files`)
    }
  }
  try {
    await mkdir(directory, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw ioError(err, 'Creating the backup directory', directory)
  }
  const entries = await listBackups(directory)
  const chain = options.full === true ? undefined : await usableChain(entries, store)
  const base = chain?.[chain.length - 1]
  if (base !== undefined && base.version === store.version) return base
  const kind = base === undefined ? 'full' : 'changes'
  let file = await freeName(directory, store.version, kind)
  let info
  try {
    info = await store.backup(file, {
      // The entry itself, not its version: the backup then checks its storeId in the snapshot.
      since: base,
      compressionLevel: options.compressionLevel,
      onProgress: options.onProgress
    })
  } catch (err) {
    // The store's change log was pruned past the latest backup: a full backup instead.
    if (base !== undefined && isFlowStoreError(err, 'FLOWSTORE_CHANGES_PRUNED')) return await backupToDirectory(store, dir, { ...options, full: true })
    throw err
  }
  // The store may have committed between naming the file and taking the snapshot.
  if (!basename(file).startsWith(`flowstore-${info.version}-`)) {
    const renamed = await freeName(directory, info.version, kind)
    await rename(file, renamed)
    file = renamed
  }
  const entry: BackupEntry = { ...info, file, base: base?.file }
  await writeManifest(directory, [...entries, entry])
  return entry
}

function checkKeep (name: string, value: unknown): number {
  if (value === undefined) return 0
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new TypeError(`${name} must be an integer >= 0, got ${String(value)}`)
  return value
}

/**
 * Deletes the backups in `dir` that no rule keeps: the newest `keepLast`, the newest of each
 * of the last `keepDaily` days (UTC) that have backups, and every backup one of those needs
 * (a kept changed-only backup keeps its whole chain down to its full backup).
 */
export async function pruneBackups (dir: string, options: PruneOptions): Promise<PruneResult> {
  const keepLast = checkKeep('keepLast', options?.keepLast)
  const keepDaily = checkKeep('keepDaily', options?.keepDaily)
  if (keepLast === 0 && keepDaily === 0) throw new TypeError('pruneBackups() needs keepLast or keepDaily (>= 1); it never deletes every backup')
  const directory = resolve(dir)
  const entries = await listBackups(directory)
  const keep = new Set<BackupEntry>(entries.slice(Math.max(0, entries.length - keepLast)))
  const days = new Set<string>()
  for (let i = entries.length - 1; i >= 0 && days.size < keepDaily; i--) {
    const entry = entries[i]!
    const day = new Date(entry.createdAt).toISOString().slice(0, 10)
    if (days.has(day)) continue
    days.add(day)
    keep.add(entry)
  }
  // Kept backups keep what they apply on, down to the full backup (or as far as it exists).
  for (const entry of [...keep]) for (const link of chainLinks(entries, entry)) keep.add(link)
  const kept = entries.filter((entry) => keep.has(entry))
  const deleted = entries.filter((entry) => !keep.has(entry))
  if (deleted.length > 0) {
    // The manifest first: it never lists a file that is gone.
    await writeManifest(directory, kept)
    for (const entry of deleted) {
      try {
        await rm(entry.file, { force: true })
      } catch (err) {
        throw ioError(err, 'Deleting the pruned backup', entry.file)
      }
    }
  }
  return { kept, deleted }
}

function chainLinks (entries: readonly BackupEntry[], entry: BackupEntry): BackupEntry[] {
  const chain = [entry]
  for (let current = entry; current.kind === 'changes';) {
    const base = entries.find((e) => e.file === current.base)
    if (base === undefined || chain.includes(base)) break
    chain.push(base)
    current = base
  }
  return chain
}

/**
 * Restores the newest backup in `dir` with the chain it needs, into a new store at
 * `location` (see restoreBackup()). When the directory holds the backups of several stores,
 * only the backups of one are considered: the store of the newest backup, or
 * `options.storeId`. `options.version` picks that store's newest backup at or before it.
 */
export async function restoreFromDirectory (dir: string, location: string, options: RestoreFromDirectoryOptions = {}): Promise<RestoreInfo> {
  const directory = resolve(dir)
  const entries = await listBackups(directory)
  const { version, storeId, ...restoreOptions } = options
  const store = storeId ?? entries[entries.length - 1]?.storeId
  const candidates = entries.filter((entry) => entry.storeId === store && (version === undefined || entry.version <= version))
  const latest = candidates[candidates.length - 1]
  if (latest === undefined) {
    const which = storeId === undefined ? '' : ` of store ${storeId}`
    const others = storeId === undefined && entries.some((entry) => entry.storeId !== store)
      ? ` of store ${store ?? '(unidentified)'}, the store of the newest backup (the directory holds other stores' backups too: pass storeId to restore one of those)`
      : ''
    throw new FlowStoreError('FLOWSTORE_BACKUP_CHAIN', `There is no backup${which}${version === undefined ? '' : ` at or before version ${version}`}${others} to restore in ${directory}`)
  }
  const chain = await chainOf(entries, latest, true)
  if (chain === undefined) {
    throw new FlowStoreError('FLOWSTORE_BACKUP_CHAIN', `The newest backup in ${directory} (${basename(latest.file)}) cannot be restored: a backup it applies on is missing`)
  }
  return await restoreFiles(chain.map((entry) => entry.file), location, restoreOptions, [directory])
}

/**
 * Takes backups of `store` into `dir` every `intervalMs` in this process: changed-only
 * against the last one, a full one every `fullEvery` backups, none while nothing changed;
 * prunes after each when keepLast or keepDaily is given. The timer does not keep the process
 * alive. Errors go to `onError`, never to an unhandled rejection; the schedule stops by
 * itself once the store is closed.
 */
export function startBackups (store: BackupSource, dir: string, options: BackupScheduleOptions): BackupSchedule {
  const { intervalMs, onBackup, onError } = options
  if (typeof intervalMs !== 'number' || !Number.isFinite(intervalMs) || intervalMs <= 0) throw new TypeError(`intervalMs must be a number > 0, got ${String(intervalMs)}`)
  const fullEvery = options.fullEvery ?? 10
  if (!Number.isSafeInteger(fullEvery) || fullEvery < 1) throw new TypeError(`fullEvery must be an integer >= 1, got ${String(fullEvery)}`)
  const keepLast = checkKeep('keepLast', options.keepLast)
  const keepDaily = checkKeep('keepDaily', options.keepDaily)
  const directory = resolve(dir)
  let timer: ReturnType<typeof setTimeout> | undefined
  let running: Promise<void> | undefined
  let stopped = false

  const report = (err: unknown): void => {
    try {
      if (onError !== undefined) onError(err)
      else process.emitWarning(`flowstore: a scheduled backup into ${directory} failed: ${err instanceof Error ? err.message : String(err)}`)
    } catch {
      // An onError that throws must not become an unhandled rejection.
    }
  }

  const once = async (): Promise<void> => {
    if (store.closed) {
      stopped = true
      return
    }
    const entries = await listBackups(directory)
    const chain = await usableChain(entries, store)
    if (chain !== undefined && chain[chain.length - 1]!.version === store.version) return
    const entry = await backupToDirectory(store, directory, { full: chain === undefined || chain.length >= fullEvery, compressionLevel: options.compressionLevel })
    if (keepLast > 0 || keepDaily > 0) await pruneBackups(directory, { keepLast, keepDaily })
    onBackup?.(entry)
  }

  const tick = (): void => {
    timer = undefined
    running = once().catch((err: unknown) => {
      if (isFlowStoreError(err, 'FLOWSTORE_CLOSED')) stopped = true
      else report(err)
    }).finally(() => {
      running = undefined
      if (!stopped) schedule()
    })
  }

  const schedule = (): void => {
    timer = setTimeout(tick, intervalMs)
    timer.unref()
  }

  schedule()
  return {
    stop: async () => {
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      await running
    }
  }
}
