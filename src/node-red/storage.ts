// The Node-RED storage module: the object `nodeRedStorage()` returns for settings.js
// `storageModule`, and the state behind it.
//
// Node-RED's runtime calls it as its own file storage: init(settings, runtime) once, then
// getFlows() + getCredentials() at start and on a reload, saveCredentials() (when they
// changed) + saveFlows() on every deploy — with the WHOLE flow array, whatever the
// deployment type — getSettings()/saveSettings(), getSessions()/saveSessions(), and the
// library calls. It finds the settings and sessions methods with hasOwnProperty, so every
// method is an own property of the returned object.
//
// Deploys write only what changed: the array is split into its records (layout.ts), each
// record's JSON text is compared with what this process last read or wrote, and only the
// records that differ are committed, in one commit with the order when the order changed.
// A record another instance changed since this one read it refuses the deploy with Node-RED's
// own answer to a stale deploy (409 version_mismatch), and this instance reloads.

import { createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type Flow, type FlowStore, FlowStoreError, isFlowStoreError } from '../index.ts'
import { joinFlows, splitFlows } from './flow-array.ts'
import { pack, packedJson, sameJson } from './json-value.ts'
import {
  CREDENTIALS_ID, isSegmentId, LAYOUT_FORMAT, META_ID, type Order, ORDER_ID, SESSIONS_ID, SETTINGS_PREFIX
} from './layout.ts'
import { getLibraryEntry, libraryRecord } from './library.ts'
import { importedRecords, readNodeRedFiles, userDirOf } from './migrate.ts'
import { type NodeRedStorageOptions, type ResolvedStorageOptions, resolveStorageOptions } from './options.ts'
import { Reloader, type Runtime } from './reloader.ts'
import { type Backend, StoreLink } from './store-link.ts'

/** The storage module: pass it as `storageModule` in Node-RED's settings. */
export interface NodeRedStorage {
  init (settings: object, runtime?: object): Promise<void>
  getFlows (): Promise<unknown[]>
  saveFlows (flows: unknown[], user?: unknown): Promise<void>
  getCredentials (): Promise<object>
  saveCredentials (credentials: object): Promise<void>
  getSettings (): Promise<object>
  saveSettings (settings: object): Promise<void>
  getSessions (): Promise<object>
  saveSessions (sessions: object): Promise<void>
  getLibraryEntry (type: string, path: string): Promise<unknown>
  saveLibraryEntry (type: string, path: string, meta: object, body: string): Promise<void>
  /**
   * Closes the store, or the connection to its owner. Node-RED never calls it (its storage
   * API has no close); call it when you stop an embedded Node-RED and go on in the process.
   */
  close (): Promise<void>
  /** The FlowStore, while this process owns it (for backups); undefined otherwise. */
  readonly store: FlowStore | undefined
}

interface NodeRedSettings {
  readonly userDir?: unknown
  readonly flowFile?: unknown
  readonly readOnly?: unknown
  readonly flowFilePretty?: unknown
}

/** What this process last read or wrote of a record, and the store version it had then. */
interface Known {
  /** A flow record's nodes as the store holds them (frozen), when kept as values. */
  readonly nodes?: unknown
  /** The JSON text of an order or credentials record, or of a flow record's nodes kept as text. */
  readonly text?: string
  /** A flow record's run lengths, as JSON. */
  readonly runs?: string
  readonly version: number | undefined
}

/**
 * One loading of the flows by the runtime (at start, on a reload): from its getFlows() until
 * the runtime has applied what it read. Node-RED accepts deploys meanwhile (it listens before
 * its first load is done, and a reload takes no lock), and applies the load when it completes,
 * over any deploy made in between: a deploy made during a load waits until the runtime has
 * applied the load before its saveFlows returns, so that the deploy is applied last and its
 * rev stays the runtime's rev.
 */
interface Load {
  /** What the load read: the flow records as the runtime will have them, and the flow array. */
  read?: { readonly known: Map<string, Known>, readonly flows: unknown[] }
  /** Deploys begun during the load whose saveFlows has not finished: based on what the runtime had before it. */
  deploys: number
  /** A deploy begun during the load succeeded: the runtime ends with its flows, not with the load's. */
  superseded: boolean
  /** A later load read the store again: this one's read is out of date. */
  replaced: boolean
  /** The runtime has applied the load (or given it up). */
  applied: boolean
  /** What the load read has been adopted (or set aside for a deploy's flows). */
  adopted: boolean
  timer?: ReturnType<typeof setTimeout>
  readonly whenApplied: Promise<void>
  readonly resolve: () => void
}

