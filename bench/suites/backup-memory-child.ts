// Measures the memory a full backup takes in a clean process. Run by the backup suite as:
//   node --expose-gc --import tsx bench/suites/backup-memory-child.ts <store directory> <backup file>
// Prints one JSON object (BackupMemoryMeasurement) on stdout.
//
// The store is opened (it holds every flow's bytes: that memory is not the backup's), the
// heap is settled, then heapUsed + external is sampled every 2 ms while store.backup() runs.
// At every progress call of the backup a full collection runs and the live heapUsed +
// external is read: the figure is its peak growth over the settled value before the backup,
// what the backup itself holds at its worst moment. The peak sampled every 2 ms without
// collecting (garbage included, which depends on when V8 chooses to collect) and the RSS
// growth are reported too.

import { FlowStore } from '../../src/index.ts'
import { requireGc, settle } from '../lib/memory-usage.ts'

export interface BackupMemoryMeasurement {
  readonly flows: number
  readonly backupBytes: number
  readonly durationMs: number
  readonly samples: number
  /**
   * Peak live (heapUsed + external) during the backup minus the settled value before it: at
   * every progress call a full collection runs first, so this is what the backup holds.
   */
  readonly peakGrowth: number
  /** The same sampled every 2 ms without collecting: includes garbage not yet collected. */
  readonly peakWithGarbage: number
  /** Peak RSS during the backup minus RSS before it (includes LevelDB's native caches). */
  readonly peakRssGrowth: number
}

const gc = requireGc('backup-memory-child.ts')

const [dir, file] = process.argv.slice(2)
if (dir === undefined || file === undefined) throw new Error('usage: backup-memory-child.ts <store directory> <backup file>')

const store = await FlowStore.open(dir)
try {
  await settle(gc)
  const before = process.memoryUsage()
  const base = before.heapUsed + before.external
  let peak = base
  let peakLive = base
  let peakRss = before.rss
  let samples = 0
  const sample = (): number => {
    const now = process.memoryUsage()
    peak = Math.max(peak, now.heapUsed + now.external)
    peakRss = Math.max(peakRss, now.rss)
    samples++
    return now.heapUsed + now.external
  }
  const live = (): void => {
    gc()
    peakLive = Math.max(peakLive, sample())
  }
  const timer = setInterval(sample, 2)
  let info
  try {
    info = await store.backup(file, { onProgress: live })
  } finally {
    clearInterval(timer)
  }
  live()
  const result: BackupMemoryMeasurement = {
    flows: info.flows,
    backupBytes: info.bytes,
    durationMs: info.durationMs,
    samples,
    peakGrowth: peakLive - base,
    peakWithGarbage: peak - base,
    peakRssGrowth: peakRss - before.rss
  }
  process.stdout.write(JSON.stringify(result) + '\n')
} finally {
  await store.close()
}
