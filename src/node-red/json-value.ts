// Node-RED's data as stored values. Everything Node-RED hands its storage is JSON data, and
// everything it reads back is judged through JSON: the flows' `rev` is a sha256 of
// `JSON.stringify(flows)`, and its own file storage keeps JSON text. So a value is stored as
// itself when it is plain JSON that the store keeps exactly (then other flowstore tools can
// read it), and otherwise as its JSON text, which is exactly what Node-RED's file storage
// would have kept: a `__proto__` key, a string with a lone surrogate, -0, NaN, undefined or
// anything else outside plain JSON.

/** A stored value: the value itself, or its JSON text. */
export type Packed = { readonly value: unknown } | { readonly json: string }

/** Deeper than this, a value is kept as JSON text (the store refuses nesting past 512). */
const MAX_PLAIN_DEPTH = 400

/** `value` as a stored field: itself when it is plain JSON the store keeps exactly, else JSON text. */
export function pack (value: unknown, json?: string): Packed {
  return isPlainJson(value, 0) ? { value } : { json: json ?? JSON.stringify(value) }
}

/** A fresh (unfrozen) copy of a stored field, as Node-RED's file storage would have read it. */
export function unpack (packed: unknown): unknown {
  const text = packedJson(packed)
  return text === undefined ? undefined : JSON.parse(text)
}

/** The JSON text of a stored field (the text Node-RED's file storage would hold), or undefined. */
export function packedJson (packed: unknown): string | undefined {
  if (typeof packed !== 'object' || packed === null) return undefined
  if (typeof (packed as { json?: unknown }).json === 'string') return (packed as { json: string }).json
  if (!Object.hasOwn(packed, 'value')) return undefined
  return JSON.stringify((packed as { value: unknown }).value)
}

/**
 * True when `value` is made of null, booleans, finite numbers (not -0), well-formed strings,
 * dense arrays and plain objects without a `__proto__` key: JSON data the store keeps exactly
 * and whose JSON text is the same before and after.
 */
export function isPlainJson (value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
      return value.isWellFormed()
    case 'number':
      return Number.isFinite(value) && !(value === 0 && 1 / value < 0)
    case 'boolean':
      return true
    case 'object':
      if (value === null) return true
      if (depth >= MAX_PLAIN_DEPTH) return false
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          if (!(i in value) || !isPlainJson(value[i], depth + 1)) return false
        }
        return true
      }
      if (Object.getPrototypeOf(value) !== Object.prototype || Object.getOwnPropertySymbols(value).length > 0) return false
      for (const key of Object.keys(value)) {
        if (key === '__proto__' || !key.isWellFormed()) return false
        if (!isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false
      }
      return true
    default:
      return false
  }
}

/**
 * True when `a` and `b` are deep-equal with the same key order, made of primitives, arrays
 * and plain objects, so that both have the same JSON text. Walks without building that text,
 * which is cheaper. False whenever either holds anything else (a Date, a NaN…), even when
 * the texts would be the same: the caller then treats `a` as changed. Never true for two
 * values whose JSON texts differ.
 */
export function sameJson (a: unknown, b: unknown, depth = 0): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null || depth >= MAX_PLAIN_DEPTH) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) {
      if (!sameJson(a[i], b[i], depth + 1)) return false
    }
    return true
  }
  if (Array.isArray(b) || Object.getPrototypeOf(a) !== Object.prototype || Object.getPrototypeOf(b) !== Object.prototype) return false
  // The keys of b in order; a's are walked with for-in, which allocates nothing.
  const keysB = Object.keys(b)
  let i = 0
  for (const key in a) {
    if (!Object.hasOwn(a, key)) return false
    if (key !== keysB[i++] || !sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], depth + 1)) return false
  }
  return i === keysB.length
}