/**
 * How long after a load's read the runtime may take to apply it (it reads the credentials and
 * sets up their encryption first) before it is taken as applied, should the runtime not say so.
 */
const LOAD_APPLY_TIMEOUT_MS = 10_000

const SETTINGS_SECTIONS = ['nodes', 'users', 'projects', 'modules'] as const

/** A Node-RED storage module keeping flows, credentials, settings, sessions and library in a flowstore store. */
export function nodeRedStorage (options: NodeRedStorageOptions): NodeRedStorage {
  const storage = new FlowstoreStorage(resolveStorageOptions(options))
  return {
    init: async (settings, runtime) => { await storage.init(settings, runtime) },
    getFlows: async () => await storage.getFlows(),
    saveFlows: async (flows) => { await storage.saveFlows(flows) },
    getCredentials: async () => await storage.getCredentials(),
    saveCredentials: async (credentials) => { await storage.saveCredentials(credentials) },
    getSettings: async () => await storage.getSettings(),
    saveSettings: async (settings) => { await storage.saveSettings(settings) },
    getSessions: async () => await storage.getSessions(),
    saveSessions: async (sessions) => { await storage.saveSessions(sessions) },
    getLibraryEntry: async (type, path) => await storage.getLibraryEntry(type, path),
    saveLibraryEntry: async (type, path, meta, body) => { await storage.saveLibraryEntry(type, path, meta, body) },
    close: async () => { await storage.close() },
    get store () { return storage.store }
  }
}

class FlowstoreStorage {
  readonly #options: ResolvedStorageOptions
  #settings: NodeRedSettings = {}
  #runtime: Runtime | undefined
  #link: StoreLink | undefined
  /** Flows, credentials and change checks run one at a time, in call order. */
  #queue: Promise<unknown> = Promise.resolve()
  /**
   * Record id -> what this process last read or wrote of it; for the flow records, what the
   * runtime has (a load's read is adopted once the runtime has applied it).
   */
  readonly #known = new Map<string, Known>()
  /** The flows the runtime was last given or saved (for the rev check after a reload). */
  #lastFlows: readonly unknown[] | undefined
  /** The runtime has read the flows: from now on, remote changes are reloaded. */
  #loaded = false
  #reloader: Reloader | undefined
  /** The runtime's loading of the flows in progress, if any. */
  #load: Load | undefined
  /** The runtime's event bus, which says when a load has been applied (undefined: no runtime, or none). */
  #runtimeEvents: RuntimeEvents | undefined

  constructor (options: ResolvedStorageOptions) {
    this.#options = options
  }

  get store (): FlowStore | undefined {
    return this.#link?.store
  }

