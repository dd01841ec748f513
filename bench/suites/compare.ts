// Figure 6 — flowstore against what users would pick instead. The same flows
// (examples/generate-flows.ts) and the same operations, at 1,000 and 100,000 flows (5,000
// with --quick), for every contender in bench/contenders/: the legacy whole-file repository,
// one JSON file per flow, a JSON Lines log, better-sqlite3, lmdb-js, raw classic-level +
// msgpackr (the floor under flowstore's overhead) and flowstore. Each contender's durability
// and read model is stated in its file and in the results' notes; the matched rows commit
// without fsync everywhere, the "fsync" rows with an fsync per commit.
//
// Operations:
//   open                 a closed store until it can serve reads (what each loads at open)
//   open + flows ×10,000 cold start: open, then 10,000 lookups through the contender's
//                        idiomatic "all flows" (random ids); storage reads after open counted
//   get(id)              steady state, random ids, BATCH lookups per sample
//   save one / save 1,000 / delete one, each awaited until committed; every write changes
//                        the record (mutateFlow with a counter)
//   full backup, changed-only backup (flowstore only), restore, disk bytes
//   memory per flow      opened, and with every flow read once, in a child process per
//                        contender (compare-memory-child.ts), at 10,000 flows (1,000 with --quick)
//
// Fast steady-state operations run in interleaved tinybench rounds (lib/rounds.ts) with this
// suite's own small budgets; cold and slow ones in an interleaved sampler with a small budget
// (bench/contenders/workload.ts). The legacy repository at the large size is measured for
// open and save only, once each (each takes seconds); its other operations are one
// whole-file load (= its open) plus, for writes, one whole-file rewrite (= its save).

import { execFile } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type GeneratedFlow, generateFlow } from '../../examples/generate-flows.ts'
import {
  CONTENDERS, type Contender, type ContenderKind, diskUsage, FLOWSTORE, JSON_FILES, JSONL, LEGACY, LMDB, RAW_LEVEL, SQLITE, SYNCED
} from '../contenders/index.ts'
import type { FlowstoreContender } from '../contenders/flowstore.ts'
import { legacyHandle } from '../contenders/legacy.ts'
import { allIds, FlowPool, type SampledTask, type SamplerSettings, sampleInterleaved } from '../contenders/workload.ts'
import { gc } from '../lib/gc.ts'
import { formatBytes, formatValue, taskTable } from '../lib/report.ts'
import { atMost, compare, fasterBy, statOfValues } from '../lib/stats.ts'
import { RoundsBench } from '../lib/rounds.ts'
import { randomIds } from '../lib/stores.ts'
import type { Context, Goal, Row, Stat, Suite, TaskRecord } from '../lib/types.ts'
import type { ContenderMemory } from './compare-memory-child.ts'

const SIZES = [1_000, 100_000] as const
const QUICK_SIZES = [1_000, 5_000] as const
const ACCESSES = 10_000
const BATCH = 1000
const PATTERN = 1 << 16
const MASK = PATTERN - 1
const POOL = 5000
const MANY = 1000
const CHANGED = 100
const CHUNK = 5000
/** Memory per flow is measured at this size (per-flow figures hardly depend on the count). */
const MEMORY_SIZE = 10_000
const QUICK_MEMORY_SIZE = 1_000

/**
 * The suite has ~30 tinybench tasks per size, most of them with untimed hooks (preparing a
 * changed flow, putting a deleted flow back), so it uses its own small budgets rather than
 * the runner's: per task `benchMs` of measured time over `rounds` interleaved rounds after a
 * `warmupMs` warmup; the sampler (cold and slow operations) spends `budgetMs` per task.
 */
interface Budget {
  readonly benchMs: number
  readonly rounds: number
  readonly warmupMs: number
  readonly sampler: SamplerSettings
}
const FULL: Budget = { benchMs: 240, rounds: 2, warmupMs: 60, sampler: { budgetMs: 500, minSamples: 3, maxSamples: 20 } }
const QUICK: Budget = { benchMs: 40, rounds: 1, warmupMs: 10, sampler: { budgetMs: 100, minSamples: 1, maxSamples: 5 } }
/** Legacy accesses actually run when counting its storage reads. */
const LEGACY_COUNTED_ACCESSES = 3

const HERE = dirname(fileURLToPath(import.meta.url))
const CHILD = join(HERE, 'compare-memory-child.ts')
const ROOT = resolve(HERE, '..', '..')

