// Figure 6 — backup, on a copy of the shared 100,000-flow store (20,000 with --quick):
//   1. store.backup(file) (full) vs a raw scan of the same database's flow records through
//      one snapshot (classic-level iterator, nextv(1000)) with the same record bodies gzipped
//      (node:zlib, level 3, the backup's default) and streamed to a file. The store and the
//      baseline share one ClassicLevel instance (passed to FlowStore.open), so both read the
//      very same data. The baseline does not fsync; the backup does (it is part of its job).
//   2. The median latency of `await store.save(mutatedFlow)`, one after another, while a full
//      backup runs vs the same saves without a backup running.
//   3. A changed-only backup after 100 changes (100 awaited saves of distinct flows) vs a full
//      backup: time and size.
//   4. Memory: the peak live heapUsed + external growth during a full backup of the large
//      store vs one of a store 5× smaller, each in a child process (backup-memory-child.ts).

import { execFile } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { cp, rm } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createGzip } from 'node:zlib'
import { ClassicLevel } from 'classic-level'
import { type GeneratedFlow, generateFlow, mutateFlow } from '../../examples/generate-flows.ts'
import { type BackupInfo, FlowStore } from '../../src/index.ts'
import { gc } from '../lib/gc.ts'
import { formatBytes, formatTime } from '../lib/report.ts'
import { atMost, compare, pick, statOfValues } from '../lib/stats.ts'
import type { Context, Row, Suite } from '../lib/types.ts'
import type { BackupMemoryMeasurement } from './backup-memory-child.ts'

const FLOWS = 100_000
const QUICK_FLOWS = 20_000
const CHANGES = 100
const HEADER_BYTES = 7 // the flowstore record header before the msgpack body (src/layout.ts)
const GZIP_LEVEL = 3
const HERE = dirname(fileURLToPath(import.meta.url))
const CHILD = join(HERE, 'backup-memory-child.ts')
const ROOT = resolve(HERE, '..', '..')
const MiB = 1024 * 1024

interface NextvIterator { nextv (size: number): Promise<Array<[Uint8Array, Uint8Array]>>, close (): Promise<void> }

/** The baseline: every flow record's body through one snapshot, gzipped to `file`. Returns the count. */
async function rawSnapshotGzip (db: ClassicLevel<string, Uint8Array>, file: string): Promise<number> {
  const snapshot = db.snapshot()
  let count = 0
  try {
    const iterator = db.iterator({
      gte: Buffer.from('f!'),
      lt: Buffer.from('f"'),
      keyEncoding: 'view',
      valueEncoding: 'view',
      highWaterMarkBytes: 4 * MiB,
      snapshot
    } as never) as unknown as NextvIterator
    async function * chunks (): AsyncGenerator<Buffer> {
      try {
        for (;;) {
          const entries = await iterator.nextv(1000)
          if (entries.length === 0) break
          count += entries.length
          yield Buffer.concat(entries.map(([, value]) => value.subarray(HEADER_BYTES)))
        }
      } finally {
        await iterator.close()
      }
    }
    await pipeline(Readable.from(chunks()), createGzip({ level: GZIP_LEVEL }), createWriteStream(file))
  } finally {
    await snapshot.close()
  }
  return count
}

async function measureMemory (dir: string, file: string): Promise<BackupMemoryMeasurement> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD, dir, file], {
    cwd: ROOT,
    maxBuffer: 1024 * 1024
  })
  await rm(file, { force: true })
  return JSON.parse(stdout.trim().split('\n').pop()!) as BackupMemoryMeasurement
}

const median = (values: readonly number[]): number => statOfValues('ms', values).median

