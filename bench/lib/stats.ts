// From tinybench results to Stats, and from two Stats to a Row (ratio + goal).

import type { Task } from 'tinybench'
import type { Goal, Measured, Row, Stat } from './types.ts'

/** The retained latency samples (ms) of a finished task; throws the task's error if it failed. */
export function samplesOf (task: Task): number[] {
  const result = task.result
  if (result.state === 'errored') throw result.error
  if (result.state !== 'completed' && result.state !== 'aborted-with-statistics') {
    throw new Error(`Task ${task.name} did not complete (${result.state})`)
  }
  const samples = result.latency.samples
  if (samples === undefined) throw new Error(`Task ${task.name} kept no samples (retainSamples is off)`)
  return [...samples]
}

/**
 * Statistics of samples (merged tinybench samples, or bytes from child runs), divided by
 * `perOp` operations per sample. rme uses the normal approximation (1.96 standard errors).
 */
export function statOfValues (unit: Stat['unit'], values: readonly number[], perOp = 1): Stat {
  if (values.length === 0) throw new Error('statOfValues needs at least one value')
  const sorted = values.map((value) => value / perOp).sort((a, b) => a - b)
  const n = sorted.length
  const mean = sorted.reduce((sum, v) => sum + v, 0) / n
  const variance = n > 1 ? sorted.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (n - 1) : 0
  return {
    unit,
    median: quantile(sorted, 0.5),
    min: sorted[0]!,
    max: sorted[n - 1]!,
    p99: quantile(sorted, 0.99),
    mean,
    rme: mean === 0 ? 0 : 100 * 1.96 * Math.sqrt(variance / n) / mean,
    samples: n,
    perOp
  }
}

function quantile (sorted: readonly number[], q: number): number {
  const at = (sorted.length - 1) * q
  const low = Math.floor(at)
  const high = Math.ceil(at)
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (at - low)
}

/** Subject may cost at most `factor` times the baseline. */
export function atMost (factor: number): Goal {
  return { max: factor, text: `≤ ${factor}×` }
}

/** Subject must be at least `factor` times faster (cheaper) than the baseline. */
export function fasterBy (factor: number): Goal {
  return { max: 1 / factor, text: `≥ ${factor}× faster` }
}

/** A row comparing the medians of `subject` and `baseline`. */
export function compare (task: string, subject: Measured, baseline: Measured, goal: Goal | null, note?: string): Row {
  if (subject.stat.unit !== baseline.stat.unit) throw new Error(`${task}: cannot compare ${subject.stat.unit} with ${baseline.stat.unit}`)
  const ratio = subject.stat.median / baseline.stat.median
  return {
    task,
    subject,
    baseline,
    ratio,
    ratioOfMins: subject.stat.min / baseline.stat.min,
    goal,
    pass: goal === null ? null : ratio <= goal.max,
    ...(note === undefined ? {} : { note })
  }
}

/** The Stat of a named task, failing loudly when a suite misnames one. */
export function pick (stats: ReadonlyMap<string, Stat>, name: string): Measured {
  const stat = stats.get(name)
  if (stat === undefined) throw new Error(`No results for task "${name}" (have: ${[...stats.keys()].join(', ')})`)
  return { label: name, stat }
}