// Operation names (rows, matrix lines).
const OPEN = 'open'
const COLD = `open + flows ×${ACCESSES.toLocaleString('en')}`
const GET = 'get(id)'
const SAVE = 'save one + commit'
const SAVE_MANY = `save ${MANY.toLocaleString('en')} + commit`
const DELETE = 'delete one + commit'
const SAVE_SYNC = 'save one + fsync'
const SAVE_MANY_SYNC = `save ${MANY.toLocaleString('en')} + fsync`
const BACKUP = 'full backup'
const BACKUP_CHANGED = `changed-only backup (${CHANGED} changed)`
const RESTORE = 'restore (full backup)'
const DISK = 'disk bytes'
const MEM_OPENED = 'memory per flow, opened'
const MEM_DECODED = 'memory per flow, all decoded'
const OPERATIONS = [OPEN, COLD, GET, SAVE, SAVE_MANY, DELETE, SAVE_SYNC, SAVE_MANY_SYNC, BACKUP, BACKUP_CHANGED, RESTORE, DISK, MEM_OPENED, MEM_DECODED]
/** Operations flowstore shares with raw classic-level: the ≤ 1.3× goal. */
const SHARED_WITH_RAW = new Set([OPEN, COLD, GET, SAVE, SAVE_MANY, DELETE])
/** Operations flowstore must lead lmdb-js and better-sqlite3 on (matched durability). */
const AHEAD_OF_EMBEDDED = new Set([SAVE, SAVE_MANY, COLD, GET])
const AHEAD: Goal = { max: 1, text: 'flowstore ahead (≤ 1×)' }

/** The base name of a synced kind ("lmdb-js (sync)" -> "lmdb-js"), so fsync figures share columns. */
function column (kind: ContenderKind): string {
  return kind.name.replace(/ \(sync\)$/, '')
}

function slug (name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')
}

function sizeLabel (size: number): string {
  return `${size.toLocaleString('en')} flows`
}

/** Every figure of the run: size -> operation -> column -> stat (+ notes). */
class Figures {
  readonly #stats = new Map<string, Stat>()
  readonly #notes = new Map<string, string>()

  set (size: number, op: string, kind: string, stat: Stat, note?: string): void {
    this.#stats.set(`${size}|${op}|${kind}`, stat)
    if (note !== undefined) this.note(size, op, kind, note)
  }

  get (size: number, op: string, kind: string): Stat | undefined {
    return this.#stats.get(`${size}|${op}|${kind}`)
  }

  note (size: number, op: string, kind: string, note: string): void {
    const key = `${size}|${op}|${kind}`
    const old = this.#notes.get(key)
    this.#notes.set(key, old === undefined ? note : `${old}; ${note}`)
  }

  noteOf (size: number, op: string, kind: string): string | undefined {
    return this.#notes.get(`${size}|${op}|${kind}`)
  }
}

export const suite: Suite = {
  name: 'compare',
  description: 'flowstore vs the legacy JSON repository, one JSON file per flow, a JSON Lines log, better-sqlite3, lmdb-js and raw classic-level + msgpackr: same flows, same operations, 1,000 and 100,000 flows (5,000 with --quick); this suite sets its own budgets (240 ms per task in 2 interleaved rounds, 40 ms in 1 with --quick; cold and slow operations sampled with a 500 ms budget per task)',
  tags: ['contenders', 'sqlite', 'lmdb', 'jsonl'],
  async run (ctx: Context): Promise<Row[]> {
    const sizes = ctx.quick ? QUICK_SIZES : SIZES
    const figures = new Figures()
    for (const kind of [...CONTENDERS, ...SYNCED]) ctx.log(`${kind.name}: ${kind.durability}. Reads: ${kind.model}.`)
    for (const size of sizes) await measureSize(ctx, size, figures)
    const memorySize = memorySizeOf(ctx)
    if (!(sizes as readonly number[]).includes(memorySize)) {
      const dirOf = await populateAll(ctx, memorySize)
      await timed(ctx, `${sizeLabel(memorySize)}: memory`, async () => { await measureMemory(ctx, memorySize, figures, dirOf) })
    }
    const all = [...new Set([...sizes, memorySize])].sort((a, b) => a - b)
    const rows = buildRows(ctx, all, figures)
    printMatrix(all, figures)
    return rows
  }
}

function memorySizeOf (ctx: Context): number {
  return ctx.quick ? QUICK_MEMORY_SIZE : MEMORY_SIZE
}

function budgetOf (ctx: Context): Budget {
  return ctx.quick ? QUICK : FULL
}

async function timed (ctx: Context, name: string, work: () => Promise<void>): Promise<void> {
  const started = performance.now()
  await work()
  ctx.log(`${name} took ${((performance.now() - started) / 1000).toFixed(1)} s`)
}

