// flowstore repair <db>: recovers what can be recovered from a damaged store, on a copy; the
// original is kept next to it until you delete it.

import { type RepairReport, repairStore } from '../../maintenance/repair.ts'
import { type Command, expectPositionals } from '../command.ts'
import { levelDirectoryOnly } from '../database.ts'
import { formatCount, formatDuration } from '../output.ts'
import { StepProgress } from '../progress.ts'

/** Flows listed in text output and, without --ids, in --json. */
const SHOWN = 50

export const repairCommand: Command = {
  name: 'repair',
  summary: 'recover a damaged store (on a copy; the original is kept)',
  synopsis: '<db> [options]',
  description: [
    'Checks the store at <db> and, when it is damaged, rebuilds it from what can be recovered:',
    'a copy is cleaned of damaged blocks and log records, repaired by LevelDB, and rebuilt into',
    'a consistent store, which is checked and only then moved into place. The original is kept',
    'as <db>.before-repair-<time>-<pid>-<random> (delete it once you are satisfied). Reports',
    'the flows lost and those that went back to an older revision. The store must not be open',
    'in another process. A healthy store is left alone unless --force is given. A repair or',
    'restore of <db> killed while moving its store into place is finished first.'
  ],
  options: {
    force: { type: 'boolean', help: 'rebuild the store even when the check finds nothing wrong' },
    ids: { type: 'boolean', help: 'with --json: list every flow id recovered, lost and reverted (by default: counts, and the first 50 lost and reverted)' }
  },
  store: 'first',
  whenLocked: 'repair needs the store to itself: stop the process that has it open (or close its store), then run repair again.',
  examples: [
    'flowstore repair ./data/flows-db',
    'flowstore repair ./data/flows-db --json',
    'flowstore repair ./data/flows-db --json --ids > repair-report.json'
  ],
  async run (args, { progress }) {
    const [db] = expectPositionals(this, args, 1, 1, '<db>')
    levelDirectoryOnly(this.name, db!)
    const steps = new StepProgress(progress, 'repair')
    let report: RepairReport
    try {
      report = await repairStore(db!, { force: args.values.force === true, onProgress: (p) => { steps.update(p) } })
    } finally {
      steps.done()
    }
    const json = summary(report, args.values.ids === true)
    const text: string[] = []
    if (!report.repaired) {
      text.push(`ok   ${report.directory}: the check found nothing to repair (${formatCount(report.flows)} flow(s), version ${report.version}); nothing was changed`)
      return { json, text }
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
      if (entries.length > SHOWN) text.push(`    … and ${formatCount(entries.length - SHOWN)} more (--json --ids lists them all)`)
    }
    list('lost (a deletion is recorded for each)', report.lost)
    list('back to an older revision', report.reverted)
    text.push(`  the original is kept at ${report.original}; delete it once you are satisfied`)
    return { json, text }
  }
}

/**
 * The --json result: the store named `db` (as in every command), counts, and the first
 * SHOWN lost and reverted flows and problems found; every id (recovered, lost, reverted) and
 * every problem listed by the check only with --ids, since a large store can have tens of
 * thousands.
 */
function summary (report: RepairReport, ids: boolean): object {
  const { directory, found, recovered, lost, reverted, ...rest } = report
  const { directory: _same, ...check } = ids ? found : { ...found, problems: found.problems.slice(0, SHOWN) }
  return {
    ok: true,
    db: directory,
    ...rest,
    recoveredCount: recovered.length,
    lostCount: lost.length,
    revertedCount: reverted.length,
    ...(ids ? { recovered, lost, reverted } : { lost: lost.slice(0, SHOWN), reverted: reverted.slice(0, SHOWN) }),
    found: check
  }
}
