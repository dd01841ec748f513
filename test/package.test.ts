// The package as a user gets it: `npm pack` (which builds dist/ through prepack), the tarball
// installed into a fresh project outside this one, and there: imported as ESM, required from
// CommonJS, type-checked from a TypeScript consumer (moduleResolution NodeNext and Bundler),
// and the `flowstore` command run through npx on a store the consumer made.
//
// The install works offline: the project's dependencies are installed with `npm ci`
// --offline from a lock file derived from this project's package-lock.json (the same versions
// this suite runs with), whose tarballs the npm cache already holds.

import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT } from './cli-run.ts'

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs a program to its end; never throws for a non-zero exit. */
async function run (file: string, args: readonly string[], cwd: string): Promise<Run> {
  return await new Promise((resolve, reject) => {
    execFile(file, [...args], { cwd, env: cleanEnv(), maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : (err as { code?: unknown }).code
      if (typeof code !== 'number') reject(err)
      else resolve({ code, stdout, stderr })
    })
  })
}

/** The environment without what `npm test` adds for its own package (it would aim npm at this project). */
function cleanEnv (): NodeJS.ProcessEnv {
  const env = { ...process.env }
  for (const name of Object.keys(env)) {
    if (/^npm_(package_|lifecycle_|command$|config_local_prefix$)/.test(name)) delete env[name]
  }
  delete env.FLOWSTORE_DEBUG
  return env
}

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const NPX = process.platform === 'win32' ? 'npx.cmd' : 'npx'
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

interface LockEntry {
  version?: string
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  optional?: boolean
  dev?: boolean
  devOptional?: boolean
  [key: string]: unknown
}

/**
 * A package-lock.json for a project depending on the tarball alone: the tarball's entry plus
 * every package its dependencies reach in this project's lock file, found the way Node finds
 * them (nested node_modules first, then up), so `npm ci --offline` needs no registry.
 */
async function consumerLock (tarball: string): Promise<object> {
  const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string, license: string, dependencies: Record<string, string>, engines: object }
  const packages: Record<string, LockEntry> = {
    '': { name: 'consumer', dependencies: { flowstore: `file:${tarball}` } },
    'node_modules/flowstore': { version: pkg.version, resolved: `file:${tarball}`, license: pkg.license, dependencies: pkg.dependencies, bin: { flowstore: 'bin/flowstore.js' }, engines: pkg.engines }
  }
  const find = (from: string, name: string): string | undefined => {
    for (let base = from; ; base = base.includes('/node_modules/') ? base.slice(0, base.lastIndexOf('/node_modules/')) : '') {
      const path = posix.join(base, 'node_modules', name)
      if (lock.packages[path] !== undefined) return path
      if (base === '') return undefined
    }
  }
  const queue: Array<{ from: string, entry: LockEntry, optional: boolean }> = [{ from: '', entry: { dependencies: pkg.dependencies }, optional: false }]
  for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
    const edges = [
      ...Object.keys(item.entry.dependencies ?? {}).map((name) => ({ name, optional: item.optional })),
      ...Object.keys(item.entry.optionalDependencies ?? {}).map((name) => ({ name, optional: true }))
    ]
    for (const { name, optional } of edges) {
      const path = find(item.from, name)
      if (path === undefined) {
        if (optional) continue
        throw new Error(`package-lock.json has no ${name} for ${item.from || 'the project'}`)
      }
      const known = packages[path]
      if (known !== undefined) {
        if (!optional) delete known.optional
        continue
      }
      const { dev: _dev, devOptional: _devOptional, optional: _optional, ...entry } = lock.packages[path]!
      packages[path] = optional ? { ...entry, optional: true } : entry
      queue.push({ from: path, entry, optional })
    }
  }
  return { name: 'consumer', lockfileVersion: 3, requires: true, packages }
}

