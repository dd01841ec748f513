// The contract between the runner (bench/index.ts) and the suites (bench/suites/*.ts).
//
// A suite is a module exporting `suite: Suite`. It measures something flowstore does AND a
// baseline doing comparable work in the same run, and returns one Row per figure: the ratio
// of the two medians, checked against the figure's goal. Absolute numbers depend on the
// machine; the ratios are what the goals are about.

import type { Bench } from 'tinybench'
import type { Stores } from './stores.ts'
import type { TempDirs } from './temp.ts'

/** Summary statistics of one measured task. Times are in milliseconds, memory in bytes. */
export interface Stat {
  readonly unit: 'ms' | 'bytes'
  readonly median: number
  readonly min: number
  readonly max: number
  readonly p99: number
  readonly mean: number
  /** Relative margin of error of the mean, in percent (0 for single measurements). */
  readonly rme: number
  /** Samples (tinybench iterations, or child-process runs for memory). */
  readonly samples: number
  /** Operations per sample: the statistics above are already divided by it. */
  readonly perOp: number
}

export interface Measured {
  readonly label: string
  readonly stat: Stat
}

/**
 * A goal on `ratio` (always subject / baseline, in cost units: time or bytes, so lower is
 * better for the subject): the ratio must be at most `max`. "100× faster" is max 0.01.
 */
export interface Goal {
  readonly max: number
  readonly text: string
}

export interface Row {
  /** Filled in by the runner. */
  suite?: string
  /** The figure, e.g. "read: store.get(id) vs Map.get". */
  readonly task: string
  readonly subject: Measured
  readonly baseline: Measured
  /** subject.median / baseline.median: the figure the goal is checked on. */
  readonly ratio: number
  /** subject.min / baseline.min: less sensitive to other load on the machine; for information. */
  readonly ratioOfMins: number
  readonly goal: Goal | null
  /** null when the row has no goal (informational). */
  readonly pass: boolean | null
  readonly note?: string
}

export interface BenchSettings {
  /** Minimum iterations per task, over all rounds; the time budget applies too. */
  readonly iterations?: number
  readonly warmupIterations?: number
  /** Time budget per task in ms, over all rounds; defaults to the run's (1000 ms, less with --quick). */
  readonly time?: number
}

/** Raw tinybench figures of one task, kept in the results file. */
export interface TaskRecord {
  readonly bench: string
  readonly task: string
  readonly stat: Stat
}

export interface Context {
  readonly quick: boolean
  /** Temp directories under os.tmpdir(), removed when the run ends. */
  readonly tmp: TempDirs
  /** Prebuilt stores shared between suites (built once per run). */
  readonly stores: Stores
  /**
   * A tinybench Bench with the run's defaults (`settings` are scaled down under --quick).
   * Its run() warms every task up once, then runs the tasks in interleaved rounds
   * (A B C, A B C, …) sharing the time budget, so that a burst of load from other processes
   * hits every task alike; each task's samples are merged over the rounds.
   */
  bench (name: string, settings?: BenchSettings): Bench
  /**
   * Runs a bench made by `bench()`, prints its table and keeps its figures for the results
   * file; returns task name -> Stat, divided by `perOp` operations per sample.
   */
  run (bench: Bench, perOp?: number): Promise<Map<string, Stat>>
  /** The same for a bench already run (`await bench.run()` first). */
  record (bench: Bench, perOp?: number): Map<string, Stat>
  /** Keeps a figure measured without tinybench (e.g. memory) in the results. */
  recordStat (bench: string, task: string, stat: Stat): void
  log (message: string): void
}

export interface Suite {
  readonly name: string
  /** One line: what the suite measures. */
  readonly description: string
  /** Extra words the name filter matches (e.g. "get" for the read suite). */
  readonly tags?: readonly string[]
  /** Runs only when a filter names it (a long suite, e.g. scale). */
  readonly optIn?: boolean
  run (ctx: Context): Promise<Row[]>
}
