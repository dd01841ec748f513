// repairStore: recovers what can be recovered from a damaged store, and never makes things
// worse. The original directory is never opened or changed: the repair holds its lock (so no
// FlowStore can open it meanwhile), copies its LevelDB files aside, and works on the copy:
//
//   1. the copy is checked (checkStore); a healthy store is left alone unless forced;
//   2. damaged files are cleaned first, because LevelDB's repair reads tables and logs
//      without verifying checksums (it would carry flipped bytes into the repaired store): a
//      damaged table is rewritten from its blocks that pass their checksums (found through
//      its index or, when that is gone, by their checksums), a damaged log from its records
//      that pass theirs; the keys the damaged parts held are noted, as far as they parse;
//   3. LevelDB's own repair (ClassicLevel.repair) runs on the copy: it reads every table and
//      log, keeps the newest entry of each key, and writes a new manifest;
//   4. a new store is rebuilt from what survived, consistently: flows that decode (and were
//      not served from a damaged block) are kept; the store version is rebuilt; every flow
//      lost or reverted to an older revision gets a change at a new version, the repair's
//      one change-log entry, so `changesSince()` sees it; the log starts there (its horizon is
//      the version before: older changes are not known for sure); the store gets a new
//      identity (its history may have forked, as for a restored store);
//   5. the rebuilt store is checked again; only if it is sound is it swapped into place, and
//      the original is kept next to it as `<dir>.before-repair-<timestamp>-<pid>-<hex>`, by
//      the two-rename swap of fs/directory-swap.ts (a kill between the renames is finished by
//      the next open, repair or restore).

