// One measurement of the scale suite, in a fresh process (so no figure inherits another's
// heap, JIT state or OS cache warmth from the same process). Run by scale.ts as:
//   node --expose-gc --max-old-space-size=16384 --import tsx bench/suites/scale-child.ts <task> <args...>
// Prints one JSON object (ScaleMeasurement) as its last line on stdout.
//
// Tasks:
//   build <dir> <count>            writes scaleFlow(0 .. count-1) through FlowStore.saveMany in
//                                  awaited chunks, closes, compacts (the cached stores)
//   raw-keep <dir>                 classic-level scan of the f! range keeping id + value in a Map
//   raw-drop <dir>                 the same scan keeping nothing
//   raw-keys <dir>                 a keys-only scan of the f! range keeping nothing
//   open <dir> [preload]           FlowStore.open (optionally { preload }): time and memory
//   first-reads <dir> <count> <n>  n random flows read for the first time in preload: 'keys'
//                                  mode (each timed), and the same with a raw getSync + unpack
//   serve <dir> <count>            preload: 'keys': open, 100,000 random reads, 1,000 saves,
//                                  changesSince; the RSS after each step and at its peak
//   decode-all <dir>               open, then read every flow through store.flows: time, memory
//   bulk-write <dir> <count> <chunk>  a new store: saveMany of count flows, `chunk` per awaited
//                                  call (count: one call), then close
//   backup <dir> <file>            store.backup(file) (full)
//   restore <file> <dir>           restoreBackup(file, dir)
//   check <dir>                    checkStore(dir)
//
// Times are performance.now() around the operation only (not the process start), and the
// process's CPU time over the same span (process.cpuUsage). Memory is
// process.memoryUsage() after settled collections: heapUsed + external (external includes
// arrayBuffers, so they are not added twice); arrayBuffers and rss are reported too.

import { rm } from 'node:fs/promises'
import { ClassicLevel } from 'classic-level'
import { Packr } from 'msgpackr'
import { checkStore, FlowStore, restoreBackup } from '../../src/index.ts'
import { requireGc, settle, type Usage, usage } from '../lib/memory-usage.ts'
import { scaleFlow, scaleFlowId } from '../lib/scale-flows.ts'
import { prng } from '../lib/stores.ts'
import { compact } from '../lib/stores.ts'

export interface ScaleMeasurement {
  readonly task: string
  /** Flows seen (scanned, opened, decoded, written, backed up…). */
  readonly flows: number
  readonly ms: number
  /**
   * CPU time of the process (user + system, all its threads: LevelDB's included) over the
   * same span: unlike `ms`, not stretched by other processes' load on the machine.
   */
  readonly cpuMs: number
  /** Settled usage before the operation, and after it (with its result still held). */
  readonly before?: Usage
  readonly after?: Usage
  /** Σ record bytes (header + msgpack) of the scanned values (raw-keep, raw-drop). */
  readonly recordBytes?: number
  /** Σ UTF-8 bytes of JSON.stringify(flow) (build, decode-all). */
  readonly jsonBytes?: number
  /** Peak RSS seen (decode-all: at the end). */
  readonly rss?: number
  readonly extra?: Record<string, number>
}

const SCAN_BATCH = 1000
const HIGH_WATER_MARK_BYTES = 4 * 1024 * 1024
const BUILD_CHUNK = 10_000

interface NextvIterator<T> { nextv (size: number): Promise<T[]>, close (): Promise<void> }

const gc = requireGc('scale-child.ts')

/** A clock for one operation: wall time and the process's CPU time since start(). */
function clock (): () => { ms: number, cpuMs: number } {
  const wall = performance.now()
  const cpu = process.cpuUsage()
  return () => {
    const used = process.cpuUsage(cpu)
    return { ms: performance.now() - wall, cpuMs: (used.user + used.system) / 1000 }
  }
}