const ESM_CONSUMER = `
import { FlowStore, isFlowStoreError } from 'flowstore'
const store = await FlowStore.open('./esm-db')
await store.saveMany([{ id: 'a', n: 1 }, { id: 'b', nodes: [{ type: 'start' }] }])
console.log(JSON.stringify({ size: store.size, a: store.get('a'), frozen: Object.isFrozen(store.get('b')), isFlowStoreError: typeof isFlowStoreError }))
await store.close()
`

const CJS_CONSUMER = `
const { FlowStore, FlowStoreError } = require('flowstore')
FlowStore.open('./cjs-db').then(async (store) => {
  await store.save({ id: 'c', n: 3 })
  console.log(JSON.stringify({ size: store.size, c: store.get('c'), error: typeof FlowStoreError }))
  await store.close()
})
`

const TS_CONSUMER = `
import { backupToDirectory, FlowStore, type FlowStoreErrorCode, type Frozen, isFlowStoreError, verifyBackup } from 'flowstore'

interface MyFlow {
  id: string
  nodes: Array<{ type: string }>
}

const store = await FlowStore.open<MyFlow>('./ts-db')
await store.save({ id: 'a', nodes: [{ type: 'start' }] })
const got: Frozen<MyFlow> | undefined = store.get('a')
const entry = await backupToDirectory(store, './ts-backups')
const report = await verifyBackup(entry.file)
const code: FlowStoreErrorCode = 'FLOWSTORE_CORRUPT'
console.log(got?.nodes.length, report.ok, isFlowStoreError(new Error('x'), code))
await store.close()
`

/** A consumer the type-check must refuse: proves the package's types are really read. */
const TS_WRONG = `
import { FlowStore } from 'flowstore'
const store = await FlowStore.open<{ id: string, n: number }>('./db')
await store.save({ id: 'a', n: 'not a number' })
`

function tsconfig (moduleResolution: 'NodeNext' | 'Bundler', files: readonly string[]): string {
  return JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      module: moduleResolution === 'NodeNext' ? 'NodeNext' : 'ESNext',
      moduleResolution,
      strict: true,
      noEmit: true,
      // The declarations are checked when they are built; a declaration that did not resolve
      // would make FlowStore untyped, which both consumers below would show.
      skipLibCheck: true,
      types: ['node'],
      // @types/node is this project's dev dependency, not the package's.
      typeRoots: [join(ROOT, 'node_modules', '@types')]
    },
    files
  })
}

const MADE_BY_CONSUMER = `
import { FlowStore } from 'flowstore'
const store = await FlowStore.open('./made-db')
await store.saveMany(Array.from({ length: 500 }, (_, i) => ({ id: 'flow-' + i, nodes: [{ type: 'n', i }] })))
await store.delete('flow-7')
await store.close()
`

