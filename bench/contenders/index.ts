// Every contender, in table order: flowstore first (the subject), then the floor, then the
// embedded stores, then the file-based designs and the legacy repository.
//
// lmdb-js and better-sqlite3 are this directory's own dependencies (package.json here,
// installed by `npm run bench:setup`, which `npm run bench` runs when they are missing), so
// that `npm ci` at the root never compiles them. Their two files are loaded through a
// computed specifier: the root type-check (tsconfig.json) does not follow it and excludes
// them; tsconfig.json in this directory type-checks them with their types installed.

import { flowstoreKind } from './flowstore.ts'
import { jsonFilesKind } from './json-files.ts'
import { jsonlKind } from './jsonl.ts'
import { legacyKind } from './legacy.ts'
import { rawLevelKind } from './raw-level.ts'
import type { ContenderKind } from './types.ts'

type KindFactory = (sync: boolean) => ContenderKind

/** Loads `export function <name> (sync)` from a file of this directory that needs the bench's own packages. */
async function embeddedKind (file: string, name: string): Promise<KindFactory> {
  let module: Record<string, unknown>
  try {
    module = await import(new URL(file, import.meta.url).href) as Record<string, unknown>
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND') throw err
    throw new Error(`${file} needs the bench's own packages (lmdb, better-sqlite3): run "npm run bench:setup" first`, { cause: err })
  }
  return module[name] as KindFactory
}

const lmdbKind = await embeddedKind('./lmdb.ts', 'lmdbKind')
const sqliteKind = await embeddedKind('./sqlite.ts', 'sqliteKind')

export const FLOWSTORE = flowstoreKind(false)
export const RAW_LEVEL = rawLevelKind(false)
export const LMDB = lmdbKind(false)
export const SQLITE = sqliteKind(false)
export const JSON_FILES = jsonFilesKind
export const JSONL = jsonlKind
export const LEGACY = legacyKind

/** Matched durability: no contender fsyncs per commit. */
export const CONTENDERS: readonly ContenderKind[] = [FLOWSTORE, RAW_LEVEL, LMDB, SQLITE, JSON_FILES, JSONL, LEGACY]

/** fsync per commit: the write rows again, for the contenders that can. */
export const SYNCED: readonly ContenderKind[] = [flowstoreKind(true), rawLevelKind(true), lmdbKind(true), sqliteKind(true)]

export function contenderByName (name: string): ContenderKind {
  const kind = [...CONTENDERS, ...SYNCED].find((k) => k.name === name)
  if (kind === undefined) throw new Error(`No contender named ${JSON.stringify(name)}`)
  return kind
}

export type { Contender, ContenderKind, FlowsLike, OpenOptions, Populator } from './types.ts'
export { diskUsage } from './types.ts'
