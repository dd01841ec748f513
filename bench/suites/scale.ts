// Figure 8 — scale: a 1,000,000-flow store (6 nodes and 5 edges per flow, ~930 bytes of
// record; 100,000 and 10,000 with --quick), every figure measured in a fresh child process
// (scale-child.ts), against baselines measured in the same run:
//   - open: FlowStore.open vs a raw classic-level scan of the f! range that keeps every value
//     (the least a store that preloads everything must do), and vs one that keeps nothing and
//     a keys-only scan (for information);
//   - linearity: open(1,000,000) / open(100,000);
//   - memory after open and collection vs the record bytes it holds;
//   - the first open after a bulk write (one saveMany of every flow; saveMany in awaited
//     chunks of 1,000, as importLegacyJson writes) vs a later open of the same store;
//   - reading every flow through store.flows: time, and memory per decoded flow vs its JSON
//     text size;
//   - a full backup, a restore of it and a check of the store (against the raw scan, for
//     information).
// Opt-in (`npm run bench -- scale`): it takes minutes, and the stores are cached under
// scratch/scale/ so that only the first run pays for writing them. Run it under `nice`
// on a shared machine.

import { execFile } from 'node:child_process'
import { mkdir, rm } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { formatBytes, formatTime } from '../lib/report.ts'
import { scaleStore, type ScaleStore } from '../lib/scale-store.ts'
import { atMost, compare, statOfValues } from '../lib/stats.ts'
import type { Context, Measured, Row, Stat, Suite } from '../lib/types.ts'
import type { ScaleMeasurement } from './scale-child.ts'

const FLOWS = 1_000_000
const QUICK_FLOWS = 100_000
const HERE = dirname(fileURLToPath(import.meta.url))
const CHILD = join(HERE, 'scale-child.ts')
const ROOT = resolve(HERE, '..', '..')
export const SCRATCH = join(ROOT, 'scratch', 'scale')
// Decoding a million flows needs more than V8's default old space (~4 GiB here).
const NODE_FLAGS = ['--expose-gc', '--max-old-space-size=16384', '--import', 'tsx']
const IMPORT_CHUNK = 1000
const FIRST_READS = 2000

export async function child (args: readonly string[]): Promise<ScaleMeasurement> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [...NODE_FLAGS, CHILD, ...args], {
      cwd: ROOT,
      maxBuffer: 16 * 1024 * 1024
    })
    return JSON.parse(stdout.trim().split('\n').pop()!) as ScaleMeasurement
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? ''
    throw new Error(`scale-child ${args.join(' ')} failed: ${stderr.trim().split('\n').slice(-8).join('\n')}`, { cause: err })
  }
}

export function expectFlows (run: ScaleMeasurement, count: number): ScaleMeasurement {
  if (run.flows !== count) throw new Error(`scale: ${run.task} saw ${run.flows} flows, expected ${count}`)
  return run
}

export const n = (count: number): string => count.toLocaleString('en')

/** Builds a cached scale store (scale-store.ts) in a child process. */
export async function build (dir: string, count: number): Promise<{ jsonBytes: number, ms: number }> {
  const run = expectFlows(await child(['build', dir, String(count)]), count)
  return { jsonBytes: run.jsonBytes!, ms: run.ms }
}
const CPU_NOTE = 'CPU time of the child process (user + system, all threads), which other processes\' load does not stretch'

