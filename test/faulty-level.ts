// Fault injection through real backends: classic-level / memory-level databases whose
// internal methods can be made to fail at chosen points. Nothing here mocks the store, the
// codec or the file system: the database is real, only the chosen calls throw.
//
//   faults.batch(n)     the next n batch writes fail (or `faults.batchIf` decides per batch)
//   faults.nextv(n, k)  after k more successful steps, the next n iterator steps (nextv, next,
//                       all) fail
//   faults.snapshot(n)  the next n snapshots fail
//
// Counters tell how many calls each kind received and how many failed.

import { ClassicLevel } from 'classic-level'
import { MemoryLevel } from 'memory-level'

export class InjectedFault extends Error {
  constructor (readonly point: string) {
    super(`injected ${point} failure`)
    this.name = 'InjectedFault'
  }
}

export interface FaultCounts {
  batches: number
  failedBatches: number
  iteratorSteps: number
  failedIteratorSteps: number
  snapshots: number
  failedSnapshots: number
  /** Batches and puts/dels that reached the database (i.e. wrote). */
  writes: number
}

export class Faults {
  readonly counts: FaultCounts = { batches: 0, failedBatches: 0, iteratorSteps: 0, failedIteratorSteps: 0, snapshots: 0, failedSnapshots: 0, writes: 0 }
  #batches = 0
  #steps = 0
  #stepsToSkip = 0
  #snapshots = 0
  /** When set, decides for each batch (with its operation count) whether it fails. */
  batchIf: ((operations: number) => boolean) | undefined

  batch (n = 1): this { this.#batches += n; return this }
  nextv (n = 1, after = 0): this { this.#steps += n; this.#stepsToSkip = after; return this }
  snapshot (n = 1): this { this.#snapshots += n; return this }

  /** Stops every fault. */
  clear (): void {
    this.#batches = 0
    this.#steps = 0
    this.#stepsToSkip = 0
    this.#snapshots = 0
    this.batchIf = undefined
  }

  failBatch (operations: number): boolean {
    this.counts.batches++
    const fail = this.#batches > 0 || this.batchIf?.(operations) === true
    if (this.#batches > 0) this.#batches--
    if (fail) this.counts.failedBatches++
    return fail
  }

  failStep (): boolean {
    this.counts.iteratorSteps++
    if (this.#steps === 0) return false
    if (this.#stepsToSkip > 0) {
      this.#stepsToSkip--
      return false
    }
    this.#steps--
    this.counts.failedIteratorSteps++
    return true
  }

  failSnapshot (): boolean {
    this.counts.snapshots++
    if (this.#snapshots === 0) return false
    this.#snapshots--
    this.counts.failedSnapshots++
    return true
  }
}

export interface Faulty {
  readonly faults: Faults
}

type Ctor = abstract new (...args: any[]) => any

function withFaults<B extends Ctor> (Base: B) {
  abstract class FaultyLevel extends Base implements Faulty {
    readonly faults = new Faults()

    async _batch (operations: any[], options: unknown) {
      if (this.faults.failBatch(operations.length)) throw new InjectedFault('batch')
      this.faults.counts.writes++
      return super._batch(operations, options)
    }

    async _put (...args: any[]) { this.faults.counts.writes++; return super._put(...args) }
    async _del (...args: any[]) { this.faults.counts.writes++; return super._del(...args) }

    _snapshot (...args: any[]) {
      if (this.faults.failSnapshot()) throw new InjectedFault('snapshot')
      return super._snapshot(...args)
    }

    _iterator (...args: any[]) {
      const iterator = super._iterator(...args)
      const faults = this.faults
      for (const method of ['_nextv', '_next', '_all'] as const) {
        const original = iterator[method]
        if (typeof original !== 'function') continue
        iterator[method] = async function (this: unknown, ...rest: unknown[]) {
          if (faults.failStep()) throw new InjectedFault('iterator step')
          return await original.apply(this, rest)
        }
      }
      return iterator
    }
  }
  return FaultyLevel
}

/** A real classic-level database with injectable faults. */
export const FaultyClassicLevel = withFaults(ClassicLevel) as unknown as new (location: string, options?: object) => ClassicLevel<string, Uint8Array> & Faulty

/** A real memory-level database with injectable faults. */
export const FaultyMemoryLevel = withFaults(MemoryLevel) as unknown as new (options?: object) => MemoryLevel<string, Uint8Array> & Faulty