/** Writes generateFlow(0 .. size-1) into a new directory per contender, generating each chunk once. */
async function populateAll (ctx: Context, size: number): Promise<(kind: ContenderKind) => string> {
  const started = performance.now()
  const dirs = new Map<string, string>()
  const populators = []
  for (const kind of CONTENDERS) {
    const dir = await ctx.tmp.make(`compare-${slug(kind.name)}-${size}`)
    dirs.set(kind.name, dir)
    populators.push(await kind.populate(dir))
  }
  for (let start = 0; start < size; start += CHUNK) {
    const chunk: GeneratedFlow[] = []
    for (let i = start; i < Math.min(size, start + CHUNK); i++) chunk.push(generateFlow(i))
    for (const populator of populators) await populator.write(chunk)
  }
  for (const populator of populators) await populator.end()
  ctx.log(`populated ${CONTENDERS.length} contenders with ${sizeLabel(size)} in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  return (kind: ContenderKind): string => dirs.get(column(kind))!
}

async function measureSize (ctx: Context, size: number, figures: Figures): Promise<void> {
  const settings = budgetOf(ctx).sampler
  const ids = allIds(size)
  const coldIds = randomIds(ids, ACCESSES, 11)
  const pool = new FlowPool(size, POOL)
  const dirOf = await populateAll(ctx, size)

  for (const kind of CONTENDERS) {
    const usage = await diskUsage(dirOf(kind))
    figures.set(size, DISK, kind.name, statOfValues('bytes', [usage.allocated]),
      `allocated blocks (du); apparent ${formatBytes(usage.apparent)} in ${usage.files.toLocaleString('en')} file(s)`)
  }

  const label = sizeLabel(size)
  await timed(ctx, `${label}: open / open + flows`, async () => { await measureCold(ctx, size, figures, dirOf, coldIds, settings) })
  await timed(ctx, `${label}: counting reads`, async () => { await countReads(ctx, size, figures, dirOf, coldIds) })
  await timed(ctx, `${label}: writes and gets`, async () => { await measureSteady(ctx, size, figures, dirOf, ids, pool, settings) })
  await timed(ctx, `${label}: backups and restores`, async () => { await measureBackups(ctx, size, figures, dirOf, pool, settings) })
  if (size === memorySizeOf(ctx)) await timed(ctx, `${label}: memory`, async () => { await measureMemory(ctx, size, figures, dirOf) })
  gc()
}

/** Open, and open + 10,000 lookups through `flows`, from a closed store each sample. */
async function measureCold (ctx: Context, size: number, figures: Figures, dirOf: (kind: ContenderKind) => string, coldIds: readonly string[], settings: SamplerSettings): Promise<void> {
  const large = size > 1000
  /** Storage reads during the accesses, for the contenders that always count them (see countReads). */
  const reads = new Map<ContenderKind, number>()
  const tasks: Array<SampledTask | undefined> = CONTENDERS.map((kind) => {
    const dir = dirOf(kind)
    const legacy = kind === LEGACY
    // At the large size a cold sample takes seconds for most: a couple each (the legacy one: once).
    const limits = !large ? {} : { minSamples: 1, maxSamples: kind === FLOWSTORE || kind === RAW_LEVEL ? 3 : kind === LMDB || kind === SQLITE ? 2 : 1 }
    if (legacy && large) return undefined // timed from inside its save (measureSteady): one load takes seconds
    return {
      name: kind.name,
      ...limits,
      async sample () {
        const t0 = performance.now()
        const contender = await kind.open(dir)
        const t1 = performance.now()
        if (legacy) {
          // Its open is one whole-file load, and so is every `flows` access: timed below from this.
          await contender.close()
          return { [OPEN]: t1 - t0 }
        }
        const readsBefore = contender.reads
        let found = 0
        for (const id of coldIds) if (contender.flows().get(id) !== undefined) found++
        const t2 = performance.now()
        if (kind !== FLOWSTORE && kind !== RAW_LEVEL) reads.set(kind, contender.reads - readsBefore) // those two: countReads
        await contender.close()
        if (found !== coldIds.length) throw new Error(`compare: ${kind.name} found ${found} of ${coldIds.length} flows`)
        return { [OPEN]: t1 - t0, [COLD]: t2 - t0 }
      }
    }
  })
  const samples = await sampleInterleaved(tasks.filter((task) => task !== undefined), settings)
  const bench = `compare @ ${sizeLabel(size)}: open / open + flows ×${ACCESSES.toLocaleString('en')}`
  const records: TaskRecord[] = []
  for (const kind of CONTENDERS) {
    for (const op of [OPEN, COLD]) {
      const values = samples.get(`${kind.name} ${op}`)
      if (values === undefined) continue
      const stat = statOfValues('ms', values)
      figures.set(size, op, kind.name, stat)
      records.push({ bench, task: `${kind.name}: ${op}`, stat })
      ctx.recordStat(bench, `${kind.name}: ${op}`, stat)
    }
  }
  console.log(`\n  ${bench}`)
  console.table(taskTable(records))
  if (!large) legacyLoads(ctx, size, figures, samples.get(`${LEGACY.name} ${OPEN}`)!, 'its open')
  for (const [kind, count] of reads) noteReads(ctx, size, figures, kind, count)
}

/**
 * The legacy repository's `flows` figure: every access is loadAll(), the same whole-file load
 * as its open, so open + 10,000 accesses = 10,001 loads: extrapolated from the measured loads.
 */
function legacyLoads (ctx: Context, size: number, figures: Figures, loads: readonly number[], from: string): void {
  const bench = `compare @ ${sizeLabel(size)}: open / open + flows ×${ACCESSES.toLocaleString('en')}`
  const cold = statOfValues('ms', loads.map((ms) => ms * (ACCESSES + 1)))
  figures.set(size, COLD, LEGACY.name, cold, `extrapolated: ${(ACCESSES + 1).toLocaleString('en')} × one whole-file load (${from}); every \`flows\` access is the same loadAll()`)
  ctx.recordStat(bench, `${LEGACY.name}: ${COLD} (extrapolated)`, cold)
}

