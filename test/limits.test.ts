// Limits that agree: the largest flow and the longest id a store accepts at save are what a
// backup record, a restore and the owner's socket carry, so nothing a store accepted can make
// a later backup (or a later client) fail. Options above them are refused at open.

import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FlowStore, isFlowStoreError, restoreBackup, verifyBackup } from '../src/index.ts'
import { FlowCodec } from '../src/codec.ts'
import { MAX_FLOW_BYTES, MAX_ID_BYTES } from '../src/options.ts'
import { tempDir } from './helpers.ts'
import { connectService, serveOwner } from './service-helpers.ts'

interface BigFlow {
  [key: string]: unknown
  id: string
  data: Uint8Array
}

/** A flow under the longest id accepted whose encoding is exactly the largest accepted. */
function largestFlow (): BigFlow {
  const id = 'i'.repeat(MAX_ID_BYTES)
  const codec = new FlowCodec({ maxFlowBytes: Number.MAX_SAFE_INTEGER, maxIdBytes: MAX_ID_BYTES })
  const overhead = codec.encode({ id, data: new Uint8Array(70_000) }).record.length - 7 - 70_000
  const flow = { id, data: new Uint8Array(MAX_FLOW_BYTES - overhead).fill(7) }
  expect(codec.encode(flow).record.length - 7).toBe(MAX_FLOW_BYTES)
  return flow
}

describe('limits', () => {
  it('are 16 MiB for a flow and 16 KiB for an id', () => {
    expect(MAX_FLOW_BYTES).toBe(16 * 1024 * 1024)
    expect(MAX_ID_BYTES).toBe(16 * 1024)
  })

  it('refuse a maxFlowBytes above the largest flow a backup holds with a TypeError naming the limit, creating nothing', async () => {
    const dir = join(await tempDir(), 'db')
    const open = FlowStore.open(dir, { maxFlowBytes: MAX_FLOW_BYTES + 1 })
    await expect(open).rejects.toThrow(TypeError)
    await expect(open).rejects.toThrow(String(MAX_FLOW_BYTES))
    expect(existsSync(dir)).toBe(false)
  })

  it('refuse a maxIdBytes above the longest id a backup and the socket carry with a TypeError naming the limit', async () => {
    const dir = join(await tempDir(), 'db')
    const open = FlowStore.open(dir, { maxIdBytes: MAX_ID_BYTES + 1 })
    await expect(open).rejects.toThrow(TypeError)
    await expect(open).rejects.toThrow(String(MAX_ID_BYTES))
    expect(existsSync(dir)).toBe(false)
  })

  it('let the largest flow under the longest id be saved, backed up, verified and restored exactly, and refuse one byte more at save', async () => {
    const flow = largestFlow()
    const dir = await tempDir()
    const store = await FlowStore.open<BigFlow>(dir, { maxFlowBytes: MAX_FLOW_BYTES, maxIdBytes: MAX_ID_BYTES })
    const file = join(await tempDir(), 'full.fsbk')
    try {
      await store.save(flow)
      let refused: unknown
      try {
        void store.save({ ...flow, data: new Uint8Array(flow.data.length + 1) })
      } catch (err) {
        refused = err
      }
      expect(isFlowStoreError(refused, 'FLOWSTORE_INVALID_FLOW')).toBe(true)
      await store.backup(file)
    } finally {
      await store.close()
    }
    expect(await verifyBackup(file)).toMatchObject({ ok: true, flows: 1 })
    const target = join(await tempDir(), 'restored')
    await restoreBackup([file], target)
    const restored = await FlowStore.open<BigFlow>(target, { maxFlowBytes: MAX_FLOW_BYTES, maxIdBytes: MAX_ID_BYTES })
    try {
      const back = restored.get(flow.id)!
      expect(back.data.length).toBe(flow.data.length)
      expect(Buffer.from(back.data).equals(Buffer.from(flow.data))).toBe(true)
    } finally {
      await restored.close()
    }
  })

  it('let the largest flow under the longest id travel through the owner\'s socket both ways', async () => {
    const flow = largestFlow()
    const { dir, store } = await serveOwner({ maxFlowBytes: MAX_FLOW_BYTES, maxIdBytes: MAX_ID_BYTES })
    const writer = await connectService<BigFlow>(dir)
    await writer.save(flow)
    expect((store.get(flow.id) as unknown as BigFlow).data.length).toBe(flow.data.length)
    const reader = await connectService<BigFlow>(dir)
    expect(reader.get(flow.id)!.data.length).toBe(flow.data.length)
  })
})
