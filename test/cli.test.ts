// The `flowstore` command line, driven as a real child process (node + tsx running
// src/cli/main.ts) against real stores, backup files and legacy JSON files: every command,
// its --json output, and its error paths with their exit codes (0 ok, 1 failure, 2 usage).
// Independent processes of one test run concurrently; stores are prepared in this process.

import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { setTimeout as delay } from 'node:timers/promises'
import { basename, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { generateFlows, mutateFlow, type GeneratedFlow } from '../examples/generate-flows.ts'
import { COMMANDS, runCli } from '../src/cli/cli.ts'
import { commandHelp } from '../src/cli/command.ts'
import { ProgressLine, render } from '../src/cli/progress.ts'
import { backupToDirectory, FlowStore } from '../src/index.ts'
import { listDataBlocks } from '../src/leveldb/leveldb-table.ts'
import { fileIn, flipByte, FLOWS, withRaw, writeStore } from './fixtures/hardening-damage.ts'
import { json, ROOT, type Run, runFlowstore, TSX } from './cli-run.ts'
import { tempDir } from './helpers.ts'

/** Runs `flowstore ...args` in a child process and collects its exit code and output. */
async function flowstore (...args: string[]): Promise<Run> {
  return await runFlowstore({}, ...args)
}

async function flowstoreWith (env: Record<string, string>, ...args: string[]): Promise<Run> {
  return await runFlowstore({ env }, ...args)
}

/** `flowstore ...args` as a running child process (for signals). */
function spawnFlowstore (...args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', TSX, join(ROOT, 'src', 'cli', 'main.ts'), ...args], { cwd: ROOT, stdio: 'ignore' })
}

async function writeText (file: string, text: string): Promise<string> {
  await writeFile(file, text)
  return file
}

/** A closed store in a fresh temp dir holding `flows`; returns its directory. */
async function storeWith (flows: readonly object[]): Promise<string> {
  const dir = join(await tempDir(), 'db')
  const store = await FlowStore.open(dir)
  await store.saveMany(flows as never)
  await store.close()
  return dir
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

describe('help, version and usage errors', () => {
  it('prints the commands, options and exit codes for --help, and a command\'s usage for <command> --help, exit 0', async () => {
    const [global, command, short] = await Promise.all([flowstore('--help'), flowstore('backup', '--help'), flowstore('stats', '-h')])
    expect(global.code).toBe(0)
    for (const { name } of COMMANDS) expect(global.stdout).toContain(`  ${name} `)
    expect(global.stdout).toMatch(/Exit codes: 0 ok, 1 failure.*2 usage/)
    expect(command.code).toBe(0)
    expect(command.stdout).toMatch(/^Usage: flowstore backup <db> <file\|dir>/)
    expect(command.stdout).toContain('--since <backup|version>')
    expect(short.code).toBe(0)
    expect(short.stdout).toMatch(/^Usage: flowstore stats <db>/)
  })

  it('gives every command a usage line, options, examples and the exit codes', () => {
    for (const command of COMMANDS) {
      const help = commandHelp(command)
      expect(help).toMatch(new RegExp(`^Usage: flowstore ${command.name} `))
      expect(help).toContain('--json')
      expect(help).toMatch(/Examples:\n {2}flowstore /)
      expect(help).toContain('Exit codes:')
    }
  })

  it('prints the package version for --version', async () => {
    const run = await flowstore('--version')
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
    expect(run).toMatchObject({ code: 0, stdout: `${pkg.version}\n` })
  })

  it('exits 2 with a hint for an unknown command, an unknown option, no command, and missing arguments', async () => {
    const dir = await tempDir()
    const runs = await Promise.all([
      flowstore('frobnicate'),
      flowstore('stats', dir, '--frobnicate'),
      flowstore(),
      flowstore('backup', dir),
      flowstore('import', join(dir, 'flows.json')),
      flowstore('restore', '--to', dir),
      flowstore('prune', dir),
      flowstore('prune', dir, '--keep-last', 'many')
    ])
    for (const run of runs) expect(run.code).toBe(2)
    const [command, option, none, backup, importing, restore, prune, notNumber] = runs.map((run) => run.stderr)
    expect(command).toMatch(/^flowstore: unknown command "frobnicate"\nRun "flowstore --help"/)
    expect(option).toMatch(/^flowstore stats: unknown option "--frobnicate"\nRun "flowstore stats --help"/)
    expect(none).toMatch(/^Usage: flowstore <command>/)
    expect(backup).toMatch(/^flowstore backup: missing argument: expected <db> <file\|dir>\n/)
    expect(importing).toMatch(/^flowstore import: missing --to <db>/)
    expect(restore).toMatch(/^flowstore restore: missing argument/)
    expect(prune).toMatch(/^flowstore prune: give --keep-last <n> or --keep-daily <n>/)
    expect(notNumber).toMatch(/^flowstore prune: --keep-last takes a whole number/)
  })

  it('words every usage error the same way, Node\'s option parsing included: "flowstore <command>: …", then where help is', async () => {
    const dir = await tempDir()
    const runs = await Promise.all([
      flowstore('restore', join(dir, 'b.fsbk'), '--to'),
      flowstore('restore', join(dir, 'b.fsbk'), '--to', '--overwrite'),
      flowstore('stats', dir, '--json=yes'),
      flowstore('stats', dir, '-x'),
      flowstore('backup', dir, join(dir, 'b.fsbk'), '--since', join(dir, 'a.fsbk'), '--full')
    ])
    for (const run of runs) {
      expect(run.code).toBe(2)
      const lines = run.stderr.trimEnd().split('\n')
      expect(lines, run.stderr).toHaveLength(2)
      expect(lines[0]).toMatch(/^flowstore (restore|stats|backup): [a-z-]/)
      expect(lines[0]).not.toMatch(/^flowstore \w+: \w+: /) // the command is named once
      expect(lines[1]).toMatch(/^Run "flowstore (restore|stats|backup) --help" for its usage\.$/)
    }
    const [missing, forgotten, valued, short, both] = runs.map((run) => run.stderr.split('\n')[0])
    expect(missing).toBe('flowstore restore: --to needs a value: --to <db>')
    expect(forgotten).toBe('flowstore restore: --to needs a value: --to <db>')
    expect(valued).toBe('flowstore stats: --json takes no value, got "yes"')
    expect(short).toBe('flowstore stats: unknown option "-x"')
    expect(both).toBe('flowstore backup: --since and --full cannot be used together')
  })

  it('suggests the command or option meant for a typo, and names the command an option belongs to', async () => {
    const dir = await tempDir()
    const runs = await Promise.all([
      flowstore('stat', dir),
      flowstore('restor', dir, '--to', dir),
      flowstore('stats', dir, '--backup', dir),
      flowstore('prune', dir, '--keeplast', '3'),
      flowstore('restore', dir, '--to', join(dir, 'x'), '--overwrit'),
      flowstore('backup', dir, join(dir, 'b.fsbk'), '--overwrite'),
      flowstore('--hepl'),
      flowstore('frobnicate', '--json')
    ])
    for (const run of runs) expect(run.code).toBe(2)
    const [command, restore, option, dashes, overwrite, elsewhere, global, far] = runs.map((run) => run.stderr.split('\n')[0])
    expect(command).toBe('flowstore: unknown command "stat"; did you mean "stats"?')
    expect(restore).toBe('flowstore: unknown command "restor"; did you mean "restore"?')
    expect(option).toBe('flowstore stats: unknown option "--backup"; did you mean "--backups"?')
    expect(dashes).toBe('flowstore prune: unknown option "--keeplast"; did you mean "--keep-last"?')
    expect(overwrite).toBe('flowstore restore: unknown option "--overwrit"; did you mean "--overwrite"?')
    expect(elsewhere).toBe('flowstore backup: unknown option "--overwrite" (an option of restore, not of backup)')
    expect(global).toBe('flowstore: unknown option "--hepl"; did you mean "--help"?')
    expect(far).toBe('flowstore: unknown command "frobnicate"')
    expect(json(runs[7]!)).toEqual({ ok: false, error: { code: 'USAGE', message: 'unknown command "frobnicate"' } })
  })
})

describe('import, export and stats', () => {
  it('imports a legacy file, reports skipped records in --json, and a second import changes nothing', async () => {
    const dir = await tempDir()
    const flows = generateFlows(300)
    const legacy = { ...Object.fromEntries(flows.map((flow) => [flow.id, flow])), broken: 'not a flow' }
    const file = join(dir, 'flows.json')
    await writeFile(file, JSON.stringify(legacy, null, 2))
    const db = join(dir, 'db')

    const first = await flowstore('import', file, '--to', db, '--json')
    expect(first.code).toBe(0)
    expect(first.stderr).toBe('') // no progress line: stderr is not a terminal
    expect(json(first)).toMatchObject({ ok: true, format: 'object', imported: 300, unchanged: 0, skippedCount: 1, skipped: [{ key: 'broken' }] })

    // One at a time: each process must own the store while it runs.
    const second = await flowstore('import', file, '--to', db, '--json')
    const human = await flowstore('stats', db)
    expect(json(second)).toMatchObject({ imported: 0, unchanged: 300, skippedCount: 1, version: json(first).version })
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(/flows {7}300\n/)
  })

  it('exports a store to JSON that matches it, and reports flows, bytes and version with stats --json', async () => {
    const flows = generateFlows(200)
    const db = await storeWith(flows)
    const out = join(await tempDir(), 'out.json')
    const exported = await flowstore('export', db, out, '--pretty', '--json')
    const stats = await flowstore('stats', db, '--json')
    expect(exported.code).toBe(0)
    expect(json(exported)).toMatchObject({ ok: true, flows: 200, file: out })
    expect(JSON.parse(await readFile(out, 'utf8'))).toEqual(Object.fromEntries(flows.map((flow) => [flow.id, flow])))
    expect(stats.code).toBe(0)
    expect(json(stats)).toMatchObject({ ok: true, flows: 200, version: 1, tombstones: 0 })
    expect(json(stats).bytes).toBeGreaterThan(200 * 500)
  })

  it('fails (exit 1) on a database that does not exist, without creating it', async () => {
    const missing = join(await tempDir(), 'no-such-db')
    const [stats, exported] = await Promise.all([flowstore('stats', missing), flowstore('export', missing, join(missing, 'x.json'), '--json')])
    expect(stats.code).toBe(1)
    expect(stats.stderr).toMatch(/^flowstore: Database .*no-such-db does not exist \(FLOWSTORE_OPEN_FAILED\)/)
    expect(exported.code).toBe(1)
    expect(json(exported)).toEqual({ ok: false, error: { code: 'FLOWSTORE_OPEN_FAILED', message: expect.stringContaining('does not exist') } })
    expect(existsSync(missing)).toBe(false)
  })

  it('prints the stack trace of a failure only with FLOWSTORE_DEBUG=1', async () => {
    const missing = join(await tempDir(), 'no-such-db')
    const [quiet, debug] = await Promise.all([flowstore('stats', missing), flowstoreWith({ FLOWSTORE_DEBUG: '1' }, 'stats', missing)])
    expect(quiet.stderr).not.toMatch(/\n\s+at /)
    expect(debug.code).toBe(1)
    expect(debug.stderr).toMatch(/^flowstore: Database .* does not exist \(FLOWSTORE_OPEN_FAILED\)\nFlowStoreError: .*\n\s+at /)
  })

  it('fails (exit 1) to import a file that does not exist, without creating the store', async () => {
    const dir = await tempDir()
    const run = await flowstore('import', join(dir, 'missing.json'), '--to', join(dir, 'db'))
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^flowstore: Cannot read the legacy file .*missing\.json: ENOENT.*\(FLOWSTORE_IMPORT_FAILED\)/)
    expect(existsSync(join(dir, 'db'))).toBe(false)
  })

  it('fails (exit 1) to export a flow JSON cannot hold, naming it', async () => {
    const db = await storeWith([{ id: 'dated', when: new Date(0) }])
    const run = await flowstore('export', db, join(await tempDir(), 'out.json'))
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/Flow "dated" cannot be exported to JSON: at flow\.when, a Date.*\(FLOWSTORE_INVALID_FLOW\)/)
  })

  it('fails (exit 1) on a syntax error in the legacy file, saying what was imported before it, and creates no store', async () => {
    const dir = await tempDir()
    const file = join(dir, 'flows.json')
    await writeFile(file, '[{"id": "a"}, {"id": "b"} {"id": "c"}]')
    const run = await flowstore('import', file, '--to', join(dir, 'db'))
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/is not valid JSON: .*between bytes 0 and 38 .*Nothing was kept: .*db was not created \(FLOWSTORE_IMPORT_FAILED\)/)
    expect(run.stderr).toMatch(/Before it stopped: 0 imported/)
    expect(await readdir(dir)).toEqual(['flows.json'])
  })

  it('exits 1 when every record of a non-empty file was skipped, and creates no store (nor leaves one half-built)', async () => {
    const dir = await tempDir()
    const file = join(dir, 'flows.json')
    await writeFile(file, JSON.stringify([1, 'two', { noId: true }]))
    const db = await storeWith([{ id: 'kept' }])
    const [fresh, existing, empty] = await Promise.all([
      flowstore('import', file, '--to', join(dir, 'new', 'db'), '--json'),
      flowstore('import', file, '--to', db),
      flowstore('import', await writeText(join(dir, 'empty.json'), '[]'), '--to', join(dir, 'from-empty'))
    ])
    expect(fresh.code).toBe(1)
    expect(json(fresh)).toMatchObject({ ok: false, error: { code: 'FLOWSTORE_IMPORT_FAILED' }, imported: 0, skippedCount: 3, created: false })
    expect(fresh.stderr).toMatch(/^flowstore: nothing was imported from .*flows\.json: all 3 record\(s\) were skipped; .*db was not created \(FLOWSTORE_IMPORT_FAILED\)\n$/)
    expect(existing.code).toBe(1)
    expect(existing.stdout).toMatch(/skipped record \[0\]: not a flow object/)
    expect(existing.stderr).toContain(`nothing in ${db} changed`)
    expect(await contentsOf(db)).toEqual({ kept: { id: 'kept' } })
    // An empty file imports nothing and that is no failure.
    expect(empty.code, empty.stderr).toBe(0)
    // No store and no hidden build directory are left behind, not even the parent made for them.
    expect((await readdir(dir)).sort()).toEqual(['empty.json', 'flows.json', 'from-empty'])
  })

  it('with --strict exits 1 on any skipped record, creating no new store; without it, imports the rest (exit 0)', async () => {
    const dir = await tempDir()
    const file = join(dir, 'flows.json')
    await writeFile(file, JSON.stringify([{ id: 'a' }, 'not a flow', { id: 'b' }]))
    const db = await storeWith([{ id: 'kept' }])
    const [strict, strictExisting, lenient] = await Promise.all([
      flowstore('import', file, '--to', join(dir, 'strict'), '--strict'),
      flowstore('import', file, '--to', db, '--strict', '--json'),
      flowstore('import', file, '--to', join(dir, 'lenient'))
    ])
    expect(strict.code).toBe(1)
    expect(strict.stderr).toMatch(/^flowstore: --strict: 1 record\(s\) of .* were skipped; .*strict was not created \(FLOWSTORE_IMPORT_FAILED\)/)
    expect(strict.stdout).toMatch(/^read .*flows\.json \(array\); .*strict was not created\n/)
    expect(existsSync(join(dir, 'strict'))).toBe(false)
    // Into an existing store the flows imported are kept, and the message says so.
    expect(strictExisting.code).toBe(1)
    expect(json(strictExisting)).toMatchObject({ ok: false, imported: 2, skippedCount: 1, created: false })
    expect(json(strictExisting).error.message).toContain(`the 2 flow(s) imported are kept in ${db}`)
    expect(lenient.code, lenient.stderr).toBe(0)
    expect(await contentsOf(join(dir, 'lenient'))).toEqual({ a: { id: 'a' }, b: { id: 'b' } })
    expect(Object.keys(await contentsOf(db)).sort()).toEqual(['a', 'b', 'kept'])
  })

  it('reports ids that appear more than once, keeping the last record', async () => {
    const dir = await tempDir()
    const file = join(dir, 'flows.json')
    await writeFile(file, '{"a": {"id": "a", "n": 1}, "b": {"id": "b"}, "a": {"id": "a", "n": 2}}')
    const run = await flowstore('import', file, '--to', join(dir, 'db'))
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toContain('duplicates replaced 1')
    expect(run.stdout).toContain('duplicate id "a": key "a" was replaced by key "a" (the last one is kept)')
    expect(await contentsOf(join(dir, 'db'))).toEqual({ a: { id: 'a', n: 2 }, b: { id: 'b' } })
  })

  it('leaves no half-built store when interrupted (SIGINT)', async () => {
    const dir = await tempDir()
    const file = join(dir, 'flows.jsonl')
    await writeFile(file, generateFlows(20_000).map((flow) => JSON.stringify(flow)).join('\n'))
    const child = spawnFlowstore('import', file, '--to', join(dir, 'db'))
    // Bounded polling for readiness: the hidden build directory appears once the import runs.
    for (let i = 0; i < 3000 && !(await readdir(dir)).some((name) => name.startsWith('.db.import-')); i++) await delay(10)
    expect((await readdir(dir)).some((name) => name.startsWith('.db.import-'))).toBe(true)
    child.kill('SIGINT')
    const code = await new Promise<number | null>((resolve) => { child.on('close', (exitCode) => { resolve(exitCode) }) })
    expect(code).toBe(130)
    expect(await readdir(dir)).toEqual(['flows.jsonl'])
  })
})

