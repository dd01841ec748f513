// The floor under flowstore's overhead: raw classic-level + msgpackr doing what flowstore does
// with nothing else — key = id, value = msgpack (no record header, no change record, no store
// version, no value-domain check, no freezing, no lock guard). Open scans every record's
// bytes into a Map; get(id) decodes on first read and keeps the object; a save packs and
// writes one put (saveMany: one batch). Same durability as flowstore: `sync` per write.

import { ClassicLevel } from 'classic-level'
import { Packr } from 'msgpackr'
import type { GeneratedFlow } from '../../examples/generate-flows.ts'
import { CountingClassicLevel } from '../../test/instrumented-level.ts'
import { compact } from '../lib/stores.ts'
import type { Contender, ContenderKind, FlowsLike, OpenOptions, Populator } from './types.ts'

const SCAN_BATCH = 1000
const HIGH_WATER_MARK_BYTES = 4 * 1024 * 1024

interface Entry {
  bytes: Uint8Array
  value: unknown
}

function packer (): Packr {
  return new Packr({ useRecords: false, mapsAsObjects: true })
}

export function rawLevelKind (sync: boolean): ContenderKind {
  return {
    name: sync ? 'raw classic-level (sync)' : 'raw classic-level',
    durability: sync ? 'put/batch with { sync: true } — fsync per write' : 'put/batch with sync: false (the default) — write(2), no fsync',
    model: 'open scans every value into Map<id, bytes>; get(id) and flows (a Map-like view) decode on first read and keep the object',
    reads: 'a LevelDB read call (get / iterator), counted by CountingClassicLevel',
    noBackup: 'classic-level has no backup or checkpoint API, and copying the files of an open LevelDB is not safe; a snapshot-iterator export would be re-implementing flowstore\'s backup',
    async populate (dir: string): Promise<Populator> {
      const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
      await db.open()
      const packr = packer()
      return {
        async write (flows) {
          await db.batch(flows.map((flow) => ({ type: 'put' as const, key: flow.id, value: packr.pack(flow) })))
        },
        async end () {
          await db.close()
          await compact(dir)
        }
      }
    },
    async open (dir: string, options: OpenOptions = {}): Promise<Contender> {
      const counting = options.counting === true
      const db = counting
        ? new CountingClassicLevel(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
        : new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
      await db.open()
      const entries = new Map<string, Entry>()
      const iterator = db.iterator({ keyEncoding: 'buffer', valueEncoding: 'view', highWaterMarkBytes: HIGH_WATER_MARK_BYTES } as never) as unknown as {
        nextv (size: number): Promise<Array<[Buffer, Uint8Array]>>
        close (): Promise<void>
      }
      try {
        for (;;) {
          const batch = await iterator.nextv(SCAN_BATCH)
          if (batch.length === 0) break
          for (const [key, value] of batch) entries.set(key.toString('utf8'), { bytes: value, value: undefined })
        }
      } finally {
        await iterator.close()
      }
      const reads = counting ? () => (db as InstanceType<typeof CountingClassicLevel>).counts.reads : () => 0
      return new RawLevelContender(db, entries, sync, reads)
    }
  }
}

class RawLevelContender implements Contender, FlowsLike {
  readonly #db: ClassicLevel<string, Uint8Array>
  readonly #entries: Map<string, Entry>
  readonly #packr = packer()
  readonly #options: { sync: boolean }
  readonly #reads: () => number

  constructor (db: ClassicLevel<string, Uint8Array>, entries: Map<string, Entry>, sync: boolean, reads: () => number) {
    this.#db = db
    this.#entries = entries
    this.#options = { sync }
    this.#reads = reads
  }

  get reads (): number {
    return this.#reads()
  }

  get size (): number {
    return this.#entries.size
  }

  flows (): FlowsLike {
    return this
  }

  get (id: string): unknown {
    const entry = this.#entries.get(id)
    if (entry === undefined) return undefined
    if (entry.value === undefined) entry.value = this.#packr.unpack(entry.bytes)
    return entry.value
  }

  async saveOne (flow: GeneratedFlow): Promise<void> {
    const bytes = this.#packr.pack(flow)
    this.#entries.set(flow.id, { bytes, value: undefined })
    await this.#db.put(flow.id, bytes, this.#options)
  }

  async saveMany (flows: readonly GeneratedFlow[]): Promise<void> {
    const operations = flows.map((flow) => {
      const bytes = this.#packr.pack(flow)
      this.#entries.set(flow.id, { bytes, value: undefined })
      return { type: 'put' as const, key: flow.id, value: bytes }
    })
    await this.#db.batch(operations, this.#options)
  }

  async deleteOne (id: string): Promise<void> {
    this.#entries.delete(id)
    await this.#db.del(id, this.#options)
  }

  async close (): Promise<void> {
    await this.#db.close()
  }
}
