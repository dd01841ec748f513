// The `flowstore` command line on a live store: `backup`, `stats` and `export` of a database
// that another process (a real child: test/fixtures/cli-live-owner.ts) has open and serves
// go through that owner, which keeps running; a database locked by a process that serves
// nothing (or that left a stale OWNER.json behind when it crashed) gives the plain "locked"
// failure. The CLI runs as a child process too, in a working directory of its own.

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { generateFlows } from '../examples/generate-flows.ts'
import { FlowStore } from '../src/index.ts'
import { parseRequest, ProtocolViolation } from '../src/service/protocol.ts'
import { json, ROOT, type Run, runFlowstore, TSX } from './cli-run.ts'
import { tempDir } from './helpers.ts'

const OWNER = join(ROOT, 'test', 'fixtures', 'cli-live-owner.ts')

/** Runs `flowstore ...args` in a child process whose working directory is `cwd`. */
async function flowstoreIn (cwd: string, ...args: string[]): Promise<Run> {
  return await runFlowstore({ cwd }, ...args)
}

/** Every flow of the store at `dir`, as plain objects by id (the store is closed again). */
async function contentsOf (dir: string): Promise<Record<string, unknown>> {
  const store = await FlowStore.open(dir)
  try {
    return Object.fromEntries([...store.flows].map(([id, flow]) => [id, JSON.parse(JSON.stringify(flow))]))
  } finally {
    await store.close()
  }
}

/** The owner child: its pid, its store version when it got ready, and its stdin/stdout lines. */
interface Owner {
  readonly pid: number
  readonly version: number
  readonly child: ChildProcessWithoutNullStreams
  /** Sends a command line and resolves with the next line the owner prints. */
  ask (line: string): Promise<string>
  /** Asks the owner to close its store and resolves once it has exited. */
  close (): Promise<void>
}

const owners: ChildProcessWithoutNullStreams[] = []
afterEach(async () => {
  for (const child of owners.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    }
  }
})

/** Starts the owner fixture on `dir` and waits until it serves the store. */
async function startOwner (dir: string, ...args: string[]): Promise<Owner> {
  const child = spawn(process.execPath, ['--import', TSX, OWNER, dir, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] })
  owners.push(child)
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const next = async (): Promise<string> => {
    const { value, done } = await lines.next()
    if (done === true) throw new Error(`the owner exited: ${stderr}`)
    return value
  }
  const ready = await next()
  const match = /^ready (\d+) (\d+)$/.exec(ready)
  if (match === null) throw new Error(`the owner did not get ready: ${ready} ${stderr}`)
  return {
    pid: Number(match[1]),
    version: Number(match[2]),
    child,
    async ask (line) {
      child.stdin.write(`${line}\n`)
      return await next()
    },
    async close () {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.stdin.write('close\n')
      expect(await next()).toMatch(/^closed \d+$/)
      await exited
    }
  }
}

/** Kills the owner the way a crash would (no cleanup: OWNER.json and the socket stay behind). */
async function crash (owner: Owner): Promise<void> {
  const exited = new Promise((resolve) => owner.child.once('exit', resolve))
  owner.child.kill('SIGKILL')
  await exited
}