function noteReads (ctx: Context, size: number, figures: Figures, kind: ContenderKind, reads: number): void {
  const text = `storage reads after open: ${reads.toLocaleString('en')}${reads === 0 ? '' : ` (${scanText(kind, size)})`}`
  figures.note(size, COLD, kind.name, text)
  ctx.log(`${sizeLabel(size)}, ${kind.name}: ${text}`)
}

/**
 * Storage reads during 10,000 `flows` accesses after open, for the contenders that count
 * them only when asked (flowstore and raw classic-level, through CountingClassicLevel), and
 * for the legacy repository (a few accesses, extrapolated). The others were counted by
 * measureCold.
 */
async function countReads (ctx: Context, size: number, figures: Figures, dirOf: (kind: ContenderKind) => string, coldIds: readonly string[]): Promise<void> {
  for (const kind of [FLOWSTORE, RAW_LEVEL, LEGACY]) {
    if (kind === LEGACY && size > 1000) {
      figures.note(size, COLD, kind.name, `storage reads: ${ACCESSES.toLocaleString('en')} whole-file reads (1 per access, as counted at 1,000 flows)`)
      continue
    }
    const contender = await kind.open(dirOf(kind), { counting: true })
    try {
      const before = contender.reads
      const accesses = kind === LEGACY ? LEGACY_COUNTED_ACCESSES : ACCESSES
      for (let i = 0; i < accesses; i++) contender.flows().get(coldIds[i]!)
      const reads = contender.reads - before
      if (kind !== LEGACY) {
        noteReads(ctx, size, figures, kind, reads)
      } else {
        const text = `storage reads: ${(reads / accesses * ACCESSES).toLocaleString('en')} whole-file reads (${reads} counted over ${accesses} accesses)`
        figures.note(size, COLD, kind.name, text)
        ctx.log(`${sizeLabel(size)}, ${kind.name}: ${text}`)
      }
    } finally {
      await contender.close()
    }
  }
}

function scanText (kind: ContenderKind, size: number): string {
  return kind === LMDB || kind === SQLITE ? `a full scan of ${size.toLocaleString('en')} rows, on the first access` : kind.reads
}

interface Opened {
  readonly kind: ContenderKind
  readonly contender: Contender
}

async function openAll (kinds: readonly ContenderKind[], dirOf: (kind: ContenderKind) => string): Promise<Opened[]> {
  const opened: Opened[] = []
  for (const kind of kinds) opened.push({ kind, contender: await kind.open(dirOf(kind)) })
  return opened
}

async function closeAll (opened: readonly Opened[]): Promise<void> {
  for (const { contender } of opened) await contender.close()
}

/**
 * A RoundsBench like ctx.bench() makes, with this suite's budgets. Up to 10,000 flows every
 * task and round starts on a collected heap, as in ctx.bench(); at 100,000 flows a full
 * collection of the stores' heaps takes long enough to dominate the run, so there is one per
 * bench instead (the tasks of a bench still share the same conditions, interleaved).
 */
function makeBench (ctx: Context, size: number, name: string, iterations: number): RoundsBench {
  const budget = budgetOf(ctx)
  const collectEachRound = size <= 10_000
  return new RoundsBench({
    name,
    throws: true,
    rounds: budget.rounds,
    time: budget.benchMs / budget.rounds,
    iterations: Math.ceil(iterations / budget.rounds),
    warmupTime: budget.warmupMs,
    warmupIterations: ctx.quick ? 1 : 2,
    setup: () => { if (collectEachRound) gc() }
  })
}

