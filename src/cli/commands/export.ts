// flowstore export <db> <flows.json>: writes a store back out in the legacy JSON layout.

import { exportJson } from '../../index.ts'
import { type Command, expectPositionals } from '../command.ts'
import { openExisting } from '../database.ts'
import { formatBytes, formatCount, formatDuration } from '../output.ts'

export const exportCommand: Command = {
  name: 'export',
  summary: 'write every flow of a store into a legacy flows.json (an object keyed by id)',
  synopsis: '<db> <flows.json> [options]',
  description: [
    'Writes the flows of the store at <db> as one JSON object keyed by flow id, the layout the',
    'legacy repository read. The file is written under a temporary name and renamed when',
    'complete (owner-only, 0600); an existing file is replaced. A flow holding a value JSON',
    'cannot carry exactly (a Date, binary data, undefined, NaN) stops the export, naming the',
    'flow; nothing is written then. For a copy that keeps every value, take a backup.'
  ],
  options: {
    pretty: { type: 'boolean', help: 'indent the JSON (two spaces), as the legacy repository did' }
  },
  examples: [
    'flowstore export ./data/flows-db ./flows.json',
    'flowstore export ./data/flows-db ./flows.json --pretty'
  ],
  async run (args, { progress }) {
    const [db, file] = expectPositionals(this, args, 2, 2, '<db> <flows.json>')
    const store = await openExisting(db!)
    const line = progress('export')
    try {
      const report = await exportJson(store, file!, {
        pretty: args.values.pretty === true,
        onProgress: (p) => { line.update(p) }
      })
      line.done()
      return {
        json: { ok: true, ...report, db: store.directory },
        text: [`exported ${formatCount(report.flows)} flow(s) from ${store.directory} to ${report.file} (${formatBytes(report.bytes)}, version ${report.version}, ${formatDuration(report.durationMs)})`]
      }
    } finally {
      line.done()
      await store.close()
    }
  }
}
