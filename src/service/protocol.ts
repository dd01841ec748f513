// The wire protocol between an owner (server.ts) and the processes that connect to it
// (connection.ts): what each message must look like, and the checks that refuse anything
// else. Framing is msgpackr's (see channel.ts); nothing here reads bytes.
//
//   request        { id, op, ...params }                 id: an integer chosen by the client
//   part           { id, part }                          a chunk of a streamed result
//   response       { id, ok: true, result }  |  { id, ok: false, error: { code, message, flowId? } }
//   event          { event: 'change', version }          pushed to connections that sent `watch`
//
// A flow travels as its msgpack encoding (exactly what `lazy(id).bytes` holds): the owner
// decodes it with the store's codec and saves the value, so it checks everything a local save
// checks; a client decodes fetched bytes the way the store does (CachedFlow).

import { FlowStoreError, type FlowStoreErrorCode } from '../errors.ts'

/** Bumped on any incompatible change; `hello` refuses a different one. */
export const PROTOCOL_VERSION = 1

/** The largest message accepted by default (a flow may be up to 16 MiB by default). */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024

/** A flow as sent: [id, msgpack bytes]. */
export type FlowEntry = readonly [id: string, bytes: Uint8Array]
/** A fetched flow: [id, version that last changed it (0: not committed yet), msgpack bytes]. */
export type SavedEntry = readonly [id: string, version: number, bytes: Uint8Array]
/** A fetched deletion: [id, version that deleted it (0: not known committed)]. */
export type DeletedEntry = readonly [id: string, version: number]

export type Request =
  | { readonly id: number, readonly op: 'hello', readonly protocol: number }
  | { readonly id: number, readonly op: 'version' }
  | { readonly id: number, readonly op: 'changes-since', readonly since: number }
  | { readonly id: number, readonly op: 'load-all' }
  | { readonly id: number, readonly op: 'save' | 'save-many', readonly flows: readonly FlowEntry[] }
  | { readonly id: number, readonly op: 'delete', readonly flowId: string }
  | { readonly id: number, readonly op: 'stats' }
  | { readonly id: number, readonly op: 'watch' }
  | { readonly id: number, readonly op: 'backup', readonly file: string, readonly since: number | string | undefined, readonly compressionLevel: number | undefined, readonly overwrite: boolean | undefined }
  | { readonly id: number, readonly op: 'backup-to-directory', readonly dir: string, readonly full: boolean | undefined, readonly compressionLevel: number | undefined }

export type Op = Request['op']

export interface HelloResult {
  readonly protocol: number
  /** Random per server start: a client tells a new owner from the one it knew. */
  readonly instance: string
  readonly pid: number
  readonly version: number
  readonly maxMessageBytes: number
  readonly maxFlowBytes: number
  readonly maxIdBytes: number
  /**
   * The owner closes a connection that completes no message for this long while it owes it
   * nothing (a client sends a keepalive before); undefined from an owner without a deadline.
   */
  readonly idleTimeoutMs: number | undefined
}

export interface VersionResult {
  readonly version: number
  /** Whether the owner holds changes not committed yet. */
  readonly pending: boolean
}

/** A part of a streamed `load-all` or `changes-since` answer. */
export interface FlowsPart {
  readonly saved: readonly SavedEntry[]
  readonly deleted: readonly DeletedEntry[]
}

/** The end of a streamed answer. */
export interface FlowsEnd {
  /** The store version the answer is complete up to. */
  readonly version: number
  /** Whether some of the data sent was not committed yet when it was read. */
  readonly pending: boolean
}

export interface AckResult {
  /** The store version after the write committed. */
  readonly version: number
}

/** What the owner reports about its store (`service.ownerStats()`). */
export interface OwnerStats {
  readonly version: number
  readonly size: number
  readonly pending: number
  readonly batches: number
  readonly directory: string | undefined
  /** The store's identity (`store.storeId`); undefined from an owner that does not report it. */
  readonly storeId?: string | undefined
  readonly pid: number
  readonly socket: string
  /** Connections open right now (this one included). */
  readonly clients: number
}

/** A protocol violation; the connection that made it is closed. */
export class ProtocolViolation extends Error {}

const OPS = new Set<string>(['hello', 'version', 'changes-since', 'load-all', 'save', 'save-many', 'delete', 'stats', 'watch', 'backup', 'backup-to-directory'])
const CODE = /^FLOWSTORE_[A-Z_]{1,40}$/
/** Bounds on fields a peer controls, so that a message cannot smuggle huge strings past. */
const MAX_PATH_CHARS = 4096
const MAX_TEXT_CHARS = 16 * 1024

