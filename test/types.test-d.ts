// Type tests of the public API (run by vitest's typecheck mode, see vitest.config.ts).

import { describe, expectTypeOf, it } from 'vitest'
import {
  backupToDirectory, type BackupEntry, type BackupSchedule, type Engine, type Flow, FlowService, FlowStore, FlowStoreError,
  type FlowStoreErrorCode, type Frozen, type LazyFlow, type ServedStore, type ServerStats, serveStore, startBackups,
  type StoreLocation, type StoreServer, type Transaction, type WriteOptions
} from '../src/index.ts'

// A flow type written as a type alias (object literal types get an implicit index signature).
type AppFlow = {
  id: string
  nodes: Array<{ x: number }>
  createdAt: Date
}

// The same flow written as an interface, the way users usually write it.
interface MyFlow {
  id: string
  nodes: Array<{ x: number }>
  createdAt: Date
}

interface Nested extends Flow {
  readonly id: string
  grid: number[][]
  items: Array<{ tags: string[], bin: Uint8Array }>
}

// Type tests are only type-checked, never run: a declared store is enough.
declare const store: FlowStore<AppFlow>

describe('FlowStore', () => {
  it('open returns a promise of a store of the flow type asked for', () => {
    expectTypeOf(FlowStore.open<AppFlow>).returns.toEqualTypeOf<Promise<FlowStore<AppFlow>>>()
    expectTypeOf(FlowStore.open('dir')).toEqualTypeOf<Promise<FlowStore<Flow>>>()
    expectTypeOf(FlowStore.open).parameter(0).toExtend<string | object>()
    expectTypeOf(FlowStore.open).parameter(0).toEqualTypeOf<StoreLocation>()
    expectTypeOf<Engine>().toExtend<StoreLocation>()
    expectTypeOf<string>().toExtend<StoreLocation>()
    expectTypeOf<number>().not.toExtend<StoreLocation>()
  })

  it('get returns Frozen<F> | undefined', () => {
    expectTypeOf<FlowStore<AppFlow>['get']>().returns.toEqualTypeOf<Frozen<AppFlow> | undefined>()
    expectTypeOf<FlowStore<AppFlow>['get']>().parameters.toEqualTypeOf<[id: string]>()
  })

  it('has returns a boolean and size is a number', () => {
    expectTypeOf<FlowStore<AppFlow>['has']>().returns.toEqualTypeOf<boolean>()
    expectTypeOf<FlowStore<AppFlow>['size']>().toEqualTypeOf<number>()
  })

  it('flows is a ReadonlyMap<string, Frozen<F>>', () => {
    expectTypeOf<FlowStore<AppFlow>['flows']>().toEqualTypeOf<ReadonlyMap<string, Frozen<AppFlow>>>()
    expectTypeOf<FlowStore<AppFlow>['flows']>().not.toHaveProperty('set')
    expectTypeOf<FlowStore<AppFlow>['flows']>().not.toHaveProperty('delete')
    expectTypeOf<FlowStore<AppFlow>['flows']>().not.toHaveProperty('clear')
  })

  it('lazy returns LazyFlow<F> | undefined, whose value is Frozen<F>', () => {
    expectTypeOf<FlowStore<AppFlow>['lazy']>().returns.toEqualTypeOf<LazyFlow<AppFlow> | undefined>()
    expectTypeOf<LazyFlow<AppFlow>['value']>().toEqualTypeOf<Frozen<AppFlow>>()
    expectTypeOf<LazyFlow<AppFlow>['bytes']>().toEqualTypeOf<Uint8Array>()
    expectTypeOf<LazyFlow<AppFlow>['decoded']>().toEqualTypeOf<boolean>()
  })

  it('save accepts F and Frozen<F> and returns a promise', () => {
    expectTypeOf<FlowStore<AppFlow>['save']>().parameter(0).toEqualTypeOf<AppFlow | Frozen<AppFlow>>()
    expectTypeOf<FlowStore<AppFlow>['save']>().returns.toEqualTypeOf<Promise<void>>()
    expectTypeOf<AppFlow>().toExtend<Parameters<FlowStore<AppFlow>['save']>[0]>()
    expectTypeOf<Frozen<AppFlow>>().toExtend<Parameters<FlowStore<AppFlow>['save']>[0]>()
    expectTypeOf<Iterable<Frozen<AppFlow>>>().toExtend<Parameters<FlowStore<AppFlow>['saveMany']>[0]>()
  })

  it('save, delete and their transaction forms take WriteOptions with a numeric ifVersion', () => {
    expectTypeOf<FlowStore<AppFlow>['save']>().parameter(1).toEqualTypeOf<WriteOptions | undefined>()
    expectTypeOf<FlowStore<AppFlow>['delete']>().parameter(1).toEqualTypeOf<WriteOptions | undefined>()
    expectTypeOf<Transaction<AppFlow>['save']>().parameter(1).toEqualTypeOf<WriteOptions | undefined>()
    expectTypeOf<Transaction<AppFlow>['delete']>().parameter(1).toEqualTypeOf<WriteOptions | undefined>()
    expectTypeOf<WriteOptions['ifVersion']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<{ ifVersion: string }>().not.toExtend<WriteOptions>()
  })

  it('refresh returns a promise of nothing', () => {
    expectTypeOf<FlowStore<AppFlow>['refresh']>().returns.toEqualTypeOf<Promise<void>>()
  })

  it('save refuses a value that is not the flow type', () => {
    expectTypeOf<{ id: number }>().not.toExtend<Parameters<FlowStore<AppFlow>['save']>[0]>()
    expectTypeOf<{ name: string }>().not.toExtend<Parameters<FlowStore<Flow>['save']>[0]>()
  })

  it('a frozen flow read from the store can be spread and saved back', () => {
    const got = store.get('a')
    if (got !== undefined) {
      expectTypeOf(store.save({ ...got, nodes: [...got.nodes, { x: 1 }] })).toEqualTypeOf<Promise<void>>()
      expectTypeOf(store.save(got)).toEqualTypeOf<Promise<void>>()
    }
  })

  it('transaction hands out a Transaction<F> and resolves with the function\'s result', () => {
    expectTypeOf<FlowStore<AppFlow>['transaction']>().parameter(0).parameter(0).toEqualTypeOf<Transaction<AppFlow>>()
    expectTypeOf(store.transaction(() => 1)).toEqualTypeOf<Promise<number>>()
    expectTypeOf(store.transaction(async (tx) => tx.get('a'))).toEqualTypeOf<Promise<Frozen<AppFlow> | undefined>>()
  })

  it('is AsyncDisposable', () => {
    expectTypeOf<FlowStore<AppFlow>>().toExtend<AsyncDisposable>()
  })
})

