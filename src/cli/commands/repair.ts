// flowstore repair <db>: recovers what can be recovered from a damaged store, on a copy; the
// original is kept next to it until you delete it.

import { repairStore } from '../../maintenance/repair.ts'
import { type Command, expectPositionals } from '../command.ts'
import { levelDirectoryOnly } from '../database.ts'
import { formatCount, formatDuration } from '../output.ts'

/** Flows listed in text output; --json lists them all. */
const SHOWN = 50

export const repairCommand: Command = {
  name: 'repair',
  summary: 'recover a damaged store (on a copy; the original is kept)',
  synopsis: '<db> [options]',
  description: [
    'Checks the store at <db> and, when it is damaged, rebuilds it from what can be recovered:',
    'a copy is cleaned of damaged blocks and log records, repaired by LevelDB, and rebuilt into',
    'a consistent store, which is checked and only then moved into place. The original is kept',
    'as <db>.before-repair-<time> (delete it once you are satisfied). Reports the flows lost',
    'and those that went back to an older revision. The store must not be open in another',
    'process. A healthy store is left alone unless --force is given.'
  ],
  options: {
    force: { type: 'boolean', help: 'rebuild the store even when the check finds nothing wrong' }
  },
  examples: [
    'flowstore repair ./data/flows-db',
    'flowstore repair ./data/flows-db --json'
  ],
  async run (args) {
    const [db] = expectPositionals(this, args, 1, 1, '<db>')
    levelDirectoryOnly(this.name, db!)
    const report = await repairStore(db!, { force: args.values.force === true })
    const text: string[] = []
    if (!report.repaired) {
      text.push(`ok   ${report.directory}: the check found nothing to repair (${formatCount(report.flows)} flow(s), version ${report.version}); nothing was changed`)
      return { json: { ok: true, ...report }, text }
    }
    text.push(`repaired ${report.directory} in ${formatDuration(report.durationMs)}: ${formatCount(report.flows)} flow(s) recovered, ${formatCount(report.lost.length)} lost, ${formatCount(report.reverted.length)} back to an older revision; store version ${report.version}`)
    if (report.found.problemCount > 0) {
      text.push('  found:')
      for (const problem of report.found.problems.slice(0, 10)) text.push(`    ${problem.message}`)
    }
    if (report.dropped.length > 0) {
      text.push('  left out:')
      for (const line of report.dropped) text.push(`    ${line}`)
    }
    const list = (title: string, entries: ReadonlyArray<{ id: string, reason: string }>): void => {
      if (entries.length === 0) return
      text.push(`  ${title}:`)
      for (const entry of entries.slice(0, SHOWN)) text.push(`    ${JSON.stringify(entry.id)}: ${entry.reason}`)
      if (entries.length > SHOWN) text.push(`    … and ${formatCount(entries.length - SHOWN)} more (--json lists them all)`)
    }
    list('lost (a deletion is recorded for each)', report.lost)
    list('back to an older revision', report.reverted)
    text.push(`  the original is kept at ${report.original}; delete it once you are satisfied`)
    return { json: { ok: true, ...report }, text }
  }
}
