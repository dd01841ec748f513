// Crash safety with real processes: a child (test/fixtures/save-loop.ts) saves in a loop and
// prints "ack <n>" as each save's promise resolves; the parent SIGKILLs it after a chosen
// number of acks, then opens the store and checks what survived. LevelDB appends each batch
// to its log in order, so what survives a process kill is a prefix of the batches: every
// acknowledged one, perhaps a few more the parent had not read yet, never half of one.

import { afterEach, describe, expect, it } from 'vitest'
import type { GeneratedFlow } from '../examples/generate-flows.ts'
import { FlowStore } from '../src/index.ts'
import { batchFlow, batchGroup, GROUPS, groupIndexes, singleFlow } from './fixtures/crash-data.ts'
import { killChildren, startChild } from './fixtures/child.ts'
import { tempDir } from './helpers.ts'

afterEach(killChildren)

/**
 * Runs the save loop in `dir` and SIGKILLs it as soon as the parent has read `acks`
 * acknowledgements. Returns the highest acknowledged save/batch number the parent read
 * (lines already in the pipe when the kill lands are read too).
 */
async function saveUntilKilled (dir: string, mode: 'single' | 'batch', acks: number, sync = false): Promise<number> {
  const child = startChild('save-loop.ts', dir, mode, sync ? 'sync' : 'nosync')
  const acked: number[] = []
  child.onLine((line) => {
    if (!line.startsWith('ack ')) return
    acked.push(Number(line.slice(4)))
    if (acked.length === acks) child.kill('SIGKILL')
  })
  await child.waitForLine((line) => line === `ack ${acks - 1}`)
  const exit = await child.exited
  // Killed by us, not crashed on its own.
  expect(exit, child.stderr).toEqual({ code: null, signal: 'SIGKILL' })
  // One ack per save, in order.
  expect(acked).toEqual(Array.from({ length: acked.length }, (_, i) => i))
  return acked.length - 1
}

function flowIndex (id: string): number {
  const match = /^flow-(\d{6})$/.exec(id)
  expect(match, `unexpected id ${id}`).not.toBeNull()
  return Number(match![1])
}

/** Checks a store written by the 'single' loop; returns how many saves survived. */
async function expectSinglePrefix (dir: string, lastAcked: number): Promise<number> {
  const store = await FlowStore.open(dir)
  try {
    const indexes = [...store.flows.keys()].map(flowIndex).sort((a, b) => a - b)
    const survived = indexes.length
    // Saves 0..survived-1, no gaps: every acknowledged save plus maybe later ones.
    expect(indexes).toEqual(Array.from({ length: survived }, (_, i) => i))
    expect(survived).toBeGreaterThanOrEqual(lastAcked + 1)
    for (const index of indexes) expect(store.get(singleFlow(index).id)).toEqual(singleFlow(index))
    // One batch per save, each bumping the persisted version and leaving a change entry.
    expect(store.version).toBe(survived)
    const { version, changes } = await store.changesSince(0)
    expect(version).toBe(survived)
    expect(changes.map((c) => c.id)).toEqual(indexes.map((i) => singleFlow(i).id))
    expect(changes.map((c) => c.version)).toEqual(indexes.map((i) => i + 1))
    return survived
  } finally {
    await store.close()
  }
}

describe('a save loop killed with SIGKILL', () => {
  // Varied kill points, fixed so that a failure reproduces.
  it.each([50, 137, 211, 83, 300])('keeps every one of %i acknowledged saves, with its exact content', async (acks) => {
    const dir = await tempDir()
    const lastAcked = await saveUntilKilled(dir, 'single', acks)
    // Lines already in the pipe when the kill lands are read too: they were acknowledged.
    expect(lastAcked).toBeGreaterThanOrEqual(acks - 1)
    await expectSinglePrefix(dir, lastAcked)
  })

  it('keeps every acknowledged save with sync: true', async () => {
    const dir = await tempDir()
    const lastAcked = await saveUntilKilled(dir, 'single', 120, true)
    await expectSinglePrefix(dir, lastAcked)
  })

  it('can be reopened and written again after the crash', async () => {
    const dir = await tempDir()
    const lastAcked = await saveUntilKilled(dir, 'single', 60)
    const survived = await expectSinglePrefix(dir, lastAcked)
    const store = await FlowStore.open(dir)
    await store.save(singleFlow(survived))
    expect(store.version).toBe(survived + 1)
    await store.close()
    expect(await expectSinglePrefix(dir, survived)).toBe(survived + 1)
  })
})

describe('a saveMany loop killed with SIGKILL', () => {
  it.each([20, 47])('keeps each of %i acknowledged batches whole, and no batch half-written', async (acks) => {
    const dir = await tempDir()
    const lastAcked = await saveUntilKilled(dir, 'batch', acks)
    const store = await FlowStore.open<GeneratedFlow>(dir)
    try {
      // The last batch that survived: the highest revision of any stored flow.
      let last = -1
      for (const flow of store.flows.values()) last = Math.max(last, flow.metadata.revision)
      expect(last).toBeGreaterThanOrEqual(lastAcked)
      expect(store.version).toBe(last + 1)
      for (let group = 0; group < GROUPS; group++) {
        // Batches 0..last committed, in order: each group holds its latest batch in full.
        let latest = last
        while (latest >= 0 && batchGroup(latest) !== group) latest--
        for (const index of groupIndexes(group)) {
          const id = batchFlow(index, 0).id
          if (latest < 0) expect(store.has(id)).toBe(false)
          else expect(store.get(id), `${id} should be at batch ${latest}`).toEqual(batchFlow(index, latest))
        }
      }
      expect(store.size).toBe(Math.min(last + 1, GROUPS) * groupIndexes(0).length)
    } finally {
      await store.close()
    }
  })
})
