// The benchmark runner: `npm run bench [-- [--quick] [--strict] [--out dir] [name...]]`.
//
// Runs every suite (or those whose name/tags contain one of the positional filters), prints
// a table per suite and a summary of the ratios, and writes bench/results/<date>.json and
// .md (quick and filtered runs get a suffix so they never overwrite a full run's files).
// Every figure is a ratio against a baseline measured in the same run; see lib/types.ts.

import { mkdir, writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Bench } from 'tinybench'
import { gc } from './lib/gc.ts'
import { machineInfo } from './lib/machine.ts'
import { type RunReport, rowTable, taskTable, toMarkdown } from './lib/report.ts'
import { RoundsBench } from './lib/rounds.ts'
import { samplesOf, statOfValues } from './lib/stats.ts'
import { Stores } from './lib/stores.ts'
import { TempDirs } from './lib/temp.ts'
import type { BenchSettings, Context, Row, Stat, Suite, TaskRecord } from './lib/types.ts'
import { suite as backup } from './suites/backup.ts'
import { suite as compare } from './suites/compare.ts'
import { suite as flush } from './suites/flush.ts'
import { suite as huge } from './suites/huge.ts'
import { suite as memory } from './suites/memory.ts'
import { suite as nodeRed } from './suites/node-red.ts'
import { suite as open } from './suites/open.ts'
import { suite as postgresSuite } from './suites/postgres.ts'
import { suite as read } from './suites/read.ts'
import { suite as save } from './suites/save.ts'
import { suite as scale } from './suites/scale.ts'
import { suite as service } from './suites/service.ts'
import { suite as serviceAttack } from './suites/service-attack.ts'

/** Every suite, in run order. Add new suites here. */
const SUITES: readonly Suite[] = [read, flush, open, save, memory, service, serviceAttack, backup, compare, postgresSuite, nodeRed, scale, huge]

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(HERE, '..')

const USAGE = `Usage: npm run bench -- [options] [filter...]

  filter        run only suites whose name or tags contain one of these words
                (suites: ${SUITES.map((s) => s.name + (s.optIn === true ? ' (only when named)' : '')).join(', ')})
  --quick       smaller stores and fewer iterations (the whole run takes under a minute)
  --strict      exit with code 1 when a goal is missed
  --out <dir>   where to write the results files (default bench/results)
  --help        this text`

// Budgets per task over all rounds; tasks run interleaved in `rounds` rounds (lib/rounds.ts).
const FULL = { time: 1000, warmupTime: 250, iterations: 64, warmupIterations: 16, rounds: 4 }
const QUICK = { time: 150, warmupTime: 50, iterations: 8, warmupIterations: 2, rounds: 2 }

