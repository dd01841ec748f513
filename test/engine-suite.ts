// The shared behaviour suite: what a FlowStore does, whatever engine persists it. Run by
// test/backends.test.ts for LevelDB (classic-level and memory-level, as a directory, a
// database object and an engine object), and by the PostgreSQL engine's tests, the way
// abstract-level's test suite is run by every abstract-level implementation.
//
// A fixture stands for one store's storage: each open() makes a new engine over the same
// data, so closing and opening again is a real reopen.

import { afterEach, describe, expect, it } from 'vitest'
import { type Change, type Flow, FlowStore, FlowStoreError, type FlowStoreOptions, isFlowStoreError, restoreBackup } from '../src/index.ts'
import { tempDir } from './helpers.ts'

export interface EngineFixture {
  /** Opens a store on this fixture's storage (a new engine over the same data each time). */
  open (options?: FlowStoreOptions): Promise<FlowStore>
  /** Removes what the fixture made; called after every store it opened is closed. */
  dispose? (): Promise<void>
}

/** Makes a fixture with a new, empty store. */
export type MakeFixture = () => Promise<EngineFixture>

/** A flow holding one of each kind of value the store accepts. */
function everyKind (id: string): Flow {
  return {
    id,
    nulls: [null, undefined],
    booleans: [true, false],
    numbers: [0, 1, -1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, 2 ** 64, 0.1, -1.5e-300, Number.MAX_VALUE, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY],
    strings: ['', 'plain', '日本語', '😀 👨‍👩‍👧‍👦', 'e\u0301', '\u0000', 'x'.repeat(1000)],
    keys: { constructor: 1, toString: 2, '': 3, '😀': 4, 1: 5, then: 6 },
    dates: [new Date(0), new Date('2026-11-29T05:00:00.123Z'), new Date(Number.NaN)],
    bytes: Uint8Array.of(0, 1, 254, 255),
    nested: { list: [[1, [2, [3, { deep: 'yes' }]]]], empty: {}, emptyList: [] }
  }
}

/** Runs `fn` and returns the FlowStoreError it throws synchronously. */
function thrown (fn: () => unknown): FlowStoreError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(FlowStoreError)
    return err as FlowStoreError
  }
  throw new Error('expected the call to throw')
}

async function rejection (promise: Promise<unknown>): Promise<unknown> {
  return await promise.then(() => { throw new Error('expected the promise to reject') }, (err: unknown) => err)
}

function contents (store: FlowStore): Record<string, unknown> {
  return Object.fromEntries(store.flows)
}

