// flowstore restore <backup>... --to <db>: builds a store from a full backup and the
// changed-only backups after it, or from the newest chain in a backup directory.

import { resolve } from 'node:path'
import { type RestoreInfo, restoreBackup, restoreFromDirectory } from '../../index.ts'
import { type Command, expectPositionals, stringOption } from '../command.ts'
import { isDirectory } from '../database.ts'
import { UsageError } from '../errors.ts'
import { forCommandLine } from '../fs-errors.ts'
import { formatCount, formatDuration } from '../output.ts'

export const restoreCommand: Command = {
  name: 'restore',
  summary: 'restore backups (a full one, then changed-only ones in order) into a new store',
  synopsis: '<backup>... --to <db> [options]',
  description: [
    'Builds the store at <db> from a full backup followed by the changed-only backups taken',
    'after it, in order; or, given one backup directory, from its newest backup and the chain',
    'it needs. The chain and every checksum are checked; the store is built aside and moved',
    'into place only when complete, so a failed restore leaves <db> as it was.',
    '<db> must be empty or missing, unless --overwrite is given; --overwrite replaces only a',
    'flowstore store (a directory of nothing but LevelDB\'s and flowstore\'s files) that no',
    'process has open. A directory holding anything else, the working or home directory, /,',
    'and any directory holding the backups read are never replaced. Ctrl-C stops the restore',
    'and removes what it had built.'
  ],
  options: {
    to: { type: 'string', value: '<db>', help: 'the store directory to restore into (required)' },
    overwrite: { type: 'boolean', help: 'replace the store at <db> (only a flowstore store, not open in any process)' }
  },
  store: 'to',
  whenLocked: 'restore replaces that store: stop the process that has it open, then run restore again.',
  overwriteFlag: '--overwrite',
  examples: [
    'flowstore restore ./backups --to ./restored-db',
    'flowstore restore ./full.fsbk ./changes-1.fsbk ./changes-2.fsbk --to ./restored-db',
    'flowstore restore ./backups --to ./data/flows-db --overwrite'
  ],
  async run (args, { progress }) {
    const backups = expectPositionals(this, args, 1, Infinity, '<backup>... (files, or one backup directory)')
    const to = stringOption(args, 'to')
    if (to === undefined) throw new UsageError('restore: missing --to <db>: where to restore', this.name)
    const overwrite = args.values.overwrite === true
    const directories = await Promise.all(backups.map(isDirectory))
    if (directories.includes(true) && backups.length > 1) {
      throw new UsageError('restore: pass either one backup directory or backup files, not both', this.name)
    }
    const line = progress('restore')
    let info: RestoreInfo
    try {
      const options = { overwrite, onProgress: (p: { records: number, total: number | undefined, bytes: number }) => { line.update(p) } }
      info = directories[0] === true
        ? await restoreFromDirectory(backups[0]!, to, options)
        : await restoreBackup(backups, to, options)
    } catch (err) {
      throw forCommandLine(err, { overwrite: '--overwrite', path: resolve(to), doing: 'Restoring into' })
    } finally {
      line.done()
    }
    return {
      json: { ok: true, ...withDb(info) },
      text: [
        `restored store version ${info.version} (${formatCount(info.flows)} flow(s)) into ${info.location}`,
        `  from ${info.files.length} backup(s) in ${formatDuration(info.durationMs)}:`,
        ...info.files.map((file) => `  ${file}`)
      ]
    }
  }
}

/** The result with the store named `db`, as in every command's --json. */
function withDb ({ location, ...rest }: RestoreInfo): object {
  return { db: location, ...rest }
}
