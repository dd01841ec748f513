// Figure 5 — memory: what an opened, undecoded 100,000-flow store (20,000 with --quick)
// holds, against the flows' encoded size. Measured in a child process (memory-child.ts) so
// that nothing else lives in the heap: gc, baseline, open, gc, measure. The ratio is
// (heapUsed + external growth) / Σ lazy(id).bytes.length. Memory after decoding every flow
// is reported too, with no goal.

import { execFile } from 'node:child_process'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { formatBytes } from '../lib/report.ts'
import { atMost, compare, statOfValues } from '../lib/stats.ts'
import type { Context, Row, Suite } from '../lib/types.ts'
import type { MemoryMeasurement } from './memory-child.ts'

const FLOWS = 100_000
const QUICK_FLOWS = 20_000
const HERE = dirname(fileURLToPath(import.meta.url))
const CHILD = join(HERE, 'memory-child.ts')
const ROOT = resolve(HERE, '..', '..')

async function measure (dir: string): Promise<MemoryMeasurement> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD, dir], {
    cwd: ROOT,
    maxBuffer: 1024 * 1024
  })
  return JSON.parse(stdout.trim().split('\n').pop()!) as MemoryMeasurement
}

export const suite: Suite = {
  name: 'memory',
  description: `heapUsed + external of an opened, undecoded ${FLOWS.toLocaleString('en')}-flow store (${QUICK_FLOWS.toLocaleString('en')} with --quick) vs the flows' encoded bytes, in a child process`,
  tags: ['heap', 'rss'],
  async run (ctx: Context): Promise<Row[]> {
    const count = ctx.quick ? QUICK_FLOWS : FLOWS
    const dir = await ctx.stores.flowStore(count)
    const runs: MemoryMeasurement[] = []
    for (let i = 0; i < (ctx.quick ? 1 : 3); i++) {
      const run = await measure(dir)
      if (run.flows !== count) throw new Error(`memory: the child saw ${run.flows} flows, expected ${count}`)
      runs.push(run)
    }
    const encoded = statOfValues('bytes', runs.map((run) => run.encodedBytes))
    const opened = statOfValues('bytes', runs.map((run) => run.opened.total - run.before.total))
    const decoded = statOfValues('bytes', runs.map((run) => run.decoded.total - run.before.total))
    const openedRss = statOfValues('bytes', runs.map((run) => run.opened.rss - run.before.rss))
    const openedHeap = statOfValues('bytes', runs.map((run) => run.opened.heapUsed - run.before.heapUsed))
    const openedExternal = statOfValues('bytes', runs.map((run) => run.opened.external - run.before.external))
    const bench = `memory: ${count.toLocaleString('en')} flows`
    ctx.recordStat(bench, 'encoded bytes (Σ lazy(id).bytes.length)', encoded)
    ctx.recordStat(bench, 'opened: heapUsed + external growth', opened)
    ctx.recordStat(bench, 'opened: heapUsed growth', openedHeap)
    ctx.recordStat(bench, 'opened: external growth', openedExternal)
    ctx.recordStat(bench, 'opened: rss growth (info)', openedRss)
    ctx.recordStat(bench, 'all decoded: heapUsed + external growth', decoded)
    ctx.log(`${count.toLocaleString('en')} flows: encoded ${formatBytes(encoded.median)}; opened +${formatBytes(opened.median)} ` +
      `(heap +${formatBytes(openedHeap.median)}, external +${formatBytes(openedExternal.median)}, rss +${formatBytes(openedRss.median)}); ` +
      `all decoded +${formatBytes(decoded.median)}`)
    const baseline = { label: 'encoded bytes', stat: encoded }
    return [
      compare(`memory of ${count.toLocaleString('en')} opened, undecoded flows vs encoded bytes`, { label: 'heap + external growth', stat: opened }, baseline, atMost(1.5),
        `heap +${formatBytes(openedHeap.median)}, external +${formatBytes(openedExternal.median)}; rss grew ${formatBytes(openedRss.median)} (includes LevelDB's native caches)`),
      compare(`memory after decoding all ${count.toLocaleString('en')} flows vs encoded bytes`, { label: 'heap + external growth', stat: decoded }, baseline, null,
        'extra row, no goal: decoded values are kept alongside the records')
    ]
  }
}
