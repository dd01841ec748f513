// Figures 7–9 — FlowService over a store another process owns (issue 4):
//
//  · reads: service.flows.get(id) within the TTL, in a 10,000-flow store, vs Map.get on a Map
//    of the same decoded objects (goal ≤ 3×). The suite fails if those reads sent a single
//    message to the owner.
//  · a forwarded save: `await service.save(flow)` to an owner in another process (unix
//    socket on this machine), acknowledged after the owner's commit. Baseline: the same save
//    on a local store; the goal is on the absolute median (< 1 ms), expressed as a ratio
//    bound against that baseline.
//  · refresh cost: `await service.refresh()` after C changes on the owner, in stores of
//    10,000 and 100,000 flows (10,000 and 20,000 with --quick): the cost must follow C, not
//    the store size, and stay far below loading the store again.

import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { type GeneratedFlow, generateFlow, mutateFlow } from '../../examples/generate-flows.ts'
import { FlowService, FlowStore, serveStore } from '../../src/index.ts'
import { atMost, compare, fasterBy, pick } from '../lib/stats.ts'
import { buildStore, randomIds } from '../lib/stores.ts'
import type { Context, Goal, Measured, Row, Suite } from '../lib/types.ts'

const READ_FLOWS = 10_000
const BATCH = 1000
const PATTERN = 1 << 16
const MASK = PATTERN - 1
const SAVE_FLOWS = 1000
const CHANGES = [10, 1000] as const
const HERE = dirname(fileURLToPath(import.meta.url))

export const suite: Suite = {
  name: 'service',
  description: 'FlowService over an owner process: reads within the TTL vs Map.get, a forwarded save round trip, refresh cost by changes and store size',
  tags: ['flowservice', 'remote', 'ttl', 'refresh', 'socket'],
  async run (ctx: Context): Promise<Row[]> {
    return [...await reads(ctx), ...await forwardedSave(ctx), ...await refreshes(ctx)]
  }
}

async function reads (ctx: Context): Promise<Row[]> {
  // The shared store is only read: served on a socket elsewhere, not advertised in it.
  const store = await FlowStore.open<GeneratedFlow>(await ctx.stores.flowStore(READ_FLOWS))
  try {
    const server = await serveStore(store, { path: join(await ctx.tmp.make('service-read-sock'), 's'), advertise: false })
    const service = await FlowService.connect<GeneratedFlow>(server.path, { ttlMs: 10 * 60_000 })
    try {
      const plain = new Map<string, unknown>()
      for (const [id, flow] of service.flows) plain.set(id, flow)
      const ids = randomIds([...plain.keys()], PATTERN)
      const sentBefore = service.stats.messagesSent
      let found = 0
      let cursorMap = 0
      let cursorFlows = 0
      let cursorGet = 0
      const bench = ctx.bench('service: one lookup within the TTL')
        .add('Map.get (baseline)', () => {
          for (let i = 0; i < BATCH; i++) if (plain.get(ids[cursorMap++ & MASK]!) !== undefined) found++
        })
        .add('service.flows.get', () => {
          for (let i = 0; i < BATCH; i++) if (service.flows.get(ids[cursorFlows++ & MASK]!) !== undefined) found++
        })
        .add('service.get', () => {
          for (let i = 0; i < BATCH; i++) if (service.get(ids[cursorGet++ & MASK]!) !== undefined) found++
        })
      const stats = await ctx.run(bench, BATCH)
      const lookups = cursorMap + cursorFlows + cursorGet
      if (found !== lookups) throw new Error(`service: ${lookups - found} lookups missed`)
      const messages = service.stats.messagesSent - sentBefore
      if (messages !== 0) throw new Error(`service: ${messages} messages were sent during reads within the TTL`)
      ctx.log(`${(cursorFlows + cursorGet).toLocaleString('en')} reads of service.flows / service.get within the TTL sent 0 messages`)
      const baseline = pick(stats, 'Map.get (baseline)')
      return [
        compare('service.flows.get(id) within the TTL vs Map.get', pick(stats, 'service.flows.get'), baseline, atMost(3), '0 messages'),
        compare('service.get(id) within the TTL vs Map.get', pick(stats, 'service.get'), baseline, atMost(3), '0 messages')
      ]
    } finally {
      await service.close()
    }
  } finally {
    await store.close()
  }
}