import { randomUUID } from 'node:crypto'
import { constants, copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { syncDirectory } from '../backup/format.ts'
import { FlowCodec } from '../codec.ts'
import { noop } from '../deferred.ts'
import { FlowStoreError, isFlowStoreError } from '../errors.ts'
import {
  decodeLogEntry, decodeVersion, encodeLogEntry, encodeVersion, FLOW_RANGE, flowKey, FORMAT_KEY, HORIZON_KEY, LAYOUT_VERSION,
  logKey, MAX_VERSION, recordVersion, STORE_ID_KEY, tombstoneKey, VERSION_KEY, writeVersion
} from '../layout.ts'
import { type CheckReport, checkHeldDirectory, entriesProgress, type MaintenanceProgress, requireDatabase } from './check.ts'
import { isLevelDbFile } from '../leveldb/leveldb-files.ts'
import { encodeLog, salvageLog, scanLogFile } from '../leveldb/leveldb-log.ts'
import { encodeTable, salvageTable, verifyTable } from '../leveldb/leveldb-table.ts'
import { removeStaleLeftovers } from '../fs/leftovers.ts'
import { newToken, tempPath } from '../fs/temp-names.ts'
import { keptSwapPaths, recoverDirectorySwap, swapDirectorySync, swapPaths } from '../fs/directory-swap.ts'
import { holdDirectory } from './lock.ts'
import { scanDatabase } from './scan.ts'

export interface RepairOptions {
  /**
   * Rebuild the store even when the check finds nothing wrong.
   * @default false
   */
  readonly force?: boolean
  /**
   * Called as the repair goes: copying the files aside ('copy'), checking the copy
   * ('checksums', 'values'), reading what LevelDB's repair kept ('analyse'), writing the new
   * store ('rebuild'), and checking it ('checksums', 'values' again).
   */
  readonly onProgress?: (progress: MaintenanceProgress) => void
}

export interface LostFlow {
  readonly id: string
  /** Why it could not be recovered. */
  readonly reason: string
}

export interface RevertedFlow {
  readonly id: string
  /** The version of the revision recovered (before the repair stamped it anew). */
  readonly recoveredVersion: number
  /** Why a later revision is known or suspected to be lost. */
  readonly reason: string
}

export interface RepairReport {
  /** The database directory (real path). */
  readonly directory: string
  /** False when the store was healthy and nothing was done (see `force`). */
  readonly repaired: boolean
  /** Where the original is kept (`<dir>.before-repair-<timestamp>-<pid>-<hex>`), when repaired. */
  readonly original: string | undefined
  /** What the check of the original found. */
  readonly found: CheckReport
  /** Ids of the flows in the repaired store. */
  readonly recovered: readonly string[]
  /** Recovered flows whose latest revision is lost: an older one was recovered. */
  readonly reverted: readonly RevertedFlow[]
  /** Flows that could not be recovered (a deletion is recorded for each, in the change log). */
  readonly lost: readonly LostFlow[]
  /** What was damaged and left out: file by file, the blocks, records and bytes dropped. */
  readonly dropped: readonly string[]
  /** The repaired store's version and contents. */
  readonly version: number
  readonly flows: number
  readonly tombstones: number
  readonly durationMs: number
}

const BATCH_OPS = 2000

/**
 * Repairs the store at `location` (see above). Throws FLOWSTORE_LOCKED when a FlowStore has
 * it open, FLOWSTORE_OPEN_FAILED when there is no database there, and FLOWSTORE_REPAIR_FAILED
 * when no sound store could be rebuilt; in every failure the original is left as it was.
 */
export async function repairStore (location: string, options: RepairOptions = {}): Promise<RepairReport> {
  if (typeof location !== 'string' || location.length === 0) throw new TypeError(`repairStore() needs a database directory, got ${String(location)}`)
  const started = performance.now()
  const absolute = resolve(location)
  // A restore or repair killed between the two renames of its swap left the name missing:
  // finish that first (fs/directory-swap.ts).
  await recoverDirectorySwap(absolute)
  await requireDatabase(absolute)
  const held = await holdDirectory(absolute, 'repair')
  const directory = held.directory
  const parent = dirname(directory)
  const name = basename(directory)
  const token = newToken()
  // Named like temporaries (fs/temp-names.ts), so that what a killed repair leaves is
  // reported by list and verify, and removed by the next run: the copy by the next repair,
  // the rebuilt store (named as a swap's new directory, so that an interrupted swap is
  // finished by the next open, repair or restore) by the next restore.
  const work = tempPath(directory, 'repair', token)
  const rebuilt = swapPaths(directory, token).replacement
  try {
    await removeStaleLeftovers(parent, ['repair'], (leftover) => leftover.target === name).catch(noop)
    const onProgress = options.onProgress
    await copyDatabase(directory, work, onProgress)
    // Checked on the copy, so that the original is never opened; reported as the original's.
    const found = { ...await checkHeldDirectory(work, { onProgress }), directory }
    if (found.ok && options.force !== true) {
      return {
        directory, repaired: false, original: undefined, found, recovered: [], reverted: [], lost: [], dropped: [],
        version: found.version ?? 0, flows: found.flows, tombstones: found.tombstones, durationMs: performance.now() - started
      }
    }
    const evidence = await cleanDamagedFiles(work)
    for (const problem of found.problems) {
      if (problem.kind === 'file' && problem.file !== undefined && /is missing \(the manifest lists it\)/.test(problem.message)) {
        evidence.dropped.push(`${problem.file}: missing; what it held is lost, and which flows those were is not known`)
      }
    }
    try {
      await ClassicLevel.repair(work)
    } catch (cause) {
      throw repairFailed(directory, 'LevelDB\'s repair failed on the copy', cause)
    }
    const plan = await analyse(work, evidence, onProgress)
    await rebuild(work, rebuilt, plan, onProgress)
    const after = await checkHeldDirectory(rebuilt, { onProgress })
    if (!after.ok) {
      throw repairFailed(directory, `the rebuilt store does not pass its check (${after.problems.slice(0, 3).map((p) => p.message).join('; ')})`)
    }
    // The original is set aside under the name it is kept as; the two renames are the swap
    // every replaced store goes through, recovered the same way when a kill falls between them.
    const paths = keptSwapPaths(directory, token, new Date())
    const original = paths.aside
    swapDirectorySync(directory, paths)
    await syncDirectory(parent)
    return {
      directory,
      repaired: true,
      original,
      found,
      recovered: [...plan.kept.keys()].sort(),
      reverted: plan.reverted,
      lost: plan.lost,
      dropped: evidence.dropped,
      version: plan.version,
      flows: plan.kept.size,
      tombstones: plan.lost.length,
      durationMs: performance.now() - started
    }
  } catch (err) {
    if (isFlowStoreError(err)) throw err
    throw repairFailed(directory, (err as Error).message, err)
  } finally {
    await rm(work, { recursive: true, force: true }).catch(noop)
    await rm(rebuilt, { recursive: true, force: true }).catch(noop)
    await held.release()
  }
}

function repairFailed (directory: string, what: string, cause?: unknown): FlowStoreError {
  return new FlowStoreError('FLOWSTORE_REPAIR_FAILED', `Repairing ${directory} failed: ${what}. The database was left exactly as it was`, cause === undefined ? {} : { cause })
}

/** Copies LevelDB's data files (not its lock or info logs) into a new owner-only directory. */
async function copyDatabase (from: string, to: string, onProgress: RepairOptions['onProgress']): Promise<void> {
  await mkdir(to, { mode: 0o700 })
  const names = (await readdir(from)).filter((name) => isLevelDbFile(name) && name !== 'LOCK' && name !== 'LOG' && name !== 'LOG.old')
  const sizes = onProgress === undefined ? [] : await Promise.all(names.map(async (name) => (await stat(join(from, name))).size))
  const totalBytes = sizes.reduce((sum, size) => sum + size, 0)
  let bytes = 0
  onProgress?.({ step: 'copy', done: 0, total: names.length, bytes, totalBytes })
  for (const [i, name] of names.entries()) {
    await copyFile(join(from, name), join(to, name), constants.COPYFILE_FICLONE)
    bytes += sizes[i] ?? 0
    onProgress?.({ step: 'copy', done: i + 1, total: names.length, bytes, totalBytes })
  }
}

interface Evidence {
  /** Keys written by the damaged parts (log writes dropped, table blocks unreadable): key -> where. */
  readonly damagedKeys: Map<string, string>
  readonly dropped: string[]
}

/** Rewrites damaged tables and logs from their intact parts (see above). */
async function cleanDamagedFiles (directory: string): Promise<Evidence> {
  const damagedKeys = new Map<string, string>()
  const dropped: string[] = []
  const note = (key: Uint8Array, where: string): void => { damagedKeys.set(Buffer.from(key).toString('utf8'), where) }
  for (const name of (await readdir(directory)).sort()) {
    const path = join(directory, name)
    if (/^\d+\.(ldb|sst)$/.test(name)) {
      const table = await readFile(path)
      if (verifyTable(table).problem === undefined) continue
      const salvage = salvageTable(table)
      for (const key of salvage.damagedKeys) note(key, `a damaged block of ${name}`)
      dropped.push(`${name}: ${salvage.droppedBlocks} damaged block(s) or stretch(es), ${salvage.droppedBytes} bytes, left out; ${salvage.entries.length} entries kept (blocks found ${salvage.route === 'index' ? 'through its index' : 'by their checksums: its index is damaged'})`)
      if (salvage.entries.length > 0) await writeFile(path, encodeTable(salvage.entries))
      else await rm(path)
    } else if (/^\d+\.log$/.test(name)) {
      if ((await scanLogFile(path)).problems.length === 0) continue
      const { records, damaged } = salvageLog(await readFile(path))
      for (const stretch of damaged) for (const key of writeBatchKeys(stretch.bytes)) note(key, `a damaged write in ${name}`)
      const where = damaged.slice(0, 3).map((d) => `${d.what} at offset ${d.offset}`).join('; ')
      dropped.push(`${name}: ${damaged.length} damaged stretch(es) (${where}${damaged.length > 3 ? '; …' : ''}), ${damaged.reduce((sum, d) => sum + d.bytes.length, 0)} bytes, left out; ${records.length} intact write(s) kept`)
      if (records.length > 0) await writeFile(path, encodeLog(records))
      else await rm(path)
    }
  }
  return { damagedKeys, dropped }
}

/**
 * Keys written by a damaged part of a log, as far as its bytes tell: the write batch a
 * damaged record starts, parsed while it parses; then, anywhere in the bytes, the change-log
 * entries (a L!<12 hex digits> key framed as a batch entry, then its value, parsed as far as
 * it goes) and layout 1's change-record keys (c!<12 hex digits>!<id>), which name every id a
 * commit saved or deleted: distinctive enough to find in damaged bytes and in later fragments.
 */
function writeBatchKeys (bytes: Uint8Array): Uint8Array[] {
  const keys: Uint8Array[] = []
  const type = bytes[6]
  // [crc 4][length 2][type 1] then, for a whole or first fragment, [sequence 8][count 4].
  if (bytes.length >= 19 && (type === 1 || type === 2)) {
    const end = Math.min(bytes.length, 7 + (bytes[4]! | (bytes[5]! << 8)))
    let pos = 19
    const varint = (): number => {
      let value = 0
      for (let shift = 0; shift < 35; shift += 7) {
        if (pos >= end) throw new RangeError('truncated')
        const byte = bytes[pos++]!
        value += (byte & 0x7f) * 2 ** shift
        if (byte < 0x80) return value
      }
      throw new RangeError('bad varint')
    }
    try {
      while (pos < end) {
        const tag = bytes[pos++]
        if (tag !== 0 && tag !== 1) break
        const keyLength = varint()
        if (pos + keyLength > end) break
        keys.push(bytes.slice(pos, pos + keyLength))
        pos += keyLength
        if (tag === 1) pos += varint()
      }
    } catch {
      // As far as it parsed.
    }
  }
  for (let i = 2; i + 15 < bytes.length; i++) {
    if (bytes[i] !== 0x63 || bytes[i + 1] !== 0x21 || bytes[i + 14] !== 0x21) continue
    const length = bytes[i - 1]!
    if ((bytes[i - 2] !== 0 && bytes[i - 2] !== 1) || length <= 15 || length >= 0x80 || i + length > bytes.length) continue
    let hex = true
    for (let j = i + 2; j < i + 14 && hex; j++) hex = (bytes[j]! >= 0x30 && bytes[j]! <= 0x39) || (bytes[j]! >= 0x61 && bytes[j]! <= 0x66)
    if (!hex) continue
    keys.push(Buffer.concat([Buffer.from('f!'), bytes.subarray(i + 15, i + length)]))
  }
  for (let i = 2; i + 14 < bytes.length; i++) {
    // [tag 1: a put][key length 14]['L!' + 12 hex digits][value length: varint][log entry]
    if (bytes[i] !== 0x4c || bytes[i + 1] !== 0x21 || bytes[i - 1] !== 14 || bytes[i - 2] !== 1) continue
    let hex = true
    for (let j = i + 2; j < i + 14 && hex; j++) hex = (bytes[j]! >= 0x30 && bytes[j]! <= 0x39) || (bytes[j]! >= 0x61 && bytes[j]! <= 0x66)
    if (!hex) continue
    let pos = i + 14
    while (pos < bytes.length && bytes[pos]! >= 0x80) pos++
    for (const id of logEntryIds(bytes.subarray(pos + 1))) keys.push(Buffer.concat([Buffer.from('f!'), Buffer.from(id, 'utf8')]))
  }
  return keys
}

/** The ids of a change-log entry, as far as its bytes go (they may be cut short or damaged). */
function logEntryIds (bytes: Uint8Array): string[] {
  const ids: string[] = []
  // [format 1][before 6][count 4], then [flag][length: 4 bytes BE][id] per change.
  if (bytes.length < 11 || bytes[0] !== 1) return ids
  for (let at = 11; at + 5 <= bytes.length;) {
    const flag = bytes[at]!
    const length = ((bytes[at + 1]! << 24) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 8) | bytes[at + 4]!) >>> 0
    if ((flag !== 0 && flag !== 1) || length === 0 || length > 65536 || at + 5 + length > bytes.length) break
    ids.push(Buffer.from(bytes.subarray(at + 5, at + 5 + length)).toString('utf8'))
    at += 5 + length
  }
  return ids
}

