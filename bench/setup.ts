// `npm run bench:setup` (and the first step of `npm run bench`): installs the embedded stores
// the compare suite measures (lmdb-js, better-sqlite3: bench/contenders/package.json) when
// they are not installed yet. They live apart from the project's own dependencies because
// better-sqlite3 compiles from source where no prebuilt binary is found, which would make
// every `npm ci` of the project a minute slower for a benchmark most runs never reach.

import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const CONTENDERS = join(dirname(fileURLToPath(import.meta.url)), 'contenders')
const PACKAGES = ['better-sqlite3', 'lmdb'] as const

function installed (): boolean {
  const require = createRequire(join(CONTENDERS, 'package.json'))
  try {
    for (const name of PACKAGES) require.resolve(name, { paths: [CONTENDERS] })
    return true
  } catch {
    return false
  }
}

if (!installed()) {
  process.stderr.write(`bench: installing ${PACKAGES.join(' and ')} into bench/contenders (once; better-sqlite3 may compile for a minute)\n`)
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const result = spawnSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: CONTENDERS, stdio: ['ignore', 'inherit', 'inherit'], shell: process.platform === 'win32' })
  if (result.status !== 0 || !installed()) {
    process.stderr.write('bench: installing the contenders failed; see npm\'s output above (run "npm run bench:setup" to try again)\n')
    process.exit(1)
  }
}
