// The one error class of flowstore. Codes are stable and documented in the README; messages
// may change. A lower-level error (LevelDB, msgpackr, the file system) is kept as `cause`.

/** Every code a FlowStoreError can carry. */
export type FlowStoreErrorCode =
  | 'FLOWSTORE_INVALID_FLOW'
  | 'FLOWSTORE_LOCKED'
  | 'FLOWSTORE_CLOSED'
  | 'FLOWSTORE_DECODE_ERROR'
  | 'FLOWSTORE_WRITE_FAILED'
  | 'FLOWSTORE_OPEN_FAILED'
  | 'FLOWSTORE_INCOMPATIBLE'
  | 'FLOWSTORE_CORRUPT'
  | 'FLOWSTORE_REPAIR_FAILED'
  | 'FLOWSTORE_BACKUP_CORRUPT'
  | 'FLOWSTORE_BACKUP_CHAIN'
  | 'FLOWSTORE_TARGET_NOT_EMPTY'
  | 'FLOWSTORE_TARGET_EXISTS'
  | 'FLOWSTORE_TARGET_UNSAFE'
  | 'FLOWSTORE_IO_ERROR'
  | 'FLOWSTORE_IMPORT_FAILED'
  | 'FLOWSTORE_DISCONNECTED'
  | 'FLOWSTORE_PROTOCOL'
  | 'FLOWSTORE_UNSAFE_SOCKET'
  | 'FLOWSTORE_REMOTE_ERROR'
  | 'FLOWSTORE_CONFLICT'
  | 'FLOWSTORE_BUSY'
  | 'FLOWSTORE_TIMEOUT'
  | 'FLOWSTORE_CHANGES_PRUNED'

export interface FlowStoreErrorOptions {
  /** The error that caused this one. */
  cause?: unknown
  /** The flow id the error is about, where there is one. */
  id?: string
  /** Every flow id the error is about, when there are several (FLOWSTORE_CONFLICT). */
  ids?: readonly string[]
  /** FLOWSTORE_CHANGES_PRUNED: the oldest version changes can still be read from. */
  horizon?: number
}

export class FlowStoreError extends Error {
  /** A stable code: test this, not the message. */
  readonly code: FlowStoreErrorCode
  /** The flow id the error is about, where there is one. */
  readonly id: string | undefined
  /**
   * Every flow id the error is about, when there can be several: for FLOWSTORE_CONFLICT, the
   * flows whose `ifVersion` did not hold (`id` is the first of them).
   */
  readonly ids: readonly string[] | undefined
  /**
   * For FLOWSTORE_CHANGES_PRUNED: the change log was pruned up to this version, so changes
   * are known only since it (`changesSince(horizon)` answers).
   */
  readonly horizon: number | undefined

  constructor (code: FlowStoreErrorCode, message: string, options: FlowStoreErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'FlowStoreError'
    this.code = code
    this.id = options.id ?? options.ids?.[0]
    this.ids = options.ids === undefined ? undefined : Object.freeze([...options.ids])
    this.horizon = options.horizon
  }
}

/** True when `err` is a FlowStoreError with the given code. */
export function isFlowStoreError (err: unknown, code?: FlowStoreErrorCode): err is FlowStoreError {
  return err instanceof FlowStoreError && (code === undefined || err.code === code)
}
