// How one Node-RED process reaches its store. The first process to open a store directory
// owns it (LevelDB admits one process) and serves it on the owner's socket; a process that
// finds it locked connects to that owner (FlowService.connect) and works through it. When
// the owner goes away, a connected process tries to open the store itself and becomes the
// owner: several Node-RED instances keep working on one store whichever of them stops.
// A location that is not a directory (a URL, for an engine that several processes open at
// once) goes straight to FlowStore.open.
//
// The owner serves the store only once it is ready (share(), after a first start's
// migration), so a second process never sees a store half set up.
//
// Either way, the rest of the storage module sees one Backend: reads from the cache, a commit
// of several saves and deletes, and a 'change' feed of every committed change, from this
// process or from any other.

import { type Flow, FlowService, FlowStore, type FlowStoreError, type FlowStoreOptions, isFlowStoreError, serveStore } from '../index.ts'

/** The store as the storage module uses it, whoever owns it. */
export interface Backend {
  get (id: string): Flow | undefined
  /** The store version that last changed this record (0 while not committed), or undefined. */
  version (id: string): number | undefined
  ids (): IterableIterator<string>
  /** Resolves once reads show everything committed before the call. */
  refresh (): Promise<void>
  /**
   * Saves and deletes, after `precondition` (which throws to refuse). Over an owned store
   * all of it is one atomic commit and the precondition is checked inside it; through the
   * owner's socket the saves commit together, then the deletes.
   */
  commit (saves: readonly Flow[], deletes: readonly string[], precondition?: () => void): Promise<void>
}

export interface LinkOptions {
  readonly location: string
  readonly store: FlowStoreOptions
  readonly share: boolean
  readonly connectTimeoutMs: number
}

export interface LinkEvents {
  /** Records changed in the store (committed by anyone). */
  change (ids: readonly string[]): void
  /** The link changed hands (this process took the store over): anything may have changed. */
  resync (): void
  log (level: 'info' | 'warn', message: string): void
}

const FIRST_RETRY_MS = 50
const MAX_RETRY_MS = 1000

export class StoreLink {
  readonly #options: LinkOptions
  readonly #events: LinkEvents
  #store: FlowStore | undefined
  #service: FlowService | undefined
  #backend: Backend
  #takeover: ReturnType<typeof setTimeout> | undefined
  #takeoverDelay = FIRST_RETRY_MS
  #closed = false

  /** Opens the store, or connects to the process that owns it (waiting up to connectTimeoutMs for one). */
  static async open (options: LinkOptions, events: LinkEvents): Promise<StoreLink> {
    const deadline = Date.now() + options.connectTimeoutMs
    let delay = FIRST_RETRY_MS
    for (;;) {
      const attempt = await tryOpen(options)
      if (!(attempt instanceof Error)) {
        return new StoreLink(options, events, attempt)
      }
      if (Date.now() >= deadline) throw attempt
      await sleep(delay)
      delay = Math.min(delay * 2, MAX_RETRY_MS)
    }
  }

  private constructor (options: LinkOptions, events: LinkEvents, opened: FlowStore | FlowService) {
    this.#options = options
    this.#events = events
    this.#backend = this.#adopt(opened)
  }

  get backend (): Backend {
    return this.#backend
  }

  /** The store this process owns, if it owns it. */
  get store (): FlowStore | undefined {
    return this.#store
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#takeover)
    const service = this.#service
    const store = this.#store
    this.#service = undefined
    this.#store = undefined
    await service?.close()
    await store?.close()
  }

