// What a node-postgres error means for the store: a lost or refused connection (the server
// restarting, a network cut, a pool that cannot connect) is FLOWSTORE_DISCONNECTED and worth
// trying again; an error the server answered with (a full disk, a permission) is not.

import { FlowStoreError } from '../errors.ts'

const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN',
  'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'ENOENT',
  // admin_shutdown, crash_shutdown, cannot_connect_now, database_dropped, idle_session_timeout
  '57P01', '57P02', '57P03', '57P04', '57P05'
])

// node-postgres reports a lost connection with plain Errors that have no code.
const CONNECTION_MESSAGES = /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Client was closed|Connection closed/i

/** True when `err` says the connection to the server was lost, refused or timed out. */
export function isConnectionError (err: unknown): boolean {
  for (let e = err as { code?: unknown, message?: unknown, cause?: unknown, errors?: unknown } | undefined, depth = 0; e != null && depth < 4; e = e.cause as typeof e, depth++) {
    const code = e.code
    if (typeof code === 'string' && (CONNECTION_CODES.has(code) || code.startsWith('08'))) return true
    if (typeof e.message === 'string' && CONNECTION_MESSAGES.test(e.message)) return true
    // An AggregateError from a host that resolves to several addresses.
    if (Array.isArray(e.errors) && e.errors.some((inner) => isConnectionError(inner))) return true
  }
  return false
}

/** The SQLSTATE of a server error, if it is one. */
export function sqlState (err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}

export function disconnected (message: string, cause: unknown): FlowStoreError {
  return new FlowStoreError('FLOWSTORE_DISCONNECTED', message, { cause })
}

/** A failed read: DISCONNECTED for a lost connection, REMOTE_ERROR when the server refused it. */
export function readFailed (what: string, where: string, cause: unknown): FlowStoreError {
  if (cause instanceof FlowStoreError) return cause
  if (isConnectionError(cause)) return disconnected(`${what} failed: the connection to ${where} was lost or refused (${errorText(cause)}); cached reads keep answering, and the store catches up once the server is back`, cause)
  return new FlowStoreError('FLOWSTORE_REMOTE_ERROR', `${what} failed: PostgreSQL at ${where} answered ${errorText(cause)}`, { cause })
}

/** A short text for an error, with its code. */
export function errorText (err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const code = (err as { code?: unknown }).code
  const message = err.message !== '' ? err.message : err.constructor.name
  return typeof code === 'string' && !message.includes(code) ? `${message} [${code}]` : message
}
