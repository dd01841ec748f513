// Where the cache keeps its records: back to back in slabs (one ArrayBuffer of ~1 MiB each),
// each record a view into its slab. A million records in a million buffers of their own
// cost a million ArrayBuffers and backing stores for the garbage collector to track and to
// free; in slabs they cost a thousand. Records read at open fill slabs in scan order; records
// written by saves are copied into the slab being filled.
//
// A record replaced or deleted leaves dead bytes in its slab. When a full slab is down to
// less than half of its bytes in use, the records still in use are copied out into the slab
// being filled ("compaction"), and the old slab is left to the garbage collector once nothing
// views it. So slabs hold at most about twice the bytes in use, plus the slab being filled.
// A slab is never written again once filled: a view of a released record stays valid (a
// refused conditional write puts its old entry back), it only keeps that slab alive.

const SLAB_BYTES = 1024 * 1024
/** Records larger than this get a buffer of their own (a slab would be mostly theirs). */
const OWN_BUFFER_BYTES = SLAB_BYTES / 4

/** What a slab knows of the records it holds. */
export interface SlabRecord {
  /** The record (a view into the slab). */
  readonly record: Uint8Array
  /** Whether its record in `slab` is still in use (not replaced, deleted or evicted). */
  holds (slab: Slab): boolean
  /** Takes a copy of the record in another slab (compaction). */
  rehome (record: Uint8Array, slab: Slab | undefined): void
}

export class Slab {
  readonly bytes: Uint8Array
  /** Bytes handed out. */
  used = 0
  /** Bytes of records in use. */
  live = 0
  /** The records handed out, to copy out those still in use when the slab is compacted. */
  holders: SlabRecord[] = []

  constructor (size: number) {
    this.bytes = new Uint8Array(size)
  }
}

export class RecordSlabs {
  #current: Slab | undefined
  /** Slabs compacted since the store opened (for tests and stats). */
  compactions = 0

  /**
   * Copies `record` into the slab being filled; returns its view and the slab, which the
   * record's holder registers with (hold()).
   */
  copy (record: Uint8Array): { view: Uint8Array, slab: Slab | undefined } {
    const length = record.length
    if (length > OWN_BUFFER_BYTES) return { view: record.slice(), slab: undefined }
    let slab = this.#current
    if (slab === undefined || slab.used + length > slab.bytes.length) {
      slab = new Slab(SLAB_BYTES)
      this.#current = slab
    }
    const view = slab.bytes.subarray(slab.used, slab.used + length)
    view.set(record)
    slab.used += length
    return { view, slab }
  }

  /** Registers `holder` as the user of its record in `slab`. */
  hold (slab: Slab, holder: SlabRecord): void {
    slab.live += holder.record.length
    slab.holders.push(holder)
  }

  /** `holder` no longer uses its record in `slab`: compacts the slab once it is mostly dead. */
  release (slab: Slab, holder: SlabRecord): void {
    slab.live -= holder.record.length
    if (slab === this.#current || slab.live * 2 >= slab.used) return
    const holders = slab.holders
    slab.holders = []
    this.compactions++
    for (const other of holders) {
      if (!other.holds(slab)) continue
      const { view, slab: next } = this.copy(other.record)
      other.rehome(view, next)
      if (next !== undefined) this.hold(next, other)
    }
  }
}
