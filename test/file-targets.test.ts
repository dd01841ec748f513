// What backups, exports and restores may write or replace. A backup or export replaces only
// a regular file, only when asked, never a file the same call reads and never anything in the
// store's own directory; a device, FIFO, socket or link to one is refused, and standard output
// is written as a stream. A restore creates, fills an empty directory, or (with overwrite)
// replaces a flowstore store: never any other directory, never /, the home or working
// directory, never a directory holding or inside the backups it reads. Stores restored are
// owner-only. Every refusal is a FlowStoreError with a code, and leaves everything as it was.

import { execFileSync, spawnSync } from 'node:child_process'
import { createServer } from 'node:net'
import { chmod, lstat, mkdir, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { generateFlows } from '../examples/generate-flows.ts'
import {
  backupToDirectory, type BackupInfo, exportJson, FlowStore, type FlowStoreErrorCode, isFlowStoreError,
  restoreBackup, restoreFromDirectory, serveStore, verifyBackup
} from '../src/index.ts'
import { checkRestoreTarget } from '../src/backup/restore-target.ts'
import { OwnerClient } from '../src/service/owner-client.ts'
import { TSX } from './cli-run.ts'
import { killChildren, startChild } from './fixtures/child.ts'
import { idsOf, tempDir, temporaries } from './helpers.ts'

afterEach(killChildren)

const stores: FlowStore<any>[] = []
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => {})
})

async function open (dir: string): Promise<FlowStore> {
  const store = await FlowStore.open(dir)
  stores.push(store)
  return store
}

async function rejectionOf (promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (err) {
    return err as Error
  }
  return expect.unreachable('expected a rejection')
}

async function expectCode (promise: Promise<unknown>, code: FlowStoreErrorCode): Promise<Error> {
  const err = await rejectionOf(promise)
  if (!isFlowStoreError(err, code)) throw new Error(`expected ${code}, got ${String(err)}`, { cause: err })
  return err
}

/** A store of `n` generated flows (kept open) in a fresh temp dir. */
async function storeWith (n: number): Promise<{ dir: string, store: FlowStore }> {
  const dir = await tempDir()
  const store = await open(join(dir, 'db'))
  await store.saveMany(generateFlows(n) as never)
  return { dir, store }
}

/** A closed store at `location` holding the flows with these ids. */
async function closedStore (location: string, ids: readonly string[]): Promise<void> {
  const store = await FlowStore.open(location)
  await store.saveMany(ids.map((id) => ({ id })))
  await store.close()
}