/** Runs a bench from makeBench, records it, and files its tasks (named by column) under `op`. */
async function runBench (ctx: Context, size: number, figures: Figures, op: string, bench: RoundsBench, perOp = 1): Promise<void> {
  const started = performance.now()
  gc()
  await bench.run()
  const stats = ctx.record(bench, perOp)
  ctx.log(`${bench.name ?? op} took ${((performance.now() - started) / 1000).toFixed(1)} s`)
  for (const [name, stat] of stats) figures.set(size, op, name, stat)
}

/** Steady state: writes and gets on opened stores, in tinybench rounds. */
async function measureSteady (ctx: Context, size: number, figures: Figures, dirOf: (kind: ContenderKind) => string, ids: readonly string[], pool: FlowPool, settings: SamplerSettings): Promise<void> {
  const large = size > 1000
  const label = sizeLabel(size)
  const pattern = randomIds(ids, PATTERN, 42)
  const writes = async (opened: readonly Opened[], sync: boolean): Promise<void> => {
    const save = makeBench(ctx, size, `compare @ ${label}: ${sync ? SAVE_SYNC : SAVE}`, sync ? 8 : 32)
    for (const { kind, contender } of opened) {
      const editor = pool.editor()
      let flow: GeneratedFlow | undefined
      save.add(column(kind), async () => { await contender.saveOne(flow!) }, { beforeEach () { flow = editor.next() } })
    }
    await runBench(ctx, size, figures, sync ? SAVE_SYNC : SAVE, save)

    const many = makeBench(ctx, size, `compare @ ${label}: ${sync ? SAVE_MANY_SYNC : SAVE_MANY}`, 2)
    for (const { kind, contender } of opened) {
      const editor = pool.editor()
      let flows: GeneratedFlow[] = []
      many.add(column(kind), async () => { await contender.saveMany(flows) }, { beforeEach () { flows = editor.nextMany(MANY) } })
    }
    await runBench(ctx, size, figures, sync ? SAVE_MANY_SYNC : SAVE_MANY, many)
    if (sync) return

    const del = makeBench(ctx, size, `compare @ ${label}: ${DELETE}`, 32)
    for (const { kind, contender } of opened) {
      let cursor = 0
      let base = pool.flows[0]!
      del.add(column(kind), async () => { await contender.deleteOne(base.id) }, {
        beforeEach () { base = pool.flows[cursor++ % pool.flows.length]! },
        // Put it back (changed), outside the timing, so the store keeps its size.
        async afterEach () { await contender.saveOne(pool.change(base)) }
      })
    }
    await runBench(ctx, size, figures, DELETE, del)
  }
  const gets = async (opened: readonly Opened[]): Promise<void> => {
    const bench = makeBench(ctx, size, `compare @ ${label}: ${GET} of random ids`, 8)
    let found = 0
    let lookups = 0
    for (const { kind, contender } of opened) {
      // Decode what the pattern reads first where get(id) caches: the figure is the steady state.
      if (kind === FLOWSTORE || kind === RAW_LEVEL) for (const id of pattern) contender.get(id)
      let cursor = 0
      bench.add(column(kind), () => {
        for (let i = 0; i < BATCH; i++) if (contender.get(pattern[cursor++ & MASK]!) !== undefined) found++
        lookups += BATCH
      })
    }
    await runBench(ctx, size, figures, GET, bench, BATCH)
    if (found !== lookups) throw new Error(`compare: ${lookups - found} of ${lookups} gets missed`)
  }

  // LevelDB-based and embedded stores: small heaps until the gets decode.
  const embedded = await openAll([FLOWSTORE, RAW_LEVEL, LMDB, SQLITE], dirOf)
  try {
    await writes(embedded, false)
    await gets(embedded)
  } finally {
    await closeAll(embedded)
  }
  gc()
  // fsync per commit: both sizes, or (with --quick) the small one only.
  if (!ctx.quick || !large) {
    const synced = await openAll(SYNCED, dirOf)
    try {
      await writes(synced, true)
    } finally {
      await closeAll(synced)
    }
    gc()
  }

  // File-based stores (they hold every flow decoded).
  const files = await openAll([JSON_FILES, JSONL], dirOf)
  try {
    await writes(files, false)
    await gets(files)
  } finally {
    await closeAll(files)
  }
  gc()

  // The legacy repository: ~0.1 s per operation at 1,000 flows, seconds at the large size, so
  // it is sampled with a small budget; at the large size only save, once (the goal's figure).
  const legacy = legacyHandle(dirOf(LEGACY))
  const editor = pool.editor()
  let cursor = 0
  const legacyTasks: SampledTask[] = [{
    name: LEGACY.name,
    ...(large ? { minSamples: 1, maxSamples: 1 } : {}),
    async sample (): Promise<Record<string, number>> {
      const flow = editor.next()
      const t0 = performance.now()
      await legacy.saveOne(flow)
      const ms = performance.now() - t0
      // save() starts with loadAll(), the whole-file load that is also its open.
      return large ? { [SAVE]: ms, [OPEN]: legacy.lastLoadMs } : { [SAVE]: ms }
    }
  }]
  if (!large) {
    legacyTasks.push({
      name: LEGACY.name,
      async sample () {
        const t0 = performance.now()
        const flow = legacy.get(pattern[cursor++ & MASK]!)
        const ms = performance.now() - t0
        if (flow === undefined) throw new Error('compare: legacy get missed')
        return { [GET]: ms }
      }
    }, {
      name: LEGACY.name,
      async sample () {
        const flows = editor.nextMany(MANY)
        const t0 = performance.now()
        await legacy.saveMany(flows)
        return { [SAVE_MANY]: performance.now() - t0 }
      }
    }, {
      name: LEGACY.name,
      async sample () {
        const base = pool.flows[cursor++ % pool.flows.length]!
        const t0 = performance.now()
        await legacy.deleteOne(base.id)
        const ms = performance.now() - t0
        await legacy.saveOne(pool.change(base)) // put it back, outside the timing
        return { [DELETE]: ms }
      }
    })
  } else {
    for (const op of [GET, SAVE_MANY, DELETE]) {
      figures.note(size, op, LEGACY.name, `not measured at ${label}: one whole-file load (its open)${op === GET ? '' : ' plus one whole-file rewrite (its save)'}`)
    }
  }
  const samples = await sampleInterleaved(legacyTasks, settings)
  recordSamples(ctx, size, figures, `compare @ ${label}: legacy repository (sampled)`, LEGACY.name, samples)
  if (large) {
    figures.note(size, OPEN, LEGACY.name, 'timed inside its measured save: the loadAll() that save() starts with')
    legacyLoads(ctx, size, figures, samples.get(`${LEGACY.name} ${OPEN}`)!, 'timed inside its measured save')
  }
  gc()
}

