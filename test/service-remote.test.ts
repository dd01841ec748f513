// FlowService over a store another process owns: reads from the client's own cache, the TTL
// and version check, changes-only refreshes, writes acknowledged after the owner's commit.
// The owner is served from this process (a real unix socket between the two sides); the
// concurrent-clients test runs its clients as real child processes.

import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { generateFlows, mutateFlow } from '../examples/generate-flows.ts'
import { type Change, FlowService, FlowStore, isFlowStoreError, serveStore, verifyBackup } from '../src/index.ts'
import { OwnerClient } from '../src/service/owner-client.ts'
import { killChildren, startChild } from './fixtures/child.ts'
import { tempDir } from './helpers.ts'
import { closeLater, connectService, rejectionOf, serveOwner } from './service-helpers.ts'

afterEach(killChildren)

describe('reading through a remote FlowService', () => {
  it('loads every flow of the owner at connect', async () => {
    const { dir, store } = await serveOwner({ flows: 50 })
    const service = await connectService(dir)
    expect(service.remote).toBe(true)
    expect(service.size).toBe(50)
    expect(service.get('f7')).toEqual({ id: 'f7', i: 7 })
    expect(service.version).toBe(store.version)
    expect(service.stats).toMatchObject({ recordsFetched: 50, fullLoads: 1 })
  })

  it('decodes values exactly as the store does: frozen, with Dates and bytes intact', async () => {
    const { dir, store } = await serveOwner()
    await store.save({ id: 'typed', when: new Date(1234), bytes: Uint8Array.of(1, 2, 3), nested: { list: [1, 'two', null] } })
    const service = await connectService(dir)
    const flow = service.get('typed') as unknown as { when: Date, bytes: Uint8Array, nested: object }
    expect(flow).toEqual(store.get('typed'))
    expect(flow.when).toBeInstanceOf(Date)
    expect(Object.getPrototypeOf(flow.bytes)).toBe(Uint8Array.prototype)
    expect(Object.isFrozen(flow)).toBe(true)
    expect(Object.isFrozen(flow.nested)).toBe(true)
    expect(() => flow.when.setTime(0)).toThrow()
  })

  it('answers 10,000 reads of flows within the TTL without a message or an owner storage read', async () => {
    const { dir, db } = await serveOwner({ flows: 100 })
    const service = await connectService(dir, { ttlMs: 60_000 })
    const sent = service.stats.messagesSent
    const reads = db.counts.reads
    let found = 0
    for (let i = 0; i < 10_000; i++) if (service.flows.get(`f${i % 100}`) !== undefined) found++
    expect(found).toBe(10_000)
    expect(service.stats.messagesSent).toBe(sent)
    expect(db.counts.reads).toBe(reads)
  })

  it('answers from the cache at once past the TTL and starts exactly one background check', async () => {
    const { dir, store } = await serveOwner({ flows: 3 })
    const service = await connectService(dir, { ttlMs: 0 })
    await store.save({ id: 'f1', i: 100 })
    const sent = service.stats.messagesSent
    const checks = service.stats.versionChecks
    const served = service.get('f1')
    for (let i = 0; i < 100; i++) void service.flows.size
    expect(served).toEqual({ id: 'f1', i: 1 })
    expect(service.stats.versionChecks).toBe(checks + 1)
    expect(service.stats.messagesSent).toBe(sent + 1)
    await service.refresh()
    expect(service.get('f1')).toEqual({ id: 'f1', i: 100 })
  })

  it('spends one version check and no record on a refresh when nothing changed', async () => {
    const { dir } = await serveOwner({ flows: 20 })
    const service = await connectService(dir, { ttlMs: 60_000 })
    const before = service.stats
    await service.refresh()
    expect(service.stats.messagesSent).toBe(before.messagesSent + 1)
    expect(service.stats.recordsFetched).toBe(before.recordsFetched)
  })

  it('fetches only the 10 changed flows on a refresh after 10 changes in 10,000', async () => {
    const { dir, store } = await serveOwner()
    const flows = generateFlows(10_000)
    await store.saveMany(flows)
    const service = await connectService(dir, { ttlMs: 60_000 })
    expect(service.stats.recordsFetched).toBe(10_000)
    const changed = flows.slice(0, 10_000).filter((_, i) => i % 1000 === 0).map((flow) => mutateFlow(flow, 2))
    for (const flow of changed) await store.save(flow)
    await service.refresh()
    expect(service.stats.recordsFetched).toBe(10_010)
    expect(service.stats.fullLoads).toBe(1)
    for (const flow of changed) expect(service.get(flow.id)).toEqual(flow)
    expect(service.size).toBe(10_000)
  })

  it('removes flows deleted on the owner at the next refresh', async () => {
    const { dir, store } = await serveOwner({ flows: 5 })
    const service = await connectService(dir, { ttlMs: 60_000 })
    await store.delete('f2')
    expect(service.has('f2')).toBe(true)
    await service.refresh()
    expect(service.has('f2')).toBe(false)
    expect(service.size).toBe(4)
  })

  it('reports what a refresh learnt as change events', async () => {
    const { dir, store } = await serveOwner({ flows: 2 })
    const service = await connectService(dir, { ttlMs: 60_000 })
    const seen: Change[] = []
    service.on('change', (change) => { seen.push(change) })
    await store.save({ id: 'new' })
    await store.delete('f0')
    await service.refresh()
    expect(seen.map(({ id, deleted }) => ({ id, deleted })).sort((a, b) => a.id.localeCompare(b.id)))
      .toEqual([{ id: 'f0', deleted: true }, { id: 'new', deleted: false }])
    expect(seen.every((change) => change.version > 0)).toBe(true)
  })

  it('with watch, brings a commit on the owner to change listeners without a refresh', async () => {
    const { dir, store } = await serveOwner()
    const service = await connectService(dir, { ttlMs: Infinity, watch: true })
    const arrived = new Promise<Change>((resolve) => {
      service.on('change', (change) => { if (change.id === 'pushed') resolve(change) })
    })
    await store.save({ id: 'pushed', n: 1 })
    expect(await arrived).toMatchObject({ id: 'pushed', deleted: false })
    expect(service.get('pushed')).toEqual({ id: 'pushed', n: 1 })
  })

  it('loads everything again when the owner\'s version went back (another store behind the socket)', async () => {
    const socketDir = await tempDir()
    const path = join(socketDir, 'owner.sock')
    const first = await FlowStore.open(await tempDir())
    await first.saveMany([{ id: 'a' }, { id: 'b' }])
    await first.save({ id: 'c' })
    await serveStore(first, { path })
    const service = await connectService(path, { ttlMs: 60_000, reconnect: false })
    await first.close()
    const second = closeLater(await FlowStore.open(await tempDir()))
    await second.save({ id: 'other' })
    await serveStore(second, { path })
    await service.refresh()
    expect([...service.flows.keys()]).toEqual(['other'])
    expect(service.version).toBe(1)
    expect(service.stats.fullLoads).toBe(2)
  })

  it('reports the owner\'s store in ownerStats()', async () => {
    const { dir, store, server } = await serveOwner({ flows: 7 })
    const service = await connectService(dir)
    expect(await service.ownerStats()).toEqual({
      version: store.version, size: 7, pending: 0, batches: store.batches, directory: undefined, storeId: store.storeId, pid: process.pid, socket: server.path, clients: 1
    })
  })
})

