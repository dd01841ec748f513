// The command line and the files it writes or replaces, driven as a real child process: it
// never replaces a file without --force, never the file it reads, never a device or pipe
// (only a regular file); "-" streams a backup or an export to standard output; a restore
// never replaces a directory that is not a store, nor the working directory, nor one holding
// the backups it reads. Each refusal exits 1 with a message naming the user's path and the
// flag to use, and leaves everything as it was.

import { spawn } from 'node:child_process'
import { mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { generateFlows } from '../examples/generate-flows.ts'
import { backupToDirectory, FlowStore, verifyBackup } from '../src/index.ts'
import { ROOT, type Run, runFlowstore, TSX } from './cli-run.ts'
import { tempDir } from './helpers.ts'

async function flowstore (...args: string[]): Promise<Run> {
  return await runFlowstore({}, ...args)
}

/** A closed store of `n` generated flows in a fresh temp dir. */
async function storeOf (n: number): Promise<{ dir: string, db: string }> {
  const dir = await tempDir()
  const db = join(dir, 'db')
  const store = await FlowStore.open(db)
  await store.saveMany(generateFlows(n) as never)
  await store.close()
  return { dir, db }
}

/** Runs `flowstore ...args` and collects its standard output as bytes. */
async function flowstoreBytes (...args: string[]): Promise<{ code: number | null, stdout: Buffer, stderr: string }> {
  const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src', 'cli', 'main.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  const chunks: Buffer[] = []
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', resolve)
  })
  return { code, stdout: Buffer.concat(chunks), stderr }
}

describe('flowstore backup and export targets', () => {
  it('refuses an existing file without --force (exit 1, naming the flag), and replaces it with --force', async () => {
    const { dir, db } = await storeOf(20)
    const file = join(dir, 'full.fsbk')
    await writeFile(file, 'not yet a backup')
    const refused = await flowstore('backup', db, file)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain(`${file} already exists; add --force to replace it (FLOWSTORE_TARGET_EXISTS)`)
    expect(await readFile(file, 'utf8')).toBe('not yet a backup')
    const exportRefused = await flowstore('export', db, file)
    expect(exportRefused.code).toBe(1)
    expect(exportRefused.stderr).toContain('add --force')

    const forced = await flowstore('backup', db, file, '--force')
    expect(forced.code, forced.stderr).toBe(0)
    expect(await verifyBackup(file)).toMatchObject({ ok: true, flows: 20 })
  })

  it('never replaces the backup it reads: "backup db self --since self --force" exits 1 and leaves it whole', async () => {
    const { dir, db } = await storeOf(30)
    const self = join(dir, 'self.fsbk')
    expect((await flowstore('backup', db, self)).code).toBe(0)
    const store = await FlowStore.open(db)
    await store.save({ id: 'later' })
    await store.close()
    const run = await flowstore('backup', db, self, '--since', self, '--force')
    expect(run.code).toBe(1)
    expect(run.stderr).toContain('(FLOWSTORE_TARGET_UNSAFE)')
    expect(await verifyBackup(self)).toMatchObject({ ok: true, kind: 'full', flows: 30 })
  })

  it('refuses a link to its own standard output (a pipe), and leaves the link', async () => {
    const { dir, db } = await storeOf(5)
    // Like /dev/stdout, made here: the child's fd 1 is a pipe.
    const link = join(dir, 'stdout')
    await symlink('/proc/self/fd/1', link)
    for (const command of ['backup', 'export']) {
      const run = await flowstore(command, db, link, '--force')
      expect({ command, code: run.code }).toEqual({ command, code: 1 })
      expect(run.stderr).toMatch(/not a regular file.*\(FLOWSTORE_TARGET_UNSAFE\)/)
    }
    expect(await readlink(link)).toBe('/proc/self/fd/1')
  })

  it('streams a backup to standard output with "-", the summary on stderr', async () => {
    const { dir, db } = await storeOf(1200)
    const run = await flowstoreBytes('backup', db, '-')
    expect(run.code, run.stderr).toBe(0)
    expect(run.stderr).toMatch(/backup written to standard output\n {2}full, store version 1, 1,200 flow\(s\)/)
    await writeFile(join(dir, 'piped.fsbk'), run.stdout)
    expect(await verifyBackup(join(dir, 'piped.fsbk'))).toMatchObject({ ok: true, flows: 1200 })
    expect((await readdir(dir)).sort()).toEqual(['db', 'piped.fsbk'])
  })

  it('streams an export to standard output with "-"', async () => {
    const { db } = await storeOf(300)
    const run = await flowstoreBytes('export', db, '-')
    expect(run.code, run.stderr).toBe(0)
    expect(Object.keys(JSON.parse(run.stdout.toString('utf8')))).toHaveLength(300)
    expect(run.stderr).toMatch(/exported 300 flow\(s\) .* to standard output/)
  })

  it('"-" with --json is a usage error (exit 2): standard output carries the data', async () => {
    const { db } = await storeOf(1)
    for (const command of ['backup', 'export']) expect((await flowstore(command, db, '-', '--json')).code).toBe(2)
  })

  it('creates missing parent directories; a parent that is a file fails naming the target, not a temporary', async () => {
    const { dir, db } = await storeOf(10)
    const deep = join(dir, 'new', 'deeper', 'full.fsbk')
    expect((await flowstore('backup', db, deep)).code).toBe(0)
    expect(await verifyBackup(deep)).toMatchObject({ ok: true, flows: 10 })
    await writeFile(join(dir, 'plain'), 'x')
    const run = await flowstore('export', db, join(dir, 'plain', 'flows.json'))
    expect(run.code).toBe(1)
    expect(run.stderr).toContain(`${join(dir, 'plain', 'flows.json')} failed`)
    expect(run.stderr).toContain('(FLOWSTORE_IO_ERROR)')
    expect(run.stderr).not.toMatch(/\.(export|backup)-\d+-/)
  })
})