describe('backup, list, verify, restore, prune', () => {
  it('backs up into a directory (full, then changed-only), lists, verifies and restores the latest state', async () => {
    const flows = generateFlows(150)
    const db = await storeWith(flows)
    const backups = join(await tempDir(), 'backups')
    const full = await flowstore('backup', db, `${backups}/`, '--json')
    expect(full.code).toBe(0)
    expect(json(full)).toMatchObject({ ok: true, kind: 'full', version: 1, flows: 150 })

    const store = await FlowStore.open<GeneratedFlow>(db)
    await store.save(mutateFlow(flows[7]!, 2))
    await store.delete(flows[8]!.id)
    await store.close()
    const changes = await flowstore('backup', db, backups, '--json')
    expect(json(changes)).toMatchObject({ kind: 'changes', baseVersion: 1, version: 3, flows: 1, deletions: 1 })

    const target = join(await tempDir(), 'restored')
    const [list, verify, restore] = await Promise.all([
      flowstore('list', backups, '--json'),
      flowstore('verify', backups),
      flowstore('restore', backups, '--to', target, '--json')
    ])
    expect(json(list).backups.map((b: { kind: string }) => b.kind)).toEqual(['full', 'changes'])
    expect(verify.code).toBe(0)
    expect(verify.stdout).toMatch(/2 backup\(s\) ok\n$/)
    expect(json(restore)).toMatchObject({ ok: true, version: 3, flows: 149 })
    expect(await contentsOf(target)).toEqual(await contentsOf(db))

    const stats = await flowstore('stats', db, '--backups', backups, '--json')
    expect(json(stats)).toMatchObject({ version: 3, flows: 149, lastBackup: { kind: 'changes', version: 3 }, backupsOfOtherStores: 0 })
  })

  it('stats --backups reports the newest backup of this store, not of another store in the same directory', async () => {
    const db = await storeWith(generateFlows(20))
    const backups = join(await tempDir(), 'backups')
    expect((await flowstore('backup', db, `${backups}/`)).code).toBe(0)
    // A store restored from that backup has its own identity; its backups go into the same directory.
    const restored = join(await tempDir(), 'restored')
    expect((await flowstore('restore', backups, '--to', restored)).code).toBe(0)
    const [fresh, freshText] = [await flowstore('stats', restored, '--backups', backups, '--json'), await flowstore('stats', restored, '--backups', backups)]
    expect(json(fresh)).toMatchObject({ lastBackup: null, backupsOfOtherStores: 1 })
    expect(json(fresh).storeId).not.toBe(json(await flowstore('stats', db, '--json')).storeId)
    expect(freshText.stdout).toContain(`last backup none of this store in ${backups} (it holds 1 backup(s) of other stores)`)

    const store = await FlowStore.open(restored)
    await store.save({ id: 'new-in-restored' })
    await store.close()
    expect((await flowstore('backup', restored, backups)).code).toBe(0)
    const [original, mine] = [await flowstore('stats', db, '--backups', backups, '--json'), await flowstore('stats', restored, '--backups', backups, '--json')]
    // The newest backup in the directory is the restored store's: the original's is still its own.
    expect(json(original)).toMatchObject({ lastBackup: { kind: 'full', version: 1, storeId: json(original).storeId }, backupsOfOtherStores: 1 })
    expect(json(mine)).toMatchObject({ lastBackup: { kind: 'full', storeId: json(mine).storeId }, backupsOfOtherStores: 1 })
  }, 180_000)

  it('backs up into files with --since and restores the chain given in order', async () => {
    const flows = generateFlows(50)
    const db = await storeWith(flows)
    const dir = await tempDir()
    expect((await flowstore('backup', db, join(dir, 'full.fsbk'))).code).toBe(0)
    const store = await FlowStore.open<GeneratedFlow>(db)
    await store.save(mutateFlow(flows[0]!, 5))
    await store.close()
    const changes = await flowstore('backup', db, join(dir, 'changes.fsbk'), '--since', join(dir, 'full.fsbk'))
    expect(changes.code).toBe(0)
    expect(changes.stdout).toMatch(/changed-only since version 1, store version 2, 1 flow\(s\)/)

    const target = join(dir, 'restored')
    const [restore, wrongOrder] = await Promise.all([
      flowstore('restore', join(dir, 'full.fsbk'), join(dir, 'changes.fsbk'), '--to', target),
      flowstore('restore', join(dir, 'changes.fsbk'), join(dir, 'full.fsbk'), '--to', join(dir, 'never'))
    ])
    expect(restore.code).toBe(0)
    expect(await contentsOf(target)).toEqual(await contentsOf(db))
    expect(wrongOrder.code).toBe(1)
    expect(wrongOrder.stderr).toContain('(FLOWSTORE_BACKUP_CHAIN)')
    expect(existsSync(join(dir, 'never'))).toBe(false)
  })

  it('exits 1 when verify finds a corrupted backup, naming the problem', async () => {
    const db = await storeWith(generateFlows(100))
    const dir = await tempDir()
    const good = join(dir, 'good.fsbk')
    const bad = join(dir, 'bad.fsbk')
    const store = await FlowStore.open(db)
    await store.backup(good)
    await store.close()
    const bytes = await readFile(good)
    bytes[Math.floor(bytes.length / 2)]! ^= 0x40
    await writeFile(bad, bytes)

    const [human, machine] = await Promise.all([flowstore('verify', good, bad), flowstore('verify', bad, '--json')])
    expect(human.code).toBe(1)
    expect(human.stdout).toMatch(/^ok {3}.*good\.fsbk {2}full, version 1, 100 flow\(s\)/m)
    expect(human.stdout).toMatch(/^BAD {2}.*bad\.fsbk\n {7}\S/m)
    expect(human.stdout).toMatch(/1 of 2 backup\(s\) have problems/)
    expect(machine.code).toBe(1)
    const report = json(machine)
    expect(report.ok).toBe(false)
    expect(report.backups[0].problems.length).toBeGreaterThan(0)
  })

  it('refuses to restore into a non-empty directory without --overwrite (exit 1), and replaces it with --overwrite', async () => {
    const db = await storeWith(generateFlows(20))
    const dir = await tempDir()
    const backup = join(dir, 'full.fsbk')
    const store = await FlowStore.open(db)
    await store.backup(backup)
    await store.close()
    const target = await storeWith([{ id: 'already-here' }])

    const refused = await flowstore('restore', backup, '--to', target)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/not empty.*\(FLOWSTORE_TARGET_NOT_EMPTY\)/)
    expect(refused.stderr).toContain('add --overwrite')
    expect(refused.stderr).not.toContain('{ overwrite') // the CLI's flag, not the library's option
    expect(Object.keys(await contentsOf(target))).toEqual(['already-here'])

    const replaced = await flowstore('restore', backup, '--to', target, '--overwrite')
    expect(replaced.code).toBe(0)
    expect(await contentsOf(target)).toEqual(await contentsOf(db))
  })

  it('prunes a backup directory down to what the rules keep', async () => {
    const db = await storeWith(generateFlows(10))
    const backups = join(await tempDir(), 'backups')
    const store = await FlowStore.open(db)
    for (let i = 0; i < 3; i++) await backupToDirectory(store, backups, { full: true })
    await store.close()
    const run = await flowstore('prune', backups, '--keep-last', '1', '--json')
    expect(run.code).toBe(0)
    const result = json(run)
    expect(result.kept).toHaveLength(1)
    expect(result.deleted).toHaveLength(2)
    for (const entry of result.deleted) expect(existsSync(entry.file)).toBe(false)
    expect(existsSync(result.kept[0].file)).toBe(true)
  })

  it('fails (exit 1) to list a backup directory that does not exist', async () => {
    const run = await flowstore('list', join(await tempDir(), 'nowhere'))
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/Backup directory .*nowhere does not exist/)
  })
})

