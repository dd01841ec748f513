// The decode side of the value domain: walks a freshly decoded value, refuses anything a
// store could not have written (corrupt or foreign bytes), and freezes it so that what the
// store hands out cannot change the cache.

import { DomainViolation, MAX_DEPTH, pathSegment } from './domain.ts'
import { freezeDate } from './readonly-date.ts'

/** Set in the result when the value holds a Uint8Array: typed arrays cannot be frozen. */
export const HAS_BINARY = 1

/** Checks and deep-freezes `value`; returns HAS_BINARY when it holds Uint8Arrays. */
export function freezeDecoded (value: unknown, depth: number): number {
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
        flags |= freezeDecoded(array[i], depth + 1)
      } catch (err) {
        if (err instanceof DomainViolation) err.path.push(pathSegment(i))
        throw err
      }
    }
  } else if (proto === Object.prototype) {
    const record = value as Record<string, unknown>
    for (const key of Object.keys(record)) {
      try {
        flags |= freezeDecoded(record[key], depth + 1)
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
