// Figure 1 — reads: store.get(id) and store.flows.get(id) of already-decoded flows vs
// Map.get on a plain Map holding the same objects under the same keys. The ids come from
// one pre-built random array, so all three tasks follow exactly the same access pattern.
//
// A single lookup takes tens of nanoseconds, far below what one timer read can resolve, so
// each sample runs BATCH lookups; the figures are divided back to one lookup.

import type { GeneratedFlow } from '../../examples/generate-flows.ts'
import { FlowStore } from '../../src/index.ts'
import { atMost, compare, pick } from '../lib/stats.ts'
import { randomIds } from '../lib/stores.ts'
import type { Context, Row, Suite } from '../lib/types.ts'

const FLOWS = 10_000
const BATCH = 1000
const PATTERN = 1 << 16
const MASK = PATTERN - 1

export const suite: Suite = {
  name: 'read',
  description: `store.get(id) / store.flows.get(id) of decoded flows in a ${FLOWS.toLocaleString('en')}-flow store vs Map.get on a Map of the same objects (random ids)`,
  tags: ['get', 'map'],
  async run (ctx: Context): Promise<Row[]> {
    const dir = await ctx.stores.flowStore(FLOWS)
    const store = await FlowStore.open<GeneratedFlow>(dir)
    try {
      // Decode everything first: the figure is about reading already-decoded flows.
      const plain = new Map<string, unknown>()
      for (const [id, flow] of store.flows) plain.set(id, flow)
      const ids = randomIds([...plain.keys()], PATTERN)

      let found = 0
      let cursorMap = 0
      let cursorGet = 0
      let cursorView = 0
      const view = store.flows
      const bench = ctx.bench('read: one lookup of a decoded flow')
        .add('Map.get (baseline)', () => {
          for (let i = 0; i < BATCH; i++) if (plain.get(ids[cursorMap++ & MASK]!) !== undefined) found++
        })
        .add('store.get', () => {
          for (let i = 0; i < BATCH; i++) if (store.get(ids[cursorGet++ & MASK]!) !== undefined) found++
        })
        .add('store.flows.get', () => {
          for (let i = 0; i < BATCH; i++) if (view.get(ids[cursorView++ & MASK]!) !== undefined) found++
        })
      await bench.run()
      const lookups = cursorMap + cursorGet + cursorView
      if (found !== lookups) throw new Error(`read: ${lookups - found} lookups missed`)
      const stats = ctx.record(bench, BATCH)
      const baseline = pick(stats, 'Map.get (baseline)')
      return [
        compare('store.get(id) vs Map.get', pick(stats, 'store.get'), baseline, atMost(3)),
        compare('store.flows.get(id) vs Map.get', pick(stats, 'store.flows.get'), baseline, atMost(3))
      ]
    } finally {
      await store.close()
    }
  }
}