describe('--json output', () => {
  it('names the store "db" in every command that works on one', async () => {
    const dir = await tempDir()
    const db = join(dir, 'db')
    await writeStore(db, { tables: true })
    const backup = join(dir, 'full.fsbk')
    const legacy = join(dir, 'flows.json')
    await writeFile(legacy, JSON.stringify({ a: { id: 'a' } }))
    const restored = join(dir, 'restored')
    const imported = join(dir, 'imported')
    // One at a time on db: each process opens it.
    const runs = [
      await flowstore('check', db, '--json'),
      await flowstore('repair', db, '--json'),
      await flowstore('stats', db, '--json'),
      await flowstore('backup', db, backup, '--json'),
      await flowstore('export', db, join(dir, 'out.json'), '--json'),
      await flowstore('restore', backup, '--to', restored, '--json'),
      await flowstore('import', legacy, '--to', imported, '--json')
    ]
    const expected = [db, db, db, db, db, restored, imported]
    runs.forEach((run, i) => {
      expect(run.code, run.stderr).toBe(0)
      const result = json(run)
      expect(result.db).toBe(expected[i])
      expect(result).not.toHaveProperty('directory')
      expect(result).not.toHaveProperty('location')
    })
    expect(json(runs[1]!).found).not.toHaveProperty('directory')
  })

  it('repair --json gives counts and the first 50 lost flows, and every id with --ids', async () => {
    const damaged = async (): Promise<string> => {
      const db = join(await tempDir(), 'db')
      await writeStore(db, { tables: true })
      // 60 flows whose stored value cannot be decoded: each is lost.
      await withRaw(db, async (raw) => {
        await raw.batch(FLOWS.slice(0, 60).map((flow) => ({ type: 'put' as const, key: `f!${flow.id}`, value: Uint8Array.of(0xf1, 0, 0, 0, 0, 0, 1, 0xc1) })))
      })
      return db
    }
    const [summary, listed] = await Promise.all([
      damaged().then(async (db) => await flowstore('repair', db, '--json')),
      damaged().then(async (db) => await flowstore('repair', db, '--json', '--ids'))
    ])
    expect(summary.code, summary.stderr).toBe(0)
    const short = json(summary)
    expect(short).toMatchObject({ ok: true, repaired: true, flows: 540, recoveredCount: 540, lostCount: 60, revertedCount: 0 })
    expect(short.lost).toHaveLength(50)
    expect(short.lost[0]).toMatchObject({ id: FLOWS[0]!.id, reason: expect.stringContaining('cannot be decoded') })
    expect(short).not.toHaveProperty('recovered')
    const full = json(listed)
    expect(full).toMatchObject({ recoveredCount: 540, lostCount: 60 })
    expect(full.recovered).toHaveLength(540)
    expect(full.lost).toHaveLength(60)
    expect(short.found).toMatchObject({ problemCount: 60 })
    expect(short.found.problems).toHaveLength(50)
    expect(full.found.problems).toHaveLength(60)
  })
})

