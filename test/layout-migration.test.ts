// Opening a store written by an earlier layout: test/fixtures/layout-v1/ holds the files a
// layout-1 flowstore wrote (see its README). The open migrates it to layout 2: every flow,
// version, deletion and change comes back, and the store keeps working.

import { cp, readFile } from 'node:fs/promises'
import { ClassicLevel } from 'classic-level'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { generateFlow, mutateFlow } from '../examples/generate-flows.ts'
import { checkStore, FlowStore } from '../src/index.ts'
import { tempDir } from './helpers.ts'

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'layout-v1')

interface Expected {
  version: number
  storeId: string
  flows: Record<string, number>
  tombstones: Record<string, number>
  changes: Array<{ id: string, version: number, deleted: boolean }>
}

const expected = JSON.parse(await readFile(join(FIXTURE, 'expected.json'), 'utf8')) as Expected

/** The values the fixture's script saved (see its README). */
function expectedValue (id: string): unknown {
  if (id === 'ünïcode/flow ✓') {
    return {
      id,
      when: new Date(Date.UTC(2024, 1, 29, 12, 0, 0)),
      blob: Uint8Array.of(0, 1, 2, 254, 255),
      numbers: [NaN, Infinity, -Infinity, 1.5, 2 ** 53 - 1],
      nested: { deep: [{ a: null, b: undefined, c: true }] },
      text: 'emoji 🎉 and CJK 流れ'
    }
  }
  const index = Number(id.slice('flow-'.length))
  return index === 5 ? mutateFlow(generateFlow(5), 2) : generateFlow(index)
}

async function fixtureCopy (): Promise<string> {
  const dir = join(await tempDir(), 'db')
  await cp(join(FIXTURE, 'db'), dir, { recursive: true })
  return dir
}

/** Every key and value of the closed database at `dir`. */
async function rawEntries (dir: string): Promise<Map<string, Uint8Array>> {
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  try {
    return new Map(await db.iterator().all())
  } finally {
    await db.close()
  }
}

const prefixes = (entries: Map<string, Uint8Array>): string[] => [...new Set([...entries.keys()].map((key) => key.slice(0, 2)))].sort()

describe('a store written by layout 1', () => {
  it('opens with every flow, its version, the store version and the store identity', async () => {
    await using store = await FlowStore.open(await fixtureCopy())
    expect(store.version).toBe(expected.version)
    expect(store.storeId).toBe(expected.storeId)
    expect([...store.flows.keys()].sort()).toEqual(Object.keys(expected.flows).sort())
    for (const [id, version] of Object.entries(expected.flows)) {
      expect(store.lazy(id)?.version, id).toBe(version)
      expect(store.get(id), id).toEqual(expectedValue(id))
    }
  })

  it('answers changesSince from the change record it wrote', async () => {
    await using store = await FlowStore.open(await fixtureCopy())
    expect(await store.changesSince(0)).toEqual({ version: expected.version, changes: expected.changes })
    expect((await store.changesSince(5)).changes.map((c) => c.id)).toEqual(['flow-000003', 'flow-000000', 'flow-000008', 'flow-000009'])
  })

  it('is migrated to layout 2 at open: a change log instead of the change record and tombstones, and it passes its check', async () => {
    const dir = await fixtureCopy()
    expect(prefixes(await rawEntries(dir))).toEqual(['c!', 'f!', 'm!', 't!'])
    await (await FlowStore.open(dir)).close()
    const entries = await rawEntries(dir)
    expect(prefixes(entries)).toEqual(['L!', 'f!', 'm!'])
    expect([...entries.get('m!format')!]).toEqual([2])
    // One log entry per version that still names a change: 1, 2, 3, 4, 5, 6, 7.
    expect([...entries.keys()].filter((key) => key.startsWith('L!'))).toHaveLength(7)
    expect(await checkStore(dir)).toMatchObject({ ok: true, flows: 8, tombstones: 3, changes: 11, version: 7 })
    // A second open finds layout 2: nothing to migrate, nothing rewritten.
    await (await FlowStore.open(dir)).close()
    expect(await rawEntries(dir)).toEqual(entries)
  })

  it('clears layout-1 keys an interrupted migration left behind at the next open', async () => {
    const dir = await fixtureCopy()
    await (await FlowStore.open(dir)).close()
    const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    await db.batch([
      { type: 'put', key: 't!flow-000000', value: Uint8Array.of(0, 0, 0, 0, 0, 7) },
      { type: 'put', key: 'c!000000000007!flow-000000', value: Uint8Array.of(1) }
    ])
    await db.close()
    expect((await checkStore(dir)).notes.join('\n')).toMatch(/2 tombstone\(s\) and change-record entries of layout 1 left by an interrupted migration/)
    await using store = await FlowStore.open(dir)
    expect(await store.changesSince(0)).toEqual({ version: expected.version, changes: expected.changes })
    await store.close()
    expect(prefixes(await rawEntries(dir))).toEqual(['L!', 'f!', 'm!'])
  })

  it('keeps working after the open: saves, deletes and a reopen', async () => {
    const dir = await fixtureCopy()
    {
      await using store = await FlowStore.open(dir)
      await store.save(generateFlow(4)) // deleted at v3: its tombstone goes
      await store.delete('flow-000001')
      expect(store.version).toBe(expected.version + 2)
    }
    await using store = await FlowStore.open(dir)
    expect(store.get('flow-000004')).toEqual(generateFlow(4))
    expect(store.has('flow-000001')).toBe(false)
    const { changes } = await store.changesSince(expected.version)
    expect(changes).toEqual([
      { id: 'flow-000004', version: expected.version + 1, deleted: false },
      { id: 'flow-000001', version: expected.version + 2, deleted: true }
    ])
  })
})