describe('backup of a live store', () => {
  it('backs up a store its owner serves and keeps writing to, exit 0; the backup verifies and restores every flow', async () => {
    const flows = generateFlows(30)
    const db = join(await tempDir(), 'db')
    const owner = await startOwner(db, '--flows', '30', '--keep-saving')
    const cwd = await tempDir()

    // Relative paths, in a working directory other than the owner's: the owner writes the file.
    const [backup, text] = await Promise.all([
      flowstoreIn(cwd, 'backup', db, 'live.fsbk', '--json'),
      flowstoreIn(cwd, 'backup', db, 'live-text.fsbk')
    ])
    expect(backup.code, backup.stderr).toBe(0)
    const info = json(backup)
    expect(info).toMatchObject({ ok: true, via: 'owner', kind: 'full', file: join(cwd, 'live.fsbk'), flows: 30 })
    expect(info.version).toBeGreaterThanOrEqual(owner.version)
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toContain(`through the live owner (pid ${owner.pid}), which kept running`)

    const target = join(cwd, 'restored')
    const [verify, restore] = await Promise.all([
      flowstoreIn(cwd, 'verify', 'live.fsbk'),
      flowstoreIn(cwd, 'restore', 'live.fsbk', '--to', target, '--json')
    ])
    expect(verify.code, verify.stdout + verify.stderr).toBe(0)
    expect(json(restore)).toMatchObject({ ok: true, version: info.version, flows: 30 })
    expect(Object.keys(await contentsOf(target)).sort()).toEqual(flows.map((flow) => flow.id).sort())
    // The owner never stopped: it still takes writes.
    expect(await owner.ask('save after-backup')).toMatch(/^saved \d+$/)
  })

  it('backs up a live store into a backup directory: full, then changed-only against it, both in the manifest', async () => {
    const db = join(await tempDir(), 'db')
    const owner = await startOwner(db, '--flows', '10')
    const cwd = await tempDir()

    const full = await flowstoreIn(cwd, 'backup', db, 'backups/', '--json')
    expect(full.code, full.stderr).toBe(0)
    expect(json(full)).toMatchObject({ ok: true, via: 'owner', kind: 'full', version: owner.version, flows: 10 })
    const saved = Number((await owner.ask('save added-live')).split(' ')[1])

    const changes = await flowstoreIn(cwd, 'backup', db, 'backups', '--json')
    expect(changes.code, changes.stderr).toBe(0)
    expect(json(changes)).toMatchObject({
      via: 'owner', kind: 'changes', baseVersion: owner.version, version: saved, flows: 1, base: json(full).file
    })

    const target = join(cwd, 'restored')
    const [list, restore] = await Promise.all([
      flowstoreIn(cwd, 'list', 'backups', '--json'),
      flowstoreIn(cwd, 'restore', 'backups', '--to', target, '--json')
    ])
    expect(json(list).backups.map((b: { kind: string, file: string }) => [b.kind, b.file])).toEqual([['full', json(full).file], ['changes', json(changes).file]])
    expect(json(restore)).toMatchObject({ ok: true, version: saved, flows: 11 })

    const forced = await flowstoreIn(cwd, 'backup', db, 'backups', '--full', '--json')
    expect(json(forced)).toMatchObject({ via: 'owner', kind: 'full', version: saved, flows: 11 })
    await owner.close()
    expect(await contentsOf(target)).toEqual(await contentsOf(db))
  })

  it('has the owner check a backup-to-directory request like any other: a path, an optional boolean full, an integer level', () => {
    expect(parseRequest({ id: 3, op: 'backup-to-directory', dir: '/backups', full: true })).toEqual({ id: 3, op: 'backup-to-directory', dir: '/backups', full: true, compressionLevel: undefined })
    for (const bad of [{ dir: '' }, { dir: 7 }, { dir: '/b', full: 'yes' }, { dir: '/b', compressionLevel: 1.5 }, { dir: '/b', since: 3 }]) {
      expect(() => parseRequest({ id: 3, op: 'backup-to-directory', ...bad })).toThrow(ProtocolViolation)
    }
  })

  it('takes a changed-only backup of a live store since an earlier backup file', async () => {
    const db = join(await tempDir(), 'db')
    const owner = await startOwner(db, '--flows', '10')
    const cwd = await tempDir()
    expect((await flowstoreIn(cwd, 'backup', db, 'full.fsbk')).code).toBe(0)
    const saved = Number((await owner.ask('save added-live')).split(' ')[1])

    const changes = await flowstoreIn(cwd, 'backup', db, 'changes.fsbk', '--since', 'full.fsbk', '--json')
    expect(changes.code, changes.stderr).toBe(0)
    expect(json(changes)).toMatchObject({ via: 'owner', kind: 'changes', baseVersion: owner.version, version: saved, flows: 1 })

    const target = join(cwd, 'restored')
    const restore = await flowstoreIn(cwd, 'restore', 'full.fsbk', 'changes.fsbk', '--to', target, '--json')
    expect(json(restore)).toMatchObject({ ok: true, version: saved, flows: 11 })
  })
})

describe('stats and export of a live store', () => {
  it('reports the stats of a live store from its owner, naming the owner\'s pid', async () => {
    const db = join(await tempDir(), 'db')
    const owner = await startOwner(db, '--flows', '12')
    const cwd = await tempDir()
    expect((await flowstoreIn(cwd, 'backup', db, 'backups/')).code).toBe(0)
    const [stats, text] = await Promise.all([flowstoreIn(cwd, 'stats', db, '--backups', 'backups', '--json'), flowstoreIn(cwd, 'stats', db)])
    expect(stats.code, stats.stderr).toBe(0)
    const figures = json(stats)
    expect(figures).toMatchObject({ ok: true, via: 'owner', db, flows: 12, version: owner.version, bytes: null, tombstones: null })
    // The owner reports the store's identity, so the backups in a directory that are this store's are known.
    expect(figures.storeId).toMatch(/^[0-9a-f-]{36}$/)
    expect(figures).toMatchObject({ lastBackup: { kind: 'full', version: owner.version, storeId: figures.storeId }, backupsOfOtherStores: 0 })
    expect(figures.diskBytes).toBeGreaterThan(0)
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toContain(`${db} (live: from its owner, pid ${owner.pid})`)
    expect(text.stdout).toMatch(/flows {7}12\n/)
  })

  it('exports a live store through its owner, and the file imports back to the same flows', async () => {
    const flows = generateFlows(25)
    const db = join(await tempDir(), 'db')
    const owner = await startOwner(db, '--flows', '25')
    const cwd = await tempDir()

    const exported = await flowstoreIn(cwd, 'export', db, 'flows.json', '--json')
    expect(exported.code, exported.stderr).toBe(0)
    expect(json(exported)).toMatchObject({ ok: true, via: 'owner', db, file: join(cwd, 'flows.json'), flows: 25, version: owner.version })
    const written = JSON.parse(await readFile(join(cwd, 'flows.json'), 'utf8')) as Record<string, unknown>
    expect(written).toEqual(Object.fromEntries(flows.map((flow) => [flow.id, JSON.parse(JSON.stringify(flow))])))

    const copy = join(cwd, 'copy')
    const imported = await flowstoreIn(cwd, 'import', 'flows.json', '--to', copy, '--json')
    expect(json(imported)).toMatchObject({ ok: true, imported: 25 })
    await owner.close()
    expect(await contentsOf(copy)).toEqual(await contentsOf(db))
  })
})