export function engineSuite (name: string, makeFixture: MakeFixture): void {
  describe(`engine: ${name}`, () => {
    const stores: FlowStore[] = []
    const fixtures: EngineFixture[] = []

    afterEach(async () => {
      for (const store of stores.splice(0)) await store.close().catch(() => {})
      for (const fixture of fixtures.splice(0)) await fixture.dispose?.()
    })

    /** A fresh, empty store's fixture, with an `open` that the suite cleans up after. */
    async function fresh (): Promise<{ open: (options?: FlowStoreOptions) => Promise<FlowStore> }> {
      const fixture = await makeFixture()
      fixtures.push(fixture)
      return {
        open: async (options) => {
          const store = await fixture.open(options)
          stores.push(store)
          return store
        }
      }
    }

    async function reopen (fixture: { open: () => Promise<FlowStore> }, store: FlowStore): Promise<FlowStore> {
      await store.close()
      return await fixture.open()
    }

    describe('saves, reads and reopens', () => {
      it('opens a new store empty, at version 0, with a store identity', async () => {
        const store = await (await fresh()).open()
        expect(store.size).toBe(0)
        expect(store.version).toBe(0)
        expect(store.pending).toBe(0)
        expect(store.storeId).toMatch(/^[0-9a-f-]{36}$/)
      })

      it('saves, gets and deletes flows', async () => {
        const store = await (await fresh()).open()
        await store.saveMany([{ id: 'a', n: 1, nested: { list: [1, 'two', null] } }, { id: 'b', n: 2 }])
        expect(store.get('a')).toEqual({ id: 'a', n: 1, nested: { list: [1, 'two', null] } })
        expect(store.has('b')).toBe(true)
        await store.delete('b')
        expect(store.has('b')).toBe(false)
        expect(store.get('b')).toBeUndefined()
        expect(store.size).toBe(1)
      })

      it('shows exactly what was acknowledged after a reopen, with the same identity and version', async () => {
        const fixture = await fresh()
        const first = await fixture.open()
        await first.saveMany([{ id: 'a', n: 1 }, { id: 'b', n: 2 }, { id: 'c', n: 3 }])
        await first.delete('b')
        await first.save({ id: 'a', n: 10 })
        const { storeId, version } = first
        const second = await reopen(fixture, first)
        expect(contents(second)).toEqual({ a: { id: 'a', n: 10 }, c: { id: 'c', n: 3 } })
        expect(second.storeId).toBe(storeId)
        expect(second.version).toBe(version)
        expect(version).toBe(3)
      })

      it('grows the version by one per committed batch, also after a reopen', async () => {
        const fixture = await fresh()
        const first = await fixture.open()
        await first.save({ id: 'a' })
        await first.saveMany([{ id: 'b' }, { id: 'c' }])
        await first.delete('a')
        expect(first.version).toBe(3)
        expect(first.batches).toBe(3)
        const second = await reopen(fixture, first)
        await second.save({ id: 'd' })
        expect(second.version).toBe(4)
      })

      it('coalesces the saves of one turn into one commit', async () => {
        const store = await (await fresh()).open()
        const saves = Array.from({ length: 50 }, (_, i) => store.save({ id: `f${i}`, i }))
        void store.delete('f3')
        await Promise.all(saves)
        expect(store.batches).toBe(1)
        expect(store.version).toBe(1)
        expect(store.size).toBe(49)
      })

      it('commits 1,000 flows of a manual flush in one batch', async () => {
        const fixture = await fresh()
        const store = await fixture.open({ flush: 'manual' })
        const saved = store.saveMany(Array.from({ length: 1000 }, (_, i) => ({ id: `flow-${String(i).padStart(4, '0')}`, i })))
        expect(store.pending).toBe(1000)
        expect(store.version).toBe(0)
        await store.flush()
        await saved
        expect(store.batches).toBe(1)
        const reopened = await reopen(fixture, store)
        expect(reopened.size).toBe(1000)
        expect(reopened.get('flow-0999')).toEqual({ id: 'flow-0999', i: 999 })
      })
    })

    describe('values', () => {
      it('gives back every kind of accepted value exactly, before and after a reopen', async () => {
        const fixture = await fresh()
        const store = await fixture.open()
        const flow = everyKind('every kind')
        await store.save(flow)
        expect(store.get('every kind')).toStrictEqual(flow)
        const reopened = await reopen(fixture, store)
        const back = reopened.get('every kind') as Flow & { dates: Date[], bytes: Uint8Array }
        expect(back).toStrictEqual(flow)
        expect(back.dates[1]).toBeInstanceOf(Date)
        expect(back.bytes).toBeInstanceOf(Uint8Array)
      })

      it('keeps ids of any valid Unicode exactly, each its own flow', async () => {
        const fixture = await fresh()
        const store = await fixture.open()
        const ids = ['a', 'A', 'é', 'e\u0301', '日本', '😀', 'with space', 'with/slash', 'with!bang', 'f!x', 'c!000000000001!x', '\u0000x', 'x'.repeat(1024)]
        await store.saveMany(ids.map((id, i) => ({ id, i })))
        const reopened = await reopen(fixture, store)
        expect(reopened.size).toBe(ids.length)
        for (const [i, id] of ids.entries()) expect(reopened.get(id)).toEqual({ id, i })
      })

      it('hands out frozen values, the same object on every read', async () => {
        const fixture = await fresh()
        const first = await fixture.open()
        await first.save({ id: 'a', list: [{ x: 1 }] })
        const store = await reopen(fixture, first)
        const value = store.get('a') as unknown as { list: Array<{ x: number }> }
        expect(Object.isFrozen(value)).toBe(true)
        expect(Object.isFrozen(value.list[0])).toBe(true)
        expect(store.get('a')).toBe(value)
        expect(store.flows.get('a')).toBe(value)
      })
    })

    describe('the value domain and typed errors', () => {
      it('refuses values it could not give back exactly with FLOWSTORE_INVALID_FLOW, changing nothing', async () => {
        const store = await (await fresh()).open()
        await store.save({ id: 'kept', n: 1 })
        const cyclic: Record<string, unknown> = { id: 'cyclic' }
        cyclic.self = cyclic
        const refused: unknown[] = [
          { id: 'map', m: new Map([[1, 2]]) },
          { id: 'set', s: new Set([1]) },
          { id: 'fn', f: () => 1 },
          { id: 'big', b: 1n },
          { id: 'negzero', z: -0 },
          { id: 'sparse', a: [1, , 3] }, // eslint-disable-line no-sparse-arrays
          { id: 'surrogate', s: '\uD800' },
          { id: 'instance', d: new (class Thing {})() },
          { id: 'nullproto', o: Object.create(null) },
          { id: 'buffer', b: Buffer.from('x') },
          JSON.parse('{"id":"proto","__proto__":{"x":1}}'),
          cyclic,
          { id: 'kept', bad: new Map() }
        ]
        for (const flow of refused) {
          const err = thrown(() => store.save(flow as Flow))
          expect(err.code, String((flow as Flow).id)).toBe('FLOWSTORE_INVALID_FLOW')
        }
        expect(thrown(() => store.saveMany([{ id: 'fine' }, { id: 'bad', m: new Map() }])).code).toBe('FLOWSTORE_INVALID_FLOW')
        expect(store.pending).toBe(0)
        expect(contents(store)).toEqual({ kept: { id: 'kept', n: 1 } })
      })

      it('refuses flows that are not plain objects with a usable id', async () => {
        const store = await (await fresh()).open({ maxIdBytes: 8, maxFlowBytes: 1024 })
        for (const flow of [null, 'flow', [], { n: 1 }, { id: '' }, { id: 7 }, { id: '\uDC00' }, { id: 'x'.repeat(9) }, { id: 'large', blob: 'x'.repeat(2000) }]) {
          expect(thrown(() => store.save(flow as never)).code, JSON.stringify(flow)).toBe('FLOWSTORE_INVALID_FLOW')
        }
        expect(thrown(() => store.delete('')).code).toBe('FLOWSTORE_INVALID_FLOW')
        expect(store.size).toBe(0)
      })

      it('refuses every use of a closed store with FLOWSTORE_CLOSED', async () => {
        const store = await (await fresh()).open()
        await store.save({ id: 'a' })
        await store.close()
        await store.close()
        expect(thrown(() => store.get('a')).code).toBe('FLOWSTORE_CLOSED')
        expect(thrown(() => store.flows).code).toBe('FLOWSTORE_CLOSED')
        expect(thrown(() => store.save({ id: 'b' })).code).toBe('FLOWSTORE_CLOSED')
        expect(thrown(() => store.delete('a')).code).toBe('FLOWSTORE_CLOSED')
        expect(isFlowStoreError(await rejection(store.flush()), 'FLOWSTORE_CLOSED')).toBe(true)
        expect(isFlowStoreError(await rejection(store.changesSince(0)), 'FLOWSTORE_CLOSED')).toBe(true)
        expect(isFlowStoreError(await rejection(store.refresh()), 'FLOWSTORE_CLOSED')).toBe(true)
      })

      it('refuses bad arguments with a TypeError', async () => {
        const store = await (await fresh()).open()
        await expect(store.changesSince(-1)).rejects.toThrow(TypeError)
        expect(() => store.save({ id: 'a' }, { ifVersion: 'one' } as never)).toThrow(TypeError)
        expect(() => store.on('changed' as never, () => {})).toThrow(TypeError)
      })
    })

    describe('flows and lazy', () => {
      it('flows is a live read-only view that shows later saves and deletes', async () => {
        const store = await (await fresh()).open()
        const view = store.flows
        await store.saveMany([{ id: 'a' }, { id: 'b' }])
        expect([...view.keys()]).toEqual(['a', 'b'])
        await store.delete('a')
        expect(view.size).toBe(1)
        expect(store.flows).toBe(view)
        expect('set' in view).toBe(false)
      })

      it('lazy gives the committed version, copied bytes, and decodes only when asked after a reopen', async () => {
        const fixture = await fresh()
        const first = await fixture.open()
        await first.save({ id: 'a', n: 1 })
        await first.save({ id: 'b', n: 2 })
        const store = await reopen(fixture, first)
        const lazy = store.lazy('b')!
        expect(lazy.id).toBe('b')
        expect(lazy.version).toBe(2)
        expect(store.lazy('a')!.version).toBe(1)
        expect(lazy.decoded).toBe(false)
        const bytes = lazy.bytes
        bytes.fill(0)
        expect(lazy.value).toEqual({ id: 'b', n: 2 })
        expect(lazy.decoded).toBe(true)
        expect(store.lazy('a')!.decoded).toBe(false)
      })

      it('lazy shows version 0 while a save is not committed', async () => {
        const store = await (await fresh()).open({ flush: 'manual' })
        const saved = store.save({ id: 'a' })
        expect(store.lazy('a')!.version).toBe(0)
        await store.flush()
        await saved
        expect(store.lazy('a')!.version).toBe(1)
      })
    })

    describe('changesSince and change events', () => {
      it('lists each changed id once, with its latest version, in commit order, also after a reopen', async () => {
        const fixture = await fresh()
        const first = await fixture.open()
        await first.saveMany([{ id: 'a' }, { id: 'b' }]) // v1
        await first.delete('a') // v2
        await first.save({ id: 'c' }) // v3
        await first.save({ id: 'b', n: 2 }) // v4
        const expected = {
          version: 4,
          changes: [
            { id: 'a', version: 2, deleted: true },
            { id: 'c', version: 3, deleted: false },
            { id: 'b', version: 4, deleted: false }
          ]
        }
        expect(await first.changesSince(0)).toEqual(expected)
        expect(await first.changesSince(2)).toEqual({ version: 4, changes: expected.changes.slice(1) })
        expect(await first.changesSince(4)).toEqual({ version: 4, changes: [] })
        const second = await reopen(fixture, first)
        expect(await second.changesSince(0)).toEqual(expected)
      })

      it('lists a deleted id saved again once, as saved', async () => {
        const fixture = await fresh()
        const first = await fixture.open()
        await first.save({ id: 'a' })
        await first.delete('a')
        const second = await reopen(fixture, first)
        await second.save({ id: 'a', again: true })
        expect(await second.changesSince(0)).toEqual({ version: 3, changes: [{ id: 'a', version: 3, deleted: false }] })
      })

      it("tells 'change' listeners every committed change, in commit order", async () => {
        const store = await (await fresh()).open()
        const seen: Change[] = []
        store.on('change', (change) => seen.push(change))
        await store.saveMany([{ id: 'a' }, { id: 'b' }])
        await store.delete('a')
        expect(seen).toEqual([
          { id: 'a', version: 1, deleted: false },
          { id: 'b', version: 1, deleted: false },
          { id: 'a', version: 2, deleted: true }
        ])
      })

      it('refresh() resolves when no other writer committed, changing nothing', async () => {
        const store = await (await fresh()).open()
        await store.save({ id: 'a', n: 1 })
        await store.refresh()
        expect(store.version).toBe(1)
        expect(contents(store)).toEqual({ a: { id: 'a', n: 1 } })
      })
    })

    describe('transactions', () => {
      it('commits every write of a transaction in one batch, visible through it at once', async () => {
        const store = await (await fresh()).open()
        await store.saveMany([{ id: 'old' }, { id: 'gone' }])
        const result = await store.transaction((tx) => {
          tx.save({ id: 'a', n: 1 })
          tx.delete('gone')
          expect(tx.get('a')).toEqual({ id: 'a', n: 1 })
          expect(tx.has('gone')).toBe(false)
          return 'done'
        })
        expect(result).toBe('done')
        expect(store.batches).toBe(2)
        expect(contents(store)).toEqual({ old: { id: 'old' }, a: { id: 'a', n: 1 } })
      })

      it('applies nothing when the function throws', async () => {
        const store = await (await fresh()).open()
        await store.save({ id: 'a', n: 1 })
        const boom = new Error('boom')
        await expect(store.transaction((tx) => {
          tx.delete('a')
          tx.save({ id: 'b' })
          throw boom
        })).rejects.toBe(boom)
        expect(store.batches).toBe(1)
        expect(contents(store)).toEqual({ a: { id: 'a', n: 1 } })
      })
    })

    describe('ifVersion', () => {
      it('commits a save whose ifVersion is the committed version, and refuses a stale one with FLOWSTORE_CONFLICT', async () => {
        const fixture = await fresh()
        const store = await fixture.open()
        await store.save({ id: 'a', n: 1 })
        const seen = store.lazy('a')!.version
        await store.save({ id: 'a', n: 2 }, { ifVersion: seen })
        const err = await rejection(store.save({ id: 'a', n: 3 }, { ifVersion: seen }))
        expect(isFlowStoreError(err, 'FLOWSTORE_CONFLICT')).toBe(true)
        expect((err as FlowStoreError).ids).toEqual(['a'])
        expect(store.get('a')).toEqual({ id: 'a', n: 2 })
        const reopened = await reopen(fixture, store)
        expect(reopened.get('a')).toEqual({ id: 'a', n: 2 })
        expect(reopened.version).toBe(2)
      })

      it('refuses a create (ifVersion 0) of a flow that exists, and commits the other saves of its flush', async () => {
        const store = await (await fresh()).open()
        await store.save({ id: 'a', n: 1 })
        const refused = store.save({ id: 'a', n: 2 }, { ifVersion: 0 })
        const other = store.save({ id: 'b', n: 1 })
        expect(isFlowStoreError(await rejection(refused), 'FLOWSTORE_CONFLICT')).toBe(true)
        await other
        expect(contents(store)).toEqual({ a: { id: 'a', n: 1 }, b: { id: 'b', n: 1 } })
        expect(store.version).toBe(2)
      })

      it('commits none of a transaction when one of its conditions fails', async () => {
        const store = await (await fresh()).open()
        await store.saveMany([{ id: 'a', n: 0 }, { id: 'b', n: 0 }])
        const err = await rejection(store.transaction((tx) => {
          tx.save({ id: 'a', n: 1 }, { ifVersion: 1 })
          tx.delete('b', { ifVersion: 7 })
          tx.save({ id: 'c' })
        }))
        expect(isFlowStoreError(err, 'FLOWSTORE_CONFLICT')).toBe(true)
        expect((err as FlowStoreError).ids).toEqual(['b'])
        expect(contents(store)).toEqual({ a: { id: 'a', n: 0 }, b: { id: 'b', n: 0 } })
        expect(store.version).toBe(1)
      })
    })

    describe('backups', () => {
      it('round-trips through a full and a changed-only backup restored into a new LevelDB directory', async () => {
        const store = await (await fresh()).open()
        await store.saveMany([everyKind('x'), { id: 'a', n: 1 }, { id: 'b', n: 2 }])
        const dir = await tempDir()
        const full = await store.backup(`${dir}/full.fsbk`)
        await store.delete('b')
        await store.save({ id: 'a', n: 10 })
        const changes = await store.backup(`${dir}/changes.fsbk`, { since: full })
        expect(full.storeId).toBe(store.storeId)
        expect(changes.kind).toBe('changes')
        expect([changes.flows, changes.deletions]).toEqual([1, 1])

        const restored = await restoreBackup([full.file, changes.file], `${dir}/restored`)
        expect(restored.version).toBe(store.version)
        const copy = await FlowStore.open(`${dir}/restored`)
        stores.push(copy)
        expect(contents(copy)).toStrictEqual(contents(store))
        expect(copy.version).toBe(store.version)
        expect(copy.storeId).not.toBe(store.storeId)
      })

      it('backs up the committed state only: pending saves are not in it', async () => {
        const store = await (await fresh()).open({ flush: 'manual' })
        const first = store.save({ id: 'a' })
        await store.flush()
        await first
        const pending = store.save({ id: 'b' })
        const dir = await tempDir()
        const info = await store.backup(`${dir}/b.fsbk`)
        expect([info.version, info.flows]).toEqual([1, 1])
        await store.flush()
        await pending
      })
    })
  })
}