async function rawScan (dir: string, mode: 'keep' | 'drop' | 'keys'): Promise<ScaleMeasurement> {
  await settle(gc)
  const before = usage()
  const stop = clock()
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  const kept = new Map<string, Uint8Array>()
  let flows = 0
  let recordBytes = 0
  try {
    const range = { gte: Buffer.from('f!'), lt: Buffer.from('f"'), keyEncoding: 'view', valueEncoding: 'view', highWaterMarkBytes: HIGH_WATER_MARK_BYTES } as const
    if (mode === 'keys') {
      const iterator = db.keys(range) as unknown as NextvIterator<Uint8Array>
      try {
        for (;;) {
          const keys = await iterator.nextv(SCAN_BATCH)
          if (keys.length === 0) break
          flows += keys.length
        }
      } finally {
        await iterator.close()
      }
    } else {
      const iterator = db.iterator(range) as unknown as NextvIterator<[Buffer, Buffer]>
      try {
        for (;;) {
          const entries = await iterator.nextv(SCAN_BATCH)
          if (entries.length === 0) break
          flows += entries.length
          for (const [key, value] of entries) {
            recordBytes += value.length
            if (mode === 'keep') kept.set(key.toString('utf8', 2), value)
          }
        }
      } finally {
        await iterator.close()
      }
    }
  } finally {
    await db.close()
  }
  const { ms, cpuMs } = stop()
  await settle(gc)
  const after = usage()
  if (mode === 'keep' && kept.size !== flows) throw new Error('raw-keep lost entries')
  return { task: `raw-${mode}`, flows, ms, cpuMs, before, after, recordBytes }
}

async function open (dir: string, preload: string | undefined): Promise<ScaleMeasurement> {
  await settle(gc)
  const before = usage()
  const stop = clock()
  const store = await FlowStore.open(dir, preload === undefined ? undefined : { preload } as never)
  const { ms, cpuMs } = stop()
  try {
    await settle(gc)
    const after = usage()
    return { task: 'open', flows: store.size, ms, cpuMs, before, after }
  } finally {
    await store.close()
  }
}

async function decodeAll (dir: string): Promise<ScaleMeasurement> {
  const store = await FlowStore.open(dir)
  try {
    await settle(gc)
    const before = usage()
    const stop = clock()
    let flows = 0
    for (const flow of store.flows.values()) if (flow !== undefined) flows++
    const { ms, cpuMs } = stop()
    await settle(gc)
    const after = usage()
    let jsonBytes = 0
    for (const flow of store.flows.values()) jsonBytes += Buffer.byteLength(JSON.stringify(flow))
    return { task: 'decode-all', flows, ms, cpuMs, before, after, jsonBytes, rss: after.rss }
  } finally {
    await store.close()
  }
}

function * flowsOf (from: number, to: number): Generator<ReturnType<typeof scaleFlow>> {
  for (let i = from; i < to; i++) yield scaleFlow(i)
}

/** A new store of `count` flows, `chunk` flows per awaited saveMany. */
async function bulkWrite (dir: string, count: number, chunk: number): Promise<ScaleMeasurement> {
  await rm(dir, { recursive: true, force: true })
  const stop = clock()
  const store = await FlowStore.open(dir, { flush: 'manual' })
  try {
    for (let from = 0; from < count; from += chunk) {
      const committed = store.saveMany(flowsOf(from, Math.min(count, from + chunk)))
      await store.flush()
      await committed
    }
  } finally {
    await store.close()
  }
  return { task: 'bulk-write', flows: count, ...stop() }
}

/** The cached stores: written in awaited chunks, then compacted, with the JSON size of every flow. */
async function build (dir: string, count: number): Promise<ScaleMeasurement> {
  await rm(dir, { recursive: true, force: true })
  const stop = clock()
  let jsonBytes = 0
  // preload: 'keys', so that memory stays bounded whatever the count (10,000,000 flows).
  const store = await FlowStore.open(dir, { flush: 'manual', preload: 'keys', maxCachedBytes: 64 * 1024 * 1024 })
  try {
    for (let from = 0; from < count; from += BUILD_CHUNK) {
      const chunk = []
      for (let i = from; i < Math.min(count, from + BUILD_CHUNK); i++) {
        const flow = scaleFlow(i)
        jsonBytes += Buffer.byteLength(JSON.stringify(flow))
        chunk.push(flow)
      }
      const committed = store.saveMany(chunk)
      await store.flush()
      await committed
    }
  } finally {
    await store.close()
  }
  await compact(dir)
  return { task: 'build', flows: count, ...stop(), jsonBytes }
}

async function backup (dir: string, file: string): Promise<ScaleMeasurement> {
  const store = await FlowStore.open(dir)
  try {
    const stop = clock()
    const info = await store.backup(file)
    return { task: 'backup', flows: info.flows, ...stop(), extra: { bytes: info.bytes } }
  } finally {
    await store.close()
  }
}

async function restore (file: string, dir: string): Promise<ScaleMeasurement> {
  await rm(dir, { recursive: true, force: true })
  const stop = clock()
  const info = await restoreBackup(file, dir)
  return { task: 'restore', flows: info.flows, ...stop() }
}