describe('flowstore restore --overwrite', () => {
  it('refuses a project directory holding the backups being restored (exit 1), and keeps every file', async () => {
    const project = await tempDir()
    await writeFile(join(project, 'main.c'), 'int main () {}')
    const store = await FlowStore.open(join(await tempDir(), 'db'))
    await store.saveMany([{ id: 'a' }, { id: 'b' }])
    await backupToDirectory(store, join(project, 'backups'))
    await store.close()
    const before = (await readdir(join(project, 'backups'))).sort()
    const [intoProject, intoCwd] = await Promise.all([
      flowstore('restore', join(project, 'backups'), '--to', project, '--overwrite'),
      runFlowstore({ cwd: project }, 'restore', 'backups', '--to', '.', '--overwrite')
    ])
    for (const run of [intoProject, intoCwd]) {
      expect(run.code).toBe(1)
      expect(run.stderr).toContain('(FLOWSTORE_TARGET_UNSAFE)')
    }
    expect(intoCwd.stderr).toContain('the working directory')
    expect((await readdir(project)).sort()).toEqual(['backups', 'main.c'])
    expect(await readFile(join(project, 'main.c'), 'utf8')).toBe('int main () {}')
    expect((await readdir(join(project, 'backups'))).sort()).toEqual(before)
  })

  it('refuses a directory that is not a store even when it is not in the way of anything', async () => {
    const { dir, db } = await storeOf(5)
    const backup = join(dir, 'full.fsbk')
    expect((await flowstore('backup', db, backup)).code).toBe(0)
    const other = join(dir, 'photos')
    await mkdir(other)
    await writeFile(join(other, 'cat.jpg'), 'meow')
    const run = await flowstore('restore', backup, '--to', other, '--overwrite')
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/holds files that are not a flowstore store's \("cat\.jpg"\)/)
    expect(await readdir(other)).toEqual(['cat.jpg'])
  })
})
