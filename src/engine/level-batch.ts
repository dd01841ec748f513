// The LevelDB side of a commit: what a LevelEngine knows about every id, and the ONE atomic
// batch a commit becomes (flow puts and deletes, their change-record entries, tombstones, the
// store version; see layout.ts).
//
// The change record holds one entry per id, at the version that last changed it, so a commit
// must remove the id's previous entry (c!<prev>!<id>) and, when that was a deletion, its
// tombstone (t!<id>). Reading them back would cost a storage read per save, so the engine
// keeps them in memory: the version of every stored flow (filled by the open-time scan, one
// number per flow) and of every tombstone. The same versions answer CommitEntry.ifVersion.

import {
  CHANGE_DELETED, CHANGE_SAVED, changeKey, encodeVersion, flowKey, tombstoneKey, VERSION_KEY, writeVersion
} from '../layout.ts'
import type { CommitEntry } from './types.ts'

// Encodings are set on each operation rather than on the batch: abstract-level spreads the
// batch's options object into every operation, which measured ~2.8 µs per operation.
export type Operation =
  | { type: 'put', key: string, value: Uint8Array, keyEncoding: 'utf8', valueEncoding: 'view' }
  | { type: 'del', key: string, keyEncoding: 'utf8' }

function put (key: string, value: Uint8Array): Operation {
  return { type: 'put', key, value, keyEncoding: 'utf8', valueEncoding: 'view' }
}

function del (key: string): Operation {
  return { type: 'del', key, keyEncoding: 'utf8' }
}

export class CommittedIds {
  /** Every stored flow: the version in its record header (0 when that header is damaged). */
  readonly #saved = new Map<string, number>()
  /** Every deleted id the store remembers: the version that deleted it. */
  #deleted = new Map<string, number>()

  /** Records a flow found by the open-time scan. */
  loaded (id: string, version: number): void {
    this.#saved.set(id, version)
  }

  /** Takes the tombstones found by the open-time scan (a map it keeps). */
  deletedAt (tombstones: Map<string, number>): void {
    this.#deleted = tombstones
  }

  /** The id's last committed version; 0 when it is not stored (never saved, or deleted). */
  version (id: string): number {
    return this.#saved.get(id) ?? 0
  }

  /** How many deletions are remembered (tombstones). */
  get tombstones (): number {
    return this.#deleted.size
  }

  /**
   * The batch that commits `entries` as `version`. Writes `version` into each record's header
   * (the caller's array: the cached record then carries it).
   */
  operations (entries: readonly CommitEntry[], version: number): Operation[] {
    const ops: Operation[] = []
    const versionBytes = encodeVersion(version)
    for (const { id, record } of entries) {
      const saved = this.#saved.get(id)
      const deleted = saved === undefined ? this.#deleted.get(id) : undefined
      const prev = saved ?? deleted
      if (prev !== undefined) ops.push(del(changeKey(prev, id)))
      if (record !== undefined) {
        writeVersion(record, 1, version)
        ops.push(put(flowKey(id), record))
        ops.push(put(changeKey(version, id), CHANGE_SAVED))
        if (deleted !== undefined) ops.push(del(tombstoneKey(id)))
      } else {
        ops.push(del(flowKey(id)))
        ops.push(put(tombstoneKey(id), versionBytes))
        ops.push(put(changeKey(version, id), CHANGE_DELETED))
      }
    }
    ops.push(put(VERSION_KEY, versionBytes))
    return ops
  }

  /** Takes in a batch that was written. */
  committed (entries: readonly CommitEntry[], version: number): void {
    for (const { id, record } of entries) {
      if (record !== undefined) {
        this.#saved.set(id, version)
        this.#deleted.delete(id)
      } else {
        this.#saved.delete(id)
        this.#deleted.set(id, version)
      }
    }
  }
}