export function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype
}

function isVersion (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function isBytes (value: unknown): value is Uint8Array {
  return value instanceof Uint8Array
}

function isId (value: unknown): value is string {
  // The store checks ids fully (length in bytes, well-formed); this only bounds the work.
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_TEXT_CHARS
}

function fail (what: string): never {
  throw new ProtocolViolation(what)
}

function checkKeys (message: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(message)) {
    if (!allowed.includes(key)) fail(`unexpected field ${JSON.stringify(key.slice(0, 40))}`)
  }
}

/** The request id of a message, if it has a usable one (to address an error reply). */
export function requestIdOf (message: unknown): number {
  return isPlainObject(message) && isVersion(message.id) ? message.id : 0
}

/** Checks a message received by the owner; throws ProtocolViolation if it is not a request. */
export function parseRequest (message: unknown): Request {
  if (!isPlainObject(message)) fail('a request must be a map')
  const { id, op } = message
  if (!isVersion(id)) fail('a request needs an integer id >= 0')
  if (typeof op !== 'string' || !OPS.has(op)) fail(`unknown op ${typeof op === 'string' ? JSON.stringify(op.slice(0, 40)) : typeof op}`)
  switch (op) {
    case 'hello':
      checkKeys(message, ['id', 'op', 'protocol'])
      if (!isVersion(message.protocol)) fail('hello needs a protocol number')
      return { id, op, protocol: message.protocol }
    case 'version':
    case 'load-all':
    case 'stats':
    case 'watch':
      checkKeys(message, ['id', 'op'])
      return { id, op }
    case 'changes-since':
      checkKeys(message, ['id', 'op', 'since'])
      if (!isVersion(message.since)) fail('changes-since needs a version (an integer >= 0)')
      return { id, op, since: message.since }
    case 'save':
    case 'save-many': {
      checkKeys(message, ['id', 'op', 'flows'])
      const flows = message.flows
      if (!Array.isArray(flows) || flows.length === 0) fail(`${op} needs a non-empty array of flows`)
      if (op === 'save' && flows.length !== 1) fail('save takes exactly one flow')
      for (const entry of flows) {
        if (!Array.isArray(entry) || entry.length !== 2 || !isId(entry[0]) || !isBytes(entry[1])) fail(`${op}: each flow must be [id, bytes]`)
      }
      return { id, op, flows: flows as FlowEntry[] }
    }
    case 'delete':
      checkKeys(message, ['id', 'op', 'flowId'])
      if (!isId(message.flowId)) fail('delete needs a flowId')
      return { id, op, flowId: message.flowId }
    case 'backup': {
      checkKeys(message, ['id', 'op', 'file', 'since', 'compressionLevel', 'overwrite'])
      const { file, since, compressionLevel, overwrite } = message
      if (typeof file !== 'string' || file.length === 0 || file.length > MAX_PATH_CHARS) fail('backup needs a file path')
      if (since !== undefined && !isVersion(since) && !(typeof since === 'string' && since.length > 0 && since.length <= MAX_PATH_CHARS)) fail('backup: since must be a version or a file path')
      if (compressionLevel !== undefined && !isVersion(compressionLevel)) fail('backup: compressionLevel must be an integer')
      if (overwrite !== undefined && typeof overwrite !== 'boolean') fail('backup: overwrite must be a boolean')
      return { id, op, file, since, compressionLevel, overwrite }
    }
    case 'backup-to-directory': {
      checkKeys(message, ['id', 'op', 'dir', 'full', 'compressionLevel'])
      const { dir, full, compressionLevel } = message
      if (typeof dir !== 'string' || dir.length === 0 || dir.length > MAX_PATH_CHARS) fail('backup-to-directory needs a directory path')
      if (full !== undefined && typeof full !== 'boolean') fail('backup-to-directory: full must be a boolean')
      if (compressionLevel !== undefined && !isVersion(compressionLevel)) fail('backup-to-directory: compressionLevel must be an integer')
      return { id, op, dir, full, compressionLevel }
    }
  }
  return fail('unreachable')
}

/** A response or part, as the client sees it before the per-op checks. */
export type Incoming =
  | { readonly kind: 'event', readonly version: number }
  | { readonly kind: 'part', readonly id: number, readonly part: unknown }
  | { readonly kind: 'result', readonly id: number, readonly result: unknown }
  | { readonly kind: 'error', readonly id: number, readonly error: FlowStoreError }

