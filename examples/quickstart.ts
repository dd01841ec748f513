// Quick start: a real LevelDB store with 1,000 realistic flows. It saves them, reads them
// (lazily decoded, from memory), updates a few, flushes, reopens, and prints what happened
// with timings.
//
//   npm run demo                 # uses a fresh temp directory, removed at the end
//   npx tsx examples/quickstart.ts ./my-flows   # keeps the store in ./my-flows

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FlowStore } from '../src/index.ts'
import { type GeneratedFlow, generateFlows, mutateFlow } from './generate-flows.ts'

const COUNT = 1000

function ms (start: number): string {
  return `${(performance.now() - start).toFixed(2)} ms`
}

const keep = process.argv[2]
const directory = keep ?? await mkdtemp(join(tmpdir(), 'flowstore-quickstart-'))
console.log(`flowstore quick start — LevelDB at ${directory}\n`)

try {
  // 1. Open (creates the directory) and save 1,000 flows: one atomic batch.
  let start = performance.now()
  let store = await FlowStore.open<GeneratedFlow>(directory)
  console.log(`opened an empty store (version ${store.version})`.padEnd(58), ms(start))

  const flows = generateFlows(COUNT)
  start = performance.now()
  await store.saveMany(flows)
  console.log(`saved ${COUNT} flows in one batch → version ${store.version}`.padEnd(58), ms(start))

  // 2. Reads are synchronous, from memory. `flows` is a live read-only view: no copy.
  start = performance.now()
  let nodes = 0
  for (const flow of store.flows.values()) nodes += flow.nodes.length
  console.log(`read every flow through store.flows (${nodes} nodes)`.padEnd(58), ms(start))

  start = performance.now()
  for (let i = 0; i < 10_000; i++) store.flows.get(flows[i % COUNT]!.id)
  console.log('10,000 reads of store.flows.get (0 disk reads)'.padEnd(58), ms(start))

  // 3. Update: the cache shows the change at once; the promise resolves once committed.
  const first = store.get('flow-000000')!
  start = performance.now()
  await store.save({ ...first, name: 'Renamed in the quick start' })
  console.log('saved one changed flow (awaited commit)'.padEnd(58), ms(start))

  // Ten saves in one turn are coalesced into one batch.
  start = performance.now()
  const batchesBefore = store.batches
  await Promise.all(flows.slice(1, 11).map((flow, i) => store.save(mutateFlow(flow, i + 1))))
  console.log(`saved 10 flows in one turn → ${store.batches - batchesBefore} batch`.padEnd(58), ms(start))

  // A transaction: all or nothing.
  start = performance.now()
  await store.transaction((tx) => {
    tx.delete('flow-000999')
    tx.save({ ...flows[998]!, name: 'Kept by a transaction' })
  })
  console.log(`transaction: 1 delete + 1 save → version ${store.version}`.padEnd(58), ms(start))

  // Refused values never reach the disk: here a Map, which msgpack would turn into an object.
  try {
    await store.save({ ...flows[0]!, lookup: new Map([['a', 1]]) })
  } catch (err) {
    console.log(`refused: ${(err as Error & { code: string }).code} — ${(err as Error).message}`)
  }

  const changed = await store.changesSince(1)
  console.log(`changes since version 1: ${changed.changes.length} ids (${changed.changes.filter((c) => c.deleted).length} deleted)`)

  start = performance.now()
  await store.flush()
  await store.close()
  console.log('flushed and closed'.padEnd(58), ms(start))

  // 4. Reopen: one sequential scan loads every record's bytes; nothing is decoded yet.
  start = performance.now()
  store = await FlowStore.open<GeneratedFlow>(directory)
  console.log(`reopened: ${store.size} flows, version ${store.version}`.padEnd(58), ms(start))
  const lazy = store.lazy('flow-000000')!
  console.log(`flow-000000: ${lazy.bytes.length} bytes stored, decoded yet: ${lazy.decoded}`)
  console.log(`flow-000000 name: "${lazy.value.name}", decoded now: ${lazy.decoded}`)
  console.log(`flow-000999 after the transaction: ${store.has('flow-000999') ? 'present' : 'deleted'}`)
  await store.close()
} finally {
  if (keep === undefined) await rm(directory, { recursive: true, force: true })
}