async function main (): Promise<number> {
  const args = process.argv.slice(2)
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      strict: { type: 'boolean', default: false },
      out: { type: 'string', default: join(HERE, 'results') },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  if (values.help) {
    console.log(USAGE)
    return 0
  }
  const filter = positionals.map((word) => word.toLowerCase())
  // Opt-in suites (scale) run only when a filter names them.
  const suites = SUITES.filter((suite) => filter.length === 0 ? suite.optIn !== true
    : filter.some((word) => [suite.name, ...(suite.tags ?? [])].some((name) => name.toLowerCase().includes(word))))
  if (suites.length === 0) {
    console.error(`No suite matches ${filter.join(', ')}.\n\n${USAGE}`)
    return 2
  }

  const quick = values.quick
  const defaults = quick ? QUICK : FULL
  const tmp = new TempDirs()
  const onSignal = (): void => {
    tmp.cleanupSync()
    process.exit(130)
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  const started = performance.now()
  const loadAtStart = loadavg()[0]!
  const machine = machineInfo(ROOT)
  const log = (message: string): void => { console.log(`  · ${message}`) }
  const tasks: TaskRecord[] = []
  const rows: Row[] = []
  const errors: Array<{ suite: string, error: string }> = []
  const stores = new Stores(tmp, log)

  const ctx: Context = {
    quick,
    tmp,
    stores,
    log,
    bench (name: string, settings: BenchSettings = {}): Bench {
      const pickMin = (own: number | undefined, fallback: number): number => own === undefined ? fallback : quick ? Math.min(own, fallback) : own
      const time = quick ? Math.min(settings.time ?? defaults.time, defaults.time) : settings.time ?? defaults.time
      return new RoundsBench({
        name,
        throws: true,
        rounds: defaults.rounds,
        time: time / defaults.rounds,
        iterations: Math.ceil(pickMin(settings.iterations, defaults.iterations) / defaults.rounds),
        warmupTime: defaults.warmupTime,
        warmupIterations: pickMin(settings.warmupIterations, defaults.warmupIterations),
        // Each task (and each round of it) starts on a clean heap: garbage left by the
        // previous task is not collected on this task's clock.
        setup: () => { gc() }
      })
    },
    async run (bench: Bench, perOp = 1): Promise<Map<string, Stat>> {
      await bench.run()
      return ctx.record(bench, perOp)
    },
    record (bench: Bench, perOp = 1): Map<string, Stat> {
      const stats = new Map<string, Stat>()
      const own: TaskRecord[] = []
      for (const task of bench.tasks) {
        const samples = bench instanceof RoundsBench ? bench.samples(task.name) : undefined
        const stat = statOfValues('ms', samples ?? samplesOf(task), perOp)
        stats.set(task.name, stat)
        own.push({ bench: bench.name ?? '', task: task.name, stat })
      }
      tasks.push(...own)
      console.log(`\n  ${bench.name ?? ''}${perOp > 1 ? ` (per operation; ${perOp} operations per sample)` : ''}`)
      console.table(taskTable(own))
      return stats
    },
    recordStat (bench: string, task: string, stat: Stat): void {
      tasks.push({ bench, task, stat })
    }
  }

  console.log(`flowstore benchmarks${quick ? ' (quick)' : ''} — ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, load average ${loadAtStart.toFixed(2)}`)
  try {
    for (const suite of suites) {
      console.log(`\n▶ ${suite.name}: ${suite.description}`)
      const suiteStarted = performance.now()
      let suiteRows: Row[]
      try {
        suiteRows = await suite.run(ctx)
      } catch (err) {
        // One broken suite must not cost the figures of the others.
        console.error(`\n✖ suite ${suite.name} failed:`, err)
        errors.push({ suite: suite.name, error: err instanceof Error ? (err.stack ?? err.message) : String(err) })
        continue
      }
      for (const row of suiteRows) row.suite = suite.name
      rows.push(...suiteRows)
      console.log(`\n  ${suite.name} ratios (${((performance.now() - suiteStarted) / 1000).toFixed(1)} s):`)
      console.table(rowTable(suiteRows))
      gc()
    }
  } finally {
    await tmp.cleanup()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }

  console.log('\nSummary (ratio = flowstore median / baseline median; lower is better for flowstore):')
  console.table(rowTable(rows))

  const date = new Date().toISOString().slice(0, 10)
  const report: RunReport = {
    date,
    command: commandLine(args),
    settings: { quick, filter, timePerTaskMs: defaults.time, rounds: defaults.rounds },
    machine,
    durationSeconds: (performance.now() - started) / 1000,
    loadAverage: { start: loadAtStart, end: loadavg()[0]! },
    suites: suites.map(({ name, description }) => ({ name, description })),
    rows,
    tasks,
    errors
  }
  const suffix = [quick ? 'quick' : '', ...filter.map((word) => word.replace(/[^\w.-]+/g, '_'))].filter((part) => part !== '')
  const base = [date, ...suffix].join('-')
  const outDir = resolve(values.out)
  await mkdir(outDir, { recursive: true })
  const jsonPath = join(outDir, `${base}.json`)
  const mdPath = join(outDir, `${base}.md`)
  await writeFile(jsonPath, JSON.stringify(report, null, 2) + '\n')
  await writeFile(mdPath, toMarkdown(report))
  console.log(`\nWrote ${relative(process.cwd(), jsonPath)} and ${relative(process.cwd(), mdPath)} (${report.durationSeconds.toFixed(0)} s)`)

  const missed = rows.filter((row) => row.pass === false)
  if (missed.length > 0) console.log(`Goals missed: ${missed.map((row) => `${row.suite ?? ''} / ${row.task}`).join('; ')}`)
  if (errors.length > 0) {
    console.log(`Suites failed: ${errors.map((e) => e.suite).join(', ')}`)
    return 1
  }
  return values.strict && missed.length > 0 ? 1 : 0
}

/** How this run was started, for the results files. */
function commandLine (args: readonly string[]): string {
  const rest = args.join(' ')
  if (process.env.npm_lifecycle_event === 'bench') return rest === '' ? 'npm run bench' : `npm run bench -- ${rest}`
  return `tsx bench/index.ts${rest === '' ? '' : ` ${rest}`}`
}

process.exitCode = await main()
