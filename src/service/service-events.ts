// The listeners of one FlowService ('change', 'disconnect', 'reconnect'), shared by the
// service and the source it reads through (flow-source.ts): the source reports, the service's
// callers listen. A listener that throws is reported as a process warning and does not stop
// the others.

import type { FlowStoreError } from '../errors.ts'
import type { Change } from '../types.ts'

export interface FlowServiceEvents {
  /** A flow changed (over a remote store: as the cache learns it). */
  change: (change: Change) => void
  /** The owner went away; reads keep serving the cache. */
  disconnect: (error: FlowStoreError) => void
  /** The owner is back and the cache has caught up. */
  reconnect: () => void
}

type Listeners = { [E in keyof FlowServiceEvents]: Set<FlowServiceEvents[E]> }

export class ServiceEvents {
  readonly #listeners: Listeners = { change: new Set(), disconnect: new Set(), reconnect: new Set() }

  add<E extends keyof FlowServiceEvents> (event: E, listener: FlowServiceEvents[E]): void {
    this.#set(event).add(listener)
  }

  remove<E extends keyof FlowServiceEvents> (event: E, listener: FlowServiceEvents[E]): void {
    this.#set(event).delete(listener)
  }

  /** Whether anyone listens for changes (a remote source then fetches pushed changes at once). */
  get wantsChanges (): boolean {
    return this.#listeners.change.size > 0
  }

  changed (changes: readonly Change[]): void {
    for (const change of changes) this.#emit('change', change)
  }

  disconnected (reason: FlowStoreError): void {
    this.#emit('disconnect', reason)
  }

  reconnected (): void {
    this.#emit('reconnect')
  }

  clear (): void {
    for (const set of Object.values(this.#listeners)) set.clear()
  }

  #set<E extends keyof FlowServiceEvents> (event: E): Set<FlowServiceEvents[E]> {
    if (!Object.hasOwn(this.#listeners, event)) {
      throw new TypeError(`FlowService emits 'change', 'disconnect' and 'reconnect', got ${JSON.stringify(event)}`)
    }
    return this.#listeners[event] as Set<FlowServiceEvents[E]>
  }

  #emit<E extends keyof FlowServiceEvents> (event: E, ...args: Parameters<FlowServiceEvents[E]>): void {
    for (const listener of [...this.#listeners[event]]) {
      try {
        (listener as (...a: unknown[]) => void)(...args)
      } catch (err) {
        process.emitWarning(`A FlowService '${event}' listener threw: ${String(err)}`, { code: 'FLOWSTORE_LISTENER_ERROR' })
      }
    }
  }
}
