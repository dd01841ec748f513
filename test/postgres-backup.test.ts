// Moving stores between LevelDB and PostgreSQL: backups of a PostgreSQL store (one snapshot,
// while another store keeps committing) restored into LevelDB, and backups of a LevelDB store
// restored into PostgreSQL (a full backup and a chain with changed-only ones), which builds
// the same store (flows, versions, deletions) in one transaction, refuses a store that is not
// empty, and leaves the store empty when a backup turns out damaged.

import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { FlowStore, isFlowStoreError, restoreBackup } from '../src/index.ts'
import { openPostgresEngine, type PostgresEngine } from '../src/engine/postgres.ts'
import { HEADER_BYTES, recordVersion } from '../src/layout.ts'
import { tempDir } from './helpers.ts'
import { freshPostgresUrl, schemaOf, sql } from './pg-helpers.ts'

const engines: PostgresEngine[] = []
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close()
})

interface Loaded {
  readonly flows: Map<string, { version: number, bytes: string }>
  readonly version: number
  readonly storeId: string
  readonly tombstones: Map<string, number>
}

/** What a PostgreSQL store holds, read by its engine. */
async function loadPostgres (url: string): Promise<Loaded> {
  const engine = openPostgresEngine(url, { create: false })
  engines.push(engine)
  const flows = new Map<string, { version: number, bytes: string }>()
  const state = await engine.load((id, record) => {
    flows.set(id, { version: recordVersion(record)!, bytes: Buffer.from(record.subarray(HEADER_BYTES)).toString('hex') })
  })
  return { flows, version: state.version, storeId: state.storeId, tombstones: state.tombstones ?? new Map() }
}

/** The same, for a LevelDB store (through its public API). */
async function loadLevel (dir: string): Promise<Omit<Loaded, 'tombstones'>> {
  const store = await FlowStore.open(dir)
  try {
    const flows = new Map<string, { version: number, bytes: string }>()
    for (const id of store.flows.keys()) {
      const lazy = store.lazy(id)!
      flows.set(id, { version: lazy.version, bytes: Buffer.from(lazy.bytes).toString('hex') })
    }
    return { flows, version: store.version, storeId: store.storeId }
  } finally {
    await store.close()
  }
}

