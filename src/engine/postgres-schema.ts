// How a store lies in PostgreSQL: the table names, the DDL that creates them on first open
// (the same SQL as docs/postgres.md), and the open-time check of an existing store's layout.
//
//   <table>          one row per id ever saved: id (UTF-8 bytes), the version that last
//                    changed it, and its record (header + msgpack) or NULL once deleted (a
//                    tombstone). "Changes since V" is an index range read on version.
//   <table>_store    the store row: layout version, identity, and the store version. Every
//                    commit locks and bumps this one row, so version order is commit order.
//   <table>_writers  one row per engine that committed: its last commit number and version,
//                    written in the same transaction, so a commit whose acknowledgement was
//                    lost with the connection can be looked up afterwards.
//   <table>_horizon  one row: the version up to which tombstones were pruned (see
//                    postgres-prune.ts). Added at open to a store made before it existed.
//
// Nothing here ever drops or truncates a table.

import { createHash, randomUUID } from 'node:crypto'
import type pg from 'pg'
import { FlowStoreError } from '../errors.ts'

/** The layout this version writes and reads (the `layout` column of the store row). */
export const POSTGRES_LAYOUT_VERSION = 1

const MAX_IDENTIFIER_BYTES = 63
const SUFFIXES = ['_store', '_writers', '_horizon', '_version'] as const
const LONGEST_SUFFIX = Math.max(...SUFFIXES.map((suffix) => suffix.length))

export interface TableNames {
  /** "schema", quoted. */
  readonly schema: string
  /** "schema"."table": the flows. */
  readonly flows: string
  /** "schema"."table_store": the store row. */
  readonly store: string
  /** "schema"."table_writers". */
  readonly writers: string
  /** "schema"."table_horizon": the pruning horizon. */
  readonly horizon: string
  /** The NOTIFY channel of this store: flowstore_ + 32 hex digits of sha256("schema.table"). */
  readonly channel: string
  /** schema.table, unquoted, for messages. */
  readonly label: string
  readonly plain: { readonly schema: string, readonly flows: string, readonly store: string, readonly writers: string, readonly horizon: string, readonly index: string }
}

