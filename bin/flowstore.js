#!/usr/bin/env node
// The `flowstore` command. A development checkout (src/ present, tsx installed as a dev
// dependency) runs the TypeScript source through tsx, registered in this same process, so
// `npx flowstore …` and `node bin/flowstore.js …` work from a clean clone with no build step
// and never run a stale build. A published package ships no src/ and runs dist/cli/main.js.

import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const built = new URL('../dist/cli/main.js', import.meta.url)
const source = new URL('../src/cli/main.ts', import.meta.url)

async function loadTsx () {
  try {
    return await import('tsx/esm/api')
  } catch {
    return undefined
  }
}

const tsx = existsSync(fileURLToPath(source)) ? await loadTsx() : undefined
if (tsx !== undefined) {
  tsx.register()
  await import(source.href)
} else if (existsSync(fileURLToPath(built))) {
  await import(built.href)
} else {
  process.stderr.write('flowstore: dist/cli/main.js is missing and tsx is not installed to run the source.\n' +
    '  Run "npm install" (for tsx) or "npm run build", then try again.\n')
  process.exit(1)
}
