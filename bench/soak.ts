// Soak: a sustained mixed load on a large store, to show that memory stays flat and nothing is
// lost over time. `npm run soak -- --minutes N [--flows 100000] [--backup-seconds 5]`.
//
// A store of --flows generated flows (examples/generate-flows.ts) is built in a temp dir, then
// for --minutes: writer loops save (mutate or re-create) and delete flows, each save awaited
// and timed; a reader loop reads random flows; every --backup-seconds a changed-only backup is
// taken against the previous one (a full one at the start). Every minute it prints throughput
// per kind, the latency of awaited saves (p50/p99/max) and memory (rss, heapUsed, external).
// At the end: a final flush and a last backup, then the backup chain is restored into a new
// store and compared with the store exactly (every id, its stored bytes and version), and the
// store with a model of every acknowledged write (a hash per id). Prints OK, or the mismatches
// and exits 1.

import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { availableParallelism, freemem, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { generateFlow, type GeneratedFlow, mutateFlow } from '../examples/generate-flows.ts'
import { FlowStore, restoreBackup } from '../src/index.ts'
import type { BackupInfo } from '../src/index.ts'

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    flows: { type: 'string', default: '100000' },
    'backup-seconds': { type: 'string', default: '5' },
    writers: { type: 'string', default: '4' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false }
  }
})

if (values.help) {
  process.stdout.write([
    'Usage: npm run soak -- [--minutes 10] [--flows 100000] [--backup-seconds 5] [--writers 4] [--dir <dir>] [--keep]',
    '',
    'Sustained mixed load (awaited saves, deletes, reads, a backup every few seconds) on a',
    'large store; prints throughput, save latency and memory every minute; at the end restores',
    'the backup chain and compares it with the store exactly. Exits 1 on any mismatch.',
    ''
  ].join('\n'))
  process.exit(0)
}

function positive (name: string, text: string | undefined): number {
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`soak: --${name} takes a positive number, got ${JSON.stringify(text)}\n`)
    process.exit(2)
  }
  return n
}

const MINUTES = positive('minutes', values.minutes)
const FLOWS = Math.floor(positive('flows', values.flows))
const BACKUP_MS = positive('backup-seconds', values['backup-seconds']) * 1000
const WRITERS = Math.floor(positive('writers', values.writers))
const BUILD_CHUNK = 5000
const READS_PER_TURN = 200
const MIB = 1024 * 1024

function hashOf (flow: unknown): string {
  return createHash('sha1').update(JSON.stringify(flow)).digest('base64')
}

