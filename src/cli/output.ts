// Where the command line writes: human-readable lines on stdout, or with --json exactly one
// JSON object on stdout for scripts; errors and the progress line go to stderr so that
// stdout stays parseable. Also the number formats used in human output.

import type { ProgressOptions } from './progress.ts'

/** The streams and environment a command runs with (the real process's, or a test's). */
export interface Io {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean }
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean, columns?: number }
  readonly env: NodeJS.ProcessEnv
  /** How the progress line draws (tests draw at once; the command line uses the defaults). */
  readonly progress?: ProgressOptions
}

export class Output {
  readonly json: boolean
  readonly #io: Io

  constructor (io: Io, json: boolean) {
    this.#io = io
    this.json = json
  }

  /** Prints a command's result: `value` as one JSON object, or `text` as lines. */
  result (value: object, text: readonly string[]): void {
    if (this.json) this.#io.stdout.write(JSON.stringify(value) + '\n')
    else if (text.length > 0) this.#io.stdout.write(text.join('\n') + '\n')
  }
}

export { formatBytes, formatCount, formatDuration } from './format.ts'

/** Lays out rows as left-aligned columns separated by two spaces. */
export function table (rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length) })
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd())
}
