// Every example runs, as a user would run it, in a child process: they cannot rot.

import { execFile } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const root = join(import.meta.dirname, '..')
// generate-flows.ts is a library the examples share, not an example.
const examples = readdirSync(join(root, 'examples')).filter((name) => name.endsWith('.ts') && name !== 'generate-flows.ts')

describe('examples', () => {
  it('finds the examples', () => {
    expect(examples).toEqual(expect.arrayContaining(['quickstart.ts', 'backup-and-restore.ts', 'migrate-legacy-json.ts', 'cluster.ts']))
  })

  it.each(examples)('%s runs to completion with exit code 0 and prints its story', async (name) => {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', join('examples', name)], { cwd: root, timeout: 60_000 })
    expect(stdout.trim().split('\n').length).toBeGreaterThan(3)
    expect(stderr).not.toMatch(/Error|Unhandled/)
  })

  it('the quick start reopens the store with what it saved', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/quickstart.ts'], { cwd: root, timeout: 60_000 })
    expect(stdout).toMatch(/saved 1000 flows in one batch/)
    expect(stdout).toMatch(/reopened: 999 flows, version 4/)
    expect(stdout).toMatch(/decoded yet: false/)
    expect(stdout).toMatch(/name: "Renamed in the quick start", decoded now: true/)
    expect(stdout).toMatch(/refused: FLOWSTORE_INVALID_FLOW/)
  })
})