  async init (settings: object, runtime?: object): Promise<void> {
    if (typeof settings !== 'object' || settings === null) throw new TypeError(`init() takes Node-RED's settings object, got ${String(settings)}`)
    await this.close()
    this.#settings = settings as NodeRedSettings
    this.#runtime = runtime as Runtime | undefined
    const events = this.#runtime?.events
    if (typeof events?.on === 'function' && typeof events.removeListener === 'function') {
      this.#runtimeEvents = events as RuntimeEvents
      this.#runtimeEvents.on('runtime-event', this.#onRuntimeEvent)
    }
    const reloader = this.#options.reloadOnChange
      ? new Reloader(this.#runtime, {
        runtimeIsBehind: async (ids) => await this.#exclusive(async () => await this.#runtimeIsBehind(ids)),
        expectedRev: () => revOf(this.#lastFlows),
        log: (level, message) => { this.#log(level, message) }
      })
      : undefined
    const changed = (ids: readonly string[] | undefined): void => {
      const relevant = ids?.filter((id) => id === ORDER_ID || id === CREDENTIALS_ID || isSegmentId(id))
      if (relevant === undefined || relevant.length > 0) reloader?.changed(relevant)
    }
    this.#reloader = reloader
    const link = await StoreLink.open(this.#options, {
      change: (ids) => { changed(ids) },
      resync: () => { changed(undefined) },
      log: (level, message) => { this.#log(level, message) }
    })
    try {
      if (!this.#readOnly) await prepareUserDir(this.#settings)
      if (!this.#readOnly) await this.#firstStart(link.backend)
      await link.share()
    } catch (err) {
      await link.close()
      throw err
    }
    this.#link = link
  }

  async getFlows (): Promise<unknown[]> {
    const load = this.#startLoad()
    try {
      return await this.#exclusive(async () => {
        const backend = this.#backend()
        await backend.refresh()
        const known = new Map<string, Known>()
        const flows = this.#readFlows(backend, known)
        this.#loaded = true
        load.read = { known, flows }
        if (this.#runtimeEvents === undefined) {
          // No runtime to say when it has applied the flows: they are taken as applied now.
          this.#loadApplied(load)
        } else if (!load.applied) {
          load.timer = setTimeout(() => { this.#loadApplied(load) }, LOAD_APPLY_TIMEOUT_MS)
          load.timer.unref()
        }
        return flows
      })
    } catch (err) {
      // Nothing read: the runtime has nothing to apply.
      this.#loadApplied(load)
      throw err
    }
  }

  async saveFlows (flows: unknown[]): Promise<void> {
    if (!Array.isArray(flows)) throw new TypeError(`saveFlows() takes the flow array, got ${String(flows)}`)
    if (this.#readOnly) return
    // A deploy begun while the runtime loads the flows was made on what the runtime had
    // before the load: it is compared with that (the load's read is not adopted meanwhile).
    const load = this.#load
    if (load !== undefined) load.deploys++
    let saved = false
    try {
      await this.#saveFlows(flows)
      saved = true
    } finally {
      if (load !== undefined) {
        load.deploys--
        if (saved) load.superseded = true
        if (load.applied && load.deploys === 0) this.#adoptLoad(load)
      }
    }
    // The runtime applies this deploy's flows once saveFlows returns: after the load's, or the
    // load would replace them (and the rev this deploy answers would be stale at once).
    if (load !== undefined) await load.whenApplied
  }

  async #saveFlows (flows: unknown[]): Promise<void> {
    await this.#exclusive(async () => {
      const backend = this.#backend()
      if (!this.#known.has(ORDER_ID)) {
        // Saved before anything was read: compare with what the store holds.
        await backend.refresh()
        this.#readFlows(backend, this.#known)
      }
      const { order, segments } = splitFlows(flows)
      const saves: Flow[] = []
      const changed: string[] = []
      const checked: string[] = []
      for (const [id, segment] of segments) {
        const runs = JSON.stringify(segment.runs)
        const known = this.#known.get(id)
        if (known !== undefined && sameSegment(segment.nodes, runs, known)) continue
        saves.push({ id, runs: segment.runs, value: segment.nodes })
        changed.push(id)
        // A record new to this process needs no check: adding it changes the order, which is checked.
        if (known !== undefined) checked.push(id)
      }
      const orderJson = orderText(order)
      const orderChanged = this.#known.get(ORDER_ID)?.text !== orderJson
      if (orderChanged) {
        saves.push({ id: ORDER_ID, segments: order.segments, runs: order.runs })
        checked.push(ORDER_ID)
      }
      const deletes = [...this.#known.keys()].filter((id) => isSegmentId(id) && !segments.has(id))
      checked.push(...deletes)
      if (saves.length > 0 || deletes.length > 0) {
        await commitFlowRecords(backend, saves, deletes, () => { this.#assertUnchanged(backend, checked) })
        // What the store holds now is the reference for the next deploy (decoded once, frozen).
        for (const id of changed) this.#known.set(id, knownSegment(backend.get(id), backend.version(id)))
        if (orderChanged) this.#known.set(ORDER_ID, { text: orderJson, version: backend.version(ORDER_ID) })
        for (const id of deletes) this.#known.delete(id)
      }
      this.#lastFlows = flows
    })
  }

  async getCredentials (): Promise<object> {
    return await this.#exclusive(async () => {
      const backend = this.#backend()
      await backend.refresh()
      const text = packedJson(backend.get(CREDENTIALS_ID)) ?? '{}'
      this.#known.set(CREDENTIALS_ID, { text, version: backend.version(CREDENTIALS_ID) })
      return asObject(JSON.parse(text))
    })
  }

  async saveCredentials (credentials: object): Promise<void> {
    if (typeof credentials !== 'object' || credentials === null) throw new TypeError(`saveCredentials() takes the credentials object, got ${String(credentials)}`)
    if (this.#readOnly) return
    await this.#exclusive(async () => {
      const backend = this.#backend()
      const text = JSON.stringify(credentials)
      const known = this.#known.get(CREDENTIALS_ID)
      if (known?.text === text) return
      await backend.commit([{ id: CREDENTIALS_ID, ...pack(credentials, text) }], [], () => {
        if (known !== undefined) this.#assertUnchanged(backend, [CREDENTIALS_ID])
      })
      this.#known.set(CREDENTIALS_ID, { text, version: backend.version(CREDENTIALS_ID) })
    })
  }

  async getSettings (): Promise<object> {
    const backend = this.#backend()
    await backend.refresh()
    const runtimeText = this.#readSetting(backend, 'runtime')
    const settings = asObject(runtimeText === undefined ? {} : JSON.parse(runtimeText)) as Record<string, unknown>
    for (const section of SETTINGS_SECTIONS) {
      const text = this.#readSetting(backend, section)
      const value = text === undefined ? undefined : JSON.parse(text)
      // As Node-RED's file storage: an empty section is left out.
      if (typeof value === 'object' && value !== null && Object.keys(value).length > 0) settings[section] = value
    }
    return settings
  }

  async saveSettings (settings: object): Promise<void> {
    if (typeof settings !== 'object' || settings === null) throw new TypeError(`saveSettings() takes the settings object, got ${String(settings)}`)
    if (this.#readOnly) return
    // Split into sections as Node-RED's file storage does, without changing the caller's object.
    const runtime: Record<string, unknown> = { ...settings }
    const sections = new Map<string, unknown>()
    for (const section of SETTINGS_SECTIONS) {
      sections.set(section, runtime[section] ?? {})
      delete runtime[section]
    }
    sections.set('runtime', runtime)
    const saves: Flow[] = []
    const texts = new Map<string, string>()
    for (const [section, value] of sections) {
      const id = SETTINGS_PREFIX + section
      const text = JSON.stringify(value)
      if (this.#known.get(id)?.text === text) continue
      saves.push({ id, ...pack(value, text) })
      texts.set(id, text)
    }
    if (saves.length === 0) return
    const backend = this.#backend()
    await backend.commit(saves, [])
    for (const [id, text] of texts) this.#known.set(id, { text, version: backend.version(id) })
  }

  async getSessions (): Promise<object> {
    const backend = this.#backend()
    await backend.refresh()
    const text = packedJson(backend.get(SESSIONS_ID))
    return asObject(text === undefined ? {} : JSON.parse(text))
  }

  async saveSessions (sessions: object): Promise<void> {
    if (typeof sessions !== 'object' || sessions === null) throw new TypeError(`saveSessions() takes the sessions object, got ${String(sessions)}`)
    if (this.#readOnly) return
    await this.#backend().commit([{ id: SESSIONS_ID, ...pack(sessions) }], [])
  }

  async getLibraryEntry (type: string, path: string): Promise<unknown> {
    return await getLibraryEntry(this.#backend(), type, path)
  }

  async saveLibraryEntry (type: string, path: string, meta: object, body: string): Promise<void> {
    if (this.#readOnly) return
    const record = libraryRecord(type, path, meta, body, this.#settings.flowFilePretty === true)
    await this.#backend().commit([record], [])
  }

  async close (): Promise<void> {
    this.#reloader?.close()
    this.#reloader = undefined
    this.#runtimeEvents?.removeListener('runtime-event', this.#onRuntimeEvent)
    this.#runtimeEvents = undefined
    const load = this.#load
    if (load !== undefined) this.#loadApplied(load)
    const link = this.#link
    this.#link = undefined
    if (link === undefined) return
    await this.#queue.catch(() => {})
    this.#known.clear()
    this.#loaded = false
    this.#lastFlows = undefined
    await link.close()
  }

  get #readOnly (): boolean {
    return this.#settings.readOnly === true
  }

  #backend (): Backend {
    const link = this.#link
    if (link === undefined) throw new FlowStoreError('FLOWSTORE_CLOSED', 'The Node-RED storage is not initialised (init() was not called, or it was closed)')
    return link.backend
  }

  /** Runs `fn` after every earlier flows, credentials or check call has finished. */
  #exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn)
    this.#queue = run.catch(() => {})
    return run
  }

  /** The flow array from the store; remembers each record's text and version in `known`. */
  #readFlows (backend: Backend, known: Map<string, Known>): unknown[] {
    deleteFlowEntries(known)
    const order = parseOrder(backend.get(ORDER_ID))
    known.set(ORDER_ID, { text: orderText(order), version: backend.version(ORDER_ID) })
    const { flows, problems } = joinFlows(order, (id) => {
      const record = backend.get(id) as SegmentRecord | undefined
      const nodesJson = packedJson(record)
      if (record === undefined || nodesJson === undefined) return undefined
      known.set(id, knownSegment(record, backend.version(id)))
      const nodes = JSON.parse(nodesJson) as unknown
      return { runs: isRunList(record.runs) ? [...record.runs] : [], nodes: Array.isArray(nodes) ? nodes : [] }
    })
    if (problems.missing.length > 0) this.#log('warn', `flowstore: the flow order names records that are not in the store (${problems.missing.join(', ')}); their nodes are missing`)
    if (problems.mismatched.length > 0) this.#log('warn', `flowstore: records do not match the flow order (${problems.mismatched.join(', ')}); every node is kept, some out of their place. The next deploy writes them consistently`)
    return flows
  }

  /** The runtime begins to load the flows (getFlows). */
  #startLoad (): Load {
    let resolve!: () => void
    const whenApplied = new Promise<void>((resolve_) => { resolve = resolve_ })
    const load: Load = { deploys: 0, superseded: false, replaced: false, applied: false, adopted: false, whenApplied, resolve }
    const previous = this.#load
    this.#load = load
    if (previous !== undefined) {
      // The runtime loads again before it applied the previous load: this one reads later.
      previous.replaced = true
      void whenApplied.then(() => { this.#loadApplied(previous) })
    }
    return load
  }

  /**
   * Node-RED's runtime reports the end of a load with a 'runtime-state' event (with no payload,
   * or a warning's): it then applies the flows at once, before anything else runs.
   * The other 'runtime-state' events (flows started or stopped) carry a `state`.
   */
  readonly #onRuntimeEvent = (event: unknown): void => {
    const { id, payload } = (typeof event === 'object' && event !== null ? event : {}) as { id?: unknown, payload?: unknown }
    if (id !== 'runtime-state') return
    if (typeof payload === 'object' && payload !== null && (payload as { state?: unknown }).state !== undefined) return
    const load = this.#load
    if (load?.read !== undefined) this.#loadApplied(load)
  }

  /**
   * The runtime has applied `load` (or given it up): deploys waiting for it go on. They go on
   * in the next turn of the event loop: the runtime sets the loaded flows as its own in the
   * promise callbacks that follow its event, and a deploy must set its flows after that.
   */
  #loadApplied (load: Load): void {
    if (load.applied) return
    load.applied = true
    clearTimeout(load.timer)
    if (this.#load === load) this.#load = undefined
    if (load.deploys === 0) this.#adoptLoad(load)
    setImmediate(load.resolve)
  }

  /**
   * Once the runtime applied `load` and no deploy begun during it is still saving: what the
   * runtime has is what the load read, or, when a deploy made meanwhile succeeded, that deploy
   * (already in #known) — and what the load brought in besides is checked for a reload.
   */
  #adoptLoad (load: Load): void {
    if (load.adopted) return
    load.adopted = true
    if (load.replaced || load.read === undefined) return
    if (load.superseded) {
      this.#reloader?.changed(undefined)
      return
    }
    deleteFlowEntries(this.#known)
    for (const [id, known] of load.read.known) this.#known.set(id, known)
    this.#lastFlows = load.read.flows
  }

  #readSetting (backend: Backend, section: string): string | undefined {
    const id = SETTINGS_PREFIX + section
    const text = packedJson(backend.get(id))
    if (text === undefined) this.#known.delete(id)
    else this.#known.set(id, { text, version: backend.version(id) })
    return text
  }

  /** Throws Node-RED's stale-deploy error when another instance changed one of `ids` since this one read it. */
  #assertUnchanged (backend: Backend, ids: readonly string[]): void {
    for (const id of ids) {
      if (backend.version(id) === this.#known.get(id)?.version) continue
      // This instance is behind: bring it up to date.
      this.#reloader?.changed([id])
      throw staleDeployError(id)
    }
  }

  /**
   * The first start on this store: import Node-RED's files (when there are any) and mark the
   * store. Made by whichever process finds the store unmarked; an owner does it before it
   * serves the store, so the processes that connect to it find it done.
   */
  async #firstStart (backend: Backend): Promise<void> {
    if (backend.get(META_ID) !== undefined) return
    const files = this.#options.migrate ? await readNodeRedFiles(this.#settings) : undefined
    const records = files === undefined ? [] : importedRecords(files)
    records.push({ id: META_ID, format: LAYOUT_FORMAT, createdAt: new Date().toISOString(), migratedFrom: files?.read ?? [] })
    try {
      await backend.commit(records, [], () => {
        if (backend.get(META_ID) !== undefined) throw new AlreadyStarted()
      })
    } catch (err) {
      // Another process made the first start meanwhile: its import stands.
      if (err instanceof AlreadyStarted) return
      throw err
    }
    if (files?.flows !== undefined) {
      this.#log('info', `flowstore: imported ${files.flows.length} nodes from ${files.read[0] ?? 'the flows file'} into ${this.#options.location} (${files.read.length} files read; they are left as they are)`)
    }
  }

  /** Whether the store holds flows or credentials other than what this process last read or wrote. */
  async #runtimeIsBehind (changed: readonly string[] | undefined): Promise<boolean> {
    const all = changed === undefined
    const ids = changed ?? []
    const link = this.#link
    if (link === undefined || !this.#loaded) return false
    const backend = link.backend
    await backend.refresh()
    // While a load no deploy overtook is applied, the runtime is about to have what it read.
    const load = this.#load
    const view = load?.read !== undefined && load.deploys === 0 && !load.superseded ? load.read.known : this.#known
    const orderRecord = backend.get(ORDER_ID)
    if (orderRecord === undefined && !view.has(ORDER_ID)) return false
    if (orderText(parseOrder(orderRecord)) !== view.get(ORDER_ID)?.text) return true
    const current = new Set(parseOrder(orderRecord).segments)
    const segments = all ? [...current, ...view.keys()].filter(isSegmentId) : ids.filter(isSegmentId)
    for (const id of segments) {
      const known = view.get(id)
      if (!current.has(id) && known === undefined) continue
      const record = backend.get(id) as SegmentRecord | undefined
      if (record === undefined || known === undefined) return true
      const stored = knownSegment(record, undefined)
      if (stored.runs !== known.runs) return true
      if (known.nodes !== undefined ? !sameJson(stored.nodes, known.nodes) : stored.text !== known.text) return true
    }
    const credentials = this.#known.get(CREDENTIALS_ID)
    if (credentials !== undefined && (all || ids.includes(CREDENTIALS_ID))) {
      if ((packedJson(backend.get(CREDENTIALS_ID)) ?? '{}') !== credentials.text) return true
    }
    return false
  }

  #log (level: 'info' | 'warn', message: string): void {
    const log = this.#runtime?.log?.[level]
    if (typeof log === 'function') log(message)
    else if (level === 'warn') process.emitWarning(message)
  }
}