function recordSamples (ctx: Context, size: number, figures: Figures, bench: string, kind: string, samples: Map<string, number[]>): void {
  const records: TaskRecord[] = []
  for (const [key, values] of samples) {
    const op = key.slice(kind.length + 1)
    const stat = statOfValues('ms', values)
    figures.set(size, op, kind, stat)
    records.push({ bench, task: key, stat })
    ctx.recordStat(bench, key, stat)
  }
  console.log(`\n  ${bench}`)
  console.table(taskTable(records))
}

/** Full backup, changed-only backup (flowstore), restore: one contender at a time. */
async function measureBackups (ctx: Context, size: number, figures: Figures, dirOf: (kind: ContenderKind) => string, pool: FlowPool, settings: SamplerSettings): Promise<void> {
  const large = size > 1000
  const label = sizeLabel(size)
  const backups = await ctx.tmp.make(`compare-backups-${size}`)
  for (const kind of CONTENDERS) {
    if (kind.restore === undefined) {
      for (const op of [BACKUP, RESTORE]) figures.note(size, op, kind.name, `n/a: ${kind.noBackup ?? 'no backup'}`)
      continue
    }
    if (large && kind === JSON_FILES) {
      for (const op of [BACKUP, RESTORE]) figures.note(size, op, kind.name, `not measured at ${label}: one file copy per flow, slow on a loaded machine; see the 1,000-flow figure (it grows linearly)`)
      continue
    }
    const limits = !large ? {} : kind === LEGACY ? { minSamples: 1, maxSamples: 1 } : { minSamples: 1, maxSamples: 3 }
    const contender = kind === LEGACY ? legacyHandle(dirOf(kind)) : await kind.open(dirOf(kind))
    let last: string | undefined
    let n = 0
    const samples = new Map<string, number[]>()
    const merge = (more: Map<string, number[]>): void => { for (const [key, values] of more) samples.set(key, values) }
    try {
      merge(await sampleInterleaved([{
        name: kind.name,
        ...limits,
        async sample () {
          const file = join(backups, `${slug(kind.name)}-${n++}`)
          const t0 = performance.now()
          await contender.backupFull!(file)
          const ms = performance.now() - t0
          if (last !== undefined) await rm(last, { recursive: true, force: true })
          last = file
          return { [BACKUP]: ms }
        }
      }], settings))
      if (kind === FLOWSTORE) {
        const store = (contender as FlowstoreContender).store
        const base = store.version
        await contender.saveMany(pool.editor().nextMany(CHANGED))
        merge(await sampleInterleaved([{
          name: kind.name,
          async sample () {
            const file = join(backups, `${slug(kind.name)}-changes-${n++}`)
            const t0 = performance.now()
            const info = await store.backup(file, { since: base })
            const ms = performance.now() - t0
            await rm(file, { force: true })
            if (info.kind !== 'changes' || info.flows !== CHANGED) throw new Error(`compare: the changed-only backup holds ${info.flows} flows, expected ${CHANGED}`)
            return { [BACKUP_CHANGED]: ms }
          }
        }], settings))
      }
    } finally {
      await contender.close()
    }
    const full = last!
    merge(await sampleInterleaved([{
      name: kind.name,
      ...limits,
      async sample () {
        const target = join(backups, `${slug(kind.name)}-restored-${n++}`)
        const t0 = performance.now()
        await kind.restore!(full, target)
        const ms = performance.now() - t0
        await rm(target, { recursive: true, force: true })
        return { [RESTORE]: ms }
      }
    }], settings))
    await rm(full, { recursive: true, force: true })
    recordSamples(ctx, size, figures, `compare @ ${label}: backup / restore (${kind.name})`, kind.name, samples)
  }
  for (const kind of CONTENDERS) if (kind !== FLOWSTORE) figures.note(size, BACKUP_CHANGED, kind.name, 'n/a: no changed-only backup')
  await rm(backups, { recursive: true, force: true })
}

