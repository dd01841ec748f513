// Opening a store written by an earlier layout: test/fixtures/layout-v1/ holds the files a
// layout-1 flowstore wrote (see its README). Every flow, version, tombstone and change comes
// back, and the store keeps working.

import { cp, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { generateFlow, mutateFlow } from '../examples/generate-flows.ts'
import { FlowStore } from '../src/index.ts'
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
