// Model-based test: random sequences of writes, flushes, transactions, injected write failures
// and reopens against a plain Map model. The store must show exactly the model after every
// step and every reopen, and the change record on disk must stay consistent with it.

import { ClassicLevel } from 'classic-level'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FlowStore, type Flow, type FlushMode, isFlowStoreError } from '../src/index.ts'
import { CountingClassicLevel, tempDir } from './helpers.ts'

type Model = Map<string, Flow>
type CountingDb = InstanceType<typeof CountingClassicLevel>

type TxStep =
  | { kind: 'save', flow: Flow }
  | { kind: 'delete', id: string }

type Op =
  | { kind: 'save', flow: Flow }
  | { kind: 'saveUnawaited', flow: Flow }
  | { kind: 'delete', id: string, awaited: boolean }
  | { kind: 'flush' }
  | { kind: 'saveMany', flows: Flow[] }
  | { kind: 'transaction', steps: TxStep[], throws: boolean }
  | { kind: 'failNextBatch' }
  | { kind: 'duringFlush', first: Flow, second: TxStep, failFirst: boolean }
  | { kind: 'reopen' }

const IDS = ['a', 'b', 'c', 'd', 'e', 'f'] as const
const idArb = fc.constantFrom(...IDS)
const leafArb = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.string({ maxLength: 6 }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined)
)
const valueArb = fc.oneof(
  leafArb,
  fc.array(leafArb, { maxLength: 3 }),
  fc.dictionary(fc.constantFrom('p', 'q', 'r'), leafArb, { maxKeys: 2, noNullPrototype: true })
)
const flowArb: fc.Arbitrary<Flow> = fc.record({
  id: idArb,
  body: fc.dictionary(fc.constantFrom('name', 'n', 'tags', 'meta'), valueArb, { maxKeys: 3, noNullPrototype: true })
}).map(({ id, body }) => ({ ...body, id }))

const stepArb: fc.Arbitrary<TxStep> = fc.oneof(
  { weight: 3, arbitrary: flowArb.map((flow) => ({ kind: 'save' as const, flow })) },
  { weight: 1, arbitrary: idArb.map((id) => ({ kind: 'delete' as const, id })) }
)

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: flowArb.map((flow) => ({ kind: 'save' as const, flow })) },
  { weight: 4, arbitrary: flowArb.map((flow) => ({ kind: 'saveUnawaited' as const, flow })) },
  { weight: 3, arbitrary: fc.record({ id: idArb, awaited: fc.boolean() }).map((r) => ({ kind: 'delete' as const, ...r })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
  { weight: 2, arbitrary: fc.array(flowArb, { maxLength: 4 }).map((flows) => ({ kind: 'saveMany' as const, flows })) },
  {
    weight: 2,
    arbitrary: fc.record({ steps: fc.array(stepArb, { maxLength: 4 }), throws: fc.boolean() })
      .map((r) => ({ kind: 'transaction' as const, ...r }))
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'failNextBatch' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({ first: flowArb, second: stepArb, failFirst: fc.boolean() })
      .map((r) => ({ kind: 'duringFlush' as const, ...r }))
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) }
)

function gate (): { promise: Promise<void>, resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => { resolve = r })
  return { promise, resolve }
}

function expectWriteFailed (err: unknown): void {
  expect(isFlowStoreError(err, 'FLOWSTORE_WRITE_FAILED')).toBe(true)
}

function expectMatches (store: FlowStore, model: Model): void {
  expect(store.size).toBe(model.size)
  expect(Object.fromEntries(store.flows)).toStrictEqual(Object.fromEntries(model))
  for (const id of IDS) {
    expect(store.has(id)).toBe(model.has(id))
    expect(store.get(id)).toStrictEqual(model.get(id))
  }
}

/** Checks the change record of a store whose contents match the model, then the raw keys. */
async function expectConsistentRecord (store: FlowStore, model: Model, dir: string): Promise<void> {
  const { version, changes } = await store.changesSince(0)
  expect(version).toBe(store.version)
  const ids = changes.map((c) => c.id)
  expect(new Set(ids).size).toBe(ids.length)
  const saved = changes.filter((c) => !c.deleted)
  expect(saved.map((c) => c.id).sort()).toEqual([...model.keys()].sort())
  for (const change of saved) expect(store.lazy(change.id)!.version).toBe(change.version)
  for (let i = 1; i < changes.length; i++) expect(changes[i]!.version).toBeGreaterThanOrEqual(changes[i - 1]!.version)
  const deleted = changes.filter((c) => c.deleted).map((c) => c.id).sort()
  await store.close()

  const raw = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  try {
    const keys = await raw.keys().all()
    const withPrefix = (prefix: string): string[] => keys.filter((k) => k.startsWith(prefix))
    expect(withPrefix('f!').map((k) => k.slice(2)).sort()).toEqual([...model.keys()].sort())
    // Layout 2: deletions live in the change log only (no tombstones, no layout-1 record).
    expect(withPrefix('t!')).toEqual([])
    expect(withPrefix('c!')).toEqual([])
    expect(withPrefix('L!').length).toBeGreaterThanOrEqual(new Set(changes.map((c) => c.version)).size)
    expect(deleted.every((id) => !model.has(id))).toBe(true)
  } finally {
    await raw.close()
  }
}