/** Memory per flow, opened and all decoded, one child process per contender (two at a time). */
async function measureMemory (ctx: Context, size: number, figures: Figures, dirOf: (kind: ContenderKind) => string): Promise<void> {
  const measure = async (kind: ContenderKind): Promise<ContenderMemory> => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD, kind.name, dirOf(kind), String(size)], {
      cwd: ROOT,
      maxBuffer: 1024 * 1024
    })
    const run = JSON.parse(stdout.trim().split('\n').pop()!) as ContenderMemory
    if (run.flows !== size) throw new Error(`compare: the memory child saw ${run.flows} flows, expected ${size}`)
    return run
  }
  // Heap figures do not depend on timing, so two children share the two cores.
  const runs = new Map<ContenderKind, ContenderMemory>()
  const queue = [...CONTENDERS]
  await Promise.all([0, 1].map(async () => {
    for (let kind = queue.shift(); kind !== undefined; kind = queue.shift()) runs.set(kind, await measure(kind))
  }))
  const bench = `compare @ ${sizeLabel(size)}: memory per flow (heapUsed + external growth / flows)`
  for (const kind of CONTENDERS) {
    const run = runs.get(kind)!
    const opened = (run.opened.total - run.before.total) / size
    const decoded = (run.decoded.total - run.before.total) / size
    const rss = (at: typeof run.opened): string => formatBytes((at.rss - run.before.rss) / size)
    const openedStat = statOfValues('bytes', [opened])
    const decodedStat = statOfValues('bytes', [decoded])
    figures.set(size, MEM_OPENED, kind.name, openedStat, `rss +${rss(run.opened)} per flow`)
    figures.set(size, MEM_DECODED, kind.name, decodedStat, `rss +${rss(run.decoded)} per flow`)
    ctx.recordStat(bench, `${kind.name}: opened`, openedStat)
    ctx.recordStat(bench, `${kind.name}: all decoded`, decodedStat)
    ctx.log(`${sizeLabel(size)}, ${kind.name}: opened ${formatBytes(opened)}/flow (rss ${rss(run.opened)}), all decoded ${formatBytes(decoded)}/flow (rss ${rss(run.decoded)})`)
  }
}

function goalFor (op: string, kind: string, size: number): Goal | null {
  if (kind === LEGACY.name && op === SAVE) {
    if (size === 1_000) return fasterBy(100)
    if (size >= 100_000) return fasterBy(10_000)
    return null
  }
  if ((kind === LMDB.name || kind === SQLITE.name) && AHEAD_OF_EMBEDDED.has(op)) return AHEAD
  if (kind === RAW_LEVEL.name && SHARED_WITH_RAW.has(op)) return atMost(1.3)
  return null
}