describe('Frozen', () => {
  it('makes every level readonly, arrays included', () => {
    expectTypeOf<Frozen<Nested>['grid']>().toEqualTypeOf<ReadonlyArray<readonly number[]>>()
    expectTypeOf<Frozen<Nested>['items']>().toEqualTypeOf<ReadonlyArray<{ readonly tags: readonly string[], readonly bin: Uint8Array }>>()
    expectTypeOf<Frozen<AppFlow>>().toEqualTypeOf<{
      readonly id: string
      readonly nodes: ReadonlyArray<{ readonly x: number }>
      readonly createdAt: Date
    }>()
  })

  it('makes a readonly array out of a mutable one: no push on a frozen array', () => {
    expectTypeOf<Frozen<AppFlow>['nodes']>().not.toHaveProperty('push')
    expectTypeOf<Frozen<Nested>['grid'][number]>().not.toHaveProperty('push')
    expectTypeOf<AppFlow['nodes']>().toHaveProperty('push')
  })

  it('keeps Date and Uint8Array as they are', () => {
    expectTypeOf<Frozen<Date>>().toEqualTypeOf<Date>()
    expectTypeOf<Frozen<Uint8Array>>().toEqualTypeOf<Uint8Array>()
    expectTypeOf<Frozen<AppFlow>['createdAt']>().toEqualTypeOf<Date>()
  })

  it('leaves primitives alone', () => {
    expectTypeOf<Frozen<string>>().toEqualTypeOf<string>()
    expectTypeOf<Frozen<number | null | undefined>>().toEqualTypeOf<number | null | undefined>()
  })
})

