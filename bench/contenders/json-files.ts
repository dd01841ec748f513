// One JSON file per flow: <dir>/flows/<encodeURIComponent(id)>.json, compact JSON. A save
// writes a temp file and renames it over the old one (atomic: a reader or a crash sees the old
// or the new file, never half of one). All I/O is synchronous (the fastest way for small
// files in Node). No fsync: a committed save survives a process crash, not an OS crash.
// Open reads and parses every file into a Map, which serves get(id) and flows.

import { copyFileSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { GeneratedFlow } from '../../examples/generate-flows.ts'
import type { Contender, ContenderKind, FlowsLike, Populator } from './types.ts'

const SUBDIR = 'flows'
const SUFFIX = '.json'

function fileOf (root: string, id: string): string {
  return join(root, encodeURIComponent(id) + SUFFIX)
}

export const jsonFilesKind: ContenderKind = {
  name: 'JSON file per flow',
  durability: 'write temp file + rename, synchronous, no fsync',
  model: 'open reads and JSON.parses every file into a Map<id, flow>; get(id) and flows are that Map',
  reads: 'one file read',
  async populate (dir: string): Promise<Populator> {
    const root = join(dir, SUBDIR)
    await mkdir(root, { recursive: true })
    return {
      async write (flows) {
        for (const flow of flows) writeFileSync(fileOf(root, flow.id), JSON.stringify(flow))
      },
      async end () {}
    }
  },
  async open (dir: string): Promise<Contender> {
    const root = join(dir, SUBDIR)
    mkdirSync(root, { recursive: true })
    const flows = new Map<string, unknown>()
    let reads = 0
    for (const name of readdirSync(root)) {
      if (!name.endsWith(SUFFIX)) continue // a leftover temp file from a crash
      reads++
      flows.set(decodeURIComponent(name.slice(0, -SUFFIX.length)), JSON.parse(readFileSync(join(root, name), 'utf8')))
    }
    return new JsonFilesContender(root, flows, reads)
  },
  restore: async (file: string, dir: string): Promise<void> => {
    copyFiles(file, join(dir, SUBDIR))
  }
}

/** Copies every flow file of `from` into the new directory `to` (copyFileSync: reflinks where the file system can). */
function copyFiles (from: string, to: string): void {
  mkdirSync(to, { recursive: true })
  for (const name of readdirSync(from)) {
    if (name.endsWith(SUFFIX)) copyFileSync(join(from, name), join(to, name))
  }
}

class JsonFilesContender implements Contender {
  readonly #root: string
  readonly #flows: Map<string, unknown>
  reads: number

  constructor (root: string, flows: Map<string, unknown>, reads: number) {
    this.#root = root
    this.#flows = flows
    this.reads = reads
  }

  flows (): FlowsLike {
    return this.#flows
  }

  get (id: string): unknown {
    return this.#flows.get(id)
  }

  #write (flow: GeneratedFlow): void {
    const file = fileOf(this.#root, flow.id)
    const temp = `${file}.tmp`
    writeFileSync(temp, JSON.stringify(flow))
    renameSync(temp, file)
    this.#flows.set(flow.id, flow)
  }

  async saveOne (flow: GeneratedFlow): Promise<void> {
    this.#write(flow)
  }

  async saveMany (flows: readonly GeneratedFlow[]): Promise<void> {
    for (const flow of flows) this.#write(flow)
  }

  async deleteOne (id: string): Promise<void> {
    if (!this.#flows.delete(id)) return
    unlinkSync(fileOf(this.#root, id))
  }

  /** Copies every file into the directory `file` (writes are synchronous: nothing is in flight). */
  async backupFull (file: string): Promise<void> {
    copyFiles(this.#root, file)
  }

  async close (): Promise<void> {}
}