export function quoteIdentifier (name: string): string {
  return '"' + name.replace(/"/g, '""') + '"'
}

function checkIdentifier (option: string, name: unknown, maxBytes: number): string {
  if (typeof name !== 'string' || name.length === 0 || name.includes('\0') || Buffer.byteLength(name) > maxBytes) {
    throw new TypeError(`Option ${option} must be a non-empty PostgreSQL name of at most ${maxBytes} bytes, got ${JSON.stringify(name)}`)
  }
  return name
}

export function tableNames (schema: string, table: string): TableNames {
  checkIdentifier('schema', schema, MAX_IDENTIFIER_BYTES)
  checkIdentifier('table', table, MAX_IDENTIFIER_BYTES - LONGEST_SUFFIX)
  const q = quoteIdentifier(schema)
  const plain = { schema, flows: table, store: `${table}_store`, writers: `${table}_writers`, horizon: `${table}_horizon`, index: `${table}_version` }
  return {
    schema: q,
    flows: `${q}.${quoteIdentifier(plain.flows)}`,
    store: `${q}.${quoteIdentifier(plain.store)}`,
    writers: `${q}.${quoteIdentifier(plain.writers)}`,
    horizon: `${q}.${quoteIdentifier(plain.horizon)}`,
    channel: 'flowstore_' + createHash('sha256').update(`${schema}.${table}`).digest('hex').slice(0, 32),
    label: `${schema}.${table}`,
    plain
  }
}

/** The statements that create a store (docs/postgres.md shows them for schema public, table flowstore). */
export function createStatements (names: TableNames): string[] {
  return [
    `CREATE TABLE ${names.store} (
  singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
  layout     integer     NOT NULL,
  store_id   uuid        NOT NULL,
  version    bigint      NOT NULL CHECK (version >= 0),
  created_at timestamptz NOT NULL DEFAULT now()
)`,
    `CREATE TABLE ${names.flows} (
  id      bytea  PRIMARY KEY,
  version bigint NOT NULL,
  record  bytea
)`,
    `CREATE INDEX ${quoteIdentifier(names.plain.index)} ON ${names.flows} (version)`,
    `CREATE TABLE ${names.writers} (
  writer_id    uuid        PRIMARY KEY,
  commit_seq   bigint      NOT NULL,
  version      bigint      NOT NULL,
  committed_at timestamptz NOT NULL DEFAULT now()
)`,
    ...horizonStatements(names)
  ]
}

/**
 * The horizon table: added by this version (a store made before has the other three only;
 * open adds it). Its one row says up to which version tombstones were pruned.
 */
export function horizonStatements (names: TableNames): string[] {
  return [
    `CREATE TABLE ${names.horizon} (
  singleton boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
  horizon   bigint      NOT NULL CHECK (horizon >= 0),
  scanned   bigint      NOT NULL DEFAULT 0,
  pruned_at timestamptz NOT NULL DEFAULT now()
)`,
    `INSERT INTO ${names.horizon} (horizon) VALUES (0)`
  ]
}

export interface StoreRow {
  readonly storeId: string
  readonly version: number
  /**
   * Whether the horizon table exists. False only for a store made before it existed, opened
   * by a role that may not create it: that store is not pruned (see PostgresEngine).
   */
  readonly horizonTable: boolean
}

type Queryable = Pick<pg.ClientBase, 'query'>

/**
 * Checks the store's tables, creating them when none exist (and `create` allows it), under
 * an advisory lock so that processes opening a new store at once create it once. Refuses a
 * half-present store, a missing store row, and a store of another layout.
 */
export async function ensureSchema (client: Queryable, names: TableNames, create: boolean): Promise<StoreRow> {
  const present = await presentTables(client, names)
  if (present < 3) {
    if (present > 0) throw partialStore(names)
    if (!create) {
      throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', `There is no flowstore store in ${names.label} (table ${names.plain.store} does not exist)`)
    }
    // Two processes opening a new store at once: the second waits, then finds it made. A
    // session lock, taken before the transaction: a transaction that began before the first
    // one committed could still see the catalog without the new tables.
    await underLock(client, names, async () => {
      const again = await presentTables(client, names)
      if (again === 0) {
        const schemaExists = await client.query({ text: 'SELECT to_regnamespace($1) IS NOT NULL AS present', values: [names.plain.schema] })
        if (schemaExists.rows[0]?.present !== true) await client.query(`CREATE SCHEMA IF NOT EXISTS ${names.schema}`)
        for (const statement of createStatements(names)) await client.query(statement)
        await client.query(`INSERT INTO ${names.store} (layout, store_id, version) VALUES ($1, $2, 0)`, [POSTGRES_LAYOUT_VERSION, randomUUID()])
      } else if (again < 3) {
        throw partialStore(names)
      }
    })
  }
  const row = await client.query({ text: `SELECT layout, store_id::text AS store_id, version FROM ${names.store}`, rowMode: 'array' })
  const first = row.rows[0] as [number, string, string] | undefined
  if (first === undefined) {
    throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', `The store ${names.label} has lost its store row (table ${names.plain.store} is empty); flowstore never deletes it: restore the store from a backup`)
  }
  const [layout, storeId, version] = first
  if (layout !== POSTGRES_LAYOUT_VERSION) {
    throw new FlowStoreError('FLOWSTORE_INCOMPATIBLE', `The store ${names.label} was written with flowstore PostgreSQL layout ${layout}; this version reads layout ${POSTGRES_LAYOUT_VERSION}`)
  }
  return { storeId, version: Number(version), horizonTable: await ensureHorizonTable(client, names) }
}

/**
 * Adds the horizon table to a store made before it existed (under the same advisory lock as
 * the creation). A role that may not create tables still opens the store: false, and the
 * store is not pruned by this process.
 */
async function ensureHorizonTable (client: Queryable, names: TableNames): Promise<boolean> {
  if (await horizonPresent(client, names)) return true
  try {
    await underLock(client, names, async () => {
      if (await horizonPresent(client, names)) return
      for (const statement of horizonStatements(names)) await client.query(statement)
    })
    return true
  } catch (err) {
    if ((err as { code?: unknown } | undefined)?.code === '42501') return false
    throw err
  }
}

async function horizonPresent (client: Queryable, names: TableNames): Promise<boolean> {
  const result = await client.query({ text: 'SELECT to_regclass($1) IS NOT NULL AS present', values: [names.horizon] })
  return result.rows[0]?.present === true
}

/** Runs `work` in a transaction under the store's advisory (session) lock. */
async function underLock (client: Queryable, names: TableNames, work: () => Promise<void>): Promise<void> {
  const lockKey = `flowstore:${names.label}`
  await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [lockKey])
  try {
    await client.query('BEGIN')
    try {
      await work()
      await client.query('COMMIT')
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      throw err
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lockKey]).catch(() => {})
  }
}

async function presentTables (client: Queryable, names: TableNames): Promise<number> {
  const result = await client.query({
    text: 'SELECT (to_regclass($1) IS NOT NULL)::int + (to_regclass($2) IS NOT NULL)::int + (to_regclass($3) IS NOT NULL)::int AS present',
    values: [names.flows, names.store, names.writers]
  })
  return Number(result.rows[0]?.present ?? 0)
}

function partialStore (names: TableNames): FlowStoreError {
  return new FlowStoreError('FLOWSTORE_OPEN_FAILED', `${names.label} is not a complete flowstore store: of the tables ${names.plain.flows}, ${names.plain.store} and ${names.plain.writers} only some exist (a table of another application with the same name, or one dropped by hand). Choose another table name (option table), or restore the store from a backup`)
}