class AlreadyStarted extends Error {}

/** Node-RED's event bus (runtime.events), as far as it is used here. */
interface RuntimeEvents {
  on (event: string, listener: (value: unknown) => void): unknown
  removeListener (event: string, listener: (value: unknown) => void): unknown
}

/** Removes the flow records' entries (the order and the segments) from `known`. */
function deleteFlowEntries (known: Map<string, Known>): void {
  for (const id of [...known.keys()]) if (id === ORDER_ID || isSegmentId(id)) known.delete(id)
}

/**
 * What Node-RED's file storage prepares in userDir at init, and the rest of Node-RED expects
 * there (the palette installs modules into userDir with npm): a node_modules directory, and
 * a package.json when there is none. Nothing that exists is changed.
 */
async function prepareUserDir (settings: NodeRedSettings): Promise<void> {
  const userDir = userDirOf(settings)
  await mkdir(join(userDir, 'node_modules'), { recursive: true })
  const packageFile = join(userDir, 'package.json')
  const project = { name: 'node-red-project', description: 'A Node-RED Project', version: '0.0.1', private: true }
  try {
    await writeFile(packageFile, JSON.stringify(project, null, 4), { flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
}

/**
 * Commits flow records whose nodes are values; one the store refuses to keep exactly (a
 * `__proto__` key, a lone surrogate, -0: FLOWSTORE_INVALID_FLOW naming it) is kept as its
 * JSON text instead, which is all Node-RED reads of it. Letting the store's own check find
 * these (they are rare) spares every deploy a second walk over the nodes.
 */
async function commitFlowRecords (backend: Backend, saves: Flow[], deletes: readonly string[], precondition: () => void): Promise<void> {
  const asText = new Set<string>()
  for (;;) {
    try {
      await backend.commit(saves, deletes, precondition)
      return
    } catch (err) {
      const id = isFlowStoreError(err, 'FLOWSTORE_INVALID_FLOW') ? err.id : undefined
      const index = id === undefined || asText.has(id) ? -1 : saves.findIndex((record) => record.id === id)
      const record = saves[index] as (Flow & { runs: unknown, value?: unknown }) | undefined
      if (id === undefined || record === undefined || !Object.hasOwn(record, 'value')) throw err
      asText.add(id)
      saves[index] = { id, runs: record.runs, json: JSON.stringify(record.value) }
    }
  }
}

/** A flow record as stored: its run lengths, and its nodes as a value or as JSON text. */
interface SegmentRecord {
  readonly runs?: unknown
  readonly value?: unknown
  readonly json?: unknown
}

function knownSegment (record: unknown, version: number | undefined): Known {
  const { runs, value, json } = (record ?? {}) as SegmentRecord
  return {
    ...(typeof json === 'string' ? { text: json } : { nodes: value }),
    runs: JSON.stringify(isRunList(runs) ? runs : []),
    version
  }
}

/** Whether `nodes` (a segment of a deploy) are what this process knows the record holds. */
function sameSegment (nodes: readonly unknown[], runs: string, known: Known): boolean {
  if (known.runs !== runs) return false
  if (known.nodes !== undefined) return sameJson(nodes, known.nodes)
  return known.text !== undefined && JSON.stringify(nodes) === known.text
}

function orderText (order: Order): string {
  return JSON.stringify([order.segments, order.runs])
}

function parseOrder (record: unknown): Order {
  if (record === undefined) return { segments: [], runs: [] }
  const { segments, runs } = record as { segments?: unknown, runs?: unknown }
  if (!Array.isArray(segments) || !segments.every((id) => typeof id === 'string' && isSegmentId(id)) ||
    !isRunList(runs) || !runs.every((index) => index < segments.length)) {
    throw new FlowStoreError('FLOWSTORE_CORRUPT', `The Node-RED flow order (record ${ORDER_ID}) is damaged; restore the store from a backup`, { id: ORDER_ID })
  }
  return { segments, runs }
}

function isRunList (value: unknown): value is readonly number[] {
  return Array.isArray(value) && value.every((n) => Number.isSafeInteger(n) && n >= 0)
}

function asObject (value: unknown): object {
  return typeof value === 'object' && value !== null ? value : {}
}

function revOf (flows: readonly unknown[] | undefined): string {
  return createHash('sha256').update(JSON.stringify(flows ?? [])).digest('hex')
}

/** Node-RED's own error for a deploy made on stale flows: its admin API answers 409 version_mismatch. */
function staleDeployError (id: string): Error {
  const err = new Error(`The flows were changed by another Node-RED instance (record ${id}) after this one read them; this instance reloads them: deploy again after merging`) as Error & { code: string, status: number }
  err.code = 'version_mismatch'
  err.status = 409
  return err
}