export const suite: Suite = {
  name: 'backup',
  description: `store.backup() of a ${FLOWS.toLocaleString('en')}-flow store (${QUICK_FLOWS.toLocaleString('en')} with --quick) vs a raw snapshot scan + gzip; saves during a backup; changed-only vs full; memory during a backup`,
  tags: ['export', 'gzip'],
  async run (ctx: Context): Promise<Row[]> {
    const count = ctx.quick ? QUICK_FLOWS : FLOWS
    const n = count.toLocaleString('en')
    const shared = await ctx.stores.flowStore(count)
    const dir = join(await ctx.tmp.make('backup-store'), 'db')
    await cp(shared, dir, { recursive: true })
    const out = await ctx.tmp.make('backup-files')
    let fileNo = 0
    const nextFile = (): string => join(out, `b${fileNo++}.gz`)

    const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    await db.open()
    const store = await FlowStore.open<GeneratedFlow>(db)
    const rows: Row[] = []
    try {
      if (store.size !== count) throw new Error(`backup: the store holds ${store.size} flows, expected ${count}`)
      // Edits of the flows, round robin over ids spread through the store.
      let revision = 0
      const current = new Map<string, GeneratedFlow>()
      const nextEdit = (): GeneratedFlow => {
        const i = (revision * 7919) % count
        revision++
        const id = generateFlow(i).id
        const next = mutateFlow(current.get(id) ?? store.get(id)!, revision)
        current.set(id, next)
        return next
      }

      // --- 2. saves during a running backup vs without -------------------------------------
      const during: number[] = []
      const without: number[] = []
      for (let round = 0; round < (ctx.quick ? 1 : 3); round++) {
        gc()
        const file = nextFile()
        let done = false
        const running = store.backup(file).then((info) => { done = true; return info })
        let inRound = 0
        while (!done) {
          const flow = nextEdit()
          const t = performance.now()
          await store.save(flow)
          during.push(performance.now() - t)
          inRound++
        }
        const info = await running
        if (info.flows !== count) throw new Error(`backup: a backup during saves held ${info.flows} flows, expected ${count}`)
        await rm(file)
        gc()
        for (let i = 0; i < inRound; i++) {
          const flow = nextEdit()
          const t = performance.now()
          await store.save(flow)
          without.push(performance.now() - t)
        }
      }
      if (during.length < 10) throw new Error(`backup: only ${during.length} saves completed during the backups`)
      const duringStat = statOfValues('ms', during)
      const withoutStat = statOfValues('ms', without)
      ctx.recordStat('backup: saves', 'await store.save during a full backup', duringStat)
      ctx.recordStat('backup: saves', 'await store.save without a backup', withoutStat)
      ctx.log(`${during.length} saves during backups: median ${formatTime(duringStat.median)} (p99 ${formatTime(duringStat.p99)}); without: median ${formatTime(withoutStat.median)}`)

      // --- 1 and 3. full backup vs raw scan + gzip; changed-only vs full ---------------------
      const base = await store.backup(nextFile())
      for (let i = 0; i < CHANGES; i++) await store.save(nextEdit())
      if (store.version !== base.version + CHANGES) throw new Error(`backup: expected ${CHANGES} versions after the base backup, got ${store.version - base.version}`)
      const fullBytes: number[] = []
      const changedBytes: number[] = []
      let written = ''
      const cleanup = { afterEach: async () => { await rm(written, { force: true }) }, beforeEach: () => { written = nextFile() } }
      const check = (what: string, info: BackupInfo, flows: number): void => {
        if (info.flows !== flows) throw new Error(`backup: ${what} held ${info.flows} flows, expected ${flows}`)
      }
      const bench = ctx.bench(`backup: ${n} flows`, { iterations: 8, warmupIterations: 1 })
        .add('raw snapshot scan + gzip (baseline)', async () => {
          const seen = await rawSnapshotGzip(db, written)
          if (seen !== count) throw new Error(`backup: the raw scan saw ${seen} flows, expected ${count}`)
        }, cleanup)
        .add('store.backup (full)', async () => {
          const info = await store.backup(written)
          check('a full backup', info, count)
          fullBytes.push(info.bytes)
        }, cleanup)
        .add(`store.backup (changed-only, ${CHANGES} changes)`, async () => {
          const info = await store.backup(written, { since: base })
          check('a changed-only backup', info, CHANGES)
          changedBytes.push(info.bytes)
        }, cleanup)
      const stats = await ctx.run(bench)
      const full = pick(stats, 'store.backup (full)')
      rows.push(compare(`full backup of ${n} flows vs raw snapshot scan + gzip`, full, pick(stats, 'raw snapshot scan + gzip (baseline)'), atMost(1.5),
        `backup ${formatBytes(median(fullBytes))}; the baseline gzips the same record bodies (level ${GZIP_LEVEL}) without ids, framing, checksum or fsync`))
      rows.push(compare(`saves during a full backup of ${n} flows vs without (median latency)`,
        { label: 'await store.save during a backup', stat: duringStat }, { label: 'await store.save, no backup', stat: withoutStat }, atMost(2),
        `${during.length} saves awaited one after another while ${ctx.quick ? 1 : 3} full backups ran, and as many without`))
      rows.push(compare(`changed-only backup after ${CHANGES} changes vs full backup of ${n} flows: time`,
        pick(stats, `store.backup (changed-only, ${CHANGES} changes)`), full, atMost(0.02)))
      const changedSize = statOfValues('bytes', changedBytes)
      const fullSize = statOfValues('bytes', fullBytes)
      ctx.recordStat(bench.name ?? 'backup', 'changed-only backup: file bytes', changedSize)
      ctx.recordStat(bench.name ?? 'backup', 'full backup: file bytes', fullSize)
      rows.push(compare(`changed-only backup after ${CHANGES} changes vs full backup of ${n} flows: size`,
        { label: 'changed-only file', stat: changedSize }, { label: 'full file', stat: fullSize }, atMost(0.02)))
    } finally {
      await store.close()
      await db.close()
    }

    // --- 4. memory stays flat ---------------------------------------------------------------
    const small = count / 5
    const smallDir = await ctx.stores.flowStore(small)
    const runs = ctx.quick ? 1 : 3
    const large: BackupMemoryMeasurement[] = []
    const smaller: BackupMemoryMeasurement[] = []
    for (let i = 0; i < runs; i++) {
      smaller.push(await measureMemory(smallDir, nextFile()))
      large.push(await measureMemory(shared, nextFile()))
    }
    if (large.some((m) => m.flows !== count) || smaller.some((m) => m.flows !== small)) throw new Error('backup: a memory child backed up the wrong number of flows')
    const largeGrowth = statOfValues('bytes', large.map((m) => m.peakGrowth))
    const smallGrowth = statOfValues('bytes', smaller.map((m) => m.peakGrowth))
    const largeGarbage = statOfValues('bytes', large.map((m) => m.peakWithGarbage))
    const smallGarbage = statOfValues('bytes', smaller.map((m) => m.peakWithGarbage))
    const largeRss = statOfValues('bytes', large.map((m) => m.peakRssGrowth))
    const smallRss = statOfValues('bytes', smaller.map((m) => m.peakRssGrowth))
    ctx.recordStat('backup: memory', `peak heap + external growth, full backup of ${n}`, largeGrowth)
    ctx.recordStat('backup: memory', `peak heap + external growth, full backup of ${small.toLocaleString('en')}`, smallGrowth)
    ctx.recordStat('backup: memory', `peak growth incl. garbage (info), full backup of ${n}`, largeGarbage)
    ctx.recordStat('backup: memory', `peak growth incl. garbage (info), full backup of ${small.toLocaleString('en')}`, smallGarbage)
    ctx.recordStat('backup: memory', `peak rss growth (info), full backup of ${n}`, largeRss)
    ctx.recordStat('backup: memory', `peak rss growth (info), full backup of ${small.toLocaleString('en')}`, smallRss)
    ctx.log(`memory during a backup: ${n} flows +${formatBytes(largeGrowth.median)} live (+${formatBytes(largeGarbage.median)} with garbage, rss +${formatBytes(largeRss.median)}, ${large[0]!.samples} samples); ` +
      `${small.toLocaleString('en')} flows +${formatBytes(smallGrowth.median)} live (+${formatBytes(smallGarbage.median)} with garbage, rss +${formatBytes(smallRss.median)})`)
    const max = 1.5 + 8 * MiB / smallGrowth.median
    rows.push(compare(`memory growth during a full backup: ${n} flows vs ${small.toLocaleString('en')}`,
      { label: `${n} flows`, stat: largeGrowth }, { label: `${small.toLocaleString('en')} flows`, stat: smallGrowth },
      { max, text: `≤ 1.5× + 8 MiB (${max.toFixed(2)}×)` },
      `peak live heapUsed + external over the opened store (a full collection before each sample, at every progress call), in a child process; ` +
      `sampled every 2 ms without collecting (garbage included) it grew ${formatBytes(largeGarbage.median)} vs ${formatBytes(smallGarbage.median)}, rss ${formatBytes(largeRss.median)} vs ${formatBytes(smallRss.median)}`))
    return rows
  }
}
