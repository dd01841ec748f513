// Every contender, in table order: flowstore first (the subject), then the floor, then the
// embedded stores, then the file-based designs and the legacy repository.

import { flowstoreKind } from './flowstore.ts'
import { jsonFilesKind } from './json-files.ts'
import { jsonlKind } from './jsonl.ts'
import { legacyKind } from './legacy.ts'
import { lmdbKind } from './lmdb.ts'
import { rawLevelKind } from './raw-level.ts'
import { sqliteKind } from './sqlite.ts'
import type { ContenderKind } from './types.ts'

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