async function runModel (mode: FlushMode, ops: readonly Op[]): Promise<void> {
  const dir = await tempDir('flowstore-model-')
  const model: Model = new Map()
  let db: CountingDb = new CountingClassicLevel(dir)
  let store = await FlowStore.open(db, { flush: mode })
  let unawaited: Array<Promise<void>> = []

  /** Waits for a write to settle; in 'manual' mode it is flushed first. Injected failures are fine. */
  const settle = async (promise: Promise<unknown>): Promise<void> => {
    if (mode === 'manual') await store.flush().catch(expectWriteFailed)
    await promise.catch(expectWriteFailed)
  }

  const closeAll = async (): Promise<void> => {
    // One injected failure at most: a failed close leaves the store open, the next one commits.
    await store.close().catch(async (err: unknown) => {
      expectWriteFailed(err)
      expect(store.closed).toBe(false)
      await store.close()
    })
    expect(store.pending).toBe(0)
    for (const result of await Promise.allSettled(unawaited)) {
      if (result.status === 'rejected') expectWriteFailed(result.reason)
    }
    unawaited = []
    await db.close()
  }

  try {
    for (const op of ops) {
      switch (op.kind) {
        case 'save':
          model.set(op.flow.id, op.flow)
          await settle(store.save(op.flow))
          break
        case 'saveUnawaited':
          model.set(op.flow.id, op.flow)
          unawaited.push(store.save(op.flow))
          break
        case 'delete': {
          model.delete(op.id)
          const promise = store.delete(op.id)
          if (op.awaited) await settle(promise)
          else unawaited.push(promise)
          break
        }
        case 'flush': {
          const failing = db.failBatches > 0 && store.pending > 0
          await store.flush().then(() => { expect(failing).toBe(false) }, expectWriteFailed)
          if (!failing) expect(store.pending).toBe(0)
          break
        }
        case 'saveMany':
          for (const flow of op.flows) model.set(flow.id, flow)
          await settle(store.saveMany(op.flows))
          break
        case 'transaction': {
          const staged = new Map(model)
          const boom = new Error('rolled back')
          const outcome = await store.transaction((tx) => {
            for (const step of op.steps) {
              if (step.kind === 'save') {
                tx.save(step.flow)
                staged.set(step.flow.id, step.flow)
              } else {
                tx.delete(step.id)
                staged.delete(step.id)
              }
              for (const id of IDS) {
                expect(tx.has(id)).toBe(staged.has(id))
                expect(tx.get(id)).toStrictEqual(staged.get(id))
              }
            }
            if (op.throws) throw boom
            return 'done'
          }).then((value) => value, (err: unknown) => err)
          if (op.throws) {
            expect(outcome).toBe(boom)
          } else {
            // A failed commit keeps the applied writes dirty, like any failed flush.
            if (outcome !== 'done') expectWriteFailed(outcome)
            model.clear()
            for (const [id, flow] of staged) model.set(id, flow)
          }
          break
        }
        case 'failNextBatch':
          db.failBatches = 1
          break
        case 'duringFlush': {
          // Hold a flush in flight, change the store meanwhile, then let the flush end (or fail).
          db.failBatches = 0
          const entered = gate()
          const release = gate()
          db.onBatch = async () => {
            db.onBatch = undefined
            entered.resolve()
            await release.promise
            if (op.failFirst) throw new Error('injected in-flight failure')
          }
          model.set(op.first.id, op.first)
          const first = store.save(op.first)
          const flushing = mode === 'manual' ? store.flush() : first
          await entered.promise
          let second: Promise<void>
          if (op.second.kind === 'save') {
            model.set(op.second.flow.id, op.second.flow)
            second = store.save(op.second.flow)
          } else {
            model.delete(op.second.id)
            second = store.delete(op.second.id)
          }
          expectMatches(store, model)
          release.resolve()
          if (op.failFirst) {
            await first.then(() => { throw new Error('expected the held flush to fail') }, expectWriteFailed)
            await flushing.catch(expectWriteFailed)
          } else {
            await first
            await flushing
          }
          await settle(second)
          break
        }
        case 'reopen': {
          await closeAll()
          const version = store.version
          db = new CountingClassicLevel(dir)
          store = await FlowStore.open(db, { flush: mode })
          expect(store.version).toBe(version)
          expect(store.pending).toBe(0)
          break
        }
      }
      expectMatches(store, model)
    }
    await closeAll()
    store = await FlowStore.open(dir, { flush: mode })
    expectMatches(store, model)
    await expectConsistentRecord(store, model, dir)
  } finally {
    db.onBatch = undefined
    db.failBatches = 0
    await store.close().catch(() => {})
    await db.close().catch(() => {})
  }
}

describe('FlowStore against a Map model', () => {
  it('matches the model after every step, after failed flushes and after close and reopen', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<FlushMode>('auto', 'manual'),
        fc.array(opArb, { minLength: 1, maxLength: 40 }),
        runModel
      ),
      { numRuns: 50 }
    )
  })
})
