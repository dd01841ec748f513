// Keeps a Node-RED runtime running what the store holds when other processes change it.
//
// Every change committed to the store (by this process or another) is reported here. After
// a short delay that gathers a burst into one check, the storage module compares what the
// store holds with what it last gave the runtime or saved for it; only when they differ is
// the runtime told to reload its flows, as a `reload` deployment does (the runtime then asks
// the storage module for the flows and credentials again, and tells its editors the flows
// changed). Our own deploys are therefore never reloaded.
//
// Node-RED serialises the deploys of its admin API with a lock it does not expose; a reload
// can overlap a deploy. So after a reload the runtime's rev is compared with the rev of what
// the storage last gave or saved, and a mismatch reloads again (a few times at most).

export interface Runtime {
  readonly log?: { info?: (message: string) => void, warn?: (message: string) => void }
  readonly events?: { on?: unknown, removeListener?: unknown }
  readonly flows?: {
    loadFlows?: (forceStart?: boolean) => Promise<unknown>
    getFlows?: () => { rev?: string } | null | undefined
  }
}

export interface ReloaderHooks {
  /**
   * Whether the store holds flows or credentials other than what the runtime was last given
   * or saved: `ids` changed (undefined: anything may have).
   */
  runtimeIsBehind (ids: readonly string[] | undefined): Promise<boolean>
  /** The rev of the flows the runtime was last given or saved. */
  expectedRev (): string
  log (level: 'info' | 'warn', message: string): void
}

/** How long changes are gathered before they are compared (one check for a burst). */
const CHECK_DELAY_MS = 25
/** While the runtime has not loaded its flows yet, check again after this long. */
const STARTING_DELAY_MS = 100
/** Reloads in a row while the runtime and the store still disagree. */
const MAX_RELOADS = 3

export class Reloader {
  readonly #runtime: Runtime | undefined
  readonly #hooks: ReloaderHooks
  readonly #changed = new Set<string>()
  #changedAll = false
  #timer: ReturnType<typeof setTimeout> | undefined
  #reloading = false
  #again = false
  #closed = false

  constructor (runtime: Runtime | undefined, hooks: ReloaderHooks) {
    this.#runtime = runtime
    this.#hooks = hooks
  }

  /** Records changed in the store (undefined: anything may have, e.g. after a hand-over). */
  changed (ids: readonly string[] | undefined): void {
    if (this.#closed) return
    if (ids === undefined) this.#changedAll = true
    else for (const id of ids) this.#changed.add(id)
    this.#schedule(CHECK_DELAY_MS)
  }

  close (): void {
    this.#closed = true
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #schedule (delay: number): void {
    if (this.#timer !== undefined || this.#closed || (this.#changed.size === 0 && !this.#changedAll)) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      const ids = this.#changedAll ? undefined : [...this.#changed]
      this.#changed.clear()
      this.#changedAll = false
      this.#hooks.runtimeIsBehind(ids)
        .then((behind) => { if (behind) void this.#reload() })
        .catch((err: unknown) => { this.#hooks.log('warn', `flowstore: cannot check the store for changes: ${String(err)}`) })
    }, delay)
    this.#timer.unref()
  }

  async #reload (): Promise<void> {
    if (this.#reloading) {
      this.#again = true
      return
    }
    const flows = this.#runtime?.flows
    if (typeof flows?.loadFlows !== 'function' || typeof flows.getFlows !== 'function') return
    this.#reloading = true
    try {
      for (let round = 0; !this.#closed; round++) {
        if (flows.getFlows() == null) {
          // The runtime is still loading: check again once it has.
          this.#changedAll = true
          this.#schedule(STARTING_DELAY_MS)
          return
        }
        this.#again = false
        this.#hooks.log('info', 'flowstore: another instance changed the flows in the store; reloading them')
        await flows.loadFlows()
        if (!this.#again && flows.getFlows()?.rev === this.#hooks.expectedRev()) return
        if (round + 1 >= MAX_RELOADS) {
          this.changed(undefined)
          return
        }
      }
    } catch (err) {
      this.#hooks.log('warn', `flowstore: reloading the flows failed: ${String(err)}`)
    } finally {
      this.#reloading = false
    }
  }
}