interface Plan {
  /** Kept flows: id -> the version to store it under. */
  readonly kept: Map<string, number>
  /** Tombstones: id -> version. */
  readonly tombstones: Map<string, number>
  readonly reverted: RevertedFlow[]
  readonly lost: LostFlow[]
  readonly version: number
}

const isVersion = (v: number | undefined): v is number => v !== undefined && Number.isSafeInteger(v) && v >= 1 && v <= MAX_VERSION

/** Pass 1: reads what LevelDB's repair salvaged and decides what the new store holds. */
async function analyse (directory: string, evidence: Evidence, onProgress: RepairOptions['onProgress']): Promise<Plan> {
  const codec = new FlowCodec({ maxFlowBytes: Number.MAX_SAFE_INTEGER, maxIdBytes: Number.MAX_SAFE_INTEGER })
  const saves = new Map<string, number>() // newest saved change-record version per id
  const deletes = new Map<string, number>() // newest deleted change-record version per id
  const flows = new Map<string, number | undefined>() // decodable, undamaged flows: header version
  const tombstones = new Map<string, number | undefined>()
  const lost = new Map<string, string>()
  let storeVersion = 0
  let highest = 0
  const see = (v: number | undefined): void => { if (isVersion(v) && v > highest) highest = v }
  const db = new ClassicLevel<string, Uint8Array>(directory, { createIfMissing: false })
  try {
    await db.open()
    const change = (id: string, version: number, deleted: boolean): void => {
      if (!isVersion(version)) return
      see(version)
      const into = deleted ? deletes : saves
      if ((into.get(id) ?? 0) < version) into.set(id, version)
    }
    await scanDatabase(db, {
      log (version, value) {
        const entry = decodeLogEntry(value)
        if (entry === undefined) return
        entry.ids.forEach((id, i) => { change(id, version, entry.deleted[i]!) })
      },
      change (id, version, value) {
        change(id, version, value.length === 1 && value[0] === 1)
      },
      flow (id, record) {
        try {
          codec.decode(id, record)
        } catch (err) {
          if (!isFlowStoreError(err, 'FLOWSTORE_DECODE_ERROR')) throw err
          lost.set(id, `its stored value cannot be decoded (${err.message})`)
          return
        }
        flows.set(id, recordVersion(record))
      },
      tombstone (id, value) {
        tombstones.set(id, decodeVersion(value))
      },
      meta (key, value) {
        if (key === VERSION_KEY) storeVersion = decodeVersion(value) ?? 0
      },
      other: noop
    }, { afterBatch: onProgress === undefined ? undefined : entriesProgress(db, 'analyse', onProgress) })
  } catch (err) {
    throw new Error(`reading the copy after LevelDB's repair failed (${(err as Error).message})`, { cause: err })
  } finally {
    await db.close().catch(noop)
  }
  see(storeVersion)
  // Every commit writes the store version and its change-record entries in one batch, so no
  // flow or tombstone can legitimately be newer than those; one that claims to be is stamped
  // anew. The repair is one more commit: what it changes is stamped with the next version.
  const valid = (v: number | undefined): v is number => isVersion(v) && v <= highest
  const version = highest + 1
  const kept = new Map<string, number>()
  const reverted: RevertedFlow[] = []
  for (const [id, header] of flows) {
    const saved = saves.get(id)
    const deleted = tombstones.get(id) ?? deletes.get(id)
    const damaged = evidence.damagedKeys.get(flowKey(id)) ?? evidence.damagedKeys.get(tombstoneKey(id))
    let stamp = valid(header) ? header : version
    if (saved !== undefined && valid(header) && saved > header) {
      reverted.push({ id, recoveredVersion: header, reason: `the change record says version ${saved} was saved; that revision did not survive` })
      stamp = version
    } else if (damaged !== undefined) {
      reverted.push({ id, recoveredVersion: stamp, reason: `${damaged} held a revision of it, perhaps a later one` })
      stamp = version
    }
    if (deleted !== undefined && (!valid(deleted) || deleted >= stamp)) stamp = version
    kept.set(id, stamp)
  }
  const tombstoneVersions = new Map<string, number>()
  for (const [id, v] of tombstones) {
    if (kept.has(id)) continue
    const fallback = deletes.get(id)
    tombstoneVersions.set(id, valid(v) ? v : valid(fallback) ? fallback : version)
  }
  // Saved per the change record, or written by a dropped log write, and not recovered.
  for (const [id, saved] of saves) {
    if (kept.has(id) || lost.has(id)) continue
    const deleted = tombstoneVersions.get(id) ?? deletes.get(id)
    if (deleted === undefined || deleted < saved) lost.set(id, `its flow record (version ${saved}) did not survive`)
  }
  for (const [key, where] of evidence.damagedKeys) {
    const id = key.startsWith(FLOW_RANGE.gte) ? key.slice(FLOW_RANGE.gte.length) : undefined
    if (id === undefined || id.length === 0 || kept.has(id) || lost.has(id) || tombstoneVersions.has(id)) continue
    lost.set(id, `${where} held it`)
  }
  const lostList: LostFlow[] = []
  for (const [id, reason] of lost) {
    if (kept.has(id)) continue
    lostList.push({ id, reason })
    tombstoneVersions.set(id, version)
  }
  lostList.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  reverted.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  return { kept, tombstones: tombstoneVersions, reverted, lost: lostList, version }
}