function mib (bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`
}

function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
}

function ms (value: number): string {
  return value < 1 ? `${(value * 1000).toFixed(0)} µs` : `${value.toFixed(1)} ms`
}

function log (line: string): void {
  process.stdout.write(line + '\n')
}

const root = values.dir ?? await mkdtemp(join(tmpdir(), 'flowstore-soak-'))
const dbDir = join(root, 'db')
const backupDir = join(root, 'backups')
const restoreDir = join(root, 'restored')
await mkdir(backupDir, { recursive: true })

log(`soak: ${MINUTES} minute(s), ${FLOWS.toLocaleString('en')} flows, ${WRITERS} writer(s), a backup every ${BACKUP_MS / 1000} s, in ${root}`)
log(`machine: ${availableParallelism()} cores, ${mib(totalmem())} RAM (${mib(freemem())} free), load ${loadavg().map((l) => l.toFixed(2)).join(' ')}; node ${process.version}`)

// The model: per id, the hash of the last acknowledged value, or null once deleted.
const model = new Map<string, string | null>()
/** The current value of each index's flow as this process wrote it (its revision). */
const revisions = new Int32Array(FLOWS)

const buildStarted = performance.now()
const store = await FlowStore.open<GeneratedFlow>(dbDir)
for (let start = 0; start < FLOWS; start += BUILD_CHUNK) {
  const chunk: GeneratedFlow[] = []
  for (let i = start; i < Math.min(FLOWS, start + BUILD_CHUNK); i++) {
    const flow = generateFlow(i)
    chunk.push(flow)
    model.set(flow.id, hashOf(flow))
  }
  await store.saveMany(chunk)
}
log(`built ${store.size.toLocaleString('en')} flows in ${((performance.now() - buildStarted) / 1000).toFixed(1)} s`)

const memoryAtStart = process.memoryUsage()
const chain: BackupInfo[] = []
let failure: unknown

interface Counters {
  saves: number
  deletes: number
  reads: number
  backups: number
  backupBytes: number
  latencies: number[]
}
const fresh = (): Counters => ({ saves: 0, deletes: 0, reads: 0, backups: 0, backupBytes: 0, latencies: [] })
let minute = fresh()
const total = fresh()

const deadline = Date.now() + MINUTES * 60_000
const running = (): boolean => failure === undefined && Date.now() < deadline

function idOf (index: number): string {
  return `flow-${String(index).padStart(6, '0')}`
}

async function writer (w: number): Promise<void> {
  // Each writer owns the indexes i with i % WRITERS === w: per id, writes are in order.
  let seed = 0x9e3779b9 ^ (w * 7919)
  const random = (): number => {
    seed = (seed * 1664525 + 1013904223) >>> 0
    return seed / 2 ** 32
  }
  const owned = Math.ceil((FLOWS - w) / WRITERS)
  while (running()) {
    const index = w + WRITERS * Math.floor(random() * owned)
    if (index >= FLOWS) continue
    const id = idOf(index)
    const current = store.get(id)
    const started = performance.now()
    if (current !== undefined && random() < 0.1) {
      const done = store.delete(id)
      model.set(id, null)
      await done
      minute.deletes++
    } else {
      revisions[index]! += 1
      const next = current === undefined ? generateFlow(index) : mutateFlow(current, revisions[index]!)
      const done = store.save(next)
      model.set(id, hashOf(next))
      await done
      minute.saves++
      minute.latencies.push(performance.now() - started)
    }
  }
}

async function reader (): Promise<void> {
  let seed = 12345
  while (running()) {
    for (let i = 0; i < READS_PER_TURN; i++) {
      seed = (seed * 1664525 + 1013904223) >>> 0
      const flow = store.get(idOf(seed % FLOWS))
      if (flow !== undefined && typeof flow.id !== 'string') throw new Error('read a flow without an id')
      minute.reads++
    }
    await yieldToLoop()
  }
}

async function backup (): Promise<void> {
  const previous = chain.at(-1)
  const info = await store.backup(join(backupDir, `backup-${String(chain.length).padStart(5, '0')}.fsbk`), previous === undefined ? {} : { since: previous })
  chain.push(info)
  minute.backups++
  minute.backupBytes += info.bytes
}

async function backups (): Promise<void> {
  while (running()) {
    const next = Date.now() + BACKUP_MS
    await backup()
    while (running() && Date.now() < next) await new Promise((resolve) => setTimeout(resolve, Math.min(250, next - Date.now())))
  }
}

function report (label: string, counters: Counters, seconds: number): void {
  const sorted = counters.latencies.slice().sort((a, b) => a - b)
  const memory = process.memoryUsage()
  const rate = (n: number): string => `${Math.round(n / seconds).toLocaleString('en')}/s`
  log(`${label}: saves ${rate(counters.saves)}, deletes ${rate(counters.deletes)}, reads ${rate(counters.reads)}, ` +
    `backups ${counters.backups} (${mib(counters.backupBytes)}); save latency p50 ${ms(percentile(sorted, 0.5))} p99 ${ms(percentile(sorted, 0.99))} max ${ms(sorted.at(-1) ?? 0)}; ` +
    `rss ${mib(memory.rss)} heapUsed ${mib(memory.heapUsed)} external ${mib(memory.external)}; ` +
    `flows ${store.size.toLocaleString('en')}, version ${store.version.toLocaleString('en')}; load ${loadavg()[0]!.toFixed(2)}`)
}

function accumulate (): void {
  total.saves += minute.saves
  total.deletes += minute.deletes
  total.reads += minute.reads
  total.backups += minute.backups
  total.backupBytes += minute.backupBytes
  for (const latency of minute.latencies) total.latencies.push(latency)
}

const soakStarted = performance.now()
let minuteStarted = performance.now()
let minutes = 0
const ticker = setInterval(() => {
  minutes++
  report(`minute ${minutes}`, minute, (performance.now() - minuteStarted) / 1000)
  accumulate()
  minute = fresh()
  minuteStarted = performance.now()
}, 60_000)

const work = [...Array.from({ length: WRITERS }, async (_, w) => { await writer(w) }), reader(), backups()]
const settled = await Promise.allSettled(work)
clearInterval(ticker)
for (const result of settled) if (result.status === 'rejected') failure ??= result.reason
if (minute.saves + minute.reads > 0) {
  report(`last ${((performance.now() - minuteStarted) / 1000).toFixed(0)} s`, minute, (performance.now() - minuteStarted) / 1000)
  accumulate()
}
report('overall', total, (performance.now() - soakStarted) / 1000)
const memoryAtEnd = process.memoryUsage()
log(`memory from after the build to the end: rss ${mib(memoryAtStart.rss)} -> ${mib(memoryAtEnd.rss)}, heapUsed ${mib(memoryAtStart.heapUsed)} -> ${mib(memoryAtEnd.heapUsed)}, external ${mib(memoryAtStart.external)} -> ${mib(memoryAtEnd.external)}`)

const mismatches: string[] = []
if (failure !== undefined) mismatches.push(`the load failed: ${String((failure as Error).stack ?? failure)}`)

// The end: everything committed, one last backup, the chain restored and compared.
await store.flush()
await backup()
const restoreStarted = performance.now()
const restored = await restoreBackup(chain.map((info) => info.file), restoreDir)
log(`restored ${chain.length} backup(s) (${mib(chain.reduce((sum, info) => sum + info.bytes, 0))}) in ${((performance.now() - restoreStarted) / 1000).toFixed(1)} s: version ${restored.version}, ${restored.flows.toLocaleString('en')} flows`)
const copy = await FlowStore.open<GeneratedFlow>(restoreDir)
try {
  if (copy.version !== store.version) mismatches.push(`the restored store is at version ${copy.version}, the store at ${store.version}`)
  if (copy.size !== store.size) mismatches.push(`the restored store holds ${copy.size} flows, the store ${store.size}`)
  for (const id of store.flows.keys()) {
    const mine = store.lazy(id)!
    const theirs = copy.lazy(id)
    if (theirs === undefined) mismatches.push(`${id} is missing from the restored store`)
    else if (theirs.version !== mine.version || Buffer.compare(theirs.bytes, mine.bytes) !== 0) mismatches.push(`${id} differs in the restored store`)
  }
  for (const id of copy.flows.keys()) if (!store.has(id)) mismatches.push(`${id} is in the restored store but not in the store`)
} finally {
  await copy.close()
}
// The store against the model of acknowledged writes.
let live = 0
for (const [id, hash] of model) {
  const flow = store.get(id)
  if (hash === null) {
    if (flow !== undefined) mismatches.push(`${id} was deleted but the store holds it`)
  } else {
    live++
    if (flow === undefined) mismatches.push(`${id} was saved but the store lost it`)
    else if (hashOf(flow) !== hash) mismatches.push(`${id} holds another value than the last one saved`)
  }
}
if (live !== store.size) mismatches.push(`the model holds ${live} flows, the store ${store.size}`)
await store.close()
// And what is on disk, reopened.
const reopened = await FlowStore.open<GeneratedFlow>(dbDir)
if (reopened.size !== live) mismatches.push(`after reopening, the store holds ${reopened.size} flows, the model ${live}`)
for (const [id, hash] of model) {
  const flow = reopened.get(id)
  if ((hash === null) !== (flow === undefined) || (flow !== undefined && hashOf(flow) !== hash)) {
    mismatches.push(`after reopening, ${id} differs from the model`)
  }
}
await reopened.close()

if (values.dir === undefined && !values.keep) await rm(root, { recursive: true, force: true })
if (mismatches.length === 0) {
  log(`OK: the restored backup chain equals the store exactly (${live.toLocaleString('en')} flows, version ${restored.version}), and the store (also reopened) equals the model of every acknowledged write`)
} else {
  log(`MISMATCH (${mismatches.length}):`)
  for (const line of mismatches.slice(0, 50)) log(`  ${line}`)
  process.exitCode = 1
}
