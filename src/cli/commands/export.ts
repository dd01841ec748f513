// flowstore export <db> <flows.json>: writes a store back out in the legacy JSON layout. On a
// store another process owns and serves (serveStore(store)), the flows are read through that
// owner, which keeps running. "-" streams the JSON to standard output (the summary goes to
// stderr).

import { resolve } from 'node:path'
import { exportJson, type Flow, FlowService } from '../../index.ts'
import { type Command, expectPositionals } from '../command.ts'
import { UsageError } from '../errors.ts'
import { forCommandLine } from '../fs-errors.ts'
import { openOrReachOwner } from '../live-owner.ts'
import { formatBytes, formatCount, formatDuration } from '../output.ts'

export const exportCommand: Command = {
  name: 'export',
  summary: 'write every flow of a store into a legacy flows.json (an object keyed by id)',
  synopsis: '<db> <flows.json> [options]',
  description: [
    'Writes the flows of the store at <db> as one JSON object keyed by flow id, the layout the',
    'legacy repository read. The file is written under a temporary name and renamed when',
    'complete (owner-only, 0600); an existing file is replaced only with --force (and only a',
    'regular file ever is); missing parent directories are created. "-" writes to standard',
    'output. A flow holding a value JSON cannot carry exactly (a Date, binary data, undefined,',
    'NaN) stops the export, naming the flow; nothing is written then. For a copy that keeps',
    'every value, take a backup.',
    '',
    'A live store works too: when the application that owns <db> serves it (serveStore(store)),',
    'the flows are read through it while it keeps running.'
  ],
  options: {
    pretty: { type: 'boolean', help: 'indent the JSON (two spaces), as the legacy repository did' },
    force: { type: 'boolean', help: 'replace <flows.json> if it exists' }
  },
  store: 'first',
  whenLocked: 'Let that process serve the store (serveStore(store)) and export runs through it while it keeps running; or stop it and run export again.',
  examples: [
    'flowstore export ./data/flows-db ./flows.json',
    'flowstore export ./data/flows-db ./flows.json --pretty --force',
    'flowstore export ./data/flows-db - | jq keys'
  ],
  async run (args, { io, progress }) {
    const [db, file] = expectPositionals(this, args, 2, 2, '<db> <flows.json>')
    const toStdout = file === '-'
    if (toStdout && args.values.json === true) throw new UsageError('export: --json cannot be used with "-": standard output carries the export', this.name)
    const reached = await openOrReachOwner(db!, {
      // One load of every flow, then nothing: no version checks, no reconnecting.
      connect: async (dir) => await FlowService.connect<Flow>(dir, { ttlMs: Infinity, reconnect: false }),
      stats: async (service) => await service.ownerStats()
    })
    const source = reached.via === 'owner' ? reached.owner : reached.store
    const directory = reached.directory
    const line = progress('export')
    try {
      const report = await exportJson(source, toStdout ? io.stdout : file!, {
        pretty: args.values.pretty === true,
        overwrite: args.values.force === true,
        onProgress: (p) => { line.update(p) }
      })
      line.done()
      const through = reached.via === 'owner' ? ` through the live owner (pid ${reached.stats.pid})` : ''
      const text = [`exported ${formatCount(report.flows)} flow(s) from ${directory}${through} to ${toStdout ? 'standard output' : report.file} (${formatBytes(report.bytes)}, version ${report.version}, ${formatDuration(report.durationMs)})`]
      // Standard output carries the export: the summary goes to stderr.
      if (toStdout) io.stderr.write(text.join('\n') + '\n')
      return {
        json: { ok: true, ...report, db: directory, via: reached.via },
        text: toStdout ? [] : text
      }
    } catch (err) {
      throw forCommandLine(err, { overwrite: '--force', path: toStdout ? 'standard output' : resolve(file!), doing: 'Writing the export' })
    } finally {
      line.done()
      await (reached.via === 'owner' ? reached.owner.close() : reached.store.close())
    }
  }
}
