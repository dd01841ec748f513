// The README's TypeScript examples compile: every ```ts block is type-checked on its own with
// strict settings, `flowstore` resolving to this project's source. A block may use the
// package's exports without importing them, and `store`, `flow` and `service` without
// declaring them (the README introduces them once); everything else must be right as written.

import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT } from './cli-run.ts'

const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

/** The names src/index.ts exports (values and types). */
async function exportedNames (): Promise<string[]> {
  const index = await readFile(join(ROOT, 'src', 'index.ts'), 'utf8')
  const names: string[] = []
  for (const match of index.matchAll(/export (?:type )?\{([^}]*)\}/g)) {
    for (const part of match[1]!.split(',')) {
      const name = part.trim().replace(/^type /, '').split(/\s+as\s+/).at(-1)!.trim()
      if (name !== '') names.push(name)
    }
  }
  return names
}

/** Free variables the README uses across examples, with their types. */
const AMBIENT: Record<string, string> = {
  store: 'FlowStore',
  flow: 'Flow',
  service: 'FlowService',
  pool: 'PostgresPool'
}

/** One compilable module for a README block. */
function moduleFor (block: string, exported: readonly string[]): string {
  const imported = new Set<string>()
  for (const match of block.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'flowstore'/g)) {
    for (const part of match[1]!.split(',')) imported.add(part.trim().replace(/^type /, ''))
  }
  const used = (name: string): boolean => new RegExp(`\\b${name}\\b`).test(block)
  const declared = (name: string): boolean => new RegExp(`\\b(?:const|let|var|using)\\s+${name}\\b`).test(block)
  const ambient = Object.entries(AMBIENT).filter(([name]) => used(name) && !declared(name))
  const needed = new Set(exported.filter((name) => used(name) && !imported.has(name)))
  for (const [, type] of ambient) if (!imported.has(type)) needed.add(type)
  const prelude = [
    needed.size === 0 ? '' : `import { ${[...needed].join(', ')} } from 'flowstore'`,
    ...ambient.map(([name, type]) => `declare const ${name}: ${type}`)
  ]
  return `${prelude.join('\n')}\n${block}\nexport {}\n`
}

describe('the README', () => {
  let work: string
  let blocks: string[]

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'flowstore-readme-'))
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
    blocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1]!)
  })

  afterAll(async () => {
    if (work !== undefined) await rm(work, { recursive: true, force: true })
  })

  it('has TypeScript examples, the transaction example among them', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(4)
    expect(blocks.some((block) => block.includes('store.transaction('))).toBe(true)
  })

  it('has TypeScript examples that pass a strict type-check', async () => {
    const exported = await exportedNames()
    const files = blocks.map((_, i) => `block-${i + 1}.mts`)
    await Promise.all(blocks.map(async (block, i) => { await writeFile(join(work, files[i]!), moduleFor(block, exported)) }))
    await writeFile(join(work, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: ['ES2023', 'ES2024.String'],
        strict: true,
        noUncheckedIndexedAccess: true,
        noEmit: true,
        skipLibCheck: true,
        allowImportingTsExtensions: true,
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules', '@types')],
        paths: { flowstore: [join(ROOT, 'src', 'index.ts')] }
      },
      files
    }))
    const result = await promisify(execFile)(process.execPath, [TSC, '-p', work], { cwd: work }).then(
      () => ({ code: 0, stdout: '' }),
      (err: { code: number, stdout: string }) => ({ code: err.code, stdout: err.stdout })
    )
    // On failure, show each error with the block it is in.
    const errors = result.stdout.replace(/block-(\d+)\.mts/g, (_, n: string) => `README block ${n}:\n${blocks[Number(n) - 1]}\n--> block-${n}.mts`)
    expect(errors).toBe('')
    expect(result.code).toBe(0)
  })
})
