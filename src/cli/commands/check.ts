// flowstore check <db>: a complete read-only check of a store (every LevelDB file checksum,
// every value decoded, the change record against the flows, tombstones and version); exit 1
// when it finds a problem.

import { checkStore } from '../../maintenance/check.ts'
import { type Command, expectPositionals } from '../command.ts'
import { levelDirectoryOnly } from '../database.ts'
import { EXIT_FAILURE, EXIT_OK } from '../errors.ts'
import { formatBytes, formatCount, formatDuration } from '../output.ts'
import { StepProgress } from '../progress.ts'

/** Problems printed in text output; --json lists up to 1000. */
const SHOWN = 50

export const checkCommand: Command = {
  name: 'check',
  summary: 'check a store completely: file checksums, every value, the change record',
  synopsis: '<db> [options]',
  description: [
    'Checks the store at <db> without changing it: the checksum of every block of every',
    'LevelDB file, that every stored flow decodes, and that the change record agrees with',
    'the flows, the deletions (tombstones) and the store version. Problems are reported by',
    'flow id. The store must not be open in another process. Exits 1 when a problem is',
    'found; "flowstore repair" then recovers what can be recovered.'
  ],
  options: {},
  store: 'first',
  whenLocked: 'check needs the store to itself: stop the process that has it open (or close its store), then run check again.',
  examples: [
    'flowstore check ./data/flows-db',
    'flowstore check ./data/flows-db --json'
  ],
  async run (args, { progress }) {
    const [db] = expectPositionals(this, args, 1, 1, '<db>')
    levelDirectoryOnly(this.name, db!)
    const steps = new StepProgress(progress, 'check')
    let report
    try {
      report = await checkStore(db!, { onProgress: (p) => { steps.update(p) } })
    } finally {
      steps.done()
    }
    const text: string[] = []
    const summary = `${formatCount(report.flows)} flow(s), ${formatCount(report.tombstones)} tombstone(s), version ${report.version ?? 0}; ` +
      `${report.files.tables} table file(s) (${formatBytes(report.files.verifiedBytes)}) verified in ${formatDuration(report.durationMs)}`
    if (report.ok) {
      text.push(`ok   ${report.directory}: ${summary}`)
    } else {
      text.push(`BAD  ${report.directory}: ${formatCount(report.problemCount)} problem(s)`)
      for (const problem of report.problems.slice(0, SHOWN)) text.push(`       ${problem.message}`)
      if (report.problemCount > SHOWN) text.push(`       … and ${formatCount(report.problemCount - SHOWN)} more (--json lists up to ${report.problems.length})`)
      if (report.valuesChecked) text.push(`     ${summary}`)
      text.push(`     Run "flowstore repair ${db!}" to recover what can be recovered (it keeps the original).`)
    }
    for (const note of report.notes) text.push(`     note: ${note}`)
    // `db`, as every command's --json names the store.
    const { directory, ok, ...rest } = report
    return { json: { ok, db: directory, ...rest }, text, exitCode: ok ? EXIT_OK : EXIT_FAILURE }
  }
}
