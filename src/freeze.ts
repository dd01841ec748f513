// The decode side of the value domain: walks a freshly decoded value, refuses anything a
// store could not have written (corrupt or foreign bytes), and freezes it so that what the
// store hands out cannot change the cache.
//
// The walk is bounded: it visits at most `budget` values (the count msgpack.ts found in the
// bytes), so a value whose parts are shared (a DAG: each visit of a shared part would walk it
// again, 2^depth times) is refused after that many steps instead of hanging the reader.

import { DomainViolation, MAX_DEPTH, pathSegment } from './domain.ts'
import { freezeDate } from './readonly-date.ts'

/** Set in the result when the value holds a Uint8Array: typed arrays cannot be frozen. */
export const HAS_BINARY = 1

/** How many values a walk may visit, and how many it has. */
export interface WalkBudget {
  readonly budget: number
  visited: number
}

/**
 * Checks and deep-freezes `value`; returns HAS_BINARY when it holds Uint8Arrays. Counts every
 * value visited in `walk` and refuses to visit more than its budget.
 */
export function freezeDecoded (value: unknown, depth: number, walk: WalkBudget): number {
  if (++walk.visited > walk.budget) throw new DomainViolation('decoded more values than the bytes hold (a value shared between two places), which a store never writes')
  if (typeof value !== 'object' || value === null) {
    // msgpackr reads a uint64/int64 as a bigint and keeps a float64 -0: a store never writes
    // either (the save-side domain refuses them), so such bytes are damaged or foreign.
    if (typeof value === 'bigint') throw new DomainViolation('decoded a bigint, which a store never writes')
    if (value === 0 && 1 / (value as number) < 0) throw new DomainViolation('decoded -0, which a store never writes')
    return 0
  }
  const proto = Object.getPrototypeOf(value)
  if (proto === Uint8Array.prototype) return HAS_BINARY
  if (proto === Date.prototype) {
    freezeDate(value as Date)
    return 0
  }
  if (depth >= MAX_DEPTH) throw new DomainViolation(`values nest deeper than ${MAX_DEPTH} levels`)
  let flags = 0
  if (proto === Array.prototype) {
    const array = value as unknown[]
    for (let i = 0; i < array.length; i++) {
      try {
        flags |= freezeDecoded(array[i], depth + 1, walk)
      } catch (err) {
        if (err instanceof DomainViolation) err.path.push(pathSegment(i))
        throw err
      }
    }
  } else if (proto === Object.prototype) {
    const record = value as Record<string, unknown>
    for (const key of Object.keys(record)) {
      try {
        flags |= freezeDecoded(record[key], depth + 1, walk)
      } catch (err) {
        if (err instanceof DomainViolation) err.path.push(pathSegment(key))
        throw err
      }
    }
  } else {
    throw new DomainViolation(`decoded a ${(proto as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'null-prototype object'}, which a store never writes`)
  }
  Object.freeze(value)
  return flags
}
