// Many processes, one store: a Node cluster. The primary process owns the store (LevelDB
// admits one process per database) and serves it on a unix socket; two worker processes use
// it through FlowService: reads from their own cache, writes forwarded to the primary and
// acknowledged once committed. Each worker saves its own flows; once both are done, each
// refreshes and reads what the other one wrote. Then everything closes and the run ends.
//
//   npx tsx examples/cluster.ts                 # a fresh temp directory, removed at the end
//   npx tsx examples/cluster.ts ./my-flows      # keeps the store in ./my-flows

import cluster, { type Worker } from 'node:cluster'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Flow, FlowService, FlowStore, serveStore } from '../src/index.ts'
import { generateFlows } from './generate-flows.ts'

const WORKERS = 2
const SAVES_PER_WORKER = 20

if (cluster.isPrimary) {
  await primary()
} else {
  await worker()
}

async function primary (): Promise<void> {
  const keep = process.argv[2]
  const directory = keep ?? await mkdtemp(join(tmpdir(), 'flowstore-cluster-'))
  const store = await FlowStore.open(directory)
  try {
    if (store.size === 0) await store.saveMany(generateFlows(100))
    const server = await serveStore(store)
    console.log(`primary ${process.pid}: owns ${store.size} flows at ${directory}, serving on ${server.path}`)

    const workers: Worker[] = []
    for (let i = 1; i <= WORKERS; i++) workers.push(cluster.fork({ FLOWSTORE_DIR: directory, WORKER_NAME: `w${i}` }))
    const exits = workers.map((w) => new Promise<number>((resolve) => { w.once('exit', (code) => { resolve(code) }) }))

    // A barrier over the cluster's IPC channel: once every worker's saves are acknowledged,
    // tell them all to look at each other's work.
    let saved = 0
    for (const w of workers) {
      w.on('message', (message: unknown) => {
        if (message !== 'saved' || ++saved < WORKERS) return
        for (const each of workers) each.send('read')
      })
    }
    const codes = await Promise.all(exits)
    if (codes.some((code) => code !== 0)) throw new Error(`a worker failed (exit codes ${codes.join(', ')})`)
    console.log(`primary: done — ${store.size} flows, store version ${store.version}`)
  } finally {
    await store.close()
    if (keep === undefined) await rm(directory, { recursive: true, force: true })
  }
}

async function worker (): Promise<void> {
  const name = process.env.WORKER_NAME!
  // Reads come from this process's cache; after ttlMs the next read checks the owner's
  // version in the background (and fetches only what changed).
  const service = await FlowService.connect(process.env.FLOWSTORE_DIR!, { ttlMs: 1000 })
  console.log(`worker ${name} (pid ${process.pid}): connected, ${service.flows.size} flows in its cache`)

  const started = performance.now()
  for (let i = 0; i < SAVES_PER_WORKER; i++) {
    // Resolves once the primary has committed it to LevelDB.
    await service.save({ id: `${name}-note-${i}`, author: name, text: `note ${i} from ${name}`, at: new Date() })
  }
  const perSave = (performance.now() - started) / SAVES_PER_WORKER
  console.log(`worker ${name}: ${SAVES_PER_WORKER} saves acknowledged (${perSave.toFixed(2)} ms each, round trip)`)
  process.send!('saved')

  await new Promise<void>((resolve) => { process.once('message', () => { resolve() }) })
  const fetchedBefore = service.stats.recordsFetched
  await service.refresh() // the legacy force_refresh: only the changes since the cached version
  const others = [...service.flows.values()].filter((flow: Flow) => typeof flow.author === 'string' && flow.author !== name)
  console.log(`worker ${name}: sees ${service.flows.size} flows, ${others.length} written by the other worker ` +
    `(the refresh fetched ${service.stats.recordsFetched - fetchedBefore} records, not ${service.flows.size})`)
  await service.close()
  process.disconnect()
}
