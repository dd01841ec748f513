import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // FLOWSTORE_VITEST_INCLUDE: test/exit-code.test.ts runs this configuration on one file.
    include: [process.env.FLOWSTORE_VITEST_INCLUDE ?? 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One throwaway PostgreSQL server for the PostgreSQL engine's tests (or FLOWSTORE_TEST_POSTGRES_URL).
    globalSetup: ['test/pg-global-setup.ts'],
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] }
  }
})
