// lmdb-js 3 (`lmdb`): a memory-mapped B+tree with msgpack (msgpackr) built in, opened with
// `open({ path, compression: false })`. Reads are synchronous from the map; writes are queued
// and committed by a background thread in one transaction per event-loop turn.
//
// Durability: with `noSync: true` (the matched row) LMDB never fsyncs; a committed write is in
// the page cache and survives a process crash, not an OS crash — like flowstore's default.
// The "sync" row uses lmdb-js's defaults (overlappingSync on Linux: the put promise resolves
// at commit and the fsync follows) and awaits `db.flushed` after every commit, so a write
// counts only once fsynced — like flowstore's `sync: true`.

import { copyFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { open, type RootDatabase } from 'lmdb'
import type { GeneratedFlow } from '../../examples/generate-flows.ts'
import type { Contender, ContenderKind, FlowsLike, Populator } from './types.ts'

/** lmdb-js stores an environment opened on a directory (a path without extension) as data.mdb. */
const DATA_FILE = 'data.mdb'

export function lmdbKind (sync: boolean): ContenderKind {
  const openDb = (dir: string): RootDatabase<unknown, string> => sync
    ? open<unknown, string>({ path: dir, compression: false })
    : open<unknown, string>({ path: dir, compression: false, noSync: true })
  return {
    name: sync ? 'lmdb-js (sync)' : 'lmdb-js',
    durability: sync
      ? 'defaults (overlappingSync) + await db.flushed after each commit — fsync per commit'
      : 'noSync: true — no fsync; a commit is in the page cache (lmdb-js\'s default would fsync)',
    model: 'open maps the file and loads nothing; get(id) reads the map and decodes on every call; flows is a Map built on first use with one getRange scan (decoding every flow), kept current on writes',
    reads: 'an lmdb read call: get(id), or one getRange scan',
    async populate (dir: string): Promise<Populator> {
      const db = open<unknown, string>({ path: dir, compression: false, noSync: true })
      return {
        async write (flows) {
          await db.transaction(() => {
            for (const flow of flows) void db.put(flow.id, flow)
          })
        },
        async end () {
          await db.flushed
          await db.close()
        }
      }
    },
    async open (dir: string): Promise<Contender> {
      return new LmdbContender(openDb(dir), sync)
    },
    restore: async (file: string, dir: string): Promise<void> => {
      await mkdir(dir, { recursive: true })
      await copyFile(join(file, DATA_FILE), join(dir, DATA_FILE))
    }
  }
}

class LmdbContender implements Contender {
  readonly #db: RootDatabase<unknown, string>
  readonly #sync: boolean
  #cache: Map<string, unknown> | undefined
  reads = 0

  constructor (db: RootDatabase<unknown, string>, sync: boolean) {
    this.#db = db
    this.#sync = sync
  }

  flows (): FlowsLike {
    if (this.#cache === undefined) {
      const cache = new Map<string, unknown>()
      this.reads++
      for (const { key, value } of this.#db.getRange()) cache.set(key, value)
      this.#cache = cache
    }
    return this.#cache
  }

  get (id: string): unknown {
    this.reads++
    return this.#db.get(id)
  }

  async #committed (written: Promise<unknown>): Promise<void> {
    await written
    if (this.#sync) await this.#db.flushed
  }

  async saveOne (flow: GeneratedFlow): Promise<void> {
    this.#cache?.set(flow.id, flow)
    await this.#committed(this.#db.put(flow.id, flow))
  }

  async saveMany (flows: readonly GeneratedFlow[]): Promise<void> {
    const cache = this.#cache
    if (cache !== undefined) for (const flow of flows) cache.set(flow.id, flow)
    await this.#committed(this.#db.transaction(() => {
      for (const flow of flows) void this.#db.put(flow.id, flow)
    }))
  }

  async deleteOne (id: string): Promise<void> {
    this.#cache?.delete(id)
    await this.#committed(this.#db.remove(id))
  }

  /** A copy of the environment (mdb_env_copy, no compaction) into the new directory `file`. */
  async backupFull (file: string): Promise<void> {
    await mkdir(file, { recursive: true })
    await this.#db.backup(file, false)
  }

  async close (): Promise<void> {
    await this.#db.close()
  }
}
