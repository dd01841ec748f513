// better-sqlite3 12 (synchronous API, bundled SQLite): one table
// `flows (id TEXT PRIMARY KEY, body BLOB)` with msgpackr-packed values, WAL journal.
//
// Durability is set explicitly: `synchronous = NORMAL` (the matched row) — in WAL mode a
// commit appends to the WAL with write(2) and does not fsync (the WAL is fsynced at
// checkpoints), so a commit survives a process crash, not an OS crash, like flowstore's
// default; `synchronous = FULL` (the sync row) fsyncs the WAL on every commit, like
// flowstore's `sync: true`. A save is an upsert in its own implicit transaction; saveMany is
// one explicit transaction.

import { copyFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { Packr } from 'msgpackr'
import type { GeneratedFlow } from '../../examples/generate-flows.ts'
import type { Contender, ContenderKind, FlowsLike, Populator } from './types.ts'

const FILE = 'flows.db'

function packer (): Packr {
  return new Packr({ useRecords: false, mapsAsObjects: true })
}

function openDatabase (dir: string, synchronous: 'NORMAL' | 'FULL'): Database.Database {
  const db = new Database(join(dir, FILE))
  db.pragma('journal_mode = WAL')
  db.pragma(`synchronous = ${synchronous}`)
  db.exec('CREATE TABLE IF NOT EXISTS flows (id TEXT PRIMARY KEY, body BLOB NOT NULL)')
  return db
}

export function sqliteKind (sync: boolean): ContenderKind {
  const synchronous = sync ? 'FULL' : 'NORMAL'
  return {
    name: sync ? 'better-sqlite3 (sync)' : 'better-sqlite3',
    durability: sync ? 'WAL, synchronous = FULL — fsync of the WAL per commit' : 'WAL, synchronous = NORMAL — no fsync per commit (the WAL is fsynced at checkpoints)',
    model: 'open opens the file and loads nothing; get(id) runs a prepared SELECT and unpacks on every call; flows is a Map built on first use with one SELECT of every row (unpacking every flow), kept current on writes',
    reads: 'a SQLite statement execution (one get, or one full-table SELECT)',
    async populate (dir: string): Promise<Populator> {
      const db = openDatabase(dir, 'NORMAL')
      const packr = packer()
      const insert = db.prepare('INSERT INTO flows (id, body) VALUES (?, ?)')
      const insertAll = db.transaction((flows: readonly GeneratedFlow[]) => {
        for (const flow of flows) insert.run(flow.id, packr.pack(flow))
      })
      return {
        async write (flows) { insertAll(flows) },
        async end () { db.close() }
      }
    },
    async open (dir: string): Promise<Contender> {
      return new SqliteContender(openDatabase(dir, synchronous))
    },
    restore: async (file: string, dir: string): Promise<void> => {
      await mkdir(dir, { recursive: true })
      await copyFile(file, join(dir, FILE))
    }
  }
}

class SqliteContender implements Contender {
  readonly #db: Database.Database
  readonly #packr = packer()
  readonly #select: Database.Statement<[string], Buffer>
  readonly #selectAll: Database.Statement<[], [string, Buffer]>
  readonly #upsert: Database.Statement<[string, Buffer]>
  readonly #delete: Database.Statement<[string]>
  readonly #upsertAll: (flows: readonly GeneratedFlow[]) => void
  #cache: Map<string, unknown> | undefined
  reads = 0

  constructor (db: Database.Database) {
    this.#db = db
    this.#select = db.prepare<[string], Buffer>('SELECT body FROM flows WHERE id = ?').pluck()
    this.#selectAll = db.prepare<[], [string, Buffer]>('SELECT id, body FROM flows').raw()
    this.#upsert = db.prepare<[string, Buffer]>('INSERT INTO flows (id, body) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body')
    this.#delete = db.prepare<[string]>('DELETE FROM flows WHERE id = ?')
    this.#upsertAll = db.transaction((flows: readonly GeneratedFlow[]) => {
      for (const flow of flows) this.#upsert.run(flow.id, this.#packr.pack(flow))
    })
  }

  flows (): FlowsLike {
    if (this.#cache === undefined) {
      const cache = new Map<string, unknown>()
      this.reads++
      for (const [id, body] of this.#selectAll.iterate()) cache.set(id, this.#packr.unpack(body))
      this.#cache = cache
    }
    return this.#cache
  }

  get (id: string): unknown {
    this.reads++
    const body = this.#select.get(id)
    return body === undefined ? undefined : this.#packr.unpack(body)
  }

  async saveOne (flow: GeneratedFlow): Promise<void> {
    this.#upsert.run(flow.id, this.#packr.pack(flow))
    this.#cache?.set(flow.id, flow)
  }

  async saveMany (flows: readonly GeneratedFlow[]): Promise<void> {
    this.#upsertAll(flows)
    const cache = this.#cache
    if (cache !== undefined) for (const flow of flows) cache.set(flow.id, flow)
  }

  async deleteOne (id: string): Promise<void> {
    this.#delete.run(id)
    this.#cache?.delete(id)
  }

  async backupFull (file: string): Promise<void> {
    await this.#db.backup(file)
  }

  async close (): Promise<void> {
    this.#db.close()
  }
}
