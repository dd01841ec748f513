// Benchmark baseline: a faithful port of the legacy Python `JsonFlowRepository`
// (plus the `FlowService.flows` property) that flowstore replaces.
//
// It is DELIBERATELY SLOW. Do not "fix" it: the benchmark exists to measure
// flowstore against what the old system really did, which was:
//   - every read re-reads and JSON.parses the whole flows.json and converts
//     every record into a Flow object (modelled as a per-record deep copy);
//     the legacy cache was invalidated after every file write, so every call
//     reloaded; it is modelled as what it effectively was: no cache;
//   - loadAll() hands out another deep copy of everything on each call;
//   - every save/delete backs up the whole file (flows.json -> flows.json.bak)
//     and rewrites the whole file as pretty-printed JSON;
//   - all I/O is synchronous, as in the original.
// File format: one JSON object keyed by flow id. A missing file is an empty store.

import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'

export class LegacyJsonFlowRepository<F extends { id: string }> {
  /** Whole-file reads so far; the benchmark reports it to show the I/O amplification. */
  diskReads = 0
  readonly #file: string

  constructor(file: string) {
    this.#file = file
  }

  /** Reloads the whole file and returns a deep copy, on every call (legacy `load_all`). */
  loadAll(): Map<string, F> {
    const loaded = this.#loadFromDisk()
    // The legacy code returned a deepcopy so callers couldn't mutate its state.
    const copy = new Map<string, F>()
    for (const [id, flow] of loaded) copy.set(id, structuredClone(flow))
    return copy
  }

  get(id: string): F | undefined {
    return this.loadAll().get(id)
  }

  save(flow: F): void {
    const flows = this.loadAll()
    flows.set(flow.id, flow)
    this.saveAll(flows)
  }

  delete(id: string): boolean {
    const flows = this.loadAll()
    if (!flows.delete(id)) return false
    this.saveAll(flows)
    return true
  }

  /** Backs up the current file, then rewrites the whole store, pretty-printed. */
  saveAll(flows: Map<string, F>): void {
    try {
      copyFileSync(this.#file, `${this.#file}.bak`)
    } catch (err) {
      // First write: there is nothing to back up yet.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    // Object.fromEntries defines own properties, so an id like "__proto__" is kept.
    writeFileSync(this.#file, JSON.stringify(Object.fromEntries(flows), null, 2))
  }

  /** The legacy `FlowService.flows` property: a full reload on every access. */
  getFlows(): Map<string, F> {
    return this.loadAll()
  }

  // Legacy `_load_from_disk`: read + parse everything, then build a Flow per record.
  #loadFromDisk(): Map<string, F> {
    let text: string
    try {
      text = readFileSync(this.#file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map()
      throw err
    }
    this.diskReads++
    const raw = JSON.parse(text) as Record<string, F>
    const flows = new Map<string, F>()
    // structuredClone stands in for `Flow(**record)`: one object graph built per record.
    for (const [id, record] of Object.entries(raw)) flows.set(id, structuredClone(record))
    return flows
  }
}