type Operation = { type: 'put', key: string, value: Uint8Array } | { type: 'del', key: string }

/** Pass 2: writes the new store from the repaired copy and the plan. */
async function rebuild (from: string, to: string, plan: Plan, onProgress: RepairOptions['onProgress']): Promise<void> {
  await mkdir(to, { mode: 0o700 })
  const source = new ClassicLevel<string, Uint8Array>(from, { createIfMissing: false })
  const target = new ClassicLevel<string, Uint8Array>(to, { errorIfExists: true, keyEncoding: 'utf8', valueEncoding: 'view' })
  const options = { keyEncoding: 'utf8', valueEncoding: 'view' } as never
  try {
    await source.open()
    await target.open()
    let ops: Operation[] = []
    let flows = 0
    let bytes = 0
    onProgress?.({ step: 'rebuild', done: 0, total: plan.kept.size, bytes, totalBytes: undefined })
    const flush = async (): Promise<void> => {
      if (ops.length === 0) return
      const batch = ops
      ops = []
      await target.batch(batch as never, options)
    }
    // The repair's own commit: every flow stamped with its version, every flow lost. Older
    // changes are not logged (the log's horizon is the version before the repair's).
    const restamped: string[] = []
    await scanDatabase(source, {
      log: noop,
      change: noop,
      flow (id, record) {
        const version = plan.kept.get(id)
        if (version === undefined) return
        const copy = record.slice()
        writeVersion(copy, 1, version)
        flows++
        bytes += copy.length
        ops.push({ type: 'put', key: flowKey(id), value: copy })
        if (version === plan.version) restamped.push(id)
      },
      tombstone: noop,
      meta: noop,
      other: noop
    }, {
      ...FLOW_RANGE,
      afterBatch: async () => {
        if (ops.length >= BATCH_OPS) await flush()
        onProgress?.({ step: 'rebuild', done: flows, total: plan.kept.size, bytes, totalBytes: undefined })
      }
    })
    await flush()
    const lost = plan.lost.map((flow) => flow.id)
    if (restamped.length + lost.length > 0) {
      ops.push({ type: 'put', key: logKey(plan.version), value: encodeLogEntry(0, [...restamped, ...lost], [...restamped.map(() => false), ...lost.map(() => true)]) })
    }
    ops.push(
      { type: 'put', key: FORMAT_KEY, value: Uint8Array.of(LAYOUT_VERSION) },
      { type: 'put', key: VERSION_KEY, value: encodeVersion(plan.version) },
      { type: 'put', key: HORIZON_KEY, value: encodeVersion(plan.version - 1) },
      { type: 'put', key: STORE_ID_KEY, value: Buffer.from(randomUUID(), 'utf8') }
    )
    const last = ops
    ops = []
    await target.batch(last as never, { ...(options as object), sync: true } as never)
  } finally {
    await source.close().catch(noop)
    await target.close().catch(noop)
  }
}
