// The progress line on stderr for long work: records, records/s, bytes and ETA, redrawn in
// place with \r and cleared at the end. Drawn only when stderr is a terminal, and only once
// the work has run for a moment, so quick commands and scripts see nothing.

import { formatBytes, formatCount, formatDuration } from './format.ts'

export interface ProgressUpdate {
  /** Records done so far. */
  readonly records: number
  /** What the records are, plural. @default 'flows' */
  readonly unit?: string
  /** Records in all, when known (gives the ETA). */
  readonly total?: number | undefined
  /** Bytes read or written so far. */
  readonly bytes: number
  /** Bytes in all, when known (gives the ETA when `total` is not known). */
  readonly totalBytes?: number | undefined
}

export interface ProgressOptions {
  /** Draw at all (default: when the stream is a TTY). */
  readonly enabled?: boolean
  /** Nothing is drawn before the work has run this long. @default 300 */
  readonly delayMs?: number
  /** At most one redraw per this many ms. @default 100 */
  readonly intervalMs?: number
  /** The clock (tests pass their own). @default performance.now */
  readonly now?: () => number
}

export class ProgressLine {
  readonly #stream: NodeJS.WritableStream & { columns?: number }
  readonly #label: string
  readonly #enabled: boolean
  readonly #delayMs: number
  readonly #intervalMs: number
  readonly #now: () => number
  readonly #started: number
  #lastDraw = -Infinity
  #drawn = false

  constructor (stream: NodeJS.WritableStream & { isTTY?: boolean, columns?: number }, label: string, options: ProgressOptions = {}) {
    this.#stream = stream
    this.#label = label
    this.#enabled = options.enabled ?? stream.isTTY === true
    this.#delayMs = options.delayMs ?? 300
    this.#intervalMs = options.intervalMs ?? 100
    this.#now = options.now ?? (() => performance.now())
    this.#started = this.#now()
  }

  /** Redraws the line if it is due. */
  update (progress: ProgressUpdate): void {
    if (!this.#enabled) return
    const now = this.#now()
    if (now - this.#started < this.#delayMs || now - this.#lastDraw < this.#intervalMs) return
    this.#lastDraw = now
    let line = render(this.#label, progress, now - this.#started)
    const width = this.#stream.columns
    if (width !== undefined && width > 1 && line.length >= width) line = line.slice(0, width - 1)
    this.#stream.write(`\r${line}\x1b[K`)
    this.#drawn = true
  }

  /** Clears the line (if one was drawn). */
  done (): void {
    if (!this.#drawn) return
    this.#stream.write('\r\x1b[K')
    this.#drawn = false
  }
}

/** The text of a progress line, e.g. `backup  12,000/100,000 flows  4,000 flows/s  3.1 MiB  ETA 0:20`. */
export function render (label: string, progress: ProgressUpdate, elapsedMs: number): string {
  const { records, total, bytes, totalBytes, unit = 'flows' } = progress
  const parts = [label, total === undefined ? `${formatCount(records)} ${unit}` : `${formatCount(records)}/${formatCount(total)} ${unit}`]
  const seconds = elapsedMs / 1000
  if (seconds > 0) parts.push(`${formatCount(Math.round(records / seconds))} ${unit}/s`)
  parts.push(totalBytes === undefined ? formatBytes(bytes) : `${formatBytes(bytes)}/${formatBytes(totalBytes)}`)
  // ETA from whichever total is known: the rate so far applied to what is left.
  const fraction = total !== undefined && total > 0 ? records / total : totalBytes !== undefined && totalBytes > 0 ? bytes / totalBytes : undefined
  if (fraction !== undefined && fraction > 0 && fraction < 1) parts.push(`ETA ${formatDuration(elapsedMs * (1 - fraction) / fraction)}`)
  return parts.join('  ')
}

/** What a step of a check or repair counts, for its progress line. */
const STEP_UNITS: Readonly<Record<string, string>> = { checksums: 'files', copy: 'files', values: 'entries', analyse: 'entries', rebuild: 'flows' }
const STEP_LABELS: Readonly<Record<string, string>> = { checksums: 'checksums', copy: 'copy', values: 'values', analyse: 'read back', rebuild: 'rebuild' }

/**
 * One progress line per step of a multi-step job (check, repair): each step gets its own
 * line, label (`check checksums`) and clock, so its rate and ETA are its own.
 */
export class StepProgress {
  readonly #make: (label: string) => ProgressLine
  readonly #command: string
  #step: string | undefined
  #line: ProgressLine | undefined

  constructor (make: (label: string) => ProgressLine, command: string) {
    this.#make = make
    this.#command = command
  }

  update (progress: { readonly step: string, readonly done: number, readonly total: number | undefined, readonly bytes: number, readonly totalBytes: number | undefined }): void {
    if (progress.step !== this.#step || this.#line === undefined) {
      this.#line?.done()
      this.#step = progress.step
      this.#line = this.#make(`${this.#command} ${STEP_LABELS[progress.step] ?? progress.step}`)
    }
    this.#line.update({ records: progress.done, total: progress.total, bytes: progress.bytes, totalBytes: progress.totalBytes, unit: STEP_UNITS[progress.step] ?? 'entries' })
  }

  done (): void {
    this.#line?.done()
    this.#line = undefined
  }
}