describe('a database locked by another process', () => {
  it('says so in two lines, the second fitted to the command that was run, exit 1', async () => {
    const db = await storeWith(generateFlows(5))
    const dir = await tempDir()
    const legacy = join(dir, 'flows.json')
    await writeFile(legacy, JSON.stringify({ a: { id: 'a' } }))
    const backupFile = join(dir, 'full.fsbk')
    const source = await FlowStore.open(await storeWith([{ id: 'b' }]))
    await source.backup(backupFile)
    await source.close()
    // This test process owns the store; the CLI children are "another process".
    const owner = await FlowStore.open(db)
    try {
      const [stats, backup, check, repair, importing, restore] = await Promise.all([
        flowstore('stats', db),
        flowstore('backup', db, join(dir, 'b.fsbk'), '--json'),
        flowstore('check', db),
        flowstore('repair', db),
        flowstore('import', legacy, '--to', db),
        flowstore('restore', backupFile, '--to', db, '--overwrite')
      ])
      const advice: Array<[Run, RegExp]> = [
        [stats, /^ {2}Let that process serve the store \(serveStore\(store\)\) and stats asks it/],
        [backup, /^ {2}Let that process serve the store \(serveStore\(store\)\) and backup runs through it.*back up inside it \(store\.backup\(\)\)/],
        [check, /^ {2}check needs the store to itself: stop the process that has it open/],
        [repair, /^ {2}repair needs the store to itself: stop the process that has it open/],
        [importing, /^ {2}import writes into the store, which one process owns/],
        [restore, /^ {2}restore replaces that store: stop the process that has it open/]
      ]
      for (const [run, line] of advice) {
        expect(run.code).toBe(1)
        const lines = run.stderr.trimEnd().split('\n')
        expect(lines, run.stderr).toHaveLength(2)
        expect(lines[0]).toMatch(/^flowstore: Database .* is locked by another process.*\(FLOWSTORE_LOCKED\)$/)
        expect(lines[1]).toMatch(line)
      }
      expect(stats.stderr).toContain(`Database ${db} is locked by another process, which does not serve it (it has no OWNER.json)`)
      expect(check.stderr.split('\n')[0]).toBe(`flowstore: Database ${db} is locked by another process (FLOWSTORE_LOCKED)`)
      expect(json(backup).error.code).toBe('FLOWSTORE_LOCKED')
      expect(owner.size).toBe(5)
    } finally {
      await owner.close()
    }
  })
})

