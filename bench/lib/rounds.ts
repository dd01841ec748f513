// A Bench that runs its tasks in interleaved rounds. Tasks of a plain tinybench Bench run
// one after the other, each for its whole time budget; on a machine where other processes
// come and go, one task can get a quiet second and the next a loaded one, which skews the
// ratio between them. Here every task is warmed up once, then the tasks take turns for
// `rounds` rounds, each round with 1/rounds of the budget, and each task's samples are
// merged over the rounds.

import { Bench, type BenchOptions, type Task } from 'tinybench'
import { samplesOf } from './stats.ts'

export class RoundsBench extends Bench {
  readonly rounds: number
  readonly #samples = new Map<string, number[]>()

  /** `time` and `iterations` are per round: pass the whole budget divided by `rounds`. */
  constructor (options: BenchOptions & { rounds: number }) {
    const { rounds, ...rest } = options
    super({ ...rest, retainSamples: true, warmup: false })
    this.rounds = Math.max(1, Math.floor(rounds))
  }

  override async run (): Promise<Task[]> {
    this.#samples.clear()
    for (const task of this.tasks) await task.warmup()
    for (let round = 0; round < this.rounds; round++) {
      const last = round === this.rounds - 1
      for (const task of this.tasks) {
        await task.run()
        const samples = this.#samples.get(task.name) ?? []
        samples.push(...samplesOf(task))
        this.#samples.set(task.name, samples)
        // Keep the last round's result on the task (errors included); reset to run again.
        if (!last) task.reset(false)
      }
    }
    return this.tasks
  }

  /** A task's latency samples (ms) over all rounds of the last run(). */
  samples (name: string): readonly number[] | undefined {
    return this.#samples.get(name)
  }
}
