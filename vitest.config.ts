import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One throwaway PostgreSQL server for the PostgreSQL engine's tests (or FLOWSTORE_TEST_POSTGRES_URL).
    globalSetup: ['test/pg-global-setup.ts'],
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] }
  }
})
