// flowstore prune <dir>: deletes the backups no retention rule keeps, never one a kept
// backup depends on.

import { basename, resolve } from 'node:path'
import { pruneBackups } from '../../index.ts'
import { type Command, expectPositionals, integerOption } from '../command.ts'
import { UsageError } from '../errors.ts'

export const pruneCommand: Command = {
  name: 'prune',
  summary: 'delete old backups from a backup directory (keep the last N, one per day for N days)',
  synopsis: '<dir> --keep-last <n> --keep-daily <n> [options]',
  description: [
    'Keeps the newest --keep-last backups and the newest backup of each of the last',
    '--keep-daily days (UTC) that have backups, plus every backup a kept changed-only backup',
    'needs to be restored; deletes the others and updates the manifest. At least one of the',
    'two options is required.'
  ],
  options: {
    'keep-last': { type: 'string', value: '<n>', help: 'keep the newest <n> backups' },
    'keep-daily': { type: 'string', value: '<n>', help: 'keep the newest backup of each of the last <n> days' }
  },
  examples: [
    'flowstore prune ./backups --keep-last 10',
    'flowstore prune ./backups --keep-last 5 --keep-daily 30'
  ],
  async run (args) {
    const [dir] = expectPositionals(this, args, 1, 1, '<dir>')
    const keepLast = integerOption(this, args, 'keep-last', 0)
    const keepDaily = integerOption(this, args, 'keep-daily', 0)
    if ((keepLast ?? 0) === 0 && (keepDaily ?? 0) === 0) {
      throw new UsageError('prune: give --keep-last <n> or --keep-daily <n> (at least 1); prune never deletes every backup', this.name)
    }
    const result = await pruneBackups(resolve(dir!), { keepLast, keepDaily })
    return {
      json: { ok: true, dir: resolve(dir!), kept: result.kept, deleted: result.deleted },
      text: [
        `kept ${result.kept.length} backup(s), deleted ${result.deleted.length}`,
        ...result.deleted.map((entry) => `  deleted ${basename(entry.file)}`)
      ]
    }
  }
}
