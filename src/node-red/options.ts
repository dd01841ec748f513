// The options of nodeRedStorage(), resolved once into a readonly, checked object.

import type { FlowStoreOptions } from '../index.ts'

export interface NodeRedStorageOptions {
  /**
   * Where the store lives: a directory (created if missing; relative paths are resolved
   * against the working directory), or the location of a store engine that several
   * processes open at once, passed as is to `FlowStore.open`.
   */
  location: string
  /**
   * Options of the store, used by the process that opens it. `sync: true` fsyncs every
   * deploy before Node-RED is told it is saved, as Node-RED's own file storage does.
   * @default { sync: true }
   */
  store?: FlowStoreOptions
  /**
   * Serve the store on its owner's socket, so that other Node-RED processes started on the
   * same `location` work through this one (and take over when it stops). With `false`, a
   * second process on the same directory fails to start with FLOWSTORE_LOCKED.
   * @default true
   */
  share?: boolean
  /**
   * When another instance changes the flows or credentials in the store, reload them into
   * this runtime (as a `reload` deployment does).
   * @default true
   */
  reloadOnChange?: boolean
  /**
   * On the first start on an empty store, import the flows file, its credentials file, the
   * `.config.*.json` settings, `.sessions.json` and the `lib/` library of `userDir`, as
   * Node-RED's file storage would read them. The files are only read.
   * @default true
   */
  migrate?: boolean
  /**
   * How long a process that finds the store locked waits for its owner to answer, at start.
   * @default 30000
   */
  connectTimeoutMs?: number
}

export interface ResolvedStorageOptions {
  readonly location: string
  readonly store: FlowStoreOptions
  readonly share: boolean
  readonly reloadOnChange: boolean
  readonly migrate: boolean
  readonly connectTimeoutMs: number
}

export function resolveStorageOptions (options: NodeRedStorageOptions): ResolvedStorageOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError(`nodeRedStorage() takes an options object ({ location }), got ${String(options)}`)
  const { location, store = {}, share = true, reloadOnChange = true, migrate = true, connectTimeoutMs = 30_000 } = options
  if (typeof location !== 'string' || location.length === 0) throw new TypeError(`Option location must be a store directory (a non-empty string), got ${String(location)}`)
  if (typeof store !== 'object' || store === null) throw new TypeError(`Option store must be a FlowStore options object, got ${String(store)}`)
  for (const [name, value] of Object.entries({ share, reloadOnChange, migrate })) {
    if (typeof value !== 'boolean') throw new TypeError(`Option ${name} must be a boolean, got ${String(value)}`)
  }
  if (typeof connectTimeoutMs !== 'number' || !Number.isFinite(connectTimeoutMs) || connectTimeoutMs < 0) {
    throw new TypeError(`Option connectTimeoutMs must be a number >= 0, got ${String(connectTimeoutMs)}`)
  }
  return Object.freeze({
    location,
    store: Object.freeze({ sync: true, ...store }),
    share,
    reloadOnChange,
    migrate,
    connectTimeoutMs
  })
}