describe('FlowStoreError', () => {
  it('has a code of type FlowStoreErrorCode and an optional id', () => {
    expectTypeOf<FlowStoreError['code']>().toEqualTypeOf<FlowStoreErrorCode>()
    expectTypeOf<FlowStoreError['id']>().toEqualTypeOf<string | undefined>()
    expectTypeOf<FlowStoreError['ids']>().toEqualTypeOf<readonly string[] | undefined>()
    expectTypeOf<'FLOWSTORE_CONFLICT'>().toExtend<FlowStoreErrorCode>()
    expectTypeOf<FlowStoreError>().toExtend<Error>()
  })

  it('includes the codes of the core store', () => {
    expectTypeOf<'FLOWSTORE_INVALID_FLOW' | 'FLOWSTORE_LOCKED' | 'FLOWSTORE_CLOSED' | 'FLOWSTORE_DECODE_ERROR' | 'FLOWSTORE_WRITE_FAILED' | 'FLOWSTORE_OPEN_FAILED' | 'FLOWSTORE_INCOMPATIBLE'>().toExtend<FlowStoreErrorCode>()
    expectTypeOf<'FLOWSTORE_NO_SUCH_CODE'>().not.toExtend<FlowStoreErrorCode>()
    expectTypeOf<string>().not.toExtend<FlowStoreErrorCode>()
  })
})

describe('user flow types', () => {
  it('an interface without an index signature works as F', async () => {
    const mine = await FlowStore.open<MyFlow>('dir')
    expectTypeOf(mine).toEqualTypeOf<FlowStore<MyFlow>>()
    expectTypeOf(mine.get('a')).toEqualTypeOf<Frozen<MyFlow> | undefined>()
    expectTypeOf(mine.flows).toEqualTypeOf<ReadonlyMap<string, Frozen<MyFlow>>>()
    expectTypeOf(mine.save({ id: 'a', nodes: [{ x: 1 }], createdAt: new Date() })).toEqualTypeOf<Promise<void>>()
    const got = mine.get('a')
    if (got !== undefined) expectTypeOf(mine.save(got)).toEqualTypeOf<Promise<void>>()
  })

  it('a store of an interface flow type can be backed up into a directory and on a schedule', async () => {
    const mine = await FlowStore.open<MyFlow>('dir')
    expectTypeOf(backupToDirectory(mine, './backups')).toEqualTypeOf<Promise<BackupEntry>>()
    expectTypeOf(startBackups(mine, './backups', { intervalMs: 60_000 })).toEqualTypeOf<BackupSchedule>()
    expectTypeOf(mine.backup('./full.fsbk')).resolves.toHaveProperty('checksum')
  })

  it('a type alias works as F', () => {
    expectTypeOf<AppFlow>().toExtend<Flow>()
    expectTypeOf<FlowStore<AppFlow>['get']>().returns.exclude<undefined>().toHaveProperty('nodes').toEqualTypeOf<ReadonlyArray<{ readonly x: number }>>()
  })

  it('a type without a string id is not a flow', () => {
    expectTypeOf<{ id: number }>().not.toExtend<Flow>()
    expectTypeOf<{ nodes: [] }>().not.toExtend<Flow>()
  })
})

describe('serving a store', () => {
  it('serveStore takes a FlowStore of any flow type (the server needs only ServedStore)', async () => {
    const mine = await FlowStore.open<MyFlow>('dir')
    expectTypeOf(mine).toExtend<ServedStore>()
    expectTypeOf(serveStore(mine, { idleTimeoutMs: 1000, maxConnections: 8, maxBufferedBytes: 1 << 27 })).toEqualTypeOf<Promise<StoreServer>>()
    expectTypeOf<StoreServer['stats']>().toEqualTypeOf<ServerStats>()
    expectTypeOf<'FLOWSTORE_BUSY' | 'FLOWSTORE_TIMEOUT'>().toExtend<FlowStoreErrorCode>()
    expectTypeOf(FlowService.connect<MyFlow>('dir', { requestTimeoutMs: 5000 })).toEqualTypeOf<Promise<FlowService<MyFlow>>>()
  })
})
