// Test helpers: fresh temp directories, removed after each test.

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach } from 'vitest'

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

export { CountingClassicLevel, CountingMemoryLevel } from './instrumented-level.ts'
export type { Instrumented, StorageCounts } from './instrumented-level.ts'