describe('restore into PostgreSQL', () => {
  it('restores a full LevelDB backup into a new PostgreSQL store: the same flows, versions and store version, a new identity', async () => {
    const dir = await tempDir()
    const source = await FlowStore.open(join(dir, 'db'))
    await source.saveMany(Array.from({ length: 1500 }, (_, i) => ({ id: `flow-${i}`, n: i, when: new Date(i), data: new Uint8Array([i & 0xff]) })))
    await source.save({ id: 'unicode 日本語 😀', text: 'e\u0301' })
    await source.delete('flow-7')
    const info = await source.backup(join(dir, 'full.fsbk'))
    await source.close()

    const url = freshPostgresUrl()
    const restored = await restoreBackup(info.file, url)
    expect(restored.version).toBe(info.version)
    expect(restored.flows).toBe(1500)
    expect(restored.location).not.toContain(decodeURIComponent(new URL(url).password))

    const expected = await loadLevel(join(dir, 'db'))
    const actual = await loadPostgres(url)
    expect(actual.version).toBe(expected.version)
    expect(actual.flows).toEqual(expected.flows)
    expect(actual.storeId).not.toBe(expected.storeId)

  })

  it('restores a chain (full, then changed-only backups) with its deletions as tombstones', async () => {
    const dir = await tempDir()
    const source = await FlowStore.open(join(dir, 'db'))
    await source.saveMany([{ id: 'a', v: 1 }, { id: 'b', v: 1 }, { id: 'c', v: 1 }])
    const full = await source.backup(join(dir, 'full.fsbk'))
    await source.save({ id: 'a', v: 2 })
    await source.delete('b')
    const first = await source.backup(join(dir, 'c1.fsbk'), { since: full })
    await source.save({ id: 'b', v: 3 })
    await source.delete('c')
    await source.save({ id: 'd', v: 3 })
    const second = await source.backup(join(dir, 'c2.fsbk'), { since: first })
    await source.close()

    const url = freshPostgresUrl()
    const restored = await restoreBackup([full.file, first.file, second.file], url)
    expect(restored.flows).toBe(3)
    const expected = await loadLevel(join(dir, 'db'))
    const actual = await loadPostgres(url)
    expect(actual.version).toBe(second.version)
    expect(actual.flows).toEqual(expected.flows)
    // c was deleted by the second of the three batches after the first changed-only backup.
    expect(actual.tombstones).toEqual(new Map([['c', second.version - 1]]))
  })

  it('refuses a PostgreSQL store that is not empty with FLOWSTORE_TARGET_NOT_EMPTY and leaves it as it was', async () => {
    const dir = await tempDir()
    const source = await FlowStore.open(join(dir, 'db'))
    await source.save({ id: 'x' })
    const info = await source.backup(join(dir, 'full.fsbk'))
    await source.close()

    const url = freshPostgresUrl()
    await restoreBackup(info.file, url)
    const before = await loadPostgres(url)
    const err = await restoreBackup(info.file, url, { overwrite: true }).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_TARGET_NOT_EMPTY')).toBe(true)
    expect(await loadPostgres(url)).toEqual(before)
  })

  it('writes nothing when a backup turns out damaged in the middle of the restore', async () => {
    const dir = await tempDir()
    const source = await FlowStore.open(join(dir, 'db'))
    await source.saveMany(Array.from({ length: 3000 }, (_, i) => ({ id: `f${i}`, payload: 'x'.repeat(200) + String(i) })))
    const info = await source.backup(join(dir, 'full.fsbk'), { compressionLevel: 1 })
    await source.close()
    // Cut the file short: the header reads fine, the records stop part way.
    const bytes = await readFile(info.file)
    await writeFile(info.file, bytes.subarray(0, Math.floor(bytes.length * 0.8)))

    const url = freshPostgresUrl()
    const err = await restoreBackup(info.file, url).catch((e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_BACKUP_CORRUPT')).toBe(true)
    const [row] = await sql<{ rows: string, version: string }>(url, `SELECT (SELECT count(*) FROM "${schemaOf(url)}".flowstore) AS rows, (SELECT version FROM "${schemaOf(url)}".flowstore_store) AS version`)
    expect(row).toEqual({ rows: '0', version: '0' })
  })
})

describe('backups of a PostgreSQL store', () => {
  it('backs up a PostgreSQL store (full, then changed-only) and restores it into LevelDB: the same flows and versions', async () => {
    const url = freshPostgresUrl()
    const dir = await tempDir()
    const store = await FlowStore.open(url)
    try {
      await store.saveMany(Array.from({ length: 1200 }, (_, i) => ({ id: `flow-${i}`, n: i, when: new Date(i), bytes: new Uint8Array([i & 0xff, 1]) })))
      await store.save({ id: 'id with \u0000 and 😀', nested: { list: [1, 'two', null, undefined, NaN] } })
      await store.delete('flow-3')
      const full = await store.backup(join(dir, 'full.fsbk'))
      expect(full.storeId).toBe(store.storeId)
      await store.save({ id: 'flow-4', n: 'changed' })
      await store.delete('flow-5')
      await store.save({ id: 'late' })
      const changes = await store.backup(join(dir, 'c1.fsbk'), { since: full })
      expect(changes.kind).toBe('changes')
      expect(changes.flows).toBe(2)
      expect(changes.deletions).toBe(1)

      const restored = await restoreBackup([full.file, changes.file], join(dir, 'restored'))
      expect(restored.version).toBe(store.version)
      const expected = await loadPostgres(url)
      const actual = await loadLevel(join(dir, 'restored'))
      expect(actual.version).toBe(expected.version)
      expect(actual.flows).toEqual(expected.flows)
    } finally {
      await store.close()
    }
  })

  it('holds exactly one store version while another store commits to the same database', async () => {
    const url = freshPostgresUrl()
    const dir = await tempDir()
    const ids = Array.from({ length: 5000 }, (_, i) => `f${i}`)
    const writer = await FlowStore.open(url)
    const reader = await FlowStore.open(url)
    try {
      await writer.saveMany(ids.map((id) => ({ id, generation: 0, padding: 'x'.repeat(100) })))
      // Every commit of the writer rewrites every flow with the next generation: any single
      // version holds one generation throughout.
      let stop = false
      let generation = 0
      const writing = (async () => {
        while (!stop) {
          generation++
          await writer.saveMany(ids.map((id) => ({ id, generation, padding: 'x'.repeat(100) })))
        }
      })()
      const info = await reader.backup(join(dir, 'full.fsbk'))
      stop = true
      await writing
      expect(info.flows).toBe(5000)

      await restoreBackup(info.file, join(dir, 'restored'))
      const restored = await FlowStore.open(join(dir, 'restored'))
      try {
        const generations = new Set([...restored.flows.values()].map((flow) => flow.generation))
        expect(generations.size).toBe(1)
        expect(restored.version).toBe(info.version)
      } finally {
        await restored.close()
      }
    } finally {
      await writer.close()
      await reader.close()
    }
  })
})