describe('a database locked by a process that does not serve it', () => {
  it('fails (exit 1) with the plain "locked" message, and says that serveStore(store) allows live backups', async () => {
    const db = join(await tempDir(), 'db')
    // This test process owns the store and serves nothing; the CLI is another process.
    const store = await FlowStore.open(db)
    await store.saveMany(generateFlows(5))
    const cwd = await tempDir()
    try {
      const [backup, stats, exported] = await Promise.all([
        flowstoreIn(cwd, 'backup', db, 'b.fsbk', '--json'),
        flowstoreIn(cwd, 'stats', db),
        flowstoreIn(cwd, 'export', db, 'flows.json')
      ])
      for (const run of [backup, stats, exported]) {
        expect(run.code).toBe(1)
        expect(run.stderr).toMatch(/^flowstore: Database .* is locked by another process, which does not serve it \(it has no OWNER\.json\) \(FLOWSTORE_LOCKED\)\n {2}Let that process serve the store \(serveStore\(store\)\) and (backup|stats|export) /)
        expect(run.stderr).not.toMatch(/\n\s+at /)
      }
      expect(json(backup).error.code).toBe('FLOWSTORE_LOCKED')
      expect(existsSync(join(cwd, 'b.fsbk'))).toBe(false)
      expect(existsSync(join(cwd, 'flows.json'))).toBe(false)
      expect(store.size).toBe(5)
    } finally {
      await store.close()
    }
  })

  it('takes an OWNER.json left behind by a crashed owner for what it is: locked by a process that serves nothing, exit 1', async () => {
    const db = join(await tempDir(), 'db')
    const crashed = await startOwner(db, '--flows', '5')
    await crash(crashed)
    expect(existsSync(join(db, 'OWNER.json'))).toBe(true)
    // A new owner that does not serve the store: OWNER.json still names the crashed one.
    const store = await FlowStore.open(db)
    try {
      const cwd = await tempDir()
      const [stats, backup] = await Promise.all([flowstoreIn(cwd, 'stats', db), flowstoreIn(cwd, 'backup', db, 'b.fsbk', '--json')])
      expect(stats.code).toBe(1)
      expect(stats.stderr).toMatch(new RegExp(`locked by another process, which does not serve it \\(its OWNER\\.json is stale: the owner it names \\(pid ${crashed.pid}\\) does not answer\\).*\\(FLOWSTORE_LOCKED\\)`))
      expect(backup.code).toBe(1)
      expect(json(backup).error.code).toBe('FLOWSTORE_LOCKED')
    } finally {
      await store.close()
    }
  })

  it('opens the database itself when nothing holds it, even with an OWNER.json left behind by a crashed owner', async () => {
    const db = join(await tempDir(), 'db')
    const crashed = await startOwner(db, '--flows', '5')
    await crash(crashed)
    expect(existsSync(join(db, 'OWNER.json'))).toBe(true)
    const cwd = await tempDir()
    // One after the other: each opens the database itself.
    const stats = await flowstoreIn(cwd, 'stats', db, '--json')
    const backup = await flowstoreIn(cwd, 'backup', db, 'b.fsbk', '--json')
    expect(stats.code, stats.stderr).toBe(0)
    expect(json(stats)).toMatchObject({ ok: true, via: 'direct', flows: 5, version: crashed.version })
    expect(typeof json(stats).bytes).toBe('number')
    expect(backup.code, backup.stderr).toBe(0)
    expect(json(backup)).toMatchObject({ ok: true, via: 'direct', kind: 'full', flows: 5 })
  })
})
