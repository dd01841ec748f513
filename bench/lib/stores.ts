// Stores built once per run and shared by the suites that read them (open, memory, read).
// A built store is closed and compacted, so every suite measures the same stable on-disk
// state (no write-ahead log to replay, no pending background compaction).

import { ClassicLevel } from 'classic-level'
import { generateFlow, type GeneratedFlow, mulberry32 } from '../../examples/generate-flows.ts'
import { FlowStore } from '../../src/index.ts'
import type { TempDirs } from './temp.ts'

const BUILD_CHUNK = 5000

export class Stores {
  readonly #tmp: TempDirs
  readonly #log: (message: string) => void
  readonly #built = new Map<number, Promise<string>>()

  constructor (tmp: TempDirs, log: (message: string) => void) {
    this.#tmp = tmp
    this.#log = log
  }

  /**
   * The directory of a closed store holding generateFlow(0 .. count-1). Built on first use,
   * then shared: callers must open it read-only in spirit (no writes) and close it again.
   */
  flowStore (count: number): Promise<string> {
    let built = this.#built.get(count)
    if (built === undefined) {
      built = this.#build(count)
      this.#built.set(count, built)
    }
    return built
  }

  async #build (count: number): Promise<string> {
    const started = performance.now()
    const dir = await this.#tmp.make(`store-${count}`)
    await buildStore(dir, count)
    this.#log(`built a ${count.toLocaleString('en')}-flow store in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    return dir
  }
}

/** Writes generateFlow(0 .. count-1) into a new store at `dir`, closes it and compacts it. */
export async function buildStore (dir: string, count: number): Promise<void> {
  const store = await FlowStore.open<GeneratedFlow>(dir, { flush: 'manual' })
  try {
    for (let start = 0; start < count; start += BUILD_CHUNK) {
      const chunk: GeneratedFlow[] = []
      for (let i = start; i < Math.min(count, start + BUILD_CHUNK); i++) chunk.push(generateFlow(i))
      const committed = store.saveMany(chunk)
      await store.flush()
      await committed
    }
  } finally {
    await store.close()
  }
  await compact(dir)
}

/** Compacts a whole LevelDB directory (every key of the store's layout sorts in this range). */
export async function compact (dir: string): Promise<void> {
  const db = new ClassicLevel(dir, { keyEncoding: 'utf8' })
  await db.open()
  try {
    await db.compactRange('\u0000', '\u{10FFFF}')
  } finally {
    await db.close()
  }
}

/** A deterministic PRNG (mulberry32), so every task and every run sees the same sequence. */
export const prng = mulberry32

/** `length` ids drawn at random (seeded) from `ids`, as fresh flat strings. */
export function randomIds (ids: readonly string[], length: number, seed = 42): string[] {
  const next = prng(seed)
  const out: string[] = new Array<string>(length)
  for (let i = 0; i < length; i++) {
    // A Buffer round trip makes an independent flat string: neither a slice of the stored
    // key nor the same object, so lookups hash and compare as a caller's id would.
    out[i] = Buffer.from(ids[Math.floor(next() * ids.length)]!, 'utf8').toString('utf8')
  }
  return out
}
