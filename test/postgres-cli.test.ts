// The flowstore command with a postgres:// URL wherever it takes a <db>: import into
// PostgreSQL, stats, backup out of it, restore into another PostgreSQL store, export; a missing store is not created by a command that reads one; check and repair say
// they are for LevelDB; no output shows the password.

import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { json, runFlowstore } from './cli-run.ts'
import { tempDir } from './helpers.ts'
import { freshPostgresUrl, schemaOf, sql } from './pg-helpers.ts'

async function flowstore (...args: string[]): ReturnType<typeof runFlowstore> {
  return await runFlowstore({}, ...args)
}

function password (url: string): string {
  return decodeURIComponent(new URL(url).password)
}

describe('flowstore command on PostgreSQL', () => {
  it('imports into, reports on, backs up, restores and exports a PostgreSQL store', async () => {
    const dir = await tempDir()
    const url = freshPostgresUrl()
    const flows = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`flow-${i}`, { id: `flow-${i}`, label: `Flow ${i}`, nodes: [i] }]))
    await writeFile(join(dir, 'flows.json'), JSON.stringify(flows))

    const imported = await flowstore('import', join(dir, 'flows.json'), '--to', url, '--json')
    expect(imported.code, imported.stderr).toBe(0)
    expect(json(imported)).toMatchObject({ ok: true, imported: 50 })

    const stats = await flowstore('stats', url, '--json')
    expect(stats.code, stats.stderr).toBe(0)
    expect(json(stats)).toMatchObject({ ok: true, flows: 50, version: 1, diskBytes: null, via: 'direct' })

    const backup = await flowstore('backup', url, join(dir, 'full.fsbk'), '--json')
    expect(backup.code, backup.stderr).toBe(0)
    expect(json(backup)).toMatchObject({ ok: true, kind: 'full', flows: 50, version: 1 })

    const other = freshPostgresUrl()
    const restored = await flowstore('restore', join(dir, 'full.fsbk'), '--to', other, '--json')
    expect(restored.code, restored.stderr).toBe(0)
    expect(json(restored)).toMatchObject({ ok: true, flows: 50, version: 1 })
    const exported = await flowstore('export', other, join(dir, 'out.json'), '--json')
    expect(exported.code, exported.stderr).toBe(0)
    expect(json(exported)).toMatchObject({ ok: true, flows: 50 })

    expect(JSON.parse(await readFile(join(dir, 'out.json'), 'utf8'))).toEqual(flows)
    for (const run of [imported, stats, backup, restored, exported]) {
      expect(run.stdout + run.stderr).not.toContain(password(url))
    }
  })

  it('does not create a missing PostgreSQL store for a command that reads one', async () => {
    const dir = await tempDir()
    const url = freshPostgresUrl()
    const run = await flowstore('backup', url, join(dir, 'x.fsbk'))
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/no flowstore store/)
    expect(run.stderr).not.toContain(password(url))
    expect(await sql(url, 'SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [schemaOf(url)])).toEqual([])
  })

  it('refuses check and repair on a PostgreSQL URL as a usage error', async () => {
    const url = freshPostgresUrl()
    for (const command of ['check', 'repair']) {
      const run = await flowstore(command, url)
      expect(run.code).toBe(2)
      expect(run.stderr).toMatch(/LevelDB directory/)
    }
  })
})