/** Checks a message received by a client. */
export function parseIncoming (message: unknown): Incoming {
  if (!isPlainObject(message)) fail('a response must be a map')
  if (message.event !== undefined) {
    if (message.event !== 'change' || !isVersion(message.version)) fail('unknown event')
    return { kind: 'event', version: message.version }
  }
  const id = message.id
  if (!isVersion(id)) fail('a response needs an integer id')
  if (message.part !== undefined) return { kind: 'part', id, part: message.part }
  if (message.ok === true) return { kind: 'result', id, result: message.result }
  if (message.ok !== false || !isPlainObject(message.error)) fail('a response needs ok and a result or an error')
  return { kind: 'error', id, error: errorFromWire(message.error) }
}

/** The error to send for a failed request. */
export function errorToWire (err: unknown): { code: string, message: string, flowId?: string } {
  if (err instanceof FlowStoreError) {
    return err.id === undefined ? { code: err.code, message: err.message } : { code: err.code, message: err.message, flowId: err.id }
  }
  // Anything else (a LevelDB or file-system error) is the owner's own failure.
  return { code: 'FLOWSTORE_REMOTE_ERROR', message: `The owner failed to serve the request: ${err instanceof Error ? err.message : String(err)}` }
}

function errorFromWire (error: Record<string, unknown>): FlowStoreError {
  const message = typeof error.message === 'string' ? error.message.slice(0, MAX_TEXT_CHARS) : 'The owner refused the request'
  const flowId = typeof error.flowId === 'string' ? error.flowId : undefined
  // Codes come from the owner's copy of flowstore: keep any well-formed one as it is.
  const code = (typeof error.code === 'string' && CODE.test(error.code) ? error.code : 'FLOWSTORE_REMOTE_ERROR') as FlowStoreErrorCode
  return new FlowStoreError(code, message, { id: flowId })
}

export function parseHello (result: unknown): HelloResult {
  if (!isPlainObject(result)) fail('hello: bad result')
  const { protocol, instance, pid, version, maxMessageBytes, maxFlowBytes, maxIdBytes, idleTimeoutMs } = result
  if (!isVersion(protocol) || typeof instance !== 'string' || instance.length > 100 || !isVersion(pid) || !isVersion(version) ||
    !isVersion(maxMessageBytes) || maxMessageBytes < 1024 || !isVersion(maxFlowBytes) || maxFlowBytes < 1 || !isVersion(maxIdBytes) || maxIdBytes < 1 ||
    (idleTimeoutMs !== undefined && (!isVersion(idleTimeoutMs) || idleTimeoutMs < 1))) {
    fail('hello: bad result')
  }
  return { protocol, instance, pid, version, maxMessageBytes, maxFlowBytes, maxIdBytes, idleTimeoutMs }
}

export function parseVersion (result: unknown): VersionResult {
  if (!isPlainObject(result) || !isVersion(result.version) || typeof result.pending !== 'boolean') fail('version: bad result')
  return { version: result.version, pending: result.pending }
}

export function parseFlowsPart (part: unknown): FlowsPart {
  if (!isPlainObject(part) || !Array.isArray(part.saved) || !Array.isArray(part.deleted)) fail('bad part')
  for (const entry of part.saved as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 3 || !isId(entry[0]) || !isVersion(entry[1]) || !isBytes(entry[2])) fail('bad saved entry')
  }
  for (const entry of part.deleted as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 2 || !isId(entry[0]) || !isVersion(entry[1])) fail('bad deleted entry')
  }
  return { saved: part.saved as SavedEntry[], deleted: part.deleted as DeletedEntry[] }
}

export function parseFlowsEnd (result: unknown): FlowsEnd {
  if (!isPlainObject(result) || !isVersion(result.version) || typeof result.pending !== 'boolean') fail('bad end of a streamed answer')
  return { version: result.version, pending: result.pending }
}

export function parseAck (result: unknown): AckResult {
  if (!isPlainObject(result) || !isVersion(result.version)) fail('bad acknowledgement')
  return { version: result.version }
}

export function parseOwnerStats (result: unknown): OwnerStats {
  if (!isPlainObject(result)) fail('stats: bad result')
  const { version, size, pending, batches, directory, storeId, pid, socket, clients } = result
  if (!isVersion(version) || !isVersion(size) || !isVersion(pending) || !isVersion(batches) || !isVersion(pid) || !isVersion(clients) ||
    typeof socket !== 'string' || (directory !== undefined && directory !== null && typeof directory !== 'string') ||
    (storeId !== undefined && storeId !== null && (typeof storeId !== 'string' || storeId.length > MAX_TEXT_CHARS))) {
    fail('stats: bad result')
  }
  return { version, size, pending, batches, directory: directory ?? undefined, storeId: storeId ?? undefined, pid, socket, clients }
}
