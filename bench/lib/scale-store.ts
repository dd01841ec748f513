// The stores of the scale suite (1,000,000 and 100,000 flows of bench/lib/scale-flows.ts),
// cached under scratch/scale/ at the repository root (git-ignored): writing a million flows
// takes minutes, so a run reuses the store an earlier run built. A cached store is keyed by
// the storage layout of the code that built it and by the generator's version, and is only
// used when its info.json (written last) is there.

import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { LAYOUT_VERSION } from '../../src/layout.ts'
import { SCALE_FLOWS_VERSION } from './scale-flows.ts'

export interface ScaleStore {
  /** The LevelDB directory: open it, never write to it. */
  readonly dir: string
  readonly count: number
  /** Σ UTF-8 bytes of JSON.stringify(flow) over every flow. */
  readonly jsonBytes: number
  /** Bytes of the LevelDB files on disk. */
  readonly diskBytes: number
  /** How long building it took (when it was built). */
  readonly buildMs: number
  readonly builtAt: string
}

/**
 * The cached store of `count` flows under `root`, built by `build(dir, count)` (which returns
 * the JSON bytes) when it is missing or was built by another layout or generator.
 */
export async function scaleStore (
  root: string,
  count: number,
  build: (dir: string, count: number) => Promise<{ jsonBytes: number, ms: number }>,
  log: (message: string) => void
): Promise<ScaleStore> {
  const home = join(root, `store-layout${LAYOUT_VERSION}-gen${SCALE_FLOWS_VERSION}-${count}`)
  const infoFile = join(home, 'info.json')
  try {
    const info = JSON.parse(await readFile(infoFile, 'utf8')) as ScaleStore
    if (info.count === count) {
      log(`reusing the ${count.toLocaleString('en')}-flow store built ${info.builtAt} (${home})`)
      return { ...info, dir: join(home, 'db') }
    }
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ENOENT') throw err
  }
  await rm(home, { recursive: true, force: true })
  await mkdir(home, { recursive: true })
  const dir = join(home, 'db')
  log(`building a ${count.toLocaleString('en')}-flow store in ${home} (cached for later runs)…`)
  const built = await build(dir, count)
  const info: ScaleStore = {
    dir,
    count,
    jsonBytes: built.jsonBytes,
    diskBytes: await directoryBytes(dir),
    buildMs: built.ms,
    builtAt: new Date().toISOString()
  }
  await writeFile(infoFile, JSON.stringify(info, null, 2) + '\n')
  log(`built the ${count.toLocaleString('en')}-flow store in ${(built.ms / 1000).toFixed(1)} s`)
  return info
}

export async function directoryBytes (dir: string): Promise<number> {
  let total = 0
  for (const name of await readdir(dir)) total += (await stat(join(dir, name))).size
  return total
}
