// Figure 9 — huge: a 10,000,000-flow store (1,000,000 with --quick) opened with
// preload: 'keys' and served in bounded memory, each figure in a fresh child process
// (scale-child.ts): the open vs a raw keys-only scan of the same store, the RSS while it
// serves 100,000 random reads, 1,000 saves and a changesSince (goal: at most 3 GiB), and what
// a first read costs (median and p99) against a raw getSync + unpack. Opt-in
// (`npm run bench -- huge`): the store (cached under scratch/scale/, ~3.5 GB on disk) takes
// an hour or more to write on 2 cores.

import { formatBytes, formatTime } from '../lib/report.ts'
import { scaleStore } from '../lib/scale-store.ts'
import { atMost, compare, statOfValues } from '../lib/stats.ts'
import type { Context, Measured, Row, Stat, Suite } from '../lib/types.ts'
import type { ScaleMeasurement } from './scale-child.ts'
import { build, child, expectFlows, n, SCRATCH } from './scale.ts'

const FLOWS = 10_000_000
const QUICK_FLOWS = 1_000_000
const RSS_GOAL = 3 * 1024 ** 3
const FIRST_READS = 2000

export const suite: Suite = {
  name: 'huge',
  description: `a ${n(FLOWS)}-flow store (${n(QUICK_FLOWS)} with --quick) opened with preload: 'keys' and served in bounded memory`,
  tags: ['10m', 'keys'],
  optIn: true,
  async run (ctx: Context): Promise<Row[]> {
    const count = ctx.quick ? QUICK_FLOWS : FLOWS
    const store = await scaleStore(SCRATCH, count, build, ctx.log)
    const runs: Record<string, ScaleMeasurement[]> = { 'raw-keys': [], 'open-keys': [] }
    for (let round = 0; round < 2; round++) {
      runs['raw-keys']!.push(expectFlows(await child(['raw-keys', store.dir]), count))
      runs['open-keys']!.push(expectFlows(await child(['open', store.dir, 'keys']), count))
      ctx.log(`round ${round + 1}: raw keys-only scan ${formatTime(runs['raw-keys']!.at(-1)!.ms)}, open ${formatTime(runs['open-keys']!.at(-1)!.ms)} (rss ${formatBytes(runs['open-keys']!.at(-1)!.after!.rss)})`)
    }
    const served = expectFlows(await child(['serve', store.dir, String(count)]), count)
    const rss = served.extra!
    ctx.log(`serve: open ${formatTime(rss.openMs!)}; rss after open ${formatBytes(rss.open!)}, after 100,000 reads ${formatBytes(rss.reads!)}, after 1,000 saves ${formatBytes(rss.saves!)}, after changesSince ${formatBytes(rss.changes!)}; peak ${formatBytes(rss.peakRss!)}`)
    const reads = expectFlows(await child(['first-reads', store.dir, String(count), String(FIRST_READS)]), FIRST_READS)
    const first = reads.extra!
    ctx.log(`first reads: median ${formatTime(first.median!)}, p99 ${formatTime(first.p99!)}; raw getSync + unpack: median ${formatTime(first.rawMedian!)}, p99 ${formatTime(first.rawP99!)}`)

    const stat = (key: string, pick: (run: ScaleMeasurement) => number, unit: Stat['unit'] = 'ms'): Stat => statOfValues(unit, runs[key]!.map(pick))
    const label = (name: string, value: Stat): Measured => ({ label: name, stat: value })
    const bench = `huge: ${n(count)} flows`
    ctx.recordStat(bench, 'rss peak while serving', statOfValues('bytes', [rss.peakRss!]))
    ctx.recordStat(bench, 'first read (median)', statOfValues('ms', [first.median!]))
    ctx.recordStat(bench, 'first read (p99)', statOfValues('ms', [first.p99!]))
    return [
      compare(`open of ${n(count)} flows with preload: 'keys' vs a raw keys-only scan`, label("FlowStore.open, preload: 'keys'", stat('open-keys', (r) => r.ms)), label('raw keys-only scan', stat('raw-keys', (r) => r.ms)), atMost(1.3)),
      compare(`CPU time: open of ${n(count)} flows with preload: 'keys' vs a raw keys-only scan`, label("FlowStore.open, preload: 'keys'", stat('open-keys', (r) => r.cpuMs)), label('raw keys-only scan', stat('raw-keys', (r) => r.cpuMs)), atMost(1.3),
        'CPU time of the child process (user + system, all threads), which other processes\' load does not stretch'),
      compare(`peak RSS of a ${n(count)}-flow store opened with preload: 'keys' and serving reads, saves and changesSince vs 3 GiB`, label('peak RSS (maxRSS)', statOfValues('bytes', [rss.peakRss!])), label('3 GiB', statOfValues('bytes', [RSS_GOAL])), atMost(1),
        `rss after open ${formatBytes(rss.open!)}, after 100,000 random reads ${formatBytes(rss.reads!)}; maxCachedBytes 256 MiB (the default)`),
      compare(`first read of a flow, preload: 'keys' (median of ${n(FIRST_READS)}) vs a raw getSync + unpack`, label('store.get, first read', statOfValues('ms', [first.median!])), label('raw getSync + unpack', statOfValues('ms', [first.rawMedian!])), null,
        `information; p99 ${formatTime(first.p99!)} vs ${formatTime(first.rawP99!)}`)
    ]
  }
}
