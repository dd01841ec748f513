// flowstore import <flows.json> --to <db>: migrates a legacy flows.json into a store.

import { access, constants } from 'node:fs/promises'
import { resolve } from 'node:path'
import { FlowStoreError, importLegacyJson, type LegacyFormat } from '../../index.ts'
import { type Command, expectPositionals, stringOption } from '../command.ts'
import { UsageError } from '../errors.ts'
import { displayName, openOrCreate } from '../database.ts'
import { formatCount, formatDuration } from '../output.ts'

const FORMATS = ['auto', 'object', 'array', 'jsonl']
/** Skipped records shown in human output; --json lists what the report lists. */
const SHOWN_SKIPPED = 20

export const importCommand: Command = {
  name: 'import',
  summary: 'import a legacy flows.json (object keyed by id, array, or JSON Lines) into a store',
  synopsis: '<flows.json> --to <db> [options]',
  description: [
    'Reads the legacy file as a stream (any size), saving its flows into the store at <db>',
    '(created if missing) in batches. A bad record (not a flow object, no usable id, a value',
    'the store cannot hold exactly) is skipped and reported; the rest are imported. Flows',
    'already stored with the same value are not written again, so running it twice changes',
    'nothing. A syntax error in a JSON file stops the import (exit 1) after saving what came',
    'before it.'
  ],
  options: {
    to: { type: 'string', value: '<db>', help: 'the store directory to import into (required)' },
    format: { type: 'string', value: '<format>', help: 'auto (default), object, array or jsonl' }
  },
  examples: [
    'flowstore import ./flows.json --to ./data/flows-db',
    'flowstore import ./flows.jsonl --to ./data/flows-db --json'
  ],
  async run (args, { progress }) {
    const [file] = expectPositionals(this, args, 1, 1, '<flows.json>')
    const to = stringOption(args, 'to')
    if (to === undefined) throw new UsageError('import: missing --to <db>: the store to import into', this.name)
    const format = stringOption(args, 'format') ?? 'auto'
    if (!FORMATS.includes(format)) throw new UsageError(`import: --format must be one of ${FORMATS.join(', ')}, got ${JSON.stringify(format)}`, this.name)
    // Checked before the store is opened, which would create it: a typo in the file name
    // must not leave an empty database behind.
    await readable(file!)
    const store = await openOrCreate(to)
    const line = progress('import')
    try {
      const report = await importLegacyJson(store, file!, {
        format: format as LegacyFormat | 'auto',
        onProgress: (p) => { line.update({ records: p.records, bytes: p.bytes, totalBytes: p.totalBytes }) }
      })
      line.done()
      const text = [
        `imported ${formatCount(report.imported)} flow(s) from ${report.file} (${report.format}) into ${store.directory ?? displayName(to!)}`,
        `  unchanged ${formatCount(report.unchanged)}, skipped ${formatCount(report.skippedCount)}, records ${formatCount(report.total)}, store version ${report.version}, ${formatDuration(report.durationMs)}`
      ]
      for (const skipped of report.skipped.slice(0, SHOWN_SKIPPED)) {
        const where = skipped.key !== undefined ? `key ${JSON.stringify(skipped.key)}` : skipped.index !== undefined ? `record [${skipped.index}]` : `line ${skipped.line}`
        text.push(`  skipped ${where}: ${skipped.reason}`)
      }
      if (report.skippedCount > Math.min(report.skipped.length, SHOWN_SKIPPED)) {
        text.push(`  … and ${formatCount(report.skippedCount - Math.min(report.skipped.length, SHOWN_SKIPPED))} more skipped (use --json for the list)`)
      }
      return { json: { ok: true, ...report, db: store.directory ?? displayName(to!) }, text }
    } finally {
      line.done()
      await store.close()
    }
  }
}

async function readable (file: string): Promise<void> {
  try {
    await access(file, constants.R_OK)
  } catch (cause) {
    throw new FlowStoreError('FLOWSTORE_IMPORT_FAILED', `Cannot read the legacy file ${resolve(file)}: ${(cause as Error).message}`, { cause })
  }
}
