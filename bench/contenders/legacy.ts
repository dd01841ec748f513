// The legacy whole-file repository (bench/legacy-json-repository.ts, a faithful port of the
// system flowstore replaces): one pretty-printed flows.json; every read re-reads and parses
// the whole file, every save/delete copies it to flows.json.bak and rewrites it. Synchronous
// I/O, no fsync. "Open" is one full load (loadAll); `flows` is the legacy FlowService.flows
// property: a full reload per access.

import { copyFile, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { GeneratedFlow } from '../../examples/generate-flows.ts'
import { LegacyJsonFlowRepository } from '../legacy-json-repository.ts'
import type { Contender, ContenderKind, FlowsLike, Populator } from './types.ts'

const FILE = 'flows.json'

/** The text saveAll would write, one flow at a time: JSON.stringify(object, null, 2). */
function prettyEntry (flow: GeneratedFlow): string {
  return `  ${JSON.stringify(flow.id)}: ${JSON.stringify(flow, null, 2).replace(/\n/g, '\n  ')}`
}

export const legacyKind: ContenderKind = {
  name: 'legacy JSON file',
  durability: 'writeFileSync of the whole file (after copying it to .bak), no fsync',
  model: 'nothing is kept: open, get(id), flows and every save re-read and parse the whole file (and deep-copy every flow, as the legacy code did)',
  reads: 'one read + parse of the whole file',
  async populate (dir: string): Promise<Populator> {
    // Streams the exact text saveAll would write, without holding every flow in memory.
    const file = join(dir, FILE)
    let first = true
    await writeFile(file, '{')
    return {
      async write (flows) {
        if (flows.length === 0) return
        const text = (first ? '\n' : ',\n') + flows.map(prettyEntry).join(',\n')
        first = false
        await writeFile(file, text, { flag: 'a' })
      },
      async end () {
        await writeFile(file, first ? '}' : '\n}', { flag: 'a' })
      }
    }
  },
  async open (dir: string): Promise<Contender> {
    const file = join(dir, FILE)
    const contender = new LegacyContender(new LegacyJsonFlowRepository<GeneratedFlow>(file), file)
    contender.loadAll()
    return contender
  },
  restore: async (file: string, dir: string): Promise<void> => {
    await mkdir(dir, { recursive: true })
    await copyFile(file, join(dir, FILE))
  }
}

/** The repository, unchanged, with the duration of its last loadAll() (save() calls it first). */
class TimedRepository extends LegacyJsonFlowRepository<GeneratedFlow> {
  lastLoadMs = 0

  override loadAll (): Map<string, GeneratedFlow> {
    const started = performance.now()
    const loaded = super.loadAll()
    this.lastLoadMs = performance.now() - started
    return loaded
  }
}

export interface LegacyHandle extends Contender {
  /** How long the last whole-file load took (inside the last save, get, …), in ms. */
  readonly lastLoadMs: number
}

/** A handle on the legacy store in `dir` without the full load its open() does (for write-only measurements). */
export function legacyHandle (dir: string): LegacyHandle {
  const file = join(dir, FILE)
  return new LegacyContender(new TimedRepository(file), file)
}

class LegacyContender implements LegacyHandle {
  readonly #repo: LegacyJsonFlowRepository<GeneratedFlow>
  readonly #file: string

  constructor (repo: LegacyJsonFlowRepository<GeneratedFlow>, file: string) {
    this.#repo = repo
    this.#file = file
  }

  get lastLoadMs (): number {
    return this.#repo instanceof TimedRepository ? this.#repo.lastLoadMs : Number.NaN
  }

  get reads (): number {
    return this.#repo.diskReads
  }

  loadAll (): Map<string, GeneratedFlow> {
    return this.#repo.loadAll()
  }

  flows (): FlowsLike {
    return this.#repo.getFlows()
  }

  get (id: string): unknown {
    return this.#repo.get(id)
  }

  async saveOne (flow: GeneratedFlow): Promise<void> {
    this.#repo.save(flow)
  }

  /** The legacy saveAll: one load, the changes applied, one rewrite. */
  async saveMany (flows: readonly GeneratedFlow[]): Promise<void> {
    const all = this.#repo.loadAll()
    for (const flow of flows) all.set(flow.id, flow)
    this.#repo.saveAll(all)
  }

  async deleteOne (id: string): Promise<void> {
    this.#repo.delete(id)
  }

  /** Copies flows.json (writes are synchronous: nothing is in flight). */
  async backupFull (file: string): Promise<void> {
    await copyFile(this.#file, file)
  }

  async close (): Promise<void> {}
}
