// Test helpers: fresh temp directories, removed after each test; what a store directory holds.

import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach } from 'vitest'
import { FlowStore } from '../src/index.ts'

/** A fresh temp directory, removed after the current test. */
export async function tempDir (prefix = 'flowstore-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  cleanups.push(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

/** The ids of the store at `location`, sorted (it is opened and closed). */
export async function idsOf (location: string): Promise<string[]> {
  const store = await FlowStore.open(location)
  try {
    return [...store.flows.keys()].sort()
  } finally {
    await store.close()
  }
}

/** Names in `dir` that are flowstore temporaries (hidden, with a kind and a pid). */
export async function temporaries (dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => /\.(backup|export|manifest|restore|old)-\d+-[0-9a-f]{12}$/.test(name))
}

export { CountingClassicLevel, CountingMemoryLevel } from './instrumented-level.ts'
export type { Instrumented, StorageCounts } from './instrumented-level.ts'
