// `flowstore backup <db> -` and `export <db> -` whose reader stops early (`| head -c 100`):
// the output is incomplete, so the command must fail (exit 1, FLOWSTORE_IO_ERROR on stderr)
// rather than let a script believe a backup was written, and leave nothing behind. Driven
// as a real child process whose standard output is a real pipe closed after 100 bytes.

import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FlowStore } from '../src/index.ts'
import { ROOT, TSX } from './cli-run.ts'
import { tempDir } from './helpers.ts'

/** A closed store in a fresh temp dir, holding a few MiB that do not compress: far more than a pipe holds. */
async function bigStore (): Promise<{ dir: string, db: string }> {
  const dir = await tempDir()
  const db = join(dir, 'db')
  const store = await FlowStore.open(db)
  for (let i = 0; i < 64; i++) await store.save({ id: `flow-${i}`, payload: randomBytes(48 * 1024).toString('base64') })
  await store.close()
  return { dir, db }
}

/** Runs `flowstore ...args` in `cwd`, reads 100 bytes of its standard output, then closes the pipe. */
async function readHeadThenClose (cwd: string, ...args: string[]): Promise<{ code: number | null, signal: NodeJS.Signals | null, head: number, stderr: string }> {
  const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src', 'cli', 'main.ts'), ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let head = 0
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    head += Math.min(chunk.length, 100 - head)
    if (head >= 100) child.stdout.destroy()
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (exitCode, exitSignal) => { resolve([exitCode, exitSignal]) })
  })
  return { code, signal, head, stderr }
}

describe('a backup or export streamed to a reader that stops early', () => {
  for (const command of ['backup', 'export']) {
    it(`${command} <db> - exits 1 with FLOWSTORE_IO_ERROR and leaves nothing behind`, async () => {
      const { dir, db } = await bigStore()
      const before = (await readdir(dir)).sort()
      const run = await readHeadThenClose(dir, command, db, '-')
      expect(run.head).toBe(100)
      expect(run.signal, run.stderr).toBeNull()
      expect(run.code, run.stderr).toBe(1)
      expect(run.stderr).toContain('FLOWSTORE_IO_ERROR')
      expect(run.stderr).toMatch(/broken pipe/)
      expect(run.stderr).not.toMatch(/written to standard output|exported \d/)
      expect((await readdir(dir)).sort()).toEqual(before)
      // The store was closed: it opens again, whole.
      const store = await FlowStore.open(db)
      expect(store.size).toBe(64)
      await store.close()
    }, 60_000)
  }
})
