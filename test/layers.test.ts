// The dependency direction of src/ (docs/ARCHITECTURE.md): read every import of every source
// file (static, `export … from`, type-only and `import('…')`) and check that lower layers
// never reach up and that nothing imports in a circle.
//
//   cli/                          the command line
//   index.ts                      the public API: re-exports only
//   service/ backup/ legacy/ maintenance/   features built on the store
//   store.ts flusher.ts cached-flow.ts flows-view.ts transaction.ts   the store and its cache
//   codec.ts domain.ts freeze.ts layout.ts options.ts types.ts errors.ts …   shared below it
//   engine/                       what persists the store (LevelEngine, PostgreSQL)
//   leveldb/                      LevelDB's own file formats, read by flowstore itself

import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const SRC = resolve(import.meta.dirname, '../src')

/** Upper layers: the core never imports them. */
const FEATURES = /^(service|backup|legacy|maintenance|cli)\//
/** The core: the store, its cache and flusher, the codec, and what persists it. */
const CORE = /^(store|flusher|cached-flow|flows-view|transaction|codec|domain|freeze|layout|options|types|errors|deferred|readonly-date)\.ts$|^(engine|leveldb)\//

/**
 * Edges up the layers that exist today, each with why; nothing else may go up. Remove an
 * entry when its edge is gone (the cycle check below leaves these edges out).
 */
const KNOWN_UPWARD: ReadonlyArray<readonly [from: string, to: string, why: string]> = [
  ['store.ts', 'service/server.ts', 'store.serve() starts the socket server (to go: the server is to depend on a narrow interface, not on FlowStore)'],
  ['store.ts', 'backup/export.ts', 'store.backup() calls the backup writer'],
  ['store.ts', 'backup/types.ts', "store.backup()'s options and result types"]
]

function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'";]*?\bfrom\s+'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g

/** file (relative to src/) → the files (relative to src/) it imports, and the packages. */
function readGraph (): Map<string, { files: Set<string>, packages: Set<string> }> {
  const graph = new Map<string, { files: Set<string>, packages: Set<string> }>()
  for (const path of sourceFiles(SRC)) {
    const files = new Set<string>()
    const packages = new Set<string>()
    for (const match of readFileSync(path, 'utf8').matchAll(IMPORT)) {
      const specifier = (match[1] ?? match[2])!
      if (specifier.startsWith('.')) files.add(relative(SRC, resolve(dirname(path), specifier)))
      else packages.add(specifier)
    }
    graph.set(relative(SRC, path), { files, packages })
  }
  return graph
}

const graph = readGraph()

function isKnown (from: string, to: string): boolean {
  return KNOWN_UPWARD.some(([f, t]) => f === from && t === to)
}

/** Every import edge `from → to` with `test(from, to)` true, as "from -> to". */
function edges (test: (from: string, to: string) => boolean): string[] {
  const found: string[] = []
  for (const [from, { files }] of graph) {
    for (const to of files) if (test(from, to)) found.push(`${from} -> ${to}`)
  }
  return found.sort()
}

/** The strongly connected components with more than one file (Tarjan), known edges left out. */
function cycles (): string[][] {
  let counter = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const found: string[][] = []
  const visit = (file: string): void => {
    index.set(file, counter)
    low.set(file, counter++)
    stack.push(file)
    onStack.add(file)
    for (const next of graph.get(file)?.files ?? []) {
      if (!graph.has(next) || isKnown(file, next)) continue
      if (!index.has(next)) {
        visit(next)
        low.set(file, Math.min(low.get(file)!, low.get(next)!))
      } else if (onStack.has(next)) {
        low.set(file, Math.min(low.get(file)!, index.get(next)!))
      }
    }
    if (low.get(file) === index.get(file)) {
      const component: string[] = []
      let member: string
      do {
        member = stack.pop()!
        onStack.delete(member)
        component.push(member)
      } while (member !== file)
      if (component.length > 1) found.push(component.sort())
    }
  }
  for (const file of graph.keys()) if (!index.has(file)) visit(file)
  return found
}

describe('the layers of src/', () => {
  it('reads the imports of every source file (the check sees what it checks)', () => {
    expect(graph.size).toBeGreaterThan(60)
    expect(graph.get('store.ts')!.files).toContain('flusher.ts')
    expect(graph.get('engine/level-engine.ts')!.files).toContain('engine/level-batch.ts')
    expect(graph.get('engine/level-location.ts')!.packages).toContain('classic-level')
  })

  it('has no import cycle', () => {
    expect(cycles()).toEqual([])
  })

  it('keeps the core from importing service/, backup/, legacy/, maintenance/ or cli/', () => {
    expect(edges((from, to) => CORE.test(from) && FEATURES.test(to) && !isKnown(from, to))).toEqual([])
  })

  it('keeps the engines below the store: they import only engine/, leveldb/, errors, layout and deferred', () => {
    expect(edges((from, to) => from.startsWith('engine/') && !/^(engine|leveldb)\/|^(errors|layout|deferred)\.ts$/.test(to))).toEqual([])
  })

  it("keeps LevelDB's file readers at the bottom: leveldb/ imports only leveldb/ and errors", () => {
    expect(edges((from, to) => from.startsWith('leveldb/') && !/^leveldb\/|^errors\.ts$/.test(to))).toEqual([])
  })

  it('lets the store and the flusher reach storage only through the engine interface', () => {
    expect(edges((from, to) => (from === 'store.ts' || from === 'flusher.ts') && to.startsWith('engine/') &&
      !(to === 'engine/types.ts' || (from === 'store.ts' && to === 'engine/open.ts')))).toEqual([])
    for (const file of ['store.ts', 'flusher.ts', 'cached-flow.ts', 'flows-view.ts', 'transaction.ts', 'codec.ts']) {
      expect([...graph.get(file)!.packages].filter((name) => /level|^pg$/.test(name)), file).toEqual([])
    }
  })

  it('makes index.ts re-exports only', () => {
    const statements = readFileSync(join(SRC, 'index.ts'), 'utf8').split('\n')
      .filter((line) => line.trim() !== '' && !line.startsWith('//'))
    expect(statements.filter((line) => !/^export (type )?\{[^}]*\} from '\.\/[^']+'$/.test(line))).toEqual([])
  })
})
