// What a FlowService reads and writes through: a store in this process (local-flows.ts) or a
// cache kept current from the process that owns the store (remote-flows.ts). FlowService
// checks its arguments and delegates every call to one of these.

import type { BackupInfo } from '../backup/types.ts'
import { FlowStoreError } from '../errors.ts'
import type { FlowShape, Frozen, LazyFlow } from '../types.ts'
import type { RemoteBackupOptions } from './owner-client.ts'
import type { OwnerStats } from './protocol.ts'
import type { ServiceEvents } from './service-events.ts'

/** What a remote source counts (FlowService.stats). */
export interface SourceCounters {
  readonly messagesSent: number
  readonly messagesReceived: number
  readonly recordsFetched: number
  readonly versionChecks: number
  readonly fullLoads: number
  readonly reconnects: number
}

export interface FlowSource<F extends FlowShape> {
  /** Where the source reports changes, losses and returns of the owner. */
  readonly events: ServiceEvents
  readonly remote: boolean
  readonly connected: boolean
  readonly closed: boolean
  readonly version: number
  /** What the remote source has cost so far; undefined for a local one. */
  readonly counters: SourceCounters | undefined
  /** Every flow, as a read-only Map view; never blocks. */
  readonly flows: ReadonlyMap<string, Frozen<F>>
  lazy (id: string): LazyFlow<F> | undefined
  saveMany (flows: Iterable<F | Frozen<F>>): Promise<void>
  delete (id: string): Promise<void>
  refresh (): Promise<void>
  ownerStats (): Promise<OwnerStats>
  backup (file: string, options: RemoteBackupOptions): Promise<BackupInfo>
  /** Called when the first 'change' listener is added (true) or the last one removed (false). */
  watchChanges (wanted: boolean): void
  close (): Promise<void>
}

/** What every call on a closed FlowService throws. */
export function closedError (): FlowStoreError {
  return new FlowStoreError('FLOWSTORE_CLOSED', 'The FlowService is closed')
}