describe('writing through a remote FlowService', () => {
  it('resolves a save only once the owner has committed it', async () => {
    const { dir, store, db } = await serveOwner()
    const service = await connectService(dir)
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    const batchStarted = new Promise<void>((resolve) => {
      db.onBatch = async () => {
        resolve()
        await held
      }
    })
    let acknowledged = false
    const saved = service.save({ id: 'w', n: 1 }).then(() => { acknowledged = true })
    await batchStarted
    expect(acknowledged).toBe(false)
    expect(store.lazy('w')?.version).toBe(0)
    release()
    await saved
    expect(store.lazy('w')?.version).toBeGreaterThan(0)
  })

  it('shows its own acknowledged write in its cache without a refresh', async () => {
    const { dir, store } = await serveOwner()
    const service = await connectService(dir, { ttlMs: Infinity })
    await service.saveMany([{ id: 'x', n: 1 }, { id: 'y', n: 2 }])
    await service.delete('x')
    expect(service.has('x')).toBe(false)
    expect(service.get('y')).toEqual({ id: 'y', n: 2 })
    expect(store.get('y')).toEqual({ id: 'y', n: 2 })
    expect(service.lazy('y')?.version).toBe(store.lazy('y')?.version)
  })

  it('refuses an invalid flow synchronously with FLOWSTORE_INVALID_FLOW and sends nothing', async () => {
    const { dir, store } = await serveOwner()
    const service = await connectService(dir)
    const sent = service.stats.messagesSent
    expect(() => service.save({ id: 'bad', value: -0 })).toThrow(expect.objectContaining({ code: 'FLOWSTORE_INVALID_FLOW' }))
    expect(() => service.delete('')).toThrow(expect.objectContaining({ code: 'FLOWSTORE_INVALID_FLOW' }))
    expect(service.stats.messagesSent).toBe(sent)
    expect(store.size).toBe(0)
  })

  it('checks flows against the owner\'s limits, not its own defaults', async () => {
    const { dir } = await serveOwner({ maxFlowBytes: 1024 })
    const service = await connectService(dir)
    expect(() => service.save({ id: 'big', text: 'x'.repeat(2000) })).toThrow(expect.objectContaining({ code: 'FLOWSTORE_INVALID_FLOW' }))
  })

  it('fails writes still waiting with FLOWSTORE_CLOSED when the service is closed', async () => {
    const { dir, db } = await serveOwner()
    const service = await FlowService.connect(dir)
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    const reached = new Promise<void>((resolve) => {
      db.onBatch = async () => {
        resolve()
        await held
      }
    })
    const write = service.save({ id: 'w' })
    await reached
    await service.close()
    expect(isFlowStoreError(await rejectionOf(write), 'FLOWSTORE_CLOSED')).toBe(true)
    expect(() => service.flows).toThrow(expect.objectContaining({ code: 'FLOWSTORE_CLOSED' }))
    release()
  })

  it('takes a backup on the owner and returns its BackupInfo', async () => {
    const { dir, store } = await serveOwner({ flows: 30 })
    const service = await connectService(dir)
    const file = join(await tempDir(), 'through-owner.fsb')
    const info = await service.backup(file)
    expect(info).toMatchObject({ file, version: store.version, flows: 30, kind: 'full' })
    expect((await verifyBackup(file)).ok).toBe(true)
    expect((await stat(file)).size).toBe(info.bytes)
  })
})

