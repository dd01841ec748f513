// Formatting: console tables while running, and the results files (JSON + Markdown).

import type { MachineInfo } from './machine.ts'
import type { Row, Stat, TaskRecord } from './types.ts'

export function formatTime (ms: number): string {
  if (!Number.isFinite(ms)) return String(ms)
  if (ms < 0.001) return `${(ms * 1e6).toPrecision(3)} ns`
  if (ms < 1) return `${(ms * 1e3).toPrecision(3)} µs`
  if (ms < 1000) return `${ms.toPrecision(3)} ms`
  return `${(ms / 1000).toPrecision(3)} s`
}

export function formatBytes (bytes: number): string {
  const abs = Math.abs(bytes)
  if (abs < 1024) return `${bytes.toFixed(0)} B`
  if (abs < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`
  if (abs < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`
}

export function formatValue (stat: Stat, value: number): string {
  return stat.unit === 'ms' ? formatTime(value) : formatBytes(value)
}

/** "1.23 ms (1.10–1.90)"; a single measurement shows just its value. */
export function formatStat (stat: Stat): string {
  const median = formatValue(stat, stat.median)
  if (stat.samples <= 1 || stat.min === stat.max) return median
  return `${median} (${formatValue(stat, stat.min)}–${formatValue(stat, stat.max)})`
}

/** Ratios are subject/baseline in cost units; below 1 the speed-up is shown too. */
export function formatRatio (ratio: number): string {
  if (ratio >= 1) return `${ratio.toFixed(2)}×`
  return `${ratio.toPrecision(2)}× (${(1 / ratio).toFixed(ratio > 0.1 ? 2 : 0)}× faster)`
}

export function formatPass (pass: boolean | null): string {
  return pass === null ? '—' : pass ? 'PASS' : 'FAIL'
}

/** One line per task: for console.table. */
export function taskTable (records: readonly TaskRecord[]): Array<Record<string, string | number>> {
  return records.map(({ task, stat }) => ({
    task,
    median: formatValue(stat, stat.median),
    min: formatValue(stat, stat.min),
    max: formatValue(stat, stat.max),
    p99: formatValue(stat, stat.p99),
    samples: stat.samples,
    ...(stat.perOp > 1 ? { 'ops/sample': stat.perOp } : {}),
    '±rme': stat.samples > 1 ? `${stat.rme.toFixed(1)}%` : '—'
  }))
}

export function rowTable (rows: readonly Row[]): Array<Record<string, string>> {
  return rows.map((row) => ({
    suite: row.suite ?? '',
    figure: row.task,
    flowstore: formatStat(row.subject.stat),
    baseline: formatStat(row.baseline.stat),
    ratio: formatRatio(row.ratio),
    'ratio of mins': formatRatio(row.ratioOfMins),
    goal: row.goal?.text ?? '—',
    pass: formatPass(row.pass)
  }))
}

export interface RunReport {
  readonly date: string
  readonly command: string
  readonly settings: { readonly quick: boolean, readonly filter: readonly string[], readonly timePerTaskMs: number, readonly rounds?: number }
  readonly machine: MachineInfo
  readonly durationSeconds: number
  /** 1-minute load averages at the start and end of the run: other processes skew timings. */
  readonly loadAverage: { readonly start: number, readonly end: number }
  readonly suites: ReadonlyArray<{ readonly name: string, readonly description: string }>
  readonly rows: readonly Row[]
  readonly tasks: readonly TaskRecord[]
  /** Suites that threw: their figures are missing. */
  readonly errors: ReadonlyArray<{ readonly suite: string, readonly error: string }>
}

function escapeCell (text: string): string {
  return text.replace(/\|/g, '\\|')
}

function markdownTable (header: readonly string[], lines: ReadonlyArray<readonly string[]>): string {
  const out = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`]
  for (const line of lines) out.push(`| ${line.map(escapeCell).join(' | ')} |`)
  return out.join('\n')
}

export function toMarkdown (report: RunReport): string {
  const { machine, settings } = report
  const packages = Object.entries(machine.packages).map(([name, version]) => `${name} ${version}`).join(', ')
  const passed = report.rows.filter((row) => row.pass === true).length
  const goals = report.rows.filter((row) => row.pass !== null).length
  const lines: string[] = [
    `# flowstore benchmark — ${report.date}`,
    '',
    `- Command: \`${report.command}\`${settings.quick ? ' (quick: smaller stores, fewer iterations; not the reference figures)' : ''}`,
    `- Machine: ${machine.cpu}, ${machine.cores} cores, ${formatBytes(machine.ramBytes)} RAM, ${machine.os}`,
    `- Runtime: Node ${machine.node} (V8 ${machine.v8}); ${packages}`,
    `- Time budget per task: ${settings.timePerTaskMs} ms after warmup${settings.rounds === undefined ? '' : `, in ${settings.rounds} interleaved rounds`}; run took ${report.durationSeconds.toFixed(0)} s`,
    `- Load average (1 min) at start / end: ${report.loadAverage.start.toFixed(2)} / ${report.loadAverage.end.toFixed(2)} (on ${machine.cores} cores; other processes' load skews timings)`,
    `- Goals met: ${passed} of ${goals}`,
    '',
    '## Figures',
    '',
    'Ratio = flowstore median / baseline median, both measured in this run (time, or bytes for memory; lower is better for flowstore). ' +
      'Cells show median (min–max) per operation. The goal is checked on the ratio of medians; the ratio of minimums ' +
      '(last column, for information) is less sensitive to other load on the machine.',
    '',
    markdownTable(
      ['Suite', 'Figure', 'flowstore', 'Baseline', 'Ratio', 'Goal', 'Pass', 'Ratio of mins'],
      report.rows.map((row) => [
        row.suite ?? '',
        row.task,
        `${row.subject.label}: ${formatStat(row.subject.stat)}`,
        `${row.baseline.label}: ${formatStat(row.baseline.stat)}`,
        formatRatio(row.ratio),
        row.goal?.text ?? '—',
        formatPass(row.pass),
        formatRatio(row.ratioOfMins)
      ])
    ),
    ''
  ]
  const notes = report.rows.filter((row) => row.note !== undefined)
  if (notes.length > 0) {
    lines.push('Notes:', '')
    for (const row of notes) lines.push(`- ${row.suite ?? ''} / ${row.task}: ${row.note ?? ''}`)
    lines.push('')
  }
  if (report.errors.length > 0) {
    lines.push('## Failed suites', '')
    for (const { suite, error } of report.errors) lines.push(`- **${suite}**:`, '', '```', error, '```', '')
  }
  lines.push(
    '## All tasks',
    '',
    markdownTable(
      ['Bench', 'Task', 'Median', 'Min', 'Max', 'p99', 'Samples', 'Ops/sample', '±rme'],
      report.tasks.map(({ bench, task, stat }) => [
        bench,
        task,
        formatValue(stat, stat.median),
        formatValue(stat, stat.min),
        formatValue(stat, stat.max),
        formatValue(stat, stat.p99),
        String(stat.samples),
        String(stat.perOp),
        stat.samples > 1 ? `${stat.rme.toFixed(1)}%` : '—'
      ])
    ),
    '',
    '## Suites',
    '',
    ...report.suites.map((suite) => `- **${suite.name}**: ${suite.description}`),
    ''
  )
  return lines.join('\n')
}
