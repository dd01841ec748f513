// Faults between owner and clients, with real processes killed with SIGKILL: an owner that
// dies with writes in flight, a new owner starting, a client that dies mid-request. Every
// wait is on an explicit message (a child's stdout line, an event, an awaited promise).

import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it, onTestFinished } from 'vitest'
import { Packr } from 'msgpackr'
import { FlowService, type FlowStoreError, isFlowStoreError } from '../src/index.ts'
import { type Child, killChildren, startChild } from './fixtures/child.ts'
import { tempDir } from './helpers.ts'
import { connectService, rawConnection, rejectionOf, serveOwner } from './service-helpers.ts'

afterEach(killChildren)

/** Starts an owner process on `dir` (see fixtures/service-owner.ts); resolves once it serves. */
async function ownerProcess (dir: string, ...args: string[]): Promise<Child> {
  const child = startChild('service-owner.ts', dir, ...args)
  await child.waitForLine((line) => line.startsWith('ready '))
  return child
}

describe('when the owner stops answering (SIGSTOP)', () => {
  it('fails a waiting save with FLOWSTORE_TIMEOUT after requestTimeoutMs, keeps the cache, and reconnects once the owner runs again', async () => {
    const dir = await tempDir()
    const owner = await ownerProcess(dir, '--seed', 'kept')
    // A stopped child is still killed (SIGKILL) by killChildren after the test.
    onTestFinished(() => { owner.kill('SIGCONT') })
    const service = await connectService(dir, { requestTimeoutMs: 500, ttlMs: Infinity })
    const lost = new Promise<FlowStoreError>((resolve) => { service.on('disconnect', resolve) })
    owner.kill('SIGSTOP')
    const error = await rejectionOf(service.save({ id: 'while-stopped' }))
    expect(isFlowStoreError(error, 'FLOWSTORE_TIMEOUT')).toBe(true)
    expect((await lost).code).toBe('FLOWSTORE_TIMEOUT')
    expect(service.get('kept')).toMatchObject({ id: 'kept' })
    // Connecting anew to the stopped owner fails the same way instead of hanging.
    expect(isFlowStoreError(await rejectionOf(FlowService.connect(dir, { requestTimeoutMs: 500 })), 'FLOWSTORE_TIMEOUT')).toBe(true)
    owner.kill('SIGCONT')
    await service.refresh()
    expect(service.connected).toBe(true)
    await service.save({ id: 'after' })
    expect(service.get('after')).toEqual({ id: 'after' })
  })
})

