// The cache map of preload: 'keys' (src/keys-cache.ts over src/id-index.ts) answers as a
// Map does, whatever the sequence of gets, sets, deletes and forgotten entries: checked
// against a real Map on generated sequences.

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CachedFlow } from '../src/cached-flow.ts'
import { FlowCodec } from '../src/codec.ts'
import { IdIndex } from '../src/id-index.ts'
import { KeysCache } from '../src/keys-cache.ts'

const codec = new FlowCodec({ maxFlowBytes: 1 << 20, maxIdBytes: 1024 })
const entry = (id: string): CachedFlow => new CachedFlow(id, undefined, 0, codec)

const idArb = fc.oneof(fc.constantFrom('a', 'b', 'c', 'é', '😀', 'x'.repeat(300), 'flow-1', 'flow-2'), fc.string({ minLength: 1, maxLength: 6 }))
const op = fc.oneof(
  fc.record({ kind: fc.constant('get' as const), id: idArb }),
  fc.record({ kind: fc.constant('set' as const), id: idArb }),
  fc.record({ kind: fc.constant('delete' as const), id: idArb }),
  fc.record({ kind: fc.constant('forget' as const), id: idArb })
)

describe('KeysCache', () => {
  it('answers get, has, size and iteration order as a Map does', () => {
    fc.assert(fc.property(fc.uniqueArray(idArb, { maxLength: 12 }), fc.array(op, { maxLength: 40 }), (initial, ops) => {
      const index = new IdIndex()
      for (const id of initial) {
        const bytes = Buffer.from(id, 'utf8')
        index.add(bytes, 0, bytes.length)
      }
      const cache = new KeysCache(index, entry)
      // The model: which ids are there, in Map order (the values are the cache's own).
      const model = new Map<string, true>(initial.map((id) => [id, true]))
      for (const { kind, id } of ops) {
        if (kind === 'get') {
          expect(cache.get(id)?.id).toBe(model.has(id) ? id : undefined)
        } else if (kind === 'set') {
          cache.set(id, entry(id))
          model.set(id, true)
        } else if (kind === 'delete') {
          expect(cache.delete(id)).toBe(model.delete(id))
        } else {
          const current = model.has(id) ? cache.get(id) : undefined
          if (current !== undefined) cache.forget(current)
        }
        expect(cache.size).toBe(model.size)
        expect(cache.has(id)).toBe(model.has(id))
      }
      expect([...cache.keys()]).toEqual([...model.keys()])
      expect([...cache.entries()].map(([id, value]) => [id, value.id])).toEqual([...model.keys()].map((id) => [id, id]))
    }), { numRuns: 300 })
  })

  it('finds each of 100,000 ids and nothing else', () => {
    const index = new IdIndex()
    for (let i = 0; i < 100_000; i++) {
      const bytes = Buffer.from(`flow-${i}`)
      index.add(bytes, 0, bytes.length)
    }
    expect(index.count).toBe(100_000)
    for (let i = 0; i < 100_000; i += 7) expect(index.id(index.find(`flow-${i}`))).toBe(`flow-${i}`)
    expect(index.find('flow-100000')).toBe(-1)
    expect(index.find('')).toBe(-1)
  })
})
