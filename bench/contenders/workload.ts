// The flows and ids every contender is driven with, and a small interleaved sampler for the
// cold and slow operations (open, backup, restore, the legacy repository at 100,000 flows)
// that tinybench's rounds (at least rounds + 1 runs per task) would make too long.

import { type GeneratedFlow, generateFlow, mutateFlow } from '../../examples/generate-flows.ts'
import { gc } from '../lib/gc.ts'
import { prng } from '../lib/stores.ts'

/** generateFlow(i).id without generating the flow. */
export function flowId (index: number): string {
  return `flow-${String(index).padStart(6, '0')}`
}

export function allIds (count: number): string[] {
  const ids = new Array<string>(count)
  for (let i = 0; i < count; i++) ids[i] = flowId(i)
  if (count > 0 && generateFlow(0).id !== ids[0]) throw new Error('flowId() no longer matches generateFlow().id')
  return ids
}

/** `size` distinct indexes in [0, count), in a seeded random order. */
export function randomIndexes (count: number, size: number, seed: number): number[] {
  const all = Array.from({ length: count }, (_, i) => i)
  const next = prng(seed)
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1))
    const t = all[i]!
    all[i] = all[j]!
    all[j] = t
  }
  return all.slice(0, Math.min(size, count))
}

/**
 * Base flows for a random set of ids spread over the whole store; every write made from it
 * is a real change (mutateFlow with a counter shared by the pool's editors).
 */
export class FlowPool {
  readonly flows: readonly GeneratedFlow[]
  // One counter for every write made from this pool, by any editor: a write never repeats an
  // earlier one (SQLite, for one, skips rewriting a row whose bytes did not change).
  #revision = 0

  constructor (count: number, size: number, seed = 7) {
    this.flows = randomIndexes(count, size, seed).map((i) => generateFlow(i))
  }

  editor (): Editor {
    return new Editor(this)
  }

  /** `base` changed, with a revision no other write from this pool has used. */
  change (base: GeneratedFlow): GeneratedFlow {
    return mutateFlow(base, ++this.#revision)
  }
}

export class Editor {
  readonly #pool: FlowPool
  #cursor = 0

  constructor (pool: FlowPool) {
    this.#pool = pool
  }

  /** The next pool flow, changed. */
  next (): GeneratedFlow {
    const flows = this.#pool.flows
    return this.#pool.change(flows[this.#cursor++ % flows.length]!)
  }

  /** `n` consecutive (distinct, when n <= pool size) pool flows, changed. */
  nextMany (n: number): GeneratedFlow[] {
    const out = new Array<GeneratedFlow>(n)
    for (let i = 0; i < n; i++) out[i] = this.next()
    return out
  }
}

export interface SampledTask {
  readonly name: string
  /** One sample: does its own timing and returns named durations in ms (at least one). */
  sample (): Promise<Record<string, number>>
  /** Overrides of the sampler's settings for this task. */
  readonly minSamples?: number
  readonly maxSamples?: number
}

export interface SamplerSettings {
  /** Wall-clock budget per task over all its samples, in ms. */
  readonly budgetMs: number
  readonly minSamples: number
  readonly maxSamples: number
}

/**
 * A full collection, then a few turns of the event loop so that V8's concurrent sweeping and
 * the release of freed memory finish before the next sample starts (outside its timing).
 */
async function settle (): Promise<void> {
  gc()
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
}

/**
 * Runs the tasks' samples interleaved (A B C, B C A, C A B, …: the starting task rotates, so
 * that no task always follows the same one), settling the heap before each sample (outside the
 * timing), until every task has at least minSamples and either spent its budget or reached
 * maxSamples. Returns "<task> <lap>" -> durations.
 */
export async function sampleInterleaved (tasks: readonly SampledTask[], settings: SamplerSettings): Promise<Map<string, number[]>> {
  const state = tasks.map((task) => ({ task, samples: 0, spent: 0 }))
  const out = new Map<string, number[]>()
  const done = (s: typeof state[number]): boolean => {
    const min = s.task.minSamples ?? settings.minSamples
    const max = Math.max(min, s.task.maxSamples ?? settings.maxSamples)
    return s.samples >= max || (s.samples >= min && s.spent >= settings.budgetMs)
  }
  for (let round = 0; state.some((s) => !done(s)); round++) {
    for (let k = 0; k < state.length; k++) {
      const s = state[(round + k) % state.length]!
      if (done(s)) continue
      await settle()
      const started = performance.now()
      const laps = await s.task.sample()
      s.spent += performance.now() - started
      s.samples++
      for (const [lap, ms] of Object.entries(laps)) {
        const key = `${s.task.name} ${lap}`
        const list = out.get(key) ?? []
        list.push(ms)
        out.set(key, list)
      }
    }
  }
  return out
}
