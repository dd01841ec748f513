// flowstore list <dir>: the backups a backup directory's manifest lists, oldest first.

import { basename, resolve } from 'node:path'
import { FlowStoreError, listBackups, listLeftovers } from '../../index.ts'
import { type Command, expectPositionals } from '../command.ts'
import { isDirectory } from '../database.ts'
import { leftoverLines } from '../leftovers.ts'
import { formatBytes, formatCount, table } from '../output.ts'

export const listCommand: Command = {
  name: 'list',
  summary: 'list the backups in a backup directory, oldest first',
  synopsis: '<dir> [options]',
  description: [
    'Lists the backups in the manifest of the backup directory <dir>: file, kind (full, or',
    'changed-only with the version it applies on), store version, flows, deletions, size',
    'and when it was taken; then what interrupted runs left there (temporaries of killed',
    'backups, exports, restores; lock directories and copies of killed checks and repairs),',
    'which the next run of the same kind removes once their process is gone.'
  ],
  options: {},
  examples: ['flowstore list ./backups', 'flowstore list ./backups --json'],
  async run (args) {
    const [dir] = expectPositionals(this, args, 1, 1, '<dir>')
    const directory = resolve(dir!)
    if (!await isDirectory(directory)) throw new FlowStoreError('FLOWSTORE_BACKUP_CHAIN', `Backup directory ${directory} does not exist`)
    const backups = await listBackups(directory)
    const leftovers = await listLeftovers(directory)
    if (backups.length === 0) return { json: { ok: true, dir: directory, backups, leftovers }, text: [`no backups in ${directory}`, ...leftoverLines(leftovers)] }
    const rows = [['FILE', 'KIND', 'VERSION', 'BASE', 'FLOWS', 'DELETIONS', 'SIZE', 'CREATED']]
    for (const b of backups) {
      rows.push([basename(b.file), b.kind, String(b.version), b.kind === 'full' ? '-' : String(b.baseVersion), formatCount(b.flows), formatCount(b.deletions), formatBytes(b.bytes), b.createdAt])
    }
    return { json: { ok: true, dir: directory, backups, leftovers }, text: [...table(rows), ...leftoverLines(leftovers)] }
  }
}
