// Per-test PostgreSQL helpers: a fresh schema for each test on the run's one server (so test
// files run in parallel without seeing each other's stores), dropped after the test.

import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterEach, inject } from 'vitest'
import { HEADER_BYTES, RECORD_FORMAT } from '../src/layout.ts'

/** The run's server (see pg-global-setup.ts). */
export function postgresUrl (): string {
  return inject('postgresUrl')
}

/** A URL of the run's server with a schema of its own (`?schema=`), dropped after the test. */
export function freshPostgresUrl (base: string = postgresUrl()): string {
  const schema = `t_${randomBytes(8).toString('hex')}`
  const url = new URL(base)
  url.searchParams.set('schema', schema)
  cleanups.push(async () => { await dropSchema(base, schema) })
  return url.toString()
}

/** The schema of a URL made by freshPostgresUrl(). */
export function schemaOf (url: string): string {
  return new URL(url).searchParams.get('schema') ?? 'public'
}

/** Runs `sql` on the server of `url` (its flowstore parameters left out). */
export async function sql<T = Record<string, unknown>> (url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: plainUrl(url) })
  await client.connect()
  try {
    return (await client.query(text, values)).rows as T[]
  } finally {
    await client.end()
  }
}

/** `url` without flowstore's own parameters (schema, table). */
export function plainUrl (url: string): string {
  const parsed = new URL(url)
  parsed.searchParams.delete('schema')
  parsed.searchParams.delete('table')
  return parsed.toString()
}

async function dropSchema (base: string, schema: string): Promise<void> {
  await sql(base, `DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
}

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

/** A record as the store makes it: the header (version 0 until committed), then the payload. */
export function record (text: string): Uint8Array {
  const body = Buffer.from(text, 'utf8')
  const bytes = new Uint8Array(HEADER_BYTES + body.length)
  bytes[0] = RECORD_FORMAT
  bytes.set(body, HEADER_BYTES)
  return bytes
}
