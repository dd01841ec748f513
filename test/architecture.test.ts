// The shape of the house: every file under src/ belongs to one layer, a file imports only
// from its own layer or the layers below it, and no files import each other in a circle.
// Read from the source text itself: static imports, `export … from`, and dynamic import()s,
// type-only ones included (a type import is still a dependency a reader has to follow).
//
// A new folder or file that fits no layer fails here on purpose: place it in LAYERS.

import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const SRC = fileURLToPath(new URL('../src/', import.meta.url))

/** Top to bottom; a file's layer is the first whose pattern matches its path under src/. */
const LAYERS: ReadonlyArray<{ readonly name: string, readonly files: RegExp }> = [
  { name: 'applications over the public API (CLI, Node-RED)', files: /^(cli|node-red)\// },
  { name: 'public API', files: /^index\.ts$/ },
  { name: 'services over a store (FlowService and the owner socket, legacy JSON)', files: /^(service|legacy)\// },
  { name: 'tools over a store (backup directories, restore, verify, check, repair)', files: /^(backup\/(?!(export|format|types)\.ts$)|maintenance\/(check|repair|lock|scan)\.ts$)/ },
  { name: 'store (cache, flusher, transactions)', files: /^(store|transaction|flows-view|flusher|loader|id-index|keys-cache)\.ts$/ },
  { name: 'engine (persistence, backup export)', files: /^(engine\/|location\.ts$|backup\/(export|format|types)\.ts$)/ },
  { name: 'LevelDB files', files: /^(leveldb\/|maintenance\/(leveldb-[a-z]+|corruption|crc32c|snappy)\.ts$)/ },
  { name: 'codec and records', files: /^(codec|msgpack|cached-flow|domain|freeze|readonly-date|layout|record-(reader|writer|cache|slab))\.ts$/ },
  { name: 'foundation (errors, types, options, file helpers)', files: /^(fs\/|(errors|types|options|deferred)\.ts$)/ }
]

function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [relative(SRC, path)] : []
  })
}

/** Comments removed, so an import written in a comment does not count. */
function code (text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1')
}

const IMPORTS = [
  /\bimport\s+(?:type\s+)?[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g,
  /\bexport\s+(?:type\s+)?(?:\*(?:\s+as\s+\w+)?|\{[^}]*\})\s*from\s*['"]([^'"]+)['"]/g,
  /\bimport\s*['"]([^'"]+)['"]/g,
  /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g
]

/** The files under src/ that `file` imports (relative specifiers only). */
export function importsOf (file: string, text: string): string[] {
  const found = new Set<string>()
  const source = code(text)
  for (const pattern of IMPORTS) {
    for (const match of source.matchAll(pattern)) {
      const specifier = match[1]!
      if (specifier.startsWith('.')) found.add(relative(SRC, resolve(SRC, dirname(file), specifier)))
    }
  }
  return [...found]
}

function layerOf (file: string): number {
  return LAYERS.findIndex((layer) => layer.files.test(file))
}

/** The circles of the graph: its strongly connected components of more than one file (Tarjan). */
function circles (graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const found: string[][] = []
  const visit = (file: string): void => {
    index.set(file, index.size)
    low.set(file, index.get(file)!)
    stack.push(file)
    onStack.add(file)
    for (const next of graph.get(file) ?? []) {
      if (!index.has(next)) {
        visit(next)
        low.set(file, Math.min(low.get(file)!, low.get(next)!))
      } else if (onStack.has(next)) {
        low.set(file, Math.min(low.get(file)!, index.get(next)!))
      }
    }
    if (low.get(file) !== index.get(file)) return
    const component: string[] = []
    let member: string
    do {
      member = stack.pop()!
      onStack.delete(member)
      component.push(member)
    } while (member !== file)
    if (component.length > 1 || graph.get(file)?.includes(file) === true) found.push(component.sort())
  }
  for (const file of graph.keys()) if (!index.has(file)) visit(file)
  return found
}

const files = sourceFiles(SRC).sort()
const graph = new Map(files.map((file) => [file, importsOf(file, readFileSync(join(SRC, file), 'utf8'))]))

describe('the layers of src/', () => {
  it('place every source file in a layer', () => {
    expect(files.filter((file) => layerOf(file) < 0)).toEqual([])
  })

  it('never import from a layer above', () => {
    const upward: string[] = []
    for (const [file, imports] of graph) {
      for (const imported of imports) {
        if (layerOf(imported) < layerOf(file)) upward.push(`${file} (${LAYERS[layerOf(file)]?.name}) imports ${imported} (${LAYERS[layerOf(imported)]?.name})`)
      }
    }
    expect(upward).toEqual([])
  })

  it('hold no import circle', () => {
    expect(circles(graph)).toEqual([])
  })

  it('import only files that exist', () => {
    const known = new Set(files)
    const missing = [...graph].flatMap(([file, imports]) => imports.filter((imported) => !known.has(imported)).map((imported) => `${file} -> ${imported}`))
    expect(missing).toEqual([])
  })
})

describe('the import reader', () => {
  it('sees static, type-only, re-exported and dynamic imports, and none in comments', () => {
    const text = [
      "import { a } from './a.ts'",
      "import type {\n  B\n} from '../b.ts'",
      "export { c } from './c.ts'",
      "export * from './d.ts'",
      "const e = await import('./e.ts')",
      "import './f.ts'",
      "// import { g } from './g.ts'",
      "/* await import('./h.ts') */",
      "import { readFile } from 'node:fs'"
    ].join('\n')
    expect(importsOf('service/x.ts', text).sort()).toEqual(['b.ts', 'service/a.ts', 'service/c.ts', 'service/d.ts', 'service/e.ts', 'service/f.ts'])
  })

  it('finds a circle, such as a store that imports the server that imports the store', () => {
    const cyclic = new Map([['store.ts', ['service/server.ts']], ['service/server.ts', ['store.ts']], ['errors.ts', []]])
    expect(circles(cyclic)).toEqual([['service/server.ts', 'store.ts']])
  })
})
