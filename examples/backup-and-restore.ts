// Backups: a full backup, then a changed-only one, verified and restored into a new store.
//
//   npx tsx examples/backup-and-restore.ts
//
// Everything happens in a fresh temp directory, removed at the end. The store keeps working
// while a backup runs: each backup reads one LevelDB snapshot, so it holds the store exactly
// as of one committed version.

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FlowStore, restoreBackup, verifyBackup } from '../src/index.ts'
import { type GeneratedFlow, generateFlows, mutateFlow } from './generate-flows.ts'

const COUNT = 5000

function kib (bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`
}

const work = await mkdtemp(join(tmpdir(), 'flowstore-backup-example-'))
try {
  // 1. A store with a few thousand realistic flows.
  const store = await FlowStore.open<GeneratedFlow>(join(work, 'live'))
  const flows = generateFlows(COUNT)
  await store.saveMany(flows)
  console.log(`store: ${store.size} flows, version ${store.version}, id ${store.storeId}`)

  // 2. A full backup: every flow, copied byte for byte (nothing is decoded), gzip-compressed.
  const full = await store.backup(join(work, 'full.fsbk'))
  console.log(`full backup:         ${full.flows} flows, ${kib(full.bytes)}, version ${full.version}, ${full.durationMs.toFixed(0)} ms`)

  // 3. Some work: 50 flows edited, 10 deleted.
  await store.saveMany(flows.slice(0, 50).map((flow) => mutateFlow(flow, 1)))
  for (const flow of flows.slice(100, 110)) await store.delete(flow.id)

  // 4. A changed-only backup since the full one: just those 50 flows and 10 deletions, read
  //    from the store's change record (no scan of the 5,000 flows). Both backups record the
  //    store's id: a changed-only backup is only ever taken, or restored, on a backup of the
  //    same store.
  const changes = await store.backup(join(work, 'changes.fsbk'), { since: full })
  console.log(`changed-only backup: ${changes.flows} flows + ${changes.deletions} deletions, ${kib(changes.bytes)}, version ${changes.baseVersion} → ${changes.version}`)

  // 5. Verify both files: gzip, header, every record, counts and the sha256 checksum.
  for (const file of [full.file, changes.file]) {
    const report = await verifyBackup(file)
    console.log(`verify ${report.kind?.padEnd(7)}: ${report.ok ? 'ok' : report.problems.join('; ')}`)
  }

  // 6. Restore the chain (full first, then the changed-only backups in order) into a new
  //    location. It is built aside and moved in only once every check has passed.
  const restored = await restoreBackup([full.file, changes.file], join(work, 'restored'))
  console.log(`restored: ${restored.flows} flows at version ${restored.version} in ${restored.durationMs.toFixed(0)} ms`)

  // 7. Compare: the same flows, byte for byte, with the same versions.
  const copy = await FlowStore.open<GeneratedFlow>(restored.location)
  let same = copy.size === store.size && copy.version === store.version
  for (const [id] of store.flows) {
    const a = store.lazy(id)!
    const b = copy.lazy(id)
    if (b === undefined || b.version !== a.version || Buffer.compare(a.bytes, b.bytes) !== 0) same = false
  }
  console.log(same ? 'the restored store equals the live one' : 'MISMATCH between the restored and the live store')
  // The restored store has an id of its own: from here on its history may differ from the
  // live store's, so its changed-only backups never chain onto the live store's backups.
  console.log(`restored store id ${copy.storeId} (${copy.storeId === store.storeId ? 'SAME as' : 'differs from'} the live store's)`)
  await copy.close()
  await store.close()
  if (!same) process.exitCode = 1
} finally {
  await rm(work, { recursive: true, force: true })
}
