// vitest globalSetup: ONE throwaway PostgreSQL server for the whole run (see pg-server.ts),
// or the server in FLOWSTORE_TEST_POSTGRES_URL. Its URL reaches the test files through
// inject('postgresUrl'); each test works in a schema of its own (pg-helpers.ts), so files
// run in parallel on the one server.

import type { TestProject } from 'vitest/node'
import { startTestPostgres, type TestPostgres } from './pg-server.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string
  }
}

export default async function setup (project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.FLOWSTORE_TEST_POSTGRES_URL
  let server: TestPostgres | undefined
  if (given === undefined || given === '') server = await startTestPostgres()
  project.provide('postgresUrl', server?.url ?? given!)
  return async () => { await server?.remove() }
}
