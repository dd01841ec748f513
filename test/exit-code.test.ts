// The test command must fail when a test fails: a run of this project's vitest
// configuration over one failing test (test/fixtures/fails.check.ts) exits non-zero. (The
// PostgreSQL server package's exit hooks once turned every failing run into exit 0.)

import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

it('exits non-zero when a test fails, with the PostgreSQL global setup loaded', () => {
  const run = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run'], {
    cwd: ROOT,
    // A server URL is given, so none is started: loading the setup is what matters here.
    env: { ...process.env, CI: 'true', FLOWSTORE_VITEST_INCLUDE: 'test/fixtures/fails.check.ts', FLOWSTORE_TEST_POSTGRES_URL: 'postgres://unused@127.0.0.1:1/none' },
    encoding: 'utf8',
    timeout: 120_000
  })
  expect(run.stdout + run.stderr).toMatch(/1 failed/)
  expect(run.status, run.stdout + run.stderr).toBe(1)
}, 150_000)
