// Node-RED's library (saved flows, functions, templates…) as flowstore records, one per
// entry, with the semantics of Node-RED's file storage: a path names an entry or a folder;
// a folder lists its sub-folders (names), then its entries (their meta, with `fn`), each
// sorted; a missing folder is an empty list; a `flows` entry is saved as `<path>.json`
// and found with or without the extension.

import type { Flow } from '../index.ts'
import { pack, unpack } from './json-value.ts'
import { libraryId, libraryPrefix } from './layout.ts'
import type { Backend } from './store-link.ts'

export interface LibraryRecord extends Flow {
  readonly type: string
  readonly path: string
  readonly meta: unknown
  readonly body: unknown
}

/** `a//b/./c/` -> `a/b/c` (the runtime has already refused `..`). */
export function normalisePath (path: string): string {
  return path.split(/[/\\]/).filter((part) => part !== '' && part !== '.').join('/')
}

export async function getLibraryEntry (backend: Backend, type: string, path: string): Promise<unknown> {
  checkArguments(type, path)
  await backend.refresh()
  return find(backend, type, path)
}

function find (backend: Backend, type: string, path: string): unknown {
  const key = normalisePath(path)
  const entry = key === '' ? undefined : backend.get(libraryId(type, key)) as LibraryRecord | undefined
  if (entry !== undefined) return unpack(entry.body)
  const listing = list(backend, type, key)
  if (listing.length > 0 || key === '' || path.endsWith('/')) return listing
  if (type === 'flows' && !key.endsWith('.json')) {
    try {
      return find(backend, type, `${key}.json`)
    } catch {
      // Report the path asked for, not the one tried.
    }
  }
  throw new Error(`Library Entry not found ${path}`)
}

function list (backend: Backend, type: string, key: string): unknown[] {
  const prefix = libraryPrefix(type) + (key === '' ? '' : `${key}/`)
  const dirs = new Set<string>()
  const files: Array<{ fn: string, meta: Record<string, unknown> }> = []
  for (const id of backend.ids()) {
    if (!id.startsWith(prefix)) continue
    const rest = id.slice(prefix.length)
    const slash = rest.indexOf('/')
    if (slash !== -1) {
      dirs.add(rest.slice(0, slash))
      continue
    }
    const record = backend.get(id) as LibraryRecord | undefined
    const meta = unpack(record?.meta)
    files.push({ fn: rest, meta: typeof meta === 'object' && meta !== null ? meta as Record<string, unknown> : {} })
  }
  const byName = (a: string, b: string): number => a < b ? -1 : a > b ? 1 : 0
  return [
    ...[...dirs].sort(byName),
    ...files.sort((a, b) => byName(a.fn, b.fn)).map(({ fn, meta }) => ({ ...meta, fn }))
  ]
}

/** The record of a library entry, as `saveLibraryEntry` writes it. */
export function libraryRecord (type: string, path: string, meta: unknown, body: unknown, pretty: boolean): LibraryRecord {
  checkArguments(type, path)
  let key = normalisePath(path)
  if (key === '') throw new TypeError(`A library entry needs a path, got ${JSON.stringify(path)}`)
  if (type === 'flows' && !key.endsWith('.json')) key += '.json'
  // As Node-RED's file storage does with flowFilePretty.
  const text = type === 'flows' && pretty && typeof body === 'string' ? JSON.stringify(JSON.parse(body), null, 4) : body
  return { id: libraryId(type, key), type, path: key, meta: pack(meta ?? {}), body: pack(text) }
}

function checkArguments (type: unknown, path: unknown): void {
  if (typeof type !== 'string' || type === '') throw new TypeError(`A library type must be a non-empty string, got ${String(type)}`)
  if (typeof path !== 'string') throw new TypeError(`A library path must be a string, got ${String(path)}`)
}
