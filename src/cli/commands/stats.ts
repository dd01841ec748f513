// flowstore stats <db>: what a store holds: flows, bytes, version, deletions kept, and with
// --backups <dir> the last backup taken into that directory. On a store another process owns
// and serves (serveStore(store)), the figures come from that owner, which keeps running.

import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { type BackupEntry, isFlowStoreError, listBackups } from '../../index.ts'
import { OwnerClient } from '../../service/owner-client.ts'
import { type Command, expectPositionals, stringOption } from '../command.ts'
import { openOrReachOwner } from '../live-owner.ts'
import { formatBytes, formatCount } from '../output.ts'

export const statsCommand: Command = {
  name: 'stats',
  summary: 'show what a store holds: flows, bytes, version, deletions, last backup',
  synopsis: '<db> [options]',
  description: [
    'Reports for the store at <db> (it must exist) the number of flows, their encoded size, the',
    'size of the database on disk, the store version, the deletions it remembers (tombstones,',
    'for changed-only backups) and, with --backups <dir>, the newest backup of this store in',
    'that directory (a backup directory may also hold backups of other stores: a restored or',
    'repaired store has a new identity).',
    '',
    'A live store works too: when the application that owns <db> serves it (serveStore(store)),',
    'the figures come from it while it keeps running (the encoded size and the tombstones are',
    'not counted then: null in --json).'
  ],
  options: {
    backups: { type: 'string', value: '<dir>', help: 'a backup directory: report the newest backup of this store in it' }
  },
  store: 'first',
  whenLocked: 'Let that process serve the store (serveStore(store)) and stats asks it while it keeps running; or stop it and run stats again.',
  examples: [
    'flowstore stats ./data/flows-db',
    'flowstore stats ./data/flows-db --backups ./backups --json'
  ],
  async run (args) {
    const [db] = expectPositionals(this, args, 1, 1, '<db>')
    const backups = stringOption(args, 'backups')
    const reached = await openOrReachOwner(db!, { connect: async (dir) => await OwnerClient.connect(dir), stats: async (client) => await client.stats() })
    let stats: { db: string, storeId: string | null, flows: number, bytes: number | null, diskBytes: number | null, version: number, tombstones: number | null }
    const text: string[] = []
    if (reached.via === 'owner') {
      await reached.owner.close()
      const owner = reached.stats
      stats = {
        db: reached.directory,
        storeId: owner.storeId ?? null,
        flows: owner.size,
        bytes: null,
        diskBytes: await directorySize(reached.directory),
        version: owner.version,
        tombstones: null
      }
      text.push(
        `${stats.db} (live: from its owner, pid ${owner.pid})`,
        `  flows       ${formatCount(stats.flows)}${owner.pending > 0 ? ` (${formatCount(owner.pending)} change(s) not committed yet)` : ''}`,
        `  bytes       ${formatBytes(stats.diskBytes ?? 0)} on disk (encoded size not counted on a live store)`,
        `  version     ${stats.version}`,
        '  tombstones  not counted on a live store'
      )
    } else {
      const store = reached.store
      try {
        let bytes = 0
        for (const id of store.flows.keys()) bytes += store.lazy(id)!.bytes.length
        // The deletions the change log still holds (older ones were pruned with it).
        const { changes } = await store.changesSince(0).catch(async (err: unknown) => {
          if (isFlowStoreError(err, 'FLOWSTORE_CHANGES_PRUNED')) return await store.changesSince(err.horizon!)
          throw err
        })
        stats = {
          db: reached.directory,
          storeId: store.storeId,
          flows: store.size,
          bytes,
          // A PostgreSQL store has no directory: its size is the server's to report.
          diskBytes: store.directory === undefined ? null : await directorySize(store.directory),
          version: store.version,
          tombstones: changes.filter((change) => change.deleted).length
        }
      } finally {
        await store.close()
      }
      text.push(
        `${stats.db}`,
        `  flows       ${formatCount(stats.flows)}`,
        `  bytes       ${formatBytes(stats.bytes!)} encoded${stats.diskBytes === null ? '' : `, ${formatBytes(stats.diskBytes)} on disk`}`,
        `  version     ${stats.version}`,
        `  tombstones  ${formatCount(stats.tombstones!)}`
      )
    }
    let backupFields = {}
    if (backups !== undefined) {
      // Only this store's backups: the directory may hold those of a store it was restored from.
      const all = await listBackups(backups)
      const mine = stats.storeId === null ? [] : all.filter((entry) => entry.storeId === stats.storeId)
      const last = mine.reduce<BackupEntry | undefined>((newest, entry) => newest === undefined || entry.version > newest.version || (entry.version === newest.version && entry.createdAt > newest.createdAt) ? entry : newest, undefined)
      const others = all.length - mine.length
      const elsewhere = others === 0 ? '' : ` (it holds ${formatCount(others)} backup(s) of other stores)`
      text.push(last !== undefined
        ? `  last backup ${last.file} (${last.kind}, version ${last.version}, ${last.createdAt})`
        : stats.storeId === null
          ? `  last backup unknown: the owner does not report the store's identity, so its backups in ${backups} cannot be told apart`
          : `  last backup none of this store in ${backups}${elsewhere}`)
      backupFields = { lastBackup: last ?? null, backupsOfOtherStores: others }
    }
    return { json: { ok: true, ...stats, ...backupFields, via: reached.via }, text }
  }
}

async function directorySize (directory: string): Promise<number> {
  let total = 0
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    if (!entry.isFile()) continue
    // A live owner may remove a file (a compacted table, a log) between the two calls.
    total += await stat(join(directory, entry.name)).then((info) => info.size, () => 0)
  }
  return total
}
