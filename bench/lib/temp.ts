// Temp directories for a benchmark run: created under os.tmpdir(), all removed at the end
// (also on Ctrl-C, see the runner).

import { rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export class TempDirs {
  readonly #dirs: string[] = []

  /** A fresh empty directory. */
  async make (prefix: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), `flowstore-bench-${prefix}-`))
    this.#dirs.push(dir)
    return dir
  }

  async cleanup (): Promise<void> {
    for (const dir of this.#dirs.splice(0)) await rm(dir, { recursive: true, force: true })
  }

  /** For exit paths that cannot await (signals). */
  cleanupSync (): void {
    for (const dir of this.#dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  }
}
