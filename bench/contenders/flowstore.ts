// flowstore itself, with its defaults (flush 'auto': saves coalesce for one event-loop turn,
// then commit in one LevelDB batch) and `sync: false` (no fsync per batch: LevelDB writes its
// log with write(2), so a committed save survives a process crash, not an OS crash) or
// `sync: true` (fsync per batch).

import type { GeneratedFlow } from '../../examples/generate-flows.ts'
import { FlowStore, restoreBackup } from '../../src/index.ts'
import { CountingClassicLevel } from '../../test/instrumented-level.ts'
import { compact } from '../lib/stores.ts'
import type { Contender, ContenderKind, OpenOptions, Populator } from './types.ts'

const MODEL = 'open loads every record\'s bytes (one LevelDB scan) and decodes nothing; get(id) and flows (a live read-only Map view) are served from memory and decode a flow on its first read, once'

export function flowstoreKind (sync: boolean): ContenderKind {
  return {
    name: sync ? 'flowstore (sync)' : 'flowstore',
    durability: sync
      ? 'sync: true — LevelDB fsyncs its log on every batch'
      : 'sync: false (default) — one LevelDB batch per commit, written with write(2), no fsync',
    model: MODEL,
    reads: 'a LevelDB read call (get / iterator), counted by CountingClassicLevel',
    async populate (dir: string): Promise<Populator> {
      const store = await FlowStore.open<GeneratedFlow>(dir, { flush: 'manual' })
      return {
        async write (flows) {
          const committed = store.saveMany(flows)
          await store.flush()
          await committed
        },
        async end () {
          await store.close()
          await compact(dir)
        }
      }
    },
    async open (dir: string, options: OpenOptions = {}): Promise<Contender> {
      if (options.counting === true) {
        const db = new CountingClassicLevel(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
        await db.open()
        const store = await FlowStore.open<GeneratedFlow>(db, { sync })
        return new FlowstoreContender(store, () => db.counts.reads, async () => { await db.close() })
      }
      return new FlowstoreContender(await FlowStore.open<GeneratedFlow>(dir, { sync }), () => 0, async () => {})
    },
    restore: async (file: string, dir: string): Promise<void> => {
      await restoreBackup(file, dir)
    }
  }
}

export class FlowstoreContender implements Contender {
  readonly store: FlowStore<GeneratedFlow>
  readonly #reads: () => number
  readonly #after: () => Promise<void>

  constructor (store: FlowStore<GeneratedFlow>, reads: () => number, after: () => Promise<void>) {
    this.store = store
    this.#reads = reads
    this.#after = after
  }

  get reads (): number {
    return this.#reads()
  }

  flows (): ReadonlyMap<string, unknown> {
    return this.store.flows
  }

  get (id: string): unknown {
    return this.store.get(id)
  }

  async saveOne (flow: GeneratedFlow): Promise<void> {
    await this.store.save(flow)
  }

  async saveMany (flows: readonly GeneratedFlow[]): Promise<void> {
    await this.store.saveMany(flows)
  }

  async deleteOne (id: string): Promise<void> {
    await this.store.delete(id)
  }

  async backupFull (file: string): Promise<void> {
    await this.store.backup(file)
  }

  async close (): Promise<void> {
    await this.store.close()
    await this.#after()
  }
}
