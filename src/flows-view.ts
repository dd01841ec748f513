// store.flows: a live, read-only Map view of the cache (the legacy system's MappingProxyType). It
// copies nothing, decodes on first read, and has no method that changes the store.

import type { CachedFlow } from './cached-flow.ts'
import type { CacheMap } from './keys-cache.ts'
import type { FlowShape, Frozen } from './types.ts'

export class FlowsView<F extends FlowShape> implements ReadonlyMap<string, Frozen<F>> {
  readonly #cache: CacheMap<F>
  readonly #assertOpen: () => void

  constructor (cache: CacheMap<F>, assertOpen: () => void) {
    this.#cache = cache
    this.#assertOpen = assertOpen
  }

  get size (): number {
    this.#assertOpen()
    return this.#cache.size
  }

  get (id: string): Frozen<F> | undefined {
    this.#assertOpen()
    return this.#cache.get(id)?.value
  }

  has (id: string): boolean {
    this.#assertOpen()
    return this.#cache.has(id)
  }

  forEach (callback: (value: Frozen<F>, id: string, map: ReadonlyMap<string, Frozen<F>>) => void, thisArg?: unknown): void {
    for (const [id, value] of this.entries()) callback.call(thisArg, value, id, this)
  }

  * entries (): MapIterator<[string, Frozen<F>]> {
    this.#assertOpen()
    for (const [id, flow] of this.#cache) yield [id, flow.value]
  }

  keys (): MapIterator<string> {
    this.#assertOpen()
    return this.#cache.keys() as MapIterator<string>
  }

  * values (): MapIterator<Frozen<F>> {
    this.#assertOpen()
    for (const flow of this.#cache.values()) yield flow.value
  }

  [Symbol.iterator] (): MapIterator<[string, Frozen<F>]> {
    return this.entries()
  }

  get [Symbol.toStringTag] (): string {
    return 'FlowsView'
  }
}
