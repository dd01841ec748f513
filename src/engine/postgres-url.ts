// PostgreSQL locations written as URLs: telling them from directories, the store's own query
// parameters (`schema`, `table`, which PostgreSQL does not know and must not be sent), and a
// description for messages that never shows the password.

import { FlowStoreError } from '../errors.ts'

/** True for a `postgres://` or `postgresql://` URL. */
export function isPostgresUrl (location: unknown): location is string {
  return typeof location === 'string' && /^postgres(?:ql)?:\/\//i.test(location)
}

export interface ParsedPostgresUrl {
  /** The URL without flowstore's own parameters: what node-postgres is given. */
  readonly connectionString: string
  readonly schema: string | undefined
  readonly table: string | undefined
}

/** Splits flowstore's `schema` and `table` parameters off a PostgreSQL URL. */
export function parsePostgresUrl (url: string): ParsedPostgresUrl {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (cause) {
    // The text may hold a password: do not repeat it.
    throw new FlowStoreError('FLOWSTORE_OPEN_FAILED', 'The PostgreSQL connection string is not a valid URL (expected postgres://user:password@host:port/database)', { cause })
  }
  const schema = parsed.searchParams.get('schema') ?? undefined
  const table = parsed.searchParams.get('table') ?? undefined
  // Untouched when there is nothing to take off: node-postgres reads it as the user wrote it.
  if (schema === undefined && table === undefined) return { connectionString: url, schema, table }
  parsed.searchParams.delete('schema')
  parsed.searchParams.delete('table')
  return { connectionString: parsed.toString(), schema, table }
}

/** `postgres://user@host:port/database`: a connection string without its password or parameters. */
export function describeUrl (connectionString: string): string {
  try {
    const parsed = new URL(connectionString)
    parsed.password = ''
    parsed.search = ''
    return parsed.toString()
  } catch {
    return 'postgres://(unparsable connection string)'
  }
}

/** The same description from a pg pool's or client's settings. */
export function describeSettings (settings: { host?: unknown, port?: unknown, database?: unknown, user?: unknown, connectionString?: unknown } | undefined): string {
  if (typeof settings?.connectionString === 'string') return describeUrl(settings.connectionString)
  const text = (value: unknown, fallback: string): string => typeof value === 'string' || typeof value === 'number' ? String(value) : fallback
  const user = typeof settings?.user === 'string' ? `${settings.user}@` : ''
  return `postgres://${user}${text(settings?.host, 'localhost')}:${text(settings?.port, '5432')}/${text(settings?.database, '')}`
}

/** The URL as given, flowstore parameters kept, without its password: for results and messages. */
export function withoutPassword (url: string): string {
  try {
    const parsed = new URL(url)
    parsed.password = ''
    return parsed.toString()
  } catch {
    return describeUrl(url)
  }
}
