// flowstore backup <db> <file|dir>: a consistent backup of a store, taken through one
// LevelDB snapshot; into a directory, changed-only against the last backup there. On a store
// another process owns and serves (serveStore(store)), that owner writes the backup while it
// keeps running. "-" streams the backup to standard output (the summary goes to stderr).

import { resolve, sep } from 'node:path'
import { backupToDirectory, type BackupInfo, FlowStoreError } from '../../index.ts'
import { OwnerClient } from '../../service/owner-client.ts'
import { expectedRecords } from '../backup-total.ts'
import { type Command, expectPositionals, stringOption } from '../command.ts'
import { isDirectory } from '../database.ts'
import { UsageError } from '../errors.ts'
import { forCommandLine } from '../fs-errors.ts'
import { openOrReachOwner, ownerNote } from '../live-owner.ts'
import { formatBytes, formatCount, formatDuration } from '../output.ts'

export const backupCommand: Command = {
  name: 'backup',
  summary: 'back up a store into a file, or into a backup directory (changed-only when it can)',
  synopsis: '<db> <file|dir> [options]',
  description: [
    'Writes a backup of the store at <db>: exactly one store version, gzip-compressed, with a',
    'checksum. <db> must exist.',
    '',
    'Into a directory (one that exists, or a path ending in "/"): the backup is changed-only',
    'against the newest backup listed there, or full when there is none (or with --full), and',
    'it is added to the directory\'s manifest for "list", "prune" and "restore <dir>".',
    'Into a file: a full backup, or with --since a changed-only one holding what changed after',
    'that version or that earlier backup file. An existing file is replaced only with --force',
    '(and never the --since file); only a regular file is ever replaced. Missing parent',
    'directories are created. "-" writes the backup to standard output (not to a terminal).',
    '',
    'A live store works too: when the application that owns <db> serves it (serveStore(store)),',
    'the backup is taken through it (it writes the file) while it keeps running: no downtime.',
    'If the store is locked by a process that does not serve it, stop that process, or take',
    'the backup from inside it (store.backup(), or its scheduled backups).'
  ],
  options: {
    since: { type: 'string', value: '<backup|version>', help: 'file target only: changed-only since this backup file or store version' },
    full: { type: 'boolean', help: 'directory target: take a full backup even if a changed-only one could be taken' },
    force: { type: 'boolean', help: 'file target: replace the file if it exists' }
  },
  store: 'first',
  whenLocked: 'Let that process serve the store (serveStore(store)) and backup runs through it while it keeps running; or back up inside it (store.backup()), or stop it and run backup again.',
  overwriteFlag: '--force',
  examples: [
    'flowstore backup ./data/flows-db ./backups/',
    'flowstore backup ./data/flows-db ./backups --full',
    'flowstore backup ./data/flows-db ./full.fsbk',
    'flowstore backup ./data/flows-db ./changes.fsbk --since ./full.fsbk',
    'flowstore backup ./data/flows-db - | ssh backup-host "cat > flows.fsbk"'
  ],
  async run (args, { io, progress }) {
    const [db, target] = expectPositionals(this, args, 2, 2, '<db> <file|dir>')
    const sinceText = stringOption(args, 'since')
    const full = args.values.full === true
    const force = args.values.force === true
    const toStdout = target === '-'
    const toDirectory = !toStdout && (target!.endsWith(sep) || target!.endsWith('/') || await isDirectory(target!))
    if (toDirectory && sinceText !== undefined) {
      throw new UsageError('backup: --since is for a file target; a backup directory picks the base itself (use --full for a full backup)', this.name)
    }
    if (sinceText !== undefined && full) throw new UsageError('backup: --since and --full cannot be used together', this.name)
    if (toStdout) {
      if (args.values.json === true) throw new UsageError('backup: --json cannot be used with "-": standard output carries the backup', this.name)
      if (io.stdout.isTTY === true) throw new UsageError('backup: standard output is a terminal; redirect it to a file or a pipe to write the backup there', this.name)
    }
    // Paths are made absolute here: through an owner, another process (with its own working
    // directory) writes and reads them.
    const since = sinceText === undefined ? undefined : /^\d+$/.test(sinceText) ? Number(sinceText) : resolve(sinceText)
    const destination = toStdout ? '-' : resolve(target!)
    const hints = { overwrite: '--force', path: destination, doing: 'Writing the backup' }
    const reached = await openOrReachOwner(db!, { connect: async (dir) => await OwnerClient.connect(dir), stats: async (client) => await client.stats() })
    let info: BackupInfo & { base?: string | undefined }
    let note: string[] = []
    try {
      if (reached.via === 'owner') {
        const client = reached.owner
        try {
          if (toStdout) {
            throw new FlowStoreError('FLOWSTORE_LOCKED', `Database ${reached.directory} is open in the process that owns it (pid ${reached.stats.pid}); that owner writes backups to files only. Back up into a file or a backup directory instead of "-"`)
          }
          info = toDirectory ? await client.backupToDirectory(destination, { full }) : await client.backup(destination, { since, overwrite: force })
        } finally {
          await client.close()
        }
        note = [`  taken ${ownerNote(reached.stats)}`]
      } else {
        const store = reached.store
        const total = toStdout ? undefined : await expectedRecords(store, { toDirectory, destination, since, full })
        const line = progress('backup')
        try {
          const onProgress = (p: { records: number, bytes: number }): void => { line.update({ ...p, total: total !== undefined && p.records <= total ? total : undefined }) }
          info = toDirectory
            ? await backupToDirectory(store, destination, { full, onProgress })
            : await store.backup(toStdout ? io.stdout : destination, { since, overwrite: force, onProgress })
        } finally {
          line.done()
          await store.close()
        }
      }
    } catch (err) {
      throw forCommandLine(err, hints)
    }
    const kind = info.kind === 'full' ? 'full' : `changed-only since version ${info.baseVersion}`
    const text = [
      `backup ${toStdout ? 'written to standard output' : info.file}`,
      `  ${kind}, store version ${info.version}, ${formatCount(info.flows)} flow(s), ${formatCount(info.deletions)} deletion(s), ${formatBytes(info.bytes)}, ${formatDuration(info.durationMs)}`,
      ...note
    ]
    // Standard output carries the backup: the summary goes to stderr.
    if (toStdout) io.stderr.write(text.join('\n') + '\n')
    return {
      json: { ok: true, ...info, db: reached.directory, via: reached.via },
      text: toStdout ? [] : text
    }
  }
}