async function check (dir: string): Promise<ScaleMeasurement> {
  const stop = clock()
  const report = await checkStore(dir)
  if (!report.ok) throw new Error(`check found problems: ${JSON.stringify(report.problems.slice(0, 3))}`)
  return { task: 'check', flows: report.flows, ...stop() }
}

/** Seeded random flow indexes in [0, count). */
function randomIndexes (count: number, n: number, seed: number): number[] {
  const next = prng(seed)
  return Array.from({ length: n }, () => Math.floor(next() * count))
}

function quantile (values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * q))]!
}

/** First reads in preload: 'keys' mode, each timed, against raw getSync + unpack of the same keys. */
async function firstReads (dir: string, count: number, n: number): Promise<ScaleMeasurement> {
  const raw = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  await raw.open()
  const packr = new Packr({ useRecords: false, mapsAsObjects: true })
  const rawTimes: number[] = []
  try {
    for (const i of randomIndexes(count, n, 11)) {
      const started = performance.now()
      const value = raw.getSync(`f!${scaleFlowId(i)}`)
      if (value === undefined || packr.unpack(value.subarray(7)) === undefined) throw new Error('raw read found nothing')
      rawTimes.push(performance.now() - started)
    }
  } finally {
    await raw.close()
  }
  const store = await FlowStore.open(dir, { preload: 'keys', maxCachedBytes: 64 * 1024 * 1024 })
  const times: number[] = []
  const stop = clock()
  try {
    // Other indexes than the raw pass read: LevelDB's block cache holds what it read.
    for (const i of randomIndexes(count, n, 12)) {
      const started = performance.now()
      if (store.get(scaleFlowId(i)) === undefined) throw new Error('the store found nothing')
      times.push(performance.now() - started)
    }
  } finally {
    await store.close()
  }
  return {
    task: 'first-reads',
    flows: n,
    ...stop(),
    extra: { median: quantile(times, 0.5), p99: quantile(times, 0.99), rawMedian: quantile(rawTimes, 0.5), rawP99: quantile(rawTimes, 0.99) }
  }
}

/** A store in preload: 'keys' mode serving reads, saves and changesSince; its RSS. */
async function serve (dir: string, count: number): Promise<ScaleMeasurement> {
  const stop = clock()
  const store = await FlowStore.open(dir, { preload: 'keys' })
  const openMs = stop().ms
  const rss: Record<string, number> = { open: process.memoryUsage().rss }
  try {
    for (const i of randomIndexes(count, 100_000, 13)) if (store.get(scaleFlowId(i)) === undefined) throw new Error('missing flow')
    rss.reads = process.memoryUsage().rss
    const since = store.version
    const changed = randomIndexes(count, 1000, 14).map((i) => ({ ...scaleFlow(i), version: 99 }))
    await store.saveMany(changed)
    rss.saves = process.memoryUsage().rss
    const { changes } = await store.changesSince(since)
    if (changes.length === 0) throw new Error('changesSince saw nothing')
    rss.changes = process.memoryUsage().rss
    return { task: 'serve', flows: store.size, ...stop(), extra: { openMs, ...rss, peakRss: process.resourceUsage().maxRSS * 1024 } }
  } finally {
    await store.close()
  }
}

async function main (args: readonly string[]): Promise<ScaleMeasurement> {
  const [task, a, b, c] = args
  const need = (value: string | undefined, what: string): string => {
    if (value === undefined) throw new Error(`scale-child ${String(task)}: missing ${what}`)
    return value
  }
  switch (task) {
    case 'build': return await build(need(a, 'dir'), Number(need(b, 'count')))
    case 'raw-keep': return await rawScan(need(a, 'dir'), 'keep')
    case 'raw-drop': return await rawScan(need(a, 'dir'), 'drop')
    case 'raw-keys': return await rawScan(need(a, 'dir'), 'keys')
    case 'open': return await open(need(a, 'dir'), b)
    case 'decode-all': return await decodeAll(need(a, 'dir'))
    case 'first-reads': return await firstReads(need(a, 'dir'), Number(need(b, 'count')), Number(need(c, 'n')))
    case 'serve': return await serve(need(a, 'dir'), Number(need(b, 'count')))
    case 'bulk-write': return await bulkWrite(need(a, 'dir'), Number(need(b, 'count')), Number(need(c, 'chunk')))
    case 'backup': return await backup(need(a, 'dir'), need(b, 'file'))
    case 'restore': return await restore(need(a, 'file'), need(b, 'dir'))
    case 'check': return await check(need(a, 'dir'))
    default: throw new Error(`scale-child: unknown task ${String(task)}`)
  }
}

const result = await main(process.argv.slice(2))
process.stdout.write(JSON.stringify(result) + '\n')