describe('backup and export targets', () => {
  it('an existing file is refused with FLOWSTORE_TARGET_EXISTS without overwrite, for a backup and an export', async () => {
    const { dir, store } = await storeWith(10)
    const file = join(dir, 'taken')
    await writeFile(file, 'keep me')
    for (const attempt of [async () => await store.backup(file), async () => await exportJson(store, file)]) {
      const err = await expectCode(attempt(), 'FLOWSTORE_TARGET_EXISTS')
      expect(err.message).toContain(file)
    }
    expect(await readFile(file, 'utf8')).toBe('keep me')
    expect(await temporaries(dir)).toEqual([])
  })

  it('with overwrite, an existing export is replaced whole', async () => {
    const { dir, store } = await storeWith(10)
    const file = join(dir, 'flows.json')
    await writeFile(file, 'old')
    await exportJson(store, file, { overwrite: true })
    expect(Object.keys(JSON.parse(await readFile(file, 'utf8'))).sort()).toEqual([...store.flows.keys()].sort())
  })

  it('a backup never replaces the backup given as since, even with overwrite', async () => {
    const { dir, store } = await storeWith(20)
    const self = join(dir, 'self.fsbk')
    const full = await store.backup(self)
    const before = await readFile(self)
    await store.save({ id: 'later' })
    for (const since of [self, full]) {
      const err = await expectCode(store.backup(self, { since, overwrite: true }), 'FLOWSTORE_TARGET_UNSAFE')
      expect(err.message).toContain('reads')
    }
    expect(await readFile(self)).toEqual(before)
    expect(await verifyBackup(self)).toMatchObject({ ok: true, kind: 'full', flows: 20 })
  })

  it('a backup or export into the store\'s own directory is refused', async () => {
    const { dir, store } = await storeWith(5)
    await expectCode(store.backup(join(dir, 'db', 'inside.fsbk')), 'FLOWSTORE_TARGET_UNSAFE')
    await expectCode(store.backup(join(dir, 'db', 'CURRENT'), { overwrite: true }), 'FLOWSTORE_TARGET_UNSAFE')
    await expectCode(exportJson(store, join(dir, 'db', 'flows.json')), 'FLOWSTORE_TARGET_UNSAFE')
    await expectCode(backupToDirectory(store, join(dir, 'db', 'backups')), 'FLOWSTORE_TARGET_UNSAFE')
    expect((await readdir(join(dir, 'db'))).filter((name) => !/^(CURRENT|LOCK|LOG(\.old)?|MANIFEST-\d+|\d+\.(log|ldb))$/.test(name))).toEqual([])
    await store.close()
    expect(await idsOf(join(dir, 'db'))).toHaveLength(5)
  })

  it('a FIFO, a socket, a device node, a directory, and links to them or to nothing are refused, even with overwrite, and left as they were', async () => {
    const { dir, store } = await storeWith(5)
    const fifo = join(dir, 'fifo')
    execFileSync('mkfifo', [fifo])
    const socket = join(dir, 'socket')
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(socket, resolve))
    const targets: Record<string, string> = { fifo, socket, directory: join(dir, 'db') }
    if (process.getuid?.() === 0) {
      // A node like /dev/null, made here: a rename over it would replace the node itself.
      targets.device = join(dir, 'null')
      execFileSync('mknod', [targets.device, 'c', '1', '3'])
    }
    for (const [name, path] of Object.entries({ ...targets })) {
      targets[`link to ${name}`] = join(dir, `link-to-${name}`)
      await symlink(path, targets[`link to ${name}`]!)
    }
    targets['link to nothing'] = join(dir, 'dangling')
    await symlink(join(dir, 'missing'), targets['link to nothing'])
    const before = new Map<string, number>()
    for (const path of Object.values(targets)) before.set(path, (await lstat(path)).mode)
    try {
      for (const [name, path] of Object.entries(targets)) {
        for (const attempt of [async () => await store.backup(path, { overwrite: true }), async () => await exportJson(store, path, { overwrite: true })]) {
          const err = await expectCode(attempt(), 'FLOWSTORE_TARGET_UNSAFE')
          expect({ name, message: err.message }).toMatchObject({ name, message: expect.stringContaining(path) })
        }
      }
      for (const path of Object.values(targets)) expect((await lstat(path)).mode, path).toBe(before.get(path))
    } finally {
      server.close()
    }
    expect(await temporaries(dir)).toEqual([])
  })

  it('a link to a regular file is followed: with overwrite the file it points to is replaced and the link stays', async () => {
    const { dir, store } = await storeWith(8)
    const real = join(dir, 'real.fsbk')
    await writeFile(real, 'old')
    const link = join(dir, 'link.fsbk')
    await symlink(real, link)
    await expectCode(store.backup(link), 'FLOWSTORE_TARGET_EXISTS')
    const info = await store.backup(link, { overwrite: true })
    expect(info.file).toBe(link)
    expect((await lstat(link)).isSymbolicLink()).toBe(true)
    expect(await readlink(link)).toBe(real)
    expect(await verifyBackup(real)).toMatchObject({ ok: true, flows: 8, checksum: info.checksum })
  })

  it('missing parent directories are created, for a backup and an export', async () => {
    const { dir, store } = await storeWith(3)
    const backup = await store.backup(join(dir, 'new', 'deeper', 'full.fsbk'))
    expect(await verifyBackup(backup.file)).toMatchObject({ ok: true, flows: 3 })
    const report = await exportJson(store, join(dir, 'other', 'flows.json'))
    expect(Object.keys(JSON.parse(await readFile(report.file, 'utf8')))).toHaveLength(3)
  })

  it('a parent path that is a file fails with FLOWSTORE_IO_ERROR naming the target, and leaves nothing behind', async () => {
    const { dir, store } = await storeWith(3)
    await writeFile(join(dir, 'plain'), 'x')
    const target = join(dir, 'plain', 'full.fsbk')
    const err = await expectCode(store.backup(target), 'FLOWSTORE_IO_ERROR')
    expect(err.message).toContain(target)
    expect(err.cause).toMatchObject({ code: expect.stringMatching(/^(ENOTDIR|EEXIST)$/) })
    expect(await readFile(join(dir, 'plain'), 'utf8')).toBe('x')
  })

  it('a backup and an export written to a stream are whole, and leave the stream open', async () => {
    const { dir, store } = await storeWith(1500)
    const collect = async (write: (stream: PassThrough) => Promise<unknown>): Promise<Buffer> => {
      const stream = new PassThrough()
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      await write(stream)
      expect(stream.writableEnded).toBe(false)
      return Buffer.concat(chunks)
    }
    let info: BackupInfo | undefined
    const backup = await collect(async (stream) => { info = await store.backup(stream) })
    expect(info!.file).toBe('-')
    await writeFile(join(dir, 'streamed.fsbk'), backup)
    expect(await verifyBackup(join(dir, 'streamed.fsbk'))).toMatchObject({ ok: true, flows: 1500, checksum: info!.checksum })
    const json = await collect(async (stream) => await exportJson(store, stream))
    expect(Object.keys(JSON.parse(json.toString('utf8')))).toHaveLength(1500)
    expect(await temporaries(dir)).toEqual([])
  })
})

