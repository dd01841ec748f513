// Runs the `flowstore` command line as a real child process (node + tsx running
// src/cli/main.ts) and collects its exit code and output. Shared by the CLI tests.

import { spawn } from 'node:child_process'
import { join, resolve } from 'node:path'
import { expect } from 'vitest'

export const ROOT = resolve(import.meta.dirname, '..')
const MAIN = join(ROOT, 'src', 'cli', 'main.ts')
// An absolute loader, so the CLI can run with a working directory outside the project.
export const TSX = import.meta.resolve('tsx')

export interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  /** The child's working directory. @default the project root */
  readonly cwd?: string
  /** Variables added to the environment (FLOWSTORE_DEBUG is removed unless given here). */
  readonly env?: Record<string, string>
}

/** Runs `flowstore ...args` in a child process. */
export async function runFlowstore (options: RunOptions, ...args: string[]): Promise<Run> {
  const env = { ...process.env }
  delete env.FLOWSTORE_DEBUG
  Object.assign(env, options.env)
  const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], { cwd: options.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (exitCode) => { resolve(exitCode) })
  })
  return { code, stdout, stderr }
}

/** The one JSON object a --json run printed on stdout. */
export function json (run: Run): any {
  const lines = run.stdout.trim().split('\n')
  expect(lines, run.stderr).toHaveLength(1)
  return JSON.parse(lines[0]!)
}
