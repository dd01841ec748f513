// Figure 4 — one save: `await store.save(mutatedFlow)` in a 1,000-flow store (default
// options: flush 'auto', sync false) vs LegacyJsonFlowRepository.save() on a 1,000-flow
// flows.json, the system flowstore replaces. Durability: neither fsyncs (flowstore sync:
// false; the legacy repository uses writeFileSync without fsync). An extra row shows
// flowstore with sync: true (fsync per batch), against the same legacy figure, with no goal.

import { join } from 'node:path'
import { type GeneratedFlow, generateFlows, mutateFlow } from '../../examples/generate-flows.ts'
import { FlowStore } from '../../src/index.ts'
import { LegacyJsonFlowRepository } from '../legacy-json-repository.ts'
import { compare, fasterBy, pick } from '../lib/stats.ts'
import type { Context, Row, Suite } from '../lib/types.ts'

const FLOWS = 1000

/** Each call returns the next edit of the next flow (round robin). */
function editor (flows: readonly GeneratedFlow[]): () => GeneratedFlow {
  const current = [...flows]
  let revision = 0
  return () => {
    const i = revision % current.length
    revision++
    const next = mutateFlow(current[i]!, revision)
    current[i] = next
    return next
  }
}

export const suite: Suite = {
  name: 'save',
  description: `await store.save(one mutated flow) in a ${FLOWS.toLocaleString('en')}-flow store vs LegacyJsonFlowRepository.save() on a ${FLOWS.toLocaleString('en')}-flow flows.json`,
  tags: ['legacy', 'json', 'write'],
  async run (ctx: Context): Promise<Row[]> {
    const flows = generateFlows(FLOWS)
    const store = await FlowStore.open<GeneratedFlow>(await ctx.tmp.make('save-store'))
    const synced = await FlowStore.open<GeneratedFlow>(await ctx.tmp.make('save-sync'), { sync: true })
    const legacy = new LegacyJsonFlowRepository<GeneratedFlow>(join(await ctx.tmp.make('save-legacy'), 'flows.json'))
    try {
      await store.saveMany(flows)
      await synced.saveMany(flows)
      legacy.saveAll(new Map(flows.map((flow) => [flow.id, flow])))

      const nextForStore = editor(flows)
      const nextForSynced = editor(flows)
      const nextForLegacy = editor(flows)
      let forStore = flows[0]!
      let forSynced = flows[0]!
      let forLegacy = flows[0]!
      const bench = ctx.bench('save: one flow, awaited', { iterations: 16 })
        .add('legacy JSON save (baseline)', () => { legacy.save(forLegacy) },
          { beforeEach () { forLegacy = nextForLegacy() } })
        .add('store.save (sync: false)', async () => { await store.save(forStore) },
          { beforeEach () { forStore = nextForStore() } })
        .add('store.save (sync: true)', async () => { await synced.save(forSynced) },
          { beforeEach () { forSynced = nextForSynced() } })
      await bench.run()
      if (store.pending !== 0 || synced.pending !== 0) throw new Error('save: a save resolved before it was committed')
      if (store.size !== FLOWS || legacy.loadAll().size !== FLOWS) throw new Error('save: stores changed size')
      const stats = ctx.record(bench)
      const baseline = pick(stats, 'legacy JSON save (baseline)')
      return [
        compare('save one flow vs legacy JSON save (neither fsyncs)', pick(stats, 'store.save (sync: false)'), baseline, fasterBy(100)),
        compare('save one flow, sync: true (fsync) vs legacy JSON save (no fsync)', pick(stats, 'store.save (sync: true)'), baseline, null,
          'extra row, no goal: flowstore fsyncs every batch here, the legacy repository never does')
      ]
    } finally {
      await store.close()
      await synced.close()
    }
  }
}
