// The shared behaviour suite (engine-suite.ts) on the PostgreSQL engine: values, the value
// domain, typed errors, flows and lazy, the change record, transactions, ifVersion and
// backups behave exactly as on LevelDB. Each fixture is a schema of its own on the test run's
// server; every open() is a new engine (a new pool and notification connection).

import { FlowStore, postgres } from '../src/index.ts'
import { engineSuite } from './engine-suite.ts'
import { freshPostgresUrl } from './pg-helpers.ts'

engineSuite('PostgreSQL', async () => {
  const url = freshPostgresUrl()
  return {
    open: async (options) => await FlowStore.open(postgres({ connectionString: url }), options)
  }
})
