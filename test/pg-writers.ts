// Parent side of the PostgreSQL multi-process tests: starts writer processes
// (fixtures/pg-writer.ts), collects what each acknowledged, watches the change record from
// outside while they run, reads the database at the end, and checks the history they tell
// against it.

import { expect } from 'vitest'
import { openPostgresEngine, type PostgresEngine } from '../src/engine/postgres.ts'
import { HEADER_BYTES, recordVersion } from '../src/layout.ts'
import { unpack } from 'msgpackr'
import { type Child, startChild } from './fixtures/child.ts'

export interface Write {
  readonly id: string
  readonly version: number | undefined
  readonly deleted: boolean
  readonly marker: string | undefined
}

export interface Ack {
  readonly writer: string
  readonly op: string
  readonly writes: readonly Write[]
}

export type Event = [id: string, version: number, deleted: boolean, marker: string | null]

export interface Dump {
  readonly version: number
  readonly flows: Array<[string, string]>
  readonly events: Event[]
}

/** A writer process and what it reported. */
export class Writer {
  readonly name: string
  readonly child: Child
  readonly acks: Ack[] = []
  readonly fails: string[] = []
  /** The store version the writer's store opened at. */
  openedAt = 0
  done = false

  constructor (url: string, name: string, rounds: number | 'loop', seed: number) {
    this.name = name
    this.child = startChild('pg-writer.ts', url, name, String(rounds), String(seed))
    this.child.onLine((line) => {
      const message = JSON.parse(line) as { t: string, op?: string, writes?: Write[], code?: string, version?: number }
      if (message.t === 'ready') this.openedAt = message.version!
      if (message.t === 'ack') this.acks.push({ writer: name, op: message.op!, writes: message.writes! })
      if (message.t === 'fail') this.fails.push(message.code!)
      if (message.t === 'done') this.done = true
    })
  }

  async ready (): Promise<void> {
    await this.child.waitForLine((line) => line.startsWith('{"t":"ready"'))
  }

  go (): void {
    this.child.send('go')
  }

  async finished (): Promise<void> {
    await this.child.waitForLine((line) => line.startsWith('{"t":"done"'))
  }

  /** What the writer's cache holds once it has caught up to `version` (no refresh). */
  async dump (version: number): Promise<Dump> {
    const before = this.child.lines.length
    this.child.send(`dump ${version}`)
    const line = await this.child.waitForLine((text) => text.startsWith('{"t":"dump"') && this.child.lines.indexOf(text) >= before)
    return JSON.parse(line) as Dump
  }

  async exit (): Promise<void> {
    this.child.send('exit')
    const exit = await this.child.exited
    expect(exit, this.child.stderr).toEqual({ code: 0, signal: null })
  }
}

/** Starts writers, and their workloads together once every one of them is ready. */
export async function startWriters (url: string, specs: ReadonlyArray<{ name: string, rounds: number | 'loop', seed: number }>): Promise<Writer[]> {
  const writers = specs.map(({ name, rounds, seed }) => new Writer(url, name, rounds, seed))
  await Promise.all(writers.map(async (writer) => { await writer.ready() }))
  for (const writer of writers) writer.go()
  return writers
}

/** How often consecutive versions were committed by different writers. */
export function interleavings (writers: readonly Writer[]): number {
  const owners = acknowledged(writers).map((write) => write.writer)
  let count = 0
  for (let i = 1; i < owners.length; i++) if (owners[i] !== owners[i - 1]) count++
  return count
}

