// Migrating from the legacy flows.json: the old repository kept every flow in one JSON
// object keyed by id, rewritten whole on every save. This example writes such a file (with
// a few bad records in it, as real files tend to have), imports it into a store, imports it
// again to show that a rerun changes nothing, and exports the store back to JSON.
//
//   npx tsx examples/migrate-legacy-json.ts
//
// The same from the command line:
//   flowstore import ./flows.json --to ./flows-db
//   flowstore export ./flows-db ./flows-again.json --pretty

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exportJson, FlowStore, importLegacyJson, type ImportReport } from '../src/index.ts'
import { generateFlows } from './generate-flows.ts'

const COUNT = 1000

function summary (report: ImportReport): string {
  return `${report.total} records: ${report.imported} imported, ${report.unchanged} unchanged, ` +
    `${report.skippedCount} skipped → store version ${report.version}`
}

const directory = await mkdtemp(join(tmpdir(), 'flowstore-migrate-'))
try {
  // 1. A legacy file, pretty-printed and keyed by id like the old JsonFlowRepository wrote it.
  const legacy: Record<string, unknown> = {}
  for (const flow of generateFlows(COUNT)) legacy[flow.id] = flow
  // Three bad records: a key whose record names another id, a record that is not an
  // object, and a number the store cannot keep exactly (-0 would come back as 0).
  legacy['flow-broken-1'] = { id: 'someone-else', name: 'copied under the wrong key' }
  legacy['flow-broken-2'] = 'TODO: write this flow'
  const legacyFile = join(directory, 'flows.json')
  await writeFile(legacyFile, JSON.stringify(legacy, null, 2).replace('"flow-000000": {', '"flow-minus-zero": { "x": -0 },\n  "flow-000000": {'))
  console.log(`wrote ${legacyFile} (${COUNT} flows and 3 bad records)\n`)

  // 2. Import. The file is streamed, so its size does not matter; flows are saved in batches.
  const store = await FlowStore.open(join(directory, 'flows-db'))
  const first = await importLegacyJson(store, legacyFile)
  console.log(`first import:  ${summary(first)}`)
  for (const skipped of first.skipped) console.log(`  skipped key ${JSON.stringify(skipped.key)}: ${skipped.reason}`)

  // 3. Import again: every flow is already stored with the same value, so nothing is written
  //    and the store version does not move. Safe to rerun after an interrupted migration.
  const versionBefore = store.version
  const second = await importLegacyJson(store, legacyFile)
  console.log(`\nsecond import: ${summary(second)}`)
  console.log(`store version unchanged: ${store.version === versionBefore}`)

  // 4. And back: one JSON object keyed by id, written to a temp file and renamed into place.
  const exported = await exportJson(store, join(directory, 'flows-again.json'), { pretty: true })
  const roundTrip = JSON.parse(await readFile(exported.file, 'utf8')) as Record<string, unknown>
  console.log(`\nexported ${exported.flows} flows (${exported.bytes} bytes) to ${exported.file}`)
  console.log(`flow-000042 came back unchanged: ${JSON.stringify(roundTrip['flow-000042']) === JSON.stringify(legacy['flow-000042'])}`)
  await store.close()
} finally {
  await rm(directory, { recursive: true, force: true })
}
