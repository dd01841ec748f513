// A JSON Lines append log: <dir>/flows.jsonl, one line per write — {"put": flow} or
// {"del": id}. Open reads the whole log and replays it into an in-memory index
// Map<id, latest record>; get(id) and flows are served from it. A save appends one line with a
// synchronous write to the log opened in append mode (no fsync: survives a process crash,
// not an OS crash). When the log exceeds twice the size of its live lines, the save that
// crossed the line compacts it: writes the live records to a temp file and renames it over the
// log (that cost is inside that save's time).

import { closeSync, existsSync, fstatSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { copyFile, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { GeneratedFlow } from '../../examples/generate-flows.ts'
import type { Contender, ContenderKind, FlowsLike, Populator } from './types.ts'

const FILE = 'flows.jsonl'

interface Live {
  readonly flow: unknown
  /** Bytes of its line in the log, newline included. */
  readonly bytes: number
}

function putLine (flow: unknown): string {
  return JSON.stringify({ put: flow }) + '\n'
}

export const jsonlKind: ContenderKind = {
  name: 'JSON Lines log',
  durability: 'synchronous append (write(2)), no fsync; compaction = temp file + rename',
  model: 'open reads the whole log and replays it into an in-memory index Map<id, latest flow>; get(id) and flows are served from it',
  reads: 'one read of the whole log',
  async populate (dir: string): Promise<Populator> {
    const file = join(dir, FILE)
    await writeFile(file, '')
    return {
      async write (flows) {
        await writeFile(file, flows.map(putLine).join(''), { flag: 'a' })
      },
      async end () {}
    }
  },
  async open (dir: string): Promise<Contender> {
    const file = join(dir, FILE)
    const live = new Map<string, Live>()
    let liveBytes = 0
    let reads = 0
    if (existsSync(file)) {
      reads++
      const text = readFileSync(file, 'utf8')
      let start = 0
      while (start < text.length) {
        let end = text.indexOf('\n', start)
        if (end === -1) end = text.length // a torn last line: ignored below if it does not parse
        const line = text.slice(start, end)
        start = end + 1
        let record: { put?: { id: string }, del?: string }
        try {
          record = JSON.parse(line) as typeof record
        } catch {
          continue
        }
        const id = record.put !== undefined ? record.put.id : record.del
        if (id === undefined) continue
        const old = live.get(id)
        if (old !== undefined) liveBytes -= old.bytes
        if (record.put !== undefined) {
          // Byte length of the line as written (UTF-8) plus its newline.
          const bytes = Buffer.byteLength(line) + 1
          live.set(id, { flow: record.put, bytes })
          liveBytes += bytes
        } else {
          live.delete(id)
        }
      }
    }
    await mkdir(dir, { recursive: true })
    return new JsonlContender(file, live, liveBytes, reads)
  },
  restore: async (file: string, dir: string): Promise<void> => {
    await mkdir(dir, { recursive: true })
    await copyFile(file, join(dir, FILE))
  }
}

class JsonlContender implements Contender, FlowsLike {
  readonly #file: string
  readonly #live: Map<string, Live>
  #liveBytes: number
  #logBytes: number
  #fd: number
  reads: number
  /** Compactions so far (for the report). */
  compactions = 0

  constructor (file: string, live: Map<string, Live>, liveBytes: number, reads: number) {
    this.#file = file
    this.#live = live
    this.#liveBytes = liveBytes
    this.reads = reads
    this.#fd = openSync(file, 'a')
    this.#logBytes = fstatSync(this.#fd).size
  }

  get size (): number {
    return this.#live.size
  }

  flows (): FlowsLike {
    return this
  }

  get (id: string): unknown {
    return this.#live.get(id)?.flow
  }

  #append (text: string): void {
    const bytes = Buffer.from(text, 'utf8')
    writeSync(this.#fd, bytes)
    this.#logBytes += bytes.length
  }

  #put (flow: GeneratedFlow, line: string): void {
    const bytes = Buffer.byteLength(line)
    const old = this.#live.get(flow.id)
    if (old !== undefined) this.#liveBytes -= old.bytes
    this.#live.set(flow.id, { flow, bytes })
    this.#liveBytes += bytes
  }

  #maybeCompact (): void {
    if (this.#logBytes <= 2 * this.#liveBytes) return
    const temp = `${this.#file}.tmp`
    const fd = openSync(temp, 'w')
    try {
      let chunk = ''
      for (const { flow } of this.#live.values()) {
        chunk += putLine(flow)
        if (chunk.length >= 1 << 20) {
          writeSync(fd, chunk)
          chunk = ''
        }
      }
      if (chunk !== '') writeSync(fd, chunk)
    } finally {
      closeSync(fd)
    }
    renameSync(temp, this.#file)
    closeSync(this.#fd)
    this.#fd = openSync(this.#file, 'a')
    this.#logBytes = fstatSync(this.#fd).size
    this.compactions++
  }

  async saveOne (flow: GeneratedFlow): Promise<void> {
    const line = putLine(flow)
    this.#append(line)
    this.#put(flow, line)
    this.#maybeCompact()
  }

  async saveMany (flows: readonly GeneratedFlow[]): Promise<void> {
    const lines = flows.map(putLine)
    this.#append(lines.join(''))
    for (let i = 0; i < flows.length; i++) this.#put(flows[i]!, lines[i]!)
    this.#maybeCompact()
  }

  async deleteOne (id: string): Promise<void> {
    const old = this.#live.get(id)
    if (old === undefined) return
    this.#append(JSON.stringify({ del: id }) + '\n')
    this.#live.delete(id)
    this.#liveBytes -= old.bytes
    this.#maybeCompact()
  }

  /** Copies the log (writes are synchronous: nothing is in flight). */
  async backupFull (file: string): Promise<void> {
    await copyFile(this.#file, file)
  }

  async close (): Promise<void> {
    closeSync(this.#fd)
  }
}
