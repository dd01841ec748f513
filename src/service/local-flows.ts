// A FlowService over a FlowStore of this process: every call goes straight to the store
// (`flows` IS `store.flows`: no copy, no storage read, nothing to refresh). Closing it leaves
// the store open: the store belongs to whoever opened it.

import type { BackupInfo } from '../backup/types.ts'
import type { FlowStore } from '../store.ts'
import type { Change, FlowShape, Frozen, LazyFlow } from '../types.ts'
import { closedError, type FlowSource } from './flow-source.ts'
import type { RemoteBackupOptions } from './owner-client.ts'
import type { OwnerStats } from './protocol.ts'
import type { ServiceEvents } from './service-events.ts'

export class LocalFlows<F extends FlowShape> implements FlowSource<F> {
  readonly events: ServiceEvents
  readonly remote = false
  readonly counters = undefined
  readonly #store: FlowStore<F>
  readonly #onChange = (change: Change): void => { this.events.changed([change]) }
  #watching = false
  #closed = false

  constructor (store: FlowStore<F>, events: ServiceEvents) {
    this.#store = store
    this.events = events
  }

  get connected (): boolean {
    return !this.#closed
  }

  get closed (): boolean {
    return this.#closed
  }

  get version (): number {
    return this.#store.version
  }

  get flows (): ReadonlyMap<string, Frozen<F>> {
    this.#assertOpen()
    return this.#store.flows
  }

  lazy (id: string): LazyFlow<F> | undefined {
    this.#assertOpen()
    return this.#store.lazy(id)
  }

  saveMany (flows: Iterable<F | Frozen<F>>): Promise<void> {
    this.#assertOpen()
    return this.#store.saveMany(flows)
  }

  delete (id: string): Promise<void> {
    this.#assertOpen()
    return this.#store.delete(id)
  }

  async refresh (): Promise<void> {
    // A local store is always current.
    this.#assertOpen()
  }

  async ownerStats (): Promise<OwnerStats> {
    this.#assertOpen()
    const store = this.#store
    return { version: store.version, size: store.size, pending: store.pending, batches: store.batches, directory: store.directory, pid: process.pid, socket: '', clients: 0 }
  }

  async backup (file: string, options: RemoteBackupOptions): Promise<BackupInfo> {
    this.#assertOpen()
    return await this.#store.backup(file, options)
  }

  watchChanges (wanted: boolean): void {
    // The store is listened to only while someone listens here: a service nobody listens to
    // costs the store's commits nothing.
    if (wanted && !this.#watching && !this.#closed) this.#store.on('change', this.#onChange)
    else if (!wanted && this.#watching) this.#store.off('change', this.#onChange)
    else return
    this.#watching = wanted
  }

  async close (): Promise<void> {
    this.watchChanges(false)
    this.#closed = true
  }

  #assertOpen (): void {
    if (this.#closed) throw closedError()
  }
}
