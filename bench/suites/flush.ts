// Figure 2 — flush: writing 1,000 changed flows. flowstore ('manual' mode) does
// saveMany(1,000 mutated flows) + flush(): the save calls are measured too, because that is
// where flows are checked and encoded. The baseline packs the same flows with msgpackr and
// writes them with one raw classic-level db.batch — the least any LevelDB+msgpack store
// could do. Every iteration writes new versions (mutateFlow with a counter), prepared
// outside the measured time; both sides write with sync: false.

import { ClassicLevel } from 'classic-level'
import { Packr } from 'msgpackr'
import { type GeneratedFlow, generateFlows, mutateFlow } from '../../examples/generate-flows.ts'
import { FlowStore } from '../../src/index.ts'
import { atMost, compare, pick } from '../lib/stats.ts'
import type { Context, Row, Suite } from '../lib/types.ts'

const DIRTY = 1000

/** Each call returns the next version of every flow: a chain of edits, as a user makes. */
function editor (flows: readonly GeneratedFlow[]): () => GeneratedFlow[] {
  let current = flows
  let revision = 0
  return () => {
    revision++
    current = current.map((flow) => mutateFlow(flow, revision))
    return current as GeneratedFlow[]
  }
}

export const suite: Suite = {
  name: 'flush',
  description: `saveMany(${DIRTY.toLocaleString('en')} mutated flows) + flush() vs msgpackr pack + one raw classic-level batch of the same flows`,
  tags: ['write', 'batch'],
  async run (ctx: Context): Promise<Row[]> {
    const flows = generateFlows(DIRTY)
    const store = await FlowStore.open<GeneratedFlow>(await ctx.tmp.make('flush-store'), { flush: 'manual' })
    const db = new ClassicLevel<string, Uint8Array>(await ctx.tmp.make('flush-raw'), { keyEncoding: 'utf8', valueEncoding: 'view' })
    await db.open()
    const packr = new Packr({ useRecords: false })
    try {
      // Both start holding the same 1,000 flows, so every measured write replaces records.
      await Promise.all([store.saveMany(flows), store.flush()])
      await db.batch(flows.map((flow) => ({ type: 'put' as const, key: `f!${flow.id}`, value: packr.pack(flow) })))

      const nextForStore = editor(flows)
      const nextForRaw = editor(flows)
      let storeBatch: GeneratedFlow[] = []
      let rawBatch: GeneratedFlow[] = []
      const batchesBefore = store.batches
      let storeRuns = 0
      const bench = ctx.bench(`flush: ${DIRTY.toLocaleString('en')} dirty flows`, { iterations: 32 })
        .add('raw db.batch + msgpackr pack (baseline)', async () => {
          await db.batch(rawBatch.map((flow) => ({ type: 'put' as const, key: `f!${flow.id}`, value: packr.pack(flow) })))
        }, { beforeEach () { rawBatch = nextForRaw() } })
        .add('store.saveMany + flush', async () => {
          const committed = store.saveMany(storeBatch)
          await store.flush()
          await committed
          storeRuns++
        }, { beforeEach () { storeBatch = nextForStore() } })
      await bench.run()
      if (store.batches - batchesBefore !== storeRuns) throw new Error(`flush: expected one batch per flush, got ${store.batches - batchesBefore} for ${storeRuns}`)
      const stats = ctx.record(bench)
      return [
        compare(`flush of ${DIRTY.toLocaleString('en')} dirty flows vs raw batch`, pick(stats, 'store.saveMany + flush'), pick(stats, 'raw db.batch + msgpackr pack (baseline)'), atMost(1.25),
          'flowstore also checks the value domain (in the same walk as the encoding), keeps the records in its cache, and writes one change-log entry and the store version in the same atomic batch')
      ]
    } finally {
      await store.close()
      await db.close()
    }
  }
}