  /**
   * Serves an owned store on its socket (with the `share` option), for other processes to
   * connect to: called once the store holds what they should see (after a migration).
   */
  async share (): Promise<void> {
    if (this.#store !== undefined) await this.#serve(this.#store)
  }

  #adopt (opened: FlowStore | FlowService): Backend {
    if (opened instanceof FlowStore) {
      this.#store = opened
      this.#service = undefined
      opened.on('change', (change) => { this.#events.change([change.id]) })
      return localBackend(opened)
    }
    this.#service = opened
    opened.on('change', (change) => { this.#events.change([change.id]) })
    opened.on('disconnect', () => { this.#scheduleTakeover() })
    opened.on('reconnect', () => { this.#events.resync() })
    return remoteBackend(opened)
  }

  async #serve (store: FlowStore): Promise<void> {
    if (!this.#options.share || store.directory === undefined) return
    await serveStore(store)
  }

  /** The owner went away: try to open the store ourselves until we own it or another owner answers. */
  #scheduleTakeover (): void {
    if (this.#closed || this.#takeover !== undefined) return
    this.#takeover = setTimeout(() => {
      this.#takeover = undefined
      void this.#tryTakeover()
    }, this.#takeoverDelay)
    this.#takeover.unref()
    this.#takeoverDelay = Math.min(this.#takeoverDelay * 2, MAX_RETRY_MS)
  }

  async #tryTakeover (): Promise<void> {
    const service = this.#service
    if (this.#closed || service === undefined || service.connected) {
      this.#takeoverDelay = FIRST_RETRY_MS
      return
    }
    let store: FlowStore
    try {
      store = await FlowStore.open(this.#options.location, this.#options.store)
    } catch (err) {
      if (!isFlowStoreError(err, 'FLOWSTORE_LOCKED')) this.#events.log('warn', `flowstore: cannot open ${this.#options.location} after its owner stopped: ${String(err)}`)
      // Another process owns it now (or will): the service reconnects to it on its own.
      this.#scheduleTakeover()
      return
    }
    if (this.#closed) {
      await store.close()
      return
    }
    this.#takeoverDelay = FIRST_RETRY_MS
    this.#backend = this.#adopt(store)
    await service.close()
    try {
      await this.#serve(store)
    } catch (err) {
      this.#events.log('warn', `flowstore: cannot serve ${this.#options.location} to other instances: ${String(err)}`)
    }
    this.#events.log('info', `flowstore: the owner of ${this.#options.location} stopped; this instance owns the store now`)
    this.#events.resync()
  }
}

/** Opens the store, or connects to its owner; the error when neither works yet (try again). */
async function tryOpen (options: LinkOptions): Promise<FlowStore | FlowService | FlowStoreError> {
  try {
    return await FlowStore.open(options.location, options.store)
  } catch (err) {
    if (!isFlowStoreError(err, 'FLOWSTORE_LOCKED') || !options.share) throw err
  }
  try {
    return await FlowService.connect(options.location, { watch: true })
  } catch (err) {
    // Locked, yet no owner answers: it is starting, or it stopped a moment ago.
    if (isFlowStoreError(err, 'FLOWSTORE_DISCONNECTED')) return err
    throw err
  }
}

function localBackend (store: FlowStore): Backend {
  return {
    get: (id) => store.get(id),
    version: (id) => store.lazy(id)?.version,
    ids: () => store.flows.keys(),
    refresh: async () => {},
    commit: async (saves, deletes, precondition) => {
      await store.transaction((tx) => {
        // Synchronous inside the transaction: nothing else can commit between check and writes.
        precondition?.()
        if (saves.length > 0) tx.saveMany(saves)
        for (const id of deletes) tx.delete(id)
      })
    }
  }
}

function remoteBackend (service: FlowService): Backend {
  return {
    get: (id) => service.get(id),
    version: (id) => service.lazy(id)?.version,
    ids: () => service.flows.keys(),
    refresh: async () => { await service.refresh() },
    commit: async (saves, deletes, precondition) => {
      await service.refresh()
      precondition?.()
      if (saves.length > 0) await service.saveMany(saves)
      for (const id of deletes) await service.delete(id)
    }
  }
}

async function sleep (ms: number): Promise<void> {
  await new Promise<void>((resolve) => { setTimeout(resolve, ms) })
}
