// The common interface of the stores the compare suite (bench/suites/compare.ts) measures
// flowstore against: one file per contender in this directory, each a small but idiomatic
// implementation of "a flow repository" on top of one storage engine, all driven by the same
// flows (examples/generate-flows.ts) and the same operations.
//
// A contender's model of reading is stated in its `model`: flowstore and the raw
// classic-level floor load every record's bytes at open and decode on first read; the JSON
// contenders parse everything at open into a Map; SQLite and lmdb read through the database
// on every get(id), and `flows` (all flows) is a Map they build with one full read on first
// use and keep current on writes; the legacy repository re-reads the whole file every time.

import { readdir, lstat } from 'node:fs/promises'
import { join } from 'node:path'
import type { GeneratedFlow } from '../../examples/generate-flows.ts'

/** What every contender's `flows` returns: enough of a ReadonlyMap to look flows up. */
export interface FlowsLike {
  get (id: string): unknown
  readonly size: number
}

/** Writes a new store in an empty directory, a chunk of flows at a time (setup, not timed). */
export interface Populator {
  write (flows: readonly GeneratedFlow[]): Promise<void>
  end (): Promise<void>
}

/** One opened store. Every write resolves once committed at the contender's durability. */
export interface Contender {
  /** The idiomatic "all flows" of this contender (see the kind's `model`). */
  flows (): FlowsLike
  /** One flow by id, the contender's idiomatic way (decoded). */
  get (id: string): unknown
  saveOne (flow: GeneratedFlow): Promise<void>
  /** Saves all of them and commits (one transaction/batch where the engine has one). */
  saveMany (flows: readonly GeneratedFlow[]): Promise<void>
  deleteOne (id: string): Promise<void>
  /** Storage reads so far (what one "read" is: the kind's `reads`). */
  readonly reads: number
  /** A full backup of the committed state into `file`, while the store stays open. */
  backupFull? (file: string): Promise<void>
  close (): Promise<void>
}

export interface OpenOptions {
  /** flowstore and raw classic-level: open a CountingClassicLevel so storage reads are counted. */
  readonly counting?: boolean
}

export interface ContenderKind {
  /** Short name used in task names and rows. */
  readonly name: string
  /** What "committed" means for this contender: fsync or not, and the settings that say so. */
  readonly durability: string
  /** How it reads: what open loads, what get(id) and flows do. */
  readonly model: string
  /** What one counted storage read is. */
  readonly reads: string
  /** Starts writing a new store into the empty directory `dir`. */
  populate (dir: string): Promise<Populator>
  /** Opens the store in `dir` (loading whatever this contender loads at open). */
  open (dir: string, options?: OpenOptions): Promise<Contender>
  /** Restores a backup made by backupFull into the new directory `dir`; undefined: not available. */
  readonly restore?: (file: string, dir: string) => Promise<void>
  /** Why there is no backup/restore, when there is none. */
  readonly noBackup?: string
}

/** Bytes a directory takes on disk: allocated blocks (as du) and apparent sizes. */
export async function diskUsage (dir: string): Promise<{ allocated: number, apparent: number, files: number }> {
  let allocated = 0
  let apparent = 0
  let files = 0
  const walk = async (path: string): Promise<void> => {
    for (const entry of await readdir(path, { withFileTypes: true })) {
      const full = join(path, entry.name)
      if (entry.isDirectory()) {
        await walk(full)
      } else {
        const stat = await lstat(full)
        allocated += stat.blocks * 512
        apparent += stat.size
        files++
      }
    }
  }
  await walk(dir)
  return { allocated, apparent, files }
}