describe('a control connection to an owner (for tools such as the CLI)', () => {
  it('reads the owner\'s stats and takes a changed-only backup without loading a flow', async () => {
    const { dir, store } = await serveOwner({ flows: 40 })
    const client = closeLater(await OwnerClient.connect(dir))
    expect(client.owner).toEqual({ pid: process.pid, version: store.version })
    const backups = await tempDir()
    const full = await client.backup(join(backups, 'full.fsb'))
    await store.save({ id: 'later' })
    const changes = await client.backup(join(backups, 'changes.fsb'), { since: full })
    expect(changes).toMatchObject({ kind: 'changes', baseVersion: full.version, version: store.version, flows: 1 })
    expect(await client.stats()).toMatchObject({ size: 41, version: store.version })
    expect(client.counters.messagesSent).toBe(4)
  })
})

describe('several processes through one owner', () => {
  it('shows every acknowledged write of 4 concurrent client processes to all of them after a refresh', async () => {
    const { dir, store } = await serveOwner({ flows: 10 })
    const names = ['p1', 'p2', 'p3', 'p4']
    const perClient = 25
    const clients = names.map((name) => startChild('service-client.ts', dir, name, String(perClient)))
    await Promise.all(clients.map(async (child) => await child.waitForLine((line) => line.startsWith('acked'))))
    const expected = [...Array.from({ length: 10 }, (_, i) => `f${i}`), ...names.flatMap((name) => Array.from({ length: perClient }, (_, i) => `${name}-${i}`))].sort()
    for (const child of clients) child.send('check')
    const seen = await Promise.all(clients.map(async (child) => await child.waitForLine((line) => line.startsWith('seen '))))
    for (const line of seen) expect(JSON.parse(line.slice('seen '.length))).toEqual(expected)
    expect([...store.flows.keys()].sort()).toEqual(expected)
    for (const child of clients) child.send('exit')
    await Promise.all(clients.map(async (child) => await child.exited))
  })
})
