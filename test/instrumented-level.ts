// Instrumented real backends: real classic-level / memory-level databases whose internal
// methods are wrapped to count storage calls and to inject batch failures. Used by tests and
// by the bench guard; nothing here mocks the store, the codec or the file system.

import { ClassicLevel } from 'classic-level'
import { MemoryLevel } from 'memory-level'

/** Counts of the storage calls a database received. */
export interface StorageCounts {
  reads: number // _get, _getMany, _getSync, _iterator, _keys, _values
  batches: number
  puts: number
  dels: number
  snapshots: number
}

/** Set `failBatches` to a number to make that many next batch writes fail. */
export interface Instrumented {
  readonly counts: StorageCounts
  failBatches: number
  /** Called before each batch with its operations (after the failure check). */
  onBatch?: (operations: Array<{ type: string, key: unknown, value?: unknown }>) => void | Promise<void>
}

type Ctor = abstract new (...args: any[]) => any

function instrument<B extends Ctor> (Base: B) {
  abstract class Counting extends Base implements Instrumented {
    readonly counts: StorageCounts = { reads: 0, batches: 0, puts: 0, dels: 0, snapshots: 0 }
    failBatches = 0
    onBatch?: Instrumented['onBatch']

    _get (...args: any[]) { this.counts.reads++; return super._get(...args) }
    _getMany (...args: any[]) { this.counts.reads++; return super._getMany(...args) }
    _getSync (...args: any[]) { this.counts.reads++; return super._getSync(...args) }
    _iterator (...args: any[]) { this.counts.reads++; return super._iterator(...args) }
    _keys (...args: any[]) { this.counts.reads++; return super._keys(...args) }
    _values (...args: any[]) { this.counts.reads++; return super._values(...args) }
    _put (...args: any[]) { this.counts.puts++; return super._put(...args) }
    _del (...args: any[]) { this.counts.dels++; return super._del(...args) }
    _snapshot (...args: any[]) { this.counts.snapshots++; return super._snapshot(...args) }
    async _batch (operations: any[], options: unknown) {
      if (this.failBatches > 0) {
        this.failBatches--
        throw new Error('injected batch failure')
      }
      await this.onBatch?.(operations)
      this.counts.batches++
      return super._batch(operations, options)
    }
  }
  return Counting
}

/** A real classic-level database with counted reads and injectable batch failures. */
export const CountingClassicLevel = instrument(ClassicLevel) as unknown as new (location: string, options?: object) => ClassicLevel<string, Uint8Array> & Instrumented

/** A real memory-level database with counted reads and injectable batch failures. */
export const CountingMemoryLevel = instrument(MemoryLevel) as unknown as new (options?: object) => MemoryLevel<string, Uint8Array> & Instrumented
