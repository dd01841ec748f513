// The value domain: what a flow may contain so that it comes back exactly as it went in.
// msgpackr silently alters some values (a `__proto__` key, Map, Set, functions, -0, lone
// surrogates, sparse arrays, Buffers); this walk refuses them, with the path to the value,
// before anything is encoded. The decode side (freeze.ts) checks the same domain.
//
// Accepted: null, undefined, booleans, numbers (not -0; NaN and ±Infinity are fine), strings
// of valid Unicode, dense arrays, plain objects (prototype Object.prototype, string keys, no
// `__proto__` key, no symbol keys), Date, Uint8Array.

import { READONLY_DATE_PROTOTYPE } from './readonly-date.ts'

/** How deep values may nest; deeper values are refused (and not decoded). */
export const MAX_DEPTH = 512

/** A value outside the domain, with its path; the caller turns it into a FlowStoreError. */
export class DomainViolation extends Error {
  readonly path: string[] = []
  constructor (readonly reason: string) {
    super(reason)
  }

  /** The path as a JavaScript-like accessor, e.g. `.nodes[3].config`. */
  get where (): string {
    return this.path.reverse().join('')
  }
}

export function pathSegment (key: string | number): string {
  if (typeof key === 'number') return `[${key}]`
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`
}

export function isDate (value: object, proto: object | null): value is Date {
  return proto === Date.prototype || proto === READONLY_DATE_PROTOTYPE
}

/**
 * Returns undefined when `value` can be stored exactly, else the violation with its path.
 * No exceptions and no per-key try/catch on the hot path: this runs on every save.
 * `ancestors[0..depth)` holds the objects above `value` (cycle check; flows are shallow, so
 * a linear search beats hashing every object into a Set).
 */
export function checkValue (value: unknown, depth: number, ancestors: object[]): DomainViolation | undefined {
  switch (typeof value) {
    case 'string':
      return value.isWellFormed() ? undefined : new DomainViolation('a string with a lone surrogate is not valid Unicode and would not come back exactly')
    case 'number':
      return value === 0 && 1 / value < 0 ? new DomainViolation('-0 would come back as 0') : undefined
    case 'boolean':
    case 'undefined':
      return undefined
    case 'object':
      return value === null ? undefined : checkObject(value, depth, ancestors)
    default:
      return new DomainViolation(`a ${typeof value} cannot be stored`)
  }
}

function checkObject (value: object, depth: number, ancestors: object[]): DomainViolation | undefined {
  const proto = Object.getPrototypeOf(value)
  if (proto === Uint8Array.prototype || isDate(value, proto)) return undefined
  if (depth >= MAX_DEPTH) return new DomainViolation(`values nest deeper than ${MAX_DEPTH} levels`)
  for (let i = 0; i < depth; i++) {
    if (ancestors[i] === value) return new DomainViolation('a cycle (a value that contains itself) cannot be stored')
  }
  ancestors[depth] = value
  if (proto === Array.prototype) {
    const array = value as unknown[]
    for (let i = 0; i < array.length; i++) {
      const item = array[i]
      const violation = item === undefined && !(i in array)
        ? new DomainViolation('a sparse array (a hole) would come back with undefined in the hole')
        : checkValue(item, depth + 1, ancestors)
      if (violation !== undefined) {
        violation.path.push(pathSegment(i))
        return violation
      }
    }
    return undefined
  }
  if (proto !== Object.prototype) return new DomainViolation(describeUnsupported(value, proto))
  if (Object.getOwnPropertySymbols(value).length !== 0) return new DomainViolation('symbol keys would be lost')
  const record = value as Record<string, unknown>
  // for...in is the fastest walk (measured 2x Object.keys); the prototype is Object.prototype,
  // which has no enumerable keys, so it yields exactly the own enumerable string keys.
  for (const key in record) {
    const violation = key === '__proto__'
      ? new DomainViolation('a "__proto__" key would come back renamed')
      : key.isWellFormed()
        ? checkValue(record[key], depth + 1, ancestors)
        : new DomainViolation('a key with a lone surrogate is not valid Unicode')
    if (violation !== undefined) {
      violation.path.push(pathSegment(key))
      return violation
    }
  }
  return undefined
}

function describeUnsupported (value: object, proto: object | null): string {
  if (proto === null) return 'an object with a null prototype would come back as a plain object; copy it into {}'
  if (Buffer.isBuffer(value)) return 'a Buffer would come back as a Uint8Array; pass new Uint8Array(buffer) instead'
  if (value instanceof Map) return 'a Map would come back as a plain object; store Object.fromEntries(map) or an array of pairs'
  if (value instanceof Set) return 'a Set would come back as an array; store [...set]'
  const name = (proto as { constructor?: { name?: string } }).constructor?.name ?? 'unknown'
  return `a ${name} is not in the value domain (plain objects, arrays, strings, numbers, booleans, null, undefined, Date, Uint8Array)`
}
