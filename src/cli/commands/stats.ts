// flowstore stats <db>: what a store holds: flows, bytes, version, deletions kept, and with
// --backups <dir> the last backup taken into that directory.

import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { listBackups } from '../../index.ts'
import { type Command, expectPositionals, stringOption } from '../command.ts'
import { openExisting } from '../database.ts'
import { formatBytes, formatCount } from '../output.ts'

export const statsCommand: Command = {
  name: 'stats',
  summary: 'show what a store holds: flows, bytes, version, deletions, last backup',
  synopsis: '<db> [options]',
  description: [
    'Opens the store at <db> (it must exist and not be open in another process) and reports',
    'the number of flows, their encoded size, the size of the database on disk, the store',
    'version, the deletions it remembers (tombstones, for changed-only backups) and, with',
    '--backups <dir>, the newest backup in that directory.'
  ],
  options: {
    backups: { type: 'string', value: '<dir>', help: 'a backup directory: report its newest backup' }
  },
  examples: [
    'flowstore stats ./data/flows-db',
    'flowstore stats ./data/flows-db --backups ./backups --json'
  ],
  async run (args) {
    const [db] = expectPositionals(this, args, 1, 1, '<db>')
    const backups = stringOption(args, 'backups')
    const store = await openExisting(db!)
    let stats
    try {
      let bytes = 0
      for (const id of store.flows.keys()) bytes += store.lazy(id)!.bytes.length
      const { changes } = await store.changesSince(0)
      stats = {
        db: store.directory!,
        flows: store.size,
        bytes,
        diskBytes: await directorySize(store.directory!),
        version: store.version,
        tombstones: changes.filter((change) => change.deleted).length
      }
    } finally {
      await store.close()
    }
    const last = backups === undefined ? undefined : (await listBackups(backups)).at(-1)
    const lastBackup = last === undefined ? null : last
    const text = [
      `${stats.db}`,
      `  flows       ${formatCount(stats.flows)}`,
      `  bytes       ${formatBytes(stats.bytes)} encoded, ${formatBytes(stats.diskBytes)} on disk`,
      `  version     ${stats.version}`,
      `  tombstones  ${formatCount(stats.tombstones)}`
    ]
    if (backups !== undefined) {
      text.push(last === undefined
        ? `  last backup none in ${backups}`
        : `  last backup ${last.file} (${last.kind}, version ${last.version}, ${last.createdAt})`)
    }
    return { json: { ok: true, ...stats, ...(backups === undefined ? {} : { lastBackup }) }, text }
  }
}

async function directorySize (directory: string): Promise<number> {
  let total = 0
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    if (entry.isFile()) total += (await stat(join(directory, entry.name))).size
  }
  return total
}