describe('when the owner dies', () => {
  it('fails the writes in flight with FLOWSTORE_DISCONNECTED and keeps serving cached reads', async () => {
    const dir = await tempDir()
    const owner = await ownerProcess(dir, '--seed', 'kept', '--hold')
    const service = await connectService(dir, { reconnect: false })
    const write = service.save({ id: 'lost' })
    await owner.waitForLine((line) => line.startsWith('holding'))
    owner.kill('SIGKILL')
    await owner.exited
    expect(isFlowStoreError(await rejectionOf(write), 'FLOWSTORE_DISCONNECTED')).toBe(true)
    expect(service.connected).toBe(false)
    expect(service.get('kept')).toMatchObject({ id: 'kept' })
    expect(service.has('lost')).toBe(false)
    expect(isFlowStoreError(await rejectionOf(service.save({ id: 'later' })), 'FLOWSTORE_DISCONNECTED')).toBe(true)
  })

  it('reconnects on its own once a new owner serves, and catches up with its changes', async () => {
    const dir = await tempDir()
    const first = await ownerProcess(dir, '--seed', 'old')
    const service = await connectService(dir, { ttlMs: Infinity })
    const lost = new Promise<FlowStoreError>((resolve) => { service.on('disconnect', resolve) })
    const back = new Promise<void>((resolve) => { service.on('reconnect', resolve) })
    first.kill('SIGKILL')
    await first.exited
    expect((await lost).code).toBe('FLOWSTORE_DISCONNECTED')
    await ownerProcess(dir, '--seed', 'new')
    await back
    expect(service.connected).toBe(true)
    expect(service.get('new')).toMatchObject({ id: 'new' })
    expect(service.get('old')).toMatchObject({ id: 'old' })
    expect(service.stats).toMatchObject({ reconnects: 1, fullLoads: 1 })
  })

  it('reconnects at once on refresh() when an owner is back', async () => {
    const dir = await tempDir()
    const first = await ownerProcess(dir, '--seed', 'old')
    const service = await connectService(dir, { reconnect: false, ttlMs: Infinity })
    first.kill('SIGKILL')
    await first.exited
    expect(isFlowStoreError(await rejectionOf(service.refresh()), 'FLOWSTORE_DISCONNECTED')).toBe(true)
    await ownerProcess(dir, '--seed', 'new')
    await service.refresh()
    expect([...service.flows.keys()].sort()).toEqual(['new', 'old'])
  })

  it('drops what a dead owner never committed: a client that saw it loads everything again from the new owner', async () => {
    const dir = await tempDir()
    const first = await ownerProcess(dir, '--seed', 'x', '--hold')
    const writer = await connectService(dir, { reconnect: false })
    const draft = writer.save({ id: 'x', draft: true })
    await first.waitForLine((line) => line.startsWith('holding'))
    // Connects while the draft is in the owner's memory but not committed: it sees it.
    const reader = await connectService(dir, { ttlMs: Infinity })
    expect(reader.get('x')).toEqual({ id: 'x', draft: true })
    const back = new Promise<void>((resolve) => { reader.on('reconnect', resolve) })
    first.kill('SIGKILL')
    await first.exited
    expect(isFlowStoreError(await rejectionOf(draft), 'FLOWSTORE_DISCONNECTED')).toBe(true)
    await ownerProcess(dir)
    await back
    expect(reader.get('x')).toMatchObject({ id: 'x', by: expect.any(Number) })
    expect(reader.get('x')).not.toHaveProperty('draft')
    expect(reader.stats.fullLoads).toBe(2)
  })

  it('makes connect() fail with FLOWSTORE_DISCONNECTED while only the dead owner\'s OWNER.json is left', async () => {
    const dir = await tempDir()
    const owner = await ownerProcess(dir)
    owner.kill('SIGKILL')
    await owner.exited
    expect(existsSync(join(dir, 'OWNER.json'))).toBe(true)
    expect(isFlowStoreError(await rejectionOf(FlowService.connect(dir)), 'FLOWSTORE_DISCONNECTED')).toBe(true)
  })
})

describe('when a client dies', () => {
  it('harms nothing when it is killed with a write in flight: the owner keeps serving the others', async () => {
    const { dir, store, db } = await serveOwner({ flows: 3 })
    const other = await connectService(dir, { ttlMs: Infinity })
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    const reached = new Promise<void>((resolve) => {
      db.onBatch = async () => {
        resolve()
        await held
      }
    })
    const writer = startChild('service-writer.ts', dir, '200')
    await writer.waitForLine((line) => line === 'sent')
    await reached
    writer.kill('SIGKILL')
    await writer.exited
    db.onBatch = undefined
    release()
    await store.flush()
    await other.save({ id: 'after' })
    await other.refresh()
    expect(other.size).toBe(3 + 200 + 1)
    expect(store.get('after')).toEqual({ id: 'after' })
  })

  it('changes nothing when its connection ends in the middle of a message', async () => {
    const { store, server } = await serveOwner({ flows: 1 })
    const raw = await rawConnection(server.path)
    raw.send({ id: 1, op: 'hello', protocol: 1 })
    const frame = new Packr({ useRecords: false }).pack({ id: 2, op: 'delete', flowId: 'f0' })
    raw.write(frame.subarray(0, frame.length - 3))
    raw.socket.destroy()
    await raw.closed
    const client = await connectService(server.path)
    await client.save({ id: 'next' })
    expect(store.has('f0')).toBe(true)
    expect(store.has('next')).toBe(true)
  })
})
