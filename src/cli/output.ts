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

const NUMBER = new Intl.NumberFormat('en-US')

export function formatCount (n: number): string {
  return NUMBER.format(n)
}

export function formatBytes (bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`
}

export function formatDuration (ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  const seconds = ms / 1000
  if (seconds < 60) return `${seconds.toFixed(1)} s`
  const whole = Math.round(seconds)
  const h = Math.floor(whole / 3600)
  const m = Math.floor((whole % 3600) / 60)
  const s = whole % 60
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`
}

function pad (n: number): string {
  return String(n).padStart(2, '0')
}

/** Lays out rows as left-aligned columns separated by two spaces. */
export function table (rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length) })
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd())
}