describe('restore targets', () => {
  async function backupOf (ids: readonly string[]): Promise<{ dir: string, file: string }> {
    const dir = await tempDir()
    const store = await FlowStore.open(join(dir, 'source'))
    await store.saveMany(ids.map((id) => ({ id, restored: true })))
    const file = (await store.backup(join(dir, 'full.fsbk'))).file
    await store.close()
    return { dir, file }
  }

  it('a directory holding the backups being restored is refused, even with overwrite, and keeps them', async () => {
    const project = await tempDir()
    await writeFile(join(project, 'main.c'), 'int main () {}')
    const store = await FlowStore.open(join(await tempDir(), 'db'))
    await store.saveMany([{ id: 'a' }, { id: 'b' }])
    const backups = join(project, 'backups')
    await backupToDirectory(store, backups)
    await store.close()
    const [file] = (await readdir(backups)).filter((name) => name.endsWith('.fsbk'))
    for (const attempt of [
      async () => await restoreBackup(join(backups, file!), project, { overwrite: true }),
      async () => await restoreFromDirectory(backups, project, { overwrite: true }),
      async () => await restoreFromDirectory(backups, backups, { overwrite: true })
    ]) {
      const err = await expectCode(attempt(), 'FLOWSTORE_TARGET_UNSAFE')
      expect(err.message).toMatch(/contains .*which this restore reads|it holds files that are not a flowstore store's/)
    }
    expect((await readdir(project)).sort()).toEqual(['backups', 'main.c'])
    expect(await readFile(join(project, 'main.c'), 'utf8')).toBe('int main () {}')
    expect((await readdir(backups)).sort()).toEqual([file, 'manifest.json'].sort())
  })

  it('a target inside the backup directory read is refused', async () => {
    const store = await FlowStore.open(join(await tempDir(), 'db'))
    await store.save({ id: 'a' })
    const backups = join(await tempDir(), 'backups')
    await backupToDirectory(store, backups)
    await store.close()
    const err = await expectCode(restoreFromDirectory(backups, join(backups, 'restored')), 'FLOWSTORE_TARGET_UNSAFE')
    expect(err.message).toContain('is inside')
  })

  it('the working directory, the home directory and a directory containing the working directory are refused, even with overwrite; nothing in them changes', async () => {
    const { file } = await backupOf(['a'])
    // In a child process whose working and home directories are fresh temp directories, so
    // that even a restore that did not refuse them would only ever touch this test's files.
    const outer = await tempDir()
    const work = join(outer, 'work')
    const home = join(outer, 'home')
    await mkdir(work)
    await mkdir(home)
    await writeFile(join(work, 'notes.txt'), 'work')
    await writeFile(join(home, '.profile'), 'home')
    const script = `
      import { restoreBackup } from ${JSON.stringify(join(import.meta.dirname, '..', 'src', 'index.ts'))}
      for (const target of ['.', ${JSON.stringify(home)}, '..']) {
        try { await restoreBackup(${JSON.stringify(file)}, target, { overwrite: true }); console.log(target, 'RESTORED') }
        catch (err) { console.log(target, err.code, err.message) }
      }`
    const run = spawnSync(process.execPath, ['--import', TSX, '--input-type=module', '-e', script], { cwd: work, env: { ...process.env, HOME: home }, encoding: 'utf8' })
    const lines = run.stdout.trim().split('\n')
    expect(lines, run.stderr).toHaveLength(3)
    expect(lines[0]).toMatch(/^\. FLOWSTORE_TARGET_UNSAFE .*the working directory/)
    expect(lines[1]).toMatch(/FLOWSTORE_TARGET_UNSAFE .*your home directory/)
    expect(lines[2]).toMatch(/^\.\. FLOWSTORE_TARGET_UNSAFE .*contains (your home|the working) directory/)
    expect(await readdir(work)).toEqual(['notes.txt'])
    expect(await readdir(home)).toEqual(['.profile'])
    expect((await readdir(outer)).sort()).toEqual(['home', 'work'])
  })

  it('the root directory is refused as a restore target, whatever the options', async () => {
    // Checked on the target check itself: a test must never ask a restore to replace /.
    for (const overwrite of [false, true]) {
      const err = await expectCode(checkRestoreTarget('/', overwrite, []), 'FLOWSTORE_TARGET_UNSAFE')
      expect(err.message).toContain('the root directory')
    }
  })

  it('a file is refused as a target, even with overwrite', async () => {
    const { dir, file } = await backupOf(['a'])
    await writeFile(join(dir, 'plain'), 'x')
    await expectCode(restoreBackup(file, join(dir, 'plain'), { overwrite: true }), 'FLOWSTORE_TARGET_UNSAFE')
    await expectCode(restoreBackup(file, file, { overwrite: true }), 'FLOWSTORE_TARGET_UNSAFE')
    expect(await readFile(join(dir, 'plain'), 'utf8')).toBe('x')
  })

  it('a store with a file of another program in it is refused with overwrite, and left as it was', async () => {
    const { dir, file } = await backupOf(['new'])
    const location = join(dir, 'db')
    await closedStore(location, ['old'])
    await writeFile(join(location, 'README'), 'mine')
    const err = await expectCode(restoreBackup(file, location, { overwrite: true }), 'FLOWSTORE_TARGET_UNSAFE')
    expect(err.message).toContain('"README"')
    await rm(join(location, 'README'))
    expect(await idsOf(location)).toEqual(['old'])
  })

  it('with overwrite, a store that served its socket (OWNER.json, flowstore-owner/) is recognised and replaced', async () => {
    const { dir, file } = await backupOf(['new'])
    const location = join(dir, 'db')
    const store = await FlowStore.open(location)
    await store.save({ id: 'old' })
    await serveStore(store)
    // Left as a crashed owner leaves them.
    const owner = await readFile(join(location, 'OWNER.json'), 'utf8')
    await store.close()
    await writeFile(join(location, 'OWNER.json'), owner)
    await mkdir(join(location, 'flowstore-owner'), { recursive: true })
    await restoreBackup(file, location, { overwrite: true })
    expect(await idsOf(location)).toEqual(['new'])
  })

  it('through a symbolic link to a store open in this process, or in another one, overwrite is refused with FLOWSTORE_LOCKED', async () => {
    const { dir, file } = await backupOf(['new'])
    const location = join(dir, 'db')
    const link = join(dir, 'link')
    const store = await open(location)
    await store.save({ id: 'live' })
    await symlink(location, link)
    await expectCode(restoreBackup(file, link, { overwrite: true }), 'FLOWSTORE_LOCKED')
    await store.save({ id: 'still-works' })
    await store.close()

    const child = startChild('hold-open.ts', location)
    await child.waitForLine((line) => line === 'ready')
    await expectCode(restoreBackup(file, link, { overwrite: true }), 'FLOWSTORE_LOCKED')
    child.send('close')
    await child.exited
    expect(await idsOf(location)).toEqual(['held-by', 'live', 'still-works'])
    expect(await readlink(link)).toBe(location)
  })

  it('through a symbolic link to a closed store, overwrite replaces the store where it is and the link stays', async () => {
    const { dir, file } = await backupOf(['new'])
    const location = join(dir, 'db')
    await closedStore(location, ['old'])
    const link = join(dir, 'link')
    await symlink(location, link)
    const info = await restoreBackup(file, link, { overwrite: true })
    expect(info.location).toBe(link)
    expect(await readlink(link)).toBe(location)
    expect(await idsOf(location)).toEqual(['new'])
    expect(await temporaries(dir)).toEqual([])
  })

  it('a restored store is owner-only (a 0700 directory of 0600 files), and opening and writing it keeps it so', async () => {
    const { dir, file } = await backupOf(['secret'])
    await chmod(dir, 0o755)
    const location = join(dir, 'restored')
    await restoreBackup(file, location)
    expect((await stat(location)).mode & 0o777).toBe(0o700)
    const files = await readdir(location)
    expect(files).toContain('CURRENT')
    for (const name of files) expect({ name, mode: (await stat(join(location, name))).mode & 0o777 }).toEqual({ name, mode: 0o600 })
    // LevelDB writes new files (a log, CURRENT) with the process umask: the directory keeps them private.
    const store = await FlowStore.open(location)
    await store.save({ id: 'more' })
    await store.close()
    expect((await stat(location)).mode & 0o777).toBe(0o700)
    if (process.platform === 'linux' && process.getuid?.() === 0) {
      // Really reading as another user (nobody): refused for every file.
      for (const name of await readdir(location)) {
        const run = spawnSync(process.execPath, ['-e', `try { require('fs').readFileSync(${JSON.stringify(join(location, name))}); console.log('read') } catch (e) { console.log(e.code) }`], { uid: 65534, gid: 65534, encoding: 'utf8' })
        expect({ name, result: run.stdout.trim() }).toEqual({ name, result: 'EACCES' })
      }
    }
  })
})

describe('backups taken by the owner of a served store', () => {
  it('refuse an existing file unless overwrite travels with the request', async () => {
    const { dir, store } = await storeWith(12)
    await serveStore(store)
    const file = join(dir, 'live.fsbk')
    await writeFile(file, 'keep me')
    const client = await OwnerClient.connect(store.directory!)
    try {
      await expectCode(client.backup(file), 'FLOWSTORE_TARGET_EXISTS')
      expect(await readFile(file, 'utf8')).toBe('keep me')
      const info = await client.backup(file, { overwrite: true })
      expect(await verifyBackup(file)).toMatchObject({ ok: true, flows: 12, checksum: info.checksum })
    } finally {
      await client.close()
    }
  })
})