describe('the packed package, installed into a fresh project', () => {
  let work: string
  let project: string
  let files: string[]

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'flowstore-package-'))
    const pack = await run(NPM, ['pack', '--json', '--pack-destination', work], ROOT)
    expect(pack.code, pack.stderr).toBe(0)
    // Lifecycle script output (prepack's build) may precede the JSON.
    const packed = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[\n'))) as Array<{ filename: string, files: Array<{ path: string }> }>
    files = packed[0]!.files.map((file) => file.path)
    project = join(work, 'consumer')
    await mkdir(project)
    const tarball = join(work, packed[0]!.filename)
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { flowstore: `file:${tarball}` } }))
    await writeFile(join(project, 'package-lock.json'), JSON.stringify(await consumerLock(tarball), null, 2))
    const install = await run(NPM, ['ci', '--offline', '--no-audit', '--no-fund'], project)
    expect(install.code, install.stderr).toBe(0)
  }, 120_000)

  afterAll(async () => {
    if (work !== undefined) await rm(work, { recursive: true, force: true })
  })

  it('ships the build (JavaScript, declarations), the command, the license and the docs; no sources, tests or benchmarks', () => {
    for (const file of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'bin/flowstore.js', 'package.json', 'README.md', 'LICENSE', 'docs/backup-format.md']) {
      expect(files).toContain(file)
    }
    expect(files.filter((file) => /^(src|test|bench|examples|scratch)\//.test(file))).toEqual([])
    // A source map must point at files that are shipped: the build writes none.
    expect(files.filter((file) => file.endsWith('.map'))).toEqual([])
    expect(files.filter((file) => file.endsWith('.tsbuildinfo'))).toEqual([])
  })

  it('is imported as ESM and required from CommonJS (require(esm), Node 20.19+ without flags)', async () => {
    await writeFile(join(project, 'esm.mjs'), ESM_CONSUMER)
    await writeFile(join(project, 'cjs.cjs'), CJS_CONSUMER)
    const [esm, cjs] = await Promise.all([run(process.execPath, ['esm.mjs'], project), run(process.execPath, ['cjs.cjs'], project)])
    expect(esm.code, esm.stderr).toBe(0)
    expect(JSON.parse(esm.stdout)).toEqual({ size: 2, a: { id: 'a', n: 1 }, frozen: true, isFlowStoreError: 'function' })
    expect(cjs.code, cjs.stderr).toBe(0)
    expect(cjs.stderr).not.toMatch(/ERR_REQUIRE_ESM|ExperimentalWarning/)
    expect(JSON.parse(cjs.stdout)).toEqual({ size: 1, c: { id: 'c', n: 3 }, error: 'function' })
  })

  it('type-checks a TypeScript consumer under moduleResolution NodeNext and Bundler, and refuses a wrong one', async () => {
    await writeFile(join(project, 'consumer.ts'), TS_CONSUMER)
    await writeFile(join(project, 'wrong.ts'), TS_WRONG)
    const checks: Array<Promise<Run>> = []
    for (const resolution of ['NodeNext', 'Bundler'] as const) {
      await writeFile(join(project, `tsconfig.${resolution}.json`), tsconfig(resolution, ['consumer.ts', 'wrong.ts']))
      checks.push(run(process.execPath, [TSC, '-p', `tsconfig.${resolution}.json`], project))
    }
    // One error each, in the wrong consumer; none in the right one.
    for (const check of await Promise.all(checks)) {
      expect(check.code).not.toBe(0)
      const errors = check.stdout.split('\n').filter((line) => /error TS\d+/.test(line))
      expect(errors, check.stdout).toHaveLength(1)
      expect(errors[0]).toMatch(/^wrong\.ts\(4,.*TS2322.*'string' is not assignable to type 'number'/)
    }
  })

  it('runs the flowstore command through npx: --help, and a backup and verify of a store the consumer made', async () => {
    await writeFile(join(project, 'made.mjs'), MADE_BY_CONSUMER)
    const made = await run(process.execPath, ['made.mjs'], project)
    expect(made.code, made.stderr).toBe(0)
    const help = await run(NPX, ['--no', '--', 'flowstore', '--help'], project)
    expect(help.code, help.stderr).toBe(0)
    expect(help.stdout).toMatch(/^Usage: flowstore <command>/)
    expect(help.stderr).not.toContain('tsx')

    const backup = await run(NPX, ['--no', '--', 'flowstore', 'backup', './made-db', './backups/', '--json'], project)
    expect(backup.code, backup.stderr).toBe(0)
    expect(JSON.parse(backup.stdout)).toMatchObject({ ok: true, kind: 'full', flows: 499, deletions: 0, version: 2 })
    const verify = await run(NPX, ['--no', '--', 'flowstore', 'verify', './backups'], project)
    expect(verify.code, verify.stdout + verify.stderr).toBe(0)
    expect(verify.stdout).toMatch(/^ok {3}.*full, version 2, 499 flow\(s\), 0 deletion\(s\)$/m)
    expect(verify.stdout).toMatch(/1 backup\(s\) ok\n$/)
  })
})