describe('a store with a damaged table file', () => {
  /** A closed store whose table file has one damaged block (among the keys starting with `prefix`); returns the store and the file name. */
  async function damagedStore (prefix: 'L!' | 'f!'): Promise<{ db: string, table: string }> {
    const db = join(await tempDir(), 'db')
    // One commit per flow for the change log: its entries then fill blocks of their own.
    await writeStore(db, { tables: true, batch: prefix === 'L!' ? 1 : undefined })
    const table = await fileIn(db, /\.ldb$/)
    const blocks = listDataBlocks(await readFile(table)).filter((b) => b.lastKey.startsWith(prefix))
    // A block in the middle: open reads the change log's first and last entries only.
    const block = blocks[Math.floor(blocks.length / 2)]!
    // The first byte of a compressed block starts its length: a flip there fails to decompress.
    await flipByte(table, block.offset)
    return { db, table: basename(table) }
  }

  it('makes every command that opens it report FLOWSTORE_CORRUPT, naming the file, with the repair hint (damage read after open, and at open)', async () => {
    const inChanges = await damagedStore('L!')
    const inFlows = await damagedStore('f!')
    const out = await tempDir()
    const legacy = join(out, 'flows.json')
    await writeFile(legacy, JSON.stringify({ a: { id: 'a' } }))
    /** Runs one after the other: each process opens the store. */
    const inTurn = async (...commands: string[][]): Promise<Run[]> => {
      const runs: Run[] = []
      for (const args of commands) runs.push(await flowstore(...args))
      return runs
    }
    const [[changes, changesJson], atOpen] = await Promise.all([
      // The change log is read after open, by stats only.
      inTurn(['stats', inChanges.db], ['stats', inChanges.db, '--json']),
      inTurn(['stats', inFlows.db], ['backup', inFlows.db, join(out, 'b.fsbk')], ['export', inFlows.db, join(out, 'out.json')], ['import', legacy, '--to', inFlows.db])
    ])
    for (const [run, { db, table }] of [[changes!, inChanges], ...atOpen.map((run) => [run, inFlows] as const)] as const) {
      expect(run.code).toBe(1)
      expect(run.stderr).toMatch(/^flowstore: Database .* is damaged: LevelDB reports "Corruption: [^"]+" \(\d+\.ldb is damaged: 1 data block\(s\) fail their checksum/)
      expect(run.stderr).toContain(`(${table} is damaged`)
      expect(run.stderr).toContain(`Run "flowstore repair ${db}"`)
      expect(run.stderr).toMatch(/\(FLOWSTORE_CORRUPT\)\n$/)
      expect(run.stderr).not.toContain('LEVEL_CORRUPTION')
    }
    expect(json(changesJson!).error).toEqual({ code: 'FLOWSTORE_CORRUPT', message: expect.stringContaining(inChanges.table) })
  })
})

