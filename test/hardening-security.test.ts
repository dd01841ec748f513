// Security of what the store leaves on disk: a new store directory is owner-only (0700), so
// the LevelDB files inside, which hold every flow, cannot be read by other users. Checked by
// mode, and (where the tests run as root) by really trying to read as another user.

import { spawnSync } from 'node:child_process'
import { chmod, mkdir, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FlowStore } from '../src/index.ts'
import { tempDir } from './helpers.ts'

const asRoot = process.platform === 'linux' && process.getuid?.() === 0
const NOBODY = 65534

/** Tries to read `file` as user nobody; returns the error code (or 'read' when it could). */
function readAsNobody (file: string): string {
  const run = spawnSync(process.execPath, ['-e', `try { require('fs').readFileSync(${JSON.stringify(file)}); console.log('read') } catch (e) { console.log(e.code) }`], { uid: NOBODY, gid: NOBODY, encoding: 'utf8' })
  return run.stdout.trim()
}

describe('a new store directory', () => {
  it('is created owner-only (0700)', async () => {
    const dir = join(await tempDir(), 'db')
    await (await FlowStore.open(dir)).close()
    expect((await stat(dir)).mode & 0o777).toBe(0o700)
  })

  it('is owner-only, while missing parent directories get the usual mode', async () => {
    const root = await tempDir()
    const dir = join(root, 'data', 'stores', 'db')
    await (await FlowStore.open(dir)).close()
    await mkdir(join(root, 'control'))
    const usual = (await stat(join(root, 'control'))).mode & 0o777
    expect((await stat(join(root, 'data'))).mode & 0o777).toBe(usual)
    expect((await stat(join(root, 'data', 'stores'))).mode & 0o777).toBe(usual)
    expect((await stat(dir)).mode & 0o777).toBe(0o700)
  })

  it('keeps the mode of a directory that already existed (the owner chose it)', async () => {
    const dir = join(await tempDir(), 'db')
    await mkdir(dir)
    await chmod(dir, 0o750)
    await (await FlowStore.open(dir)).close()
    expect((await stat(dir)).mode & 0o777).toBe(0o750)
  })

  it.skipIf(!asRoot)(`keeps its LevelDB files from other users${asRoot ? '' : ' (skipped: needs root to run a reader as another user)'}`, async () => {
    const root = await tempDir()
    // The temp dir itself is 0700: open it up so that only the store directory's mode decides.
    await chmod(root, 0o755)
    const dir = join(root, 'db')
    const store = await FlowStore.open(dir)
    await store.save({ id: 'secret', token: 'hunter2' })
    await store.close()
    const files = await readdir(dir)
    expect(files).toContain('CURRENT')
    for (const name of files) expect(readAsNobody(join(dir, name)), name).toBe('EACCES')
    // The control: the same file in a directory with the usual mode is readable.
    await chmod(dir, 0o755)
    expect(readAsNobody(join(dir, 'CURRENT'))).toBe('read')
  })
})
