// What FlowStore.open() may be given, turned into an Engine: a directory or an abstract-level
// database (a LevelEngine), a postgres:// URL (the PostgreSQL engine, loaded only then: it
// pulls in `pg`), or an Engine object made by the caller (e.g. by `postgres({ … })`).

import { FlowStoreError } from '../errors.ts'
import { LevelEngine, type LevelEngineOptions } from './level-engine.ts'
import { type Database, isDatabase } from './level-location.ts'
import type { Engine } from './types.ts'

/** What FlowStore.open() takes as its location. */
export type StoreLocation = string | Database | Engine

const POSTGRES_URL = /^postgres(ql)?:\/\//i
// A variable, not a literal: the module is optional until the PostgreSQL engine exists.
const POSTGRES_MODULE = './postgres.ts'

export function isEngine (value: unknown): value is Engine {
  if (typeof value !== 'object' || value === null) return false
  const engine = value as Partial<Record<keyof Engine, unknown>>
  return typeof engine.load === 'function' && typeof engine.commit === 'function' &&
    typeof engine.changesSince === 'function' && typeof engine.snapshot === 'function' &&
    typeof engine.watch === 'function' && typeof engine.close === 'function'
}

/**
 * The engine for `location`; nothing is opened yet (that is engine.load()). `level`: the
 * options of a LevelEngine made here (retainChanges also goes to a PostgreSQL engine made
 * from a URL).
 */
export async function engineFor (location: StoreLocation, level: LevelEngineOptions = {}): Promise<Engine> {
  if (typeof location === 'string') {
    if (POSTGRES_URL.test(location)) return await postgresEngine(location, level.retainChanges)
    return new LevelEngine(location, level)
  }
  if (isDatabase(location)) return new LevelEngine(location, level)
  if (isEngine(location)) return location
  throw new TypeError(`FlowStore.open() takes a directory path, a postgres:// URL, an abstract-level database or an engine, got ${describe(location)}`)
}

async function postgresEngine (url: string, retainChanges: number | undefined): Promise<Engine> {
  let module: { openPostgresEngine?: (url: string, options?: { retainChanges?: number }) => Engine | Promise<Engine> }
  try {
    module = await import(POSTGRES_MODULE) as typeof module
  } catch (cause) {
    throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', 'This build of flowstore has no PostgreSQL engine; open a directory instead', { cause })
  }
  if (typeof module.openPostgresEngine !== 'function') {
    throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', 'This build of flowstore has no PostgreSQL engine; open a directory instead')
  }
  return await module.openPostgresEngine(url, retainChanges === undefined ? {} : { retainChanges })
}

function describe (value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'object') return `an object with keys [${Object.keys(value).slice(0, 5).join(', ')}]`
  return `${typeof value} ${String(value)}`
}
