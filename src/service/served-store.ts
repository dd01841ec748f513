// What the owner's socket server (server.ts, session.ts) needs from the store it serves: a
// few reads of its memory and its change record, writes, backups, change events and a close
// hook. FlowStore has all of it; the service layer depends on this, never on the store's
// class, so the store never has to know that a server exists.

import type { BackupSource } from '../backup/retention.ts'
import type { CodecLimits } from '../codec.ts'
import type { ChangesSince } from '../store.ts'
import type { Change, FlowShape, LazyFlow } from '../types.ts'

export interface ServedStore extends BackupSource {
  /** The directory the store opened (the server advertises itself there), if any. */
  readonly directory: string | undefined
  readonly version: number
  readonly size: number
  /** Changes made but not committed yet. */
  readonly pending: number
  readonly batches: number
  /** The limits the store checks every save against (sent to clients in hello). */
  readonly limits: CodecLimits
  /** Every flow by id (the server only walks the ids). */
  readonly flows: ReadonlyMap<string, unknown>
  lazy (id: string): LazyFlow<FlowShape> | undefined
  saveMany (flows: Iterable<FlowShape>): Promise<void>
  delete (id: string): Promise<void>
  changesSince (version: number): Promise<ChangesSince>
  on (event: 'change', listener: (change: Change) => void): unknown
  off (event: 'change', listener: (change: Change) => void): unknown
  /** Runs `hook` when the store closes, after its final flush; returns a remover. */
  onClose (hook: () => void | Promise<void>): () => void
}
