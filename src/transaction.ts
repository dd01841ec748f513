// A transaction: writes staged aside and applied to the store as one group when the
// function returns, so they land in one batch; if it throws, nothing was applied.

import { type CacheContext, CachedFlow } from './cached-flow.ts'
import type { FlowCodec } from './codec.ts'
import { FlowStoreError } from './errors.ts'
import { resolveIfVersion } from './options.ts'
import type { Flow, FlowShape, Frozen, WriteOptions } from './types.ts'

/** The handle a transaction function receives. Its writes are visible through it at once. */
export interface Transaction<F extends FlowShape = Flow> {
  /** The flow as this transaction sees it (its own writes first, then the store). */
  get (id: string): Frozen<F> | undefined
  has (id: string): boolean
  /**
   * Stages a save; throws FLOWSTORE_INVALID_FLOW at once if the flow is refused. With
   * `ifVersion`, the whole transaction commits only if the flow's committed version is still
   * that one (the last condition given for an id counts).
   */
  save (flow: F | Frozen<F>, options?: WriteOptions): void
  saveMany (flows: Iterable<F | Frozen<F>>): void
  /** Stages a deletion; `ifVersion` as for save(). */
  delete (id: string, options?: WriteOptions): void
}

export class StagedTransaction<F extends FlowShape> implements Transaction<F> {
  /** id → new entry, or null for a deletion. */
  readonly writes = new Map<string, CachedFlow<F> | null>()
  /** id → the committed version its writes require (ifVersion). */
  readonly conditions = new Map<string, number>()
  readonly #codec: FlowCodec
  readonly #context: CacheContext | undefined
  readonly #read: (id: string) => CachedFlow<F> | undefined
  #ended = false

  constructor (codec: FlowCodec, read: (id: string) => CachedFlow<F> | undefined, context?: CacheContext) {
    this.#codec = codec
    this.#context = context
    this.#read = read
  }

  get (id: string): Frozen<F> | undefined {
    this.#assertActive()
    const staged = this.writes.get(id)
    if (staged === null) return undefined
    return (staged ?? this.#read(id))?.value
  }

  has (id: string): boolean {
    this.#assertActive()
    const staged = this.writes.get(id)
    return staged === undefined ? this.#read(id) !== undefined : staged !== null
  }

  save (flow: F | Frozen<F>, options?: WriteOptions): void {
    this.#assertActive()
    const ifVersion = resolveIfVersion(options, 'save')
    const [encoded] = encodeAll<F>(this.#codec, [flow], this.#context)
    this.writes.set(encoded!.id, encoded!)
    if (ifVersion !== undefined) this.conditions.set(encoded!.id, ifVersion)
  }

  saveMany (flows: Iterable<F | Frozen<F>>): void {
    this.#assertActive()
    const encoded = encodeAll<F>(this.#codec, flows, this.#context)
    for (const flow of encoded) this.writes.set(flow.id, flow)
  }

  delete (id: string, options?: WriteOptions): void {
    this.#assertActive()
    const ifVersion = resolveIfVersion(options, 'delete')
    const checked = this.#codec.checkId(id)
    if (this.has(checked)) this.writes.set(checked, null)
    if (ifVersion !== undefined) this.conditions.set(checked, ifVersion)
  }

  end (): void {
    this.#ended = true
  }

  #assertActive (): void {
    if (this.#ended) throw new FlowStoreError('FLOWSTORE_CLOSED', 'This transaction has ended; use the store, or start a new transaction')
  }
}

/** Encodes every flow before anything changes, so one refused flow refuses them all. */
export function encodeAll<F extends FlowShape> (codec: FlowCodec, flows: Iterable<unknown>, context?: CacheContext): Array<CachedFlow<F>> {
  const encoded: Array<CachedFlow<F>> = []
  for (const flow of flows) {
    // Into the slabs: the writer's buffer is copied there at once.
    const { id, record } = codec.encode(flow, context?.slabs !== undefined)
    encoded.push(new CachedFlow<F>(id, record, 0, context ?? codec))
  }
  return encoded
}