describe('the progress line', () => {
  /** A stand-in terminal: records what is written. */
  function terminal (isTTY: boolean): { isTTY: boolean, columns: number, writes: string[], write (text: string): boolean } {
    return { isTTY, columns: 200, writes: [], write (text: string) { this.writes.push(text); return true } }
  }

  it('redraws in place on a terminal once the work has run a moment, and clears itself at the end', () => {
    const tty = terminal(true)
    let now = 0
    const line = new ProgressLine(tty as never, 'backup', { now: () => now })
    line.update({ records: 10, total: 100, bytes: 1000 })
    expect(tty.writes).toEqual([]) // too early: quick commands draw nothing
    now = 1000
    line.update({ records: 250, total: 1000, bytes: 4096 })
    expect(tty.writes).toEqual(['\rbackup  250/1,000 flows  250 flows/s  4.0 KiB  ETA 3.0 s\x1b[K'])
    line.done()
    expect(tty.writes.at(-1)).toBe('\r\x1b[K')
  })

  it('draws nothing when stderr is not a terminal', () => {
    const pipe = terminal(false)
    let now = 0
    const line = new ProgressLine(pipe as never, 'import', { now: () => now })
    now = 5000
    line.update({ records: 1, bytes: 1 })
    line.done()
    expect(pipe.writes).toEqual([])
  })

  it('is drawn by check, verify, repair and backup on a terminal, with the total, and an ETA where the count is known', async () => {
    const dir = await tempDir()
    const db = join(dir, 'db')
    await writeStore(db, { tables: true, batch: 100 }) // 600 flows in a table file, so LevelDB can estimate sizes
    const backups = join(dir, 'backups')
    /** Runs the command in this process with a terminal for stderr that draws every update; returns the lines drawn. */
    const drawn = async (...args: string[]): Promise<string[]> => {
      const tty = terminal(true)
      const io = { stdout: { write: () => true } as never, stderr: tty as never, env: {}, progress: { delayMs: 0, intervalMs: 0 } }
      expect(await runCli(args, io)).toBe(0)
      expect(tty.writes.at(-1)).toBe('\r\x1b[K') // cleared at the end
      return tty.writes.filter((text) => text !== '\r\x1b[K').map((text) => text.replace(/^\r|\x1b\[K$/g, ''))
    }
    const check = await drawn('check', db)
    expect(check[0]).toMatch(/^check checksums {2}0\/1 files {2}/)
    expect(check.some((line) => /^check checksums {2}1\/1 files {2}/.test(line))).toBe(true)
    expect(check.some((line) => /^check values {2}[1-9][\d,]* entries {2}[\d,]+ entries\/s {2}[\d.]+ KiB\/[\d.]+ KiB {2}ETA /.test(line)), check.join('\n')).toBe(true)

    const full = await drawn('backup', db, `${backups}/`)
    expect(full.some((line) => /^backup {2}600\/600 flows {2}/.test(line)), full.join('\n')).toBe(true)
    const store = await FlowStore.open(db)
    for (let i = 0; i < 5; i++) await store.save({ id: `new-${i}` })
    await store.close()
    const changes = await drawn('backup', db, backups)
    expect(changes.some((line) => /^backup {2}5\/5 flows {2}/.test(line)), changes.join('\n')).toBe(true)

    const verify = await drawn('verify', backups)
    expect(verify.some((line) => /^verify 2 backups {2}605 records {2}[\d,]+ records\/s {2}[\d.]+ KiB\/[\d.]+ KiB$/.test(line)), verify.join('\n')).toBe(true)

    const repair = await drawn('repair', db, '--force')
    for (const step of [/^repair copy {2}\d+\/\d+ files/, /^repair checksums {2}/, /^repair values {2}/, /^repair read back {2}/, /^repair rebuild {2}605\/605 flows/]) {
      expect(repair.some((line) => step.test(line)), `${String(step)} in\n${repair.join('\n')}`).toBe(true)
    }
  })

  it('estimates the time left from the bytes when the record count is unknown', () => {
    expect(render('import', { records: 500, bytes: 1024 * 1024, totalBytes: 4 * 1024 * 1024 }, 2000))
      .toBe('import  500 flows  250 flows/s  1.0 MiB/4.0 MiB  ETA 6.0 s')
  })
})