export const suite: Suite = {
  name: 'scale',
  description: `a ${n(FLOWS)}-flow store (${n(QUICK_FLOWS)} with --quick), each figure in a fresh process: open vs raw scans, linearity, memory, first open after a bulk write, decode-all, backup, restore, check`,
  tags: ['million', '1m'],
  optIn: true,
  async run (ctx: Context): Promise<Row[]> {
    const big = ctx.quick ? QUICK_FLOWS : FLOWS
    const small = big / 10
    const repeats = ctx.quick ? 1 : 3
    const stores = { big: await scaleStore(SCRATCH, big, build, ctx.log), small: await scaleStore(SCRATCH, small, build, ctx.log) }

    // Interleaved, so that load from other processes hits subject and baselines alike.
    const runs = new Map<string, ScaleMeasurement[]>()
    const keep = (key: string, run: ScaleMeasurement): void => { runs.set(key, [...(runs.get(key) ?? []), run]) }
    for (let round = 0; round < repeats; round++) {
      for (const [size, store] of [['big', stores.big], ['small', stores.small]] as const) {
        for (const task of ['raw-keep', 'raw-drop', 'raw-keys', 'open', 'open-keys'] as const) {
          const run = expectFlows(await child(task === 'open-keys' ? ['open', store.dir, 'keys'] : [task, store.dir]), store.count)
          keep(`${size} ${task}`, run)
          ctx.log(`${n(store.count)} ${task}: ${formatTime(run.ms)} (CPU ${formatTime(run.cpuMs)})${run.after === undefined ? '' : `, +${formatBytes(run.after.total - run.before!.total)} held`}`)
        }
      }
    }
    const time = (key: string): Stat => statOfValues('ms', (runs.get(key) ?? []).map((run) => run.ms))
    // CPU time of the child (all its threads): not stretched by other processes' load.
    const cpu = (key: string): Stat => statOfValues('ms', (runs.get(key) ?? []).map((run) => run.cpuMs))
    const held = (key: string): Stat => statOfValues('bytes', (runs.get(key) ?? []).map((run) => run.after!.total - run.before!.total))
    const label = (name: string, stat: Stat): Measured => ({ label: name, stat })
    const bench = `scale: ${n(big)} flows`
    for (const [key] of runs) {
      ctx.recordStat(bench, `${key} (ms)`, time(key))
      ctx.recordStat(bench, `${key} (CPU ms)`, cpu(key))
    }
    for (const key of ['big open', 'big raw-keep', 'big open-keys']) ctx.recordStat(bench, `${key} held (heap + external)`, held(key))
    const recordBytes = runs.get('big raw-keep')![0]!.recordBytes!
    const records = label('record bytes (Σ f! values)', statOfValues('bytes', [recordBytes]))
    ctx.log(`${n(big)} flows: ${formatBytes(recordBytes)} of records, ${formatBytes(stores.big.jsonBytes)} of JSON, ${formatBytes(stores.big.diskBytes)} on disk`)

    const rows: Row[] = [
      compare(`open of ${n(big)} flows vs a raw scan keeping every value`, label('FlowStore.open', time('big open')), label('raw scan keeping id + value', time('big raw-keep')), atMost(1.3)),
      compare(`open of ${n(big)} flows vs a raw scan keeping nothing`, label('FlowStore.open', time('big open')), label('raw scan keeping nothing', time('big raw-drop')), null, 'information'),
      compare(`raw keys-only scan of ${n(big)} flows vs a raw scan keeping nothing`, label('keys-only scan', time('big raw-keys')), label('raw scan keeping nothing', time('big raw-drop')), null, 'information: the baseline of a keys-only open'),
      compare(`open of ${n(small)} flows vs a raw scan keeping every value`, label('FlowStore.open', time('small open')), label('raw scan keeping id + value', time('small raw-keep')), null, 'information: the same ratio at a tenth of the size'),
      compare(`linearity: open of ${n(big)} / open of ${n(small)}`, label(`open ${n(big)}`, time('big open')), label(`open ${n(small)}`, time('small open')), atMost(12)),
      compare(`linearity of the raw scan keeping every value: ${n(big)} / ${n(small)}`, label(`raw scan ${n(big)}`, time('big raw-keep')), label(`raw scan ${n(small)}`, time('small raw-keep')), null, 'information'),
      compare(`CPU time: open of ${n(big)} flows vs a raw scan keeping every value`, label('FlowStore.open', cpu('big open')), label('raw scan keeping id + value', cpu('big raw-keep')), atMost(1.3), CPU_NOTE),
      compare(`CPU time: linearity: open of ${n(big)} / open of ${n(small)}`, label(`open ${n(big)}`, cpu('big open')), label(`open ${n(small)}`, cpu('small open')), atMost(12), CPU_NOTE),
      compare(`open of ${n(big)} flows with preload: 'keys' vs a raw keys-only scan`, label("FlowStore.open, preload: 'keys'", time('big open-keys')), label('raw keys-only scan', time('big raw-keys')), atMost(1.3)),
      compare(`CPU time: open of ${n(big)} flows with preload: 'keys' vs a raw keys-only scan`, label("FlowStore.open, preload: 'keys'", cpu('big open-keys')), label('raw keys-only scan', cpu('big raw-keys')), atMost(1.3), CPU_NOTE),
      compare(`memory of ${n(big)} flows opened with preload: 'keys' vs their record bytes`, label('heap + external after open', held('big open-keys')), records, null, 'information: ids and entries only'),
      compare(`CPU time: raw keys-only scan of ${n(big)} flows vs a raw scan keeping nothing`, label('keys-only scan', cpu('big raw-keys')), label('raw scan keeping nothing', cpu('big raw-drop')), null, CPU_NOTE),
      compare(`memory of ${n(big)} opened, undecoded flows vs their record bytes`, label('heap + external after open', held('big open')), records, atMost(1.3),
        `after collection; rss after open ${formatBytes(runs.get('big open')![0]!.after!.rss)}`),
      compare(`memory of a raw Map of ${n(big)} ids + values vs their record bytes`, label('heap + external', held('big raw-keep')), records, null, 'information: what one Buffer per value costs')
    ]

    // Reading every flow through store.flows.
    const decoded = expectFlows(await child(['decode-all', stores.big.dir]), big)
    const perFlow = (decoded.after!.total - decoded.before!.total) / big
    ctx.log(`decode-all: ${formatTime(decoded.ms)} (CPU ${formatTime(decoded.cpuMs)}), +${formatBytes(perFlow)} per flow (JSON ${formatBytes(decoded.jsonBytes! / big)}), rss ${formatBytes(decoded.rss!)}`)
    ctx.recordStat(bench, 'decode-all (ms)', statOfValues('ms', [decoded.ms]))
    ctx.recordStat(bench, 'decode-all rss at the end', statOfValues('bytes', [decoded.rss!]))
    rows.push(
      compare('memory per decoded flow vs its JSON text size', label('heap + external growth per flow', statOfValues('bytes', [perFlow])), label('JSON.stringify bytes per flow', statOfValues('bytes', [decoded.jsonBytes! / big])), atMost(2),
        `rss at the end ${formatBytes(decoded.rss!)}`),
      compare('memory per decoded flow, its record included, vs its JSON text size', label('(heap + external after open + growth) per flow', statOfValues('bytes', [held('big open').median / big + perFlow])), label('JSON.stringify bytes per flow', statOfValues('bytes', [decoded.jsonBytes! / big])), null,
        'information: the record stays cached beside its value (lazy(id).bytes and changesSince answer from it)'),
      compare(`reading all ${n(big)} flows through store.flows vs the raw scan keeping every value`, label('decode-all', statOfValues('ms', [decoded.ms])), label('raw scan keeping id + value', time('big raw-keep')), null, 'information'),
      compare(`CPU time: reading all ${n(big)} flows through store.flows vs the raw scan keeping every value`, label('decode-all', statOfValues('ms', [decoded.cpuMs])), label('raw scan keeping id + value', cpu('big raw-keep')), null, CPU_NOTE)
    )

    // First reads in preload: 'keys' mode.
    const reads = expectFlows(await child(['first-reads', stores.big.dir, String(big), String(FIRST_READS)]), FIRST_READS)
    const extra = reads.extra!
    ctx.log(`first reads (preload: 'keys'): median ${formatTime(extra.median!)}, p99 ${formatTime(extra.p99!)}; raw getSync + unpack: median ${formatTime(extra.rawMedian!)}, p99 ${formatTime(extra.rawP99!)}`)
    ctx.recordStat(bench, "first read, preload: 'keys' (median)", statOfValues('ms', [extra.median!]))
    ctx.recordStat(bench, "first read, preload: 'keys' (p99)", statOfValues('ms', [extra.p99!]))
    rows.push(
      compare(`first read of a flow, preload: 'keys' (median of ${n(FIRST_READS)}) vs a raw getSync + unpack`, label('store.get, first read', statOfValues('ms', [extra.median!])), label('raw getSync + unpack', statOfValues('ms', [extra.rawMedian!])), null, `information; p99 ${formatTime(extra.p99!)} vs ${formatTime(extra.rawP99!)}`)
    )

    // Backup, restore, check.
    const work = join(SCRATCH, 'work')
    await rm(work, { recursive: true, force: true })
    await mkdir(work, { recursive: true })
    try {
      const file = join(work, 'full.fsbk')
      const backup = expectFlows(await child(['backup', stores.big.dir, file]), big)
      const restore = expectFlows(await child(['restore', file, join(work, 'restored')]), big)
      await rm(join(work, 'restored'), { recursive: true, force: true })
      const check = expectFlows(await child(['check', stores.big.dir]), big)
      ctx.log(`backup ${formatTime(backup.ms)} (${formatBytes(backup.extra!.bytes!)}), restore ${formatTime(restore.ms)}, check ${formatTime(check.ms)}`)
      for (const run of [backup, restore, check]) {
        ctx.recordStat(bench, `${run.task} (ms)`, statOfValues('ms', [run.ms]))
        rows.push(compare(`${run.task} of ${n(big)} flows vs a raw scan keeping nothing`, label(run.task, statOfValues('ms', [run.ms])), label('raw scan keeping nothing', time('big raw-drop')), null, 'information'))
        rows.push(compare(`CPU time: ${run.task} of ${n(big)} flows vs a raw scan keeping nothing`, label(run.task, statOfValues('ms', [run.cpuMs])), label('raw scan keeping nothing', cpu('big raw-drop')), null, CPU_NOTE))
      }

      // The first open after a bulk write, vs a later open of the same store.
      for (const [what, chunk] of [['one saveMany', big], [`saveMany in awaited chunks of ${n(IMPORT_CHUNK)}`, IMPORT_CHUNK]] as const) {
        const dir = join(work, 'bulk')
        const written = expectFlows(await child(['bulk-write', dir, String(big), String(chunk)]), big)
        const first = expectFlows(await child(['open', dir]), big)
        const later = expectFlows(await child(['open', dir]), big)
        await rm(dir, { recursive: true, force: true })
        ctx.log(`${what}: written in ${formatTime(written.ms)}; first open ${formatTime(first.ms)}, later open ${formatTime(later.ms)}`)
        ctx.recordStat(bench, `bulk write, ${what} (ms)`, statOfValues('ms', [written.ms]))
        rows.push(compare(`first open after ${what} of ${n(big)} flows vs a later open`, label('first open', statOfValues('ms', [first.ms])), label('later open', statOfValues('ms', [later.ms])), atMost(1.5)))
        rows.push(compare(`CPU time: first open after ${what} of ${n(big)} flows vs a later open`, label('first open', statOfValues('ms', [first.cpuMs])), label('later open', statOfValues('ms', [later.cpuMs])), atMost(1.5), CPU_NOTE))
      }
    } finally {
      await rm(work, { recursive: true, force: true })
    }
    return rows
  }
}