async function forwardedSave (ctx: Context): Promise<Row[]> {
  const remoteDir = await ctx.tmp.make('service-save-remote')
  const localDir = await ctx.tmp.make('service-save-local')
  const flows = Array.from({ length: SAVE_FLOWS }, (_, i) => generateFlow(i))
  for (const dir of [remoteDir, localDir]) {
    const store = await FlowStore.open<GeneratedFlow>(dir)
    await store.saveMany(flows)
    await store.close()
  }
  const owner = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'service-owner.ts'), remoteDir], { stdio: ['pipe', 'pipe', 'inherit'] })
  const exited = new Promise<void>((resolve) => { owner.once('exit', () => { resolve() }) })
  try {
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: owner.stdout }).on('line', (line) => { if (line.startsWith('ready ')) resolve() })
      owner.once('exit', (code) => { reject(new Error(`service: the owner process exited (${String(code)}) before serving`)) })
    })
    const service = await FlowService.connect<GeneratedFlow>(remoteDir)
    const local = await FlowStore.open<GeneratedFlow>(localDir)
    try {
      let revisionRemote = 0
      let revisionLocal = 0
      let nextRemote = flows[0]!
      let nextLocal = flows[0]!
      const bench = ctx.bench('service: one save, awaited until committed', { iterations: 200 })
        .add('local store.save (baseline)', async () => { await local.save(nextLocal) },
          { beforeEach () { revisionLocal++; nextLocal = mutateFlow(flows[revisionLocal % SAVE_FLOWS]!, revisionLocal) } })
        .add('forwarded service.save', async () => { await service.save(nextRemote) },
          { beforeEach () { revisionRemote++; nextRemote = mutateFlow(flows[revisionRemote % SAVE_FLOWS]!, revisionRemote) } })
      const stats = await ctx.run(bench)
      const baseline = pick(stats, 'local store.save (baseline)')
      const subject = pick(stats, 'forwarded service.save')
      // The goal is absolute (median < 1 ms): as a bound on the ratio to this baseline.
      const underOneMs: Goal = { max: 1 / baseline.stat.median, text: 'median < 1 ms' }
      return [compare('forwarded service.save round trip vs local store.save', subject, baseline, underOneMs,
        `median ${(subject.stat.median * 1000).toFixed(0)} µs between two processes over a unix socket`)]
    } finally {
      await service.close()
      await local.close()
    }
  } finally {
    owner.stdin.end()
    await exited
  }
}

async function refreshes (ctx: Context): Promise<Row[]> {
  const sizes = ctx.quick ? [10_000, 20_000] : [10_000, 100_000]
  const results = new Map<string, Measured>()
  const rows: Row[] = []
  for (const size of sizes) {
    // A store of its own: this suite writes to it (the shared ones are read-only).
    const dir = await ctx.tmp.make(`service-refresh-${size}`)
    await buildStore(dir, size)
    const store = await FlowStore.open<GeneratedFlow>(dir)
    try {
      await serveStore(store)
      const service = await FlowService.connect<GeneratedFlow>(dir, { ttlMs: Infinity })
      try {
        let revision = 1
        const bench = ctx.bench(`service: refresh of a ${size.toLocaleString('en')}-flow store`, { iterations: 16, time: 500 })
        for (const changes of CHANGES) {
          bench.add(`refresh after ${changes} changes`, async () => { await service.refresh() }, {
            async beforeEach () {
              revision++
              const changed: GeneratedFlow[] = []
              for (let i = 0; i < changes; i++) changed.push(mutateFlow(generateFlow((i * 7919 + revision) % size), revision))
              await store.saveMany(changed)
            }
          })
        }
        bench.add('full load (connect again)', async () => {
          const again = await FlowService.connect<GeneratedFlow>(dir, { ttlMs: Infinity })
          await again.close()
        })
        const stats = await ctx.run(bench)
        const fetched = service.stats.recordsFetched
        for (const changes of CHANGES) results.set(`${size}/${changes}`, pick(stats, `refresh after ${changes} changes`))
        const full = pick(stats, 'full load (connect again)')
        rows.push(compare(`refresh after 10 changes vs a full load, ${size.toLocaleString('en')} flows`, results.get(`${size}/10`)!, full, fasterBy(20)))
        ctx.log(`${size.toLocaleString('en')} flows: the refreshing service received ${fetched.toLocaleString('en')} records in all (${size.toLocaleString('en')} at connect, then only changed ones)`)
      } finally {
        await service.close()
      }
    } finally {
      await store.close()
    }
  }
  const [small, large] = sizes as [number, number]
  rows.push(compare(`refresh after 10 changes: ${large.toLocaleString('en')} vs ${small.toLocaleString('en')} flows`, results.get(`${large}/10`)!, results.get(`${small}/10`)!, atMost(2),
    'cost follows the changes, not the store size'))
  rows.push(compare(`refresh: 1,000 vs 10 changes, ${large.toLocaleString('en')} flows`, results.get(`${large}/1000`)!, results.get(`${large}/10`)!, null))
  return rows
}