/** One row per (size, operation, contender): flowstore's figure against the contender's. */
function buildRows (ctx: Context, sizes: readonly number[], figures: Figures): Row[] {
  const rows: Row[] = []
  const others = CONTENDERS.filter((kind) => kind !== FLOWSTORE)
  for (const size of sizes) {
    for (const op of OPERATIONS) {
      const subject = figures.get(size, op, FLOWSTORE.name)
      if (subject === undefined) continue
      const subjectLabel = op === SAVE_SYNC || op === SAVE_MANY_SYNC ? 'flowstore (sync)' : FLOWSTORE.name
      if (op === BACKUP_CHANGED) {
        const full = figures.get(size, BACKUP, FLOWSTORE.name)
        if (full !== undefined) {
          rows.push(compare(`${op} @ ${sizeLabel(size)}: flowstore vs its own full backup`, { label: `${subjectLabel}: changed-only`, stat: subject }, { label: `${subjectLabel}: full`, stat: full }, null,
            'only flowstore has a changed-only backup; the others would copy everything again'))
        }
        continue
      }
      for (const kind of others) {
        const baseline = figures.get(size, op, kind.name)
        if (baseline === undefined) continue
        if (baseline.median <= 0) continue // nothing kept (e.g. lmdb's heap at open): no ratio
        const synced = op === SAVE_SYNC || op === SAVE_MANY_SYNC
        const baselineLabel = synced ? `${kind.name} (sync)` : kind.name
        const notes = [figures.noteOf(size, op, FLOWSTORE.name), figures.noteOf(size, op, kind.name)]
          .map((note, i) => note === undefined ? undefined : `${i === 0 ? subjectLabel : baselineLabel}: ${note}`)
          .filter((note) => note !== undefined)
        if (op === OPEN && size === sizes[0]) {
          if (kind === others[0]) notes.push(`flowstore: ${FLOWSTORE.durability}; ${FLOWSTORE.model}`)
          notes.push(`${baselineLabel}: ${kind.durability}; ${kind.model}`)
        }
        if (synced && size === sizes[0] && op === SAVE_SYNC) {
          if (kind === others[0]) notes.push(`flowstore (sync): ${SYNCED[0]!.durability}`)
          notes.push(`${baselineLabel}: ${SYNCED.find((k) => column(k) === kind.name)?.durability ?? ''}`)
        }
        rows.push(compare(`${op} @ ${sizeLabel(size)}: flowstore vs ${kind.name}`, { label: subjectLabel, stat: subject }, { label: baselineLabel, stat: baseline },
          synced ? null : goalFor(op, kind.name, size), notes.length === 0 ? undefined : notes.join(' | ')))
      }
    }
  }
  if (ctx.quick) ctx.log(`quick run: the ≥ 10,000× legacy save goal is defined at 100,000 flows; at ${QUICK_SIZES[1].toLocaleString('en')} it is reported without a goal`)
  return rows
}

/** A markdown matrix per size: every contender's figure and its ratio to flowstore's. */
function printMatrix (sizes: readonly number[], figures: Figures): void {
  const columns = CONTENDERS.map((kind) => kind.name)
  const lines: string[] = []
  for (const size of sizes) {
    lines.push('', `### ${sizeLabel(size)}`, '', 'Each cell: the median, and (in parentheses) that figure ÷ flowstore\'s, from the same run: above 1× flowstore is faster / smaller.', '')
    lines.push(`| Operation | ${columns.join(' | ')} |`, `| --- | ${columns.map(() => '---').join(' | ')} |`)
    for (const op of OPERATIONS) {
      if (columns.every((name) => figures.get(size, op, name) === undefined)) continue
      const reference = figures.get(size, op, FLOWSTORE.name)
      const cells = columns.map((name) => {
        const stat = figures.get(size, op, name)
        if (stat === undefined) return figures.noteOf(size, op, name)?.startsWith('n/a') === true ? 'n/a' : figures.noteOf(size, op, name)?.startsWith('not measured') === true ? 'not measured' : '—'
        const value = formatValue(stat, stat.median)
        if (name === FLOWSTORE.name || reference === undefined || reference.median <= 0) return value
        return `${value} (${(stat.median / reference.median).toPrecision(3)}×)`
      })
      lines.push(`| ${op} | ${cells.join(' | ')} |`)
    }
    const reads = columns.map((name) => {
      const note = figures.noteOf(size, COLD, name) ?? ''
      const match = /storage reads(?: after open)?: ([\d,]+)( whole-file reads| \(a full scan of [\d,]+ rows)?/.exec(note)
      if (match === null) return undefined
      return `${match[1]!}${match[2] === undefined ? '' : match[2].startsWith(' (') ? ` full scan (${Number(match[2].replace(/\D+/g, '')).toLocaleString('en')} rows)` : match[2]}`
    })
    if (reads.some((cell) => cell !== undefined)) {
      lines.push(`| storage reads during ${ACCESSES.toLocaleString('en')} \`flows\` accesses after open | ${reads.map((cell) => cell ?? '—').join(' | ')} |`)
    }
  }
  console.log(`\n  compare: every figure against flowstore's${lines.join('\n')}\n`)
}