/** Waits (bounded polling) until `check` holds. */
export async function until (check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** A row of the flows table: a saved flow (its marker) or a tombstone. */
export interface Row {
  readonly version: number
  readonly deleted: boolean
  readonly marker: string | undefined
}

export interface Database {
  readonly version: number
  /** Every row, tombstones included. */
  readonly rows: Map<string, Row>
  /** The saved flows: id → marker. */
  readonly flows: Map<string, string>
}

/** Reads the whole store as a new process would (one REPEATABLE READ snapshot). */
export async function readDatabase (url: string): Promise<Database> {
  const engine = openPostgresEngine(url, { create: false })
  try {
    const rows = new Map<string, Row>()
    const flows = new Map<string, string>()
    const state = await engine.load((id, record) => {
      const { marker } = unpack(record.subarray(HEADER_BYTES)) as { marker: string }
      rows.set(id, { version: recordVersion(record)!, deleted: false, marker })
      flows.set(id, marker)
    })
    for (const [id, version] of state.tombstones ?? []) rows.set(id, { version, deleted: true, marker: undefined })
    return { version: state.version, rows, flows }
  } finally {
    await engine.close()
  }
}

/**
 * Reads "changes since" over and over while the writers run, as a client catching up would:
 * each answer must continue the last one (its changes after the last version, in version
 * order, up to its own version), and applying every answer in turn must end at what the
 * database holds: no answer may miss a commit at or below its version.
 */
export class ChangeObserver {
  readonly #engine: PostgresEngine
  readonly rows = new Map<string, { version: number, deleted: boolean }>()
  version = 0
  answers = 0
  #running = true
  #loop: Promise<void> | undefined

  private constructor (engine: PostgresEngine) {
    this.#engine = engine
  }

  static async start (url: string): Promise<ChangeObserver> {
    const engine = openPostgresEngine(url)
    await engine.load(() => {})
    const observer = new ChangeObserver(engine)
    observer.#loop = observer.#run()
    return observer
  }

  async #run (): Promise<void> {
    while (this.#running) {
      await this.poll()
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  async poll (): Promise<void> {
    const answer = await this.#engine.changesSince(this.version)
    expect(answer.version).toBeGreaterThanOrEqual(this.version)
    let last = this.version
    for (const change of answer.changes) {
      expect(change.version).toBeGreaterThan(this.version)
      expect(change.version).toBeLessThanOrEqual(answer.version)
      expect(change.version).toBeGreaterThanOrEqual(last)
      last = change.version
      this.rows.set(change.id, { version: change.version, deleted: change.deleted })
    }
    this.version = answer.version
    this.answers++
  }

  async stop (): Promise<void> {
    this.#running = false
    await this.#loop
    await this.poll()
    await this.#engine.close()
  }
}

/** Every acknowledged write, in commit order (a writer's acks of one commit in the order it made them). */
export function acknowledged (writers: readonly Writer[]): Array<Write & { writer: string, op: string }> {
  const all = writers.flatMap((writer) => writer.acks.flatMap((ack) => ack.writes.map((write) => ({ ...write, writer: ack.writer, op: ack.op }))))
  for (const write of all) {
    expect(write.version ?? 0, `${write.writer} acknowledged ${JSON.stringify(write)} without a committed version ${writers.map((w) => w.child.stderr).join('\n')}`).toBeGreaterThan(0)
  }
  // Stable: equal versions keep the order in which their writer acknowledged them.
  return all.sort((a, b) => a.version! - b.version!)
}

/** Checks the history the writers acknowledged against the database. */
export function checkHistory (writers: readonly Writer[], db: Database, options: { complete: boolean }): void {
  const writes = acknowledged(writers)
  // One commit belongs to one writer; the writes of one acknowledgement (a transaction, a
  // saveMany) share one commit.
  const owner = new Map<number, string>()
  for (const write of writes) {
    const known = owner.get(write.version!)
    if (known !== undefined) expect(known, `version ${write.version} acknowledged by two writers: ${JSON.stringify(writes.filter((other) => other.version === write.version))}`).toBe(write.writer)
    owner.set(write.version!, write.writer)
  }
  for (const writer of writers) {
    for (const ack of writer.acks) expect(new Set(ack.writes.map((write) => write.version)).size, `${ack.op} of ${writer.name} split over commits`).toBe(1)
  }
  // Every acknowledged write is in the database, or a later commit replaced it.
  for (const write of writes) {
    const row = db.rows.get(write.id)
    expect(row, `${write.id} (acknowledged at version ${write.version}) is missing`).toBeDefined()
    expect(row!.version).toBeGreaterThanOrEqual(write.version!)
    if (row!.version === write.version) {
      const last = writes.filter((other) => other.id === write.id && other.version === write.version).at(-1)!
      expect({ deleted: row!.deleted, marker: row!.marker }).toEqual({ deleted: last.deleted, marker: last.marker })
    }
  }
  if (!options.complete) return
  // With no failures, the acknowledged writes are the whole history: versions 1..N, each
  // commit once, and the last write of each id is what the database holds.
  expect([...owner.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: db.version }, (_, i) => i + 1))
  const final = new Map<string, Row>()
  for (const write of writes) final.set(write.id, { version: write.version!, deleted: write.deleted, marker: write.marker })
  expect(db.rows).toEqual(final)
}

/** Checks a writer's cache and change events against the database. */
export function checkConverged (dump: Dump, db: Database, openedAt: number): void {
  expect(dump.version).toBe(db.version)
  expect(new Map(dump.flows)).toEqual(db.flows)
  // Every row's last change after the store opened was announced to it, its own or another's.
  const announced = new Set(dump.events.map(([id, version, deleted]) => `${id}@${version}:${String(deleted)}`))
  for (const [id, row] of db.rows) if (row.version > openedAt) expect(announced.has(`${id}@${row.version}:${String(row.deleted)}`), `${id}@${row.version} was not announced`).toBe(true)
}

/** No write applied twice: a marker (one save) shows up at one version only, in every store's events. */
export function checkAppliedOnce (dumps: readonly Dump[]): void {
  const versions = new Map<string, Set<number>>()
  for (const dump of dumps) {
    for (const [, version, , marker] of dump.events) {
      if (marker === null) continue
      const seen = versions.get(marker) ?? new Set<number>()
      seen.add(version)
      versions.set(marker, seen)
    }
  }
  for (const [marker, seen] of versions) expect([...seen], `${marker} was committed more than once`).toHaveLength(1)
}
