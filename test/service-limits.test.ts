// The owner's limits on what connections may cost it: a deadline for a connection that
// completes no message (idle, or stuck in a partial message), a cap on connections, and a
// bound on the bytes held for partial messages across all connections. Each one refuses the
// offending connection with a typed error it can show, and a well-behaved client on the same
// owner keeps working meanwhile.

import { describe, expect, it } from 'vitest'
import { FlowService, isFlowStoreError } from '../src/index.ts'
import { connectService, type RawConnection, rawConnection, rejectionOf, serveOwner } from './service-helpers.ts'

const KIB = 1024
const MIB = 1024 * KIB
const hello = { id: 1, op: 'hello', protocol: 1 }

/** The error code of the owner's last word to a raw connection, if it sent one. */
function refusalCode (raw: RawConnection): string | undefined {
  const failed = raw.messages.find((m) => (m as { ok?: unknown }).ok === false) as { error: { code: string } } | undefined
  return failed?.error.code
}

/** A bin 32 header announcing `bytes` bytes: the start of a message that is `bytes` long. */
function binHeader (bytes: number): Uint8Array {
  return Uint8Array.of(0xc6, bytes >>> 24, (bytes >>> 16) & 0xff, (bytes >>> 8) & 0xff, bytes & 0xff)
}

describe('the bytes held for partial messages', () => {
  it('stay under maxBufferedBytes across stalled connections: the largest holders are dropped with FLOWSTORE_BUSY, and a client keeps saving', async () => {
    const { dir, store, server } = await serveOwner({ maxMessageBytes: MIB, serve: { maxBufferedBytes: 4 * MIB } })
    const service = await connectService(dir, { ttlMs: Infinity })
    const stalled: RawConnection[] = []
    for (let i = 0; i < 12; i++) {
      const raw = await rawConnection(server.path)
      raw.send(hello)
      // 800 KiB of a 900 KiB message, never finished: 9.6 MiB held in all if nothing bounds it.
      raw.write(binHeader(900 * KIB))
      raw.write(new Uint8Array(800 * KIB))
      stalled.push(raw)
      await service.save({ id: `during-${i}` })
    }
    // At most five 800 KiB partial messages fit in 4 MiB: once the owner has read them all,
    // at least seven connections were dropped.
    await expect.poll(() => server.stats.dropped, { timeout: 20_000 }).toBeGreaterThanOrEqual(7)
    expect(server.stats.peakBufferedBytes).toBeLessThanOrEqual(4 * MIB)
    expect(server.stats.bufferedBytes).toBeLessThanOrEqual(4 * MIB)
    expect(server.stats.bufferedBytes).toBeGreaterThan(0)
    // Each dropped connection was told why.
    await expect.poll(() => stalled.filter((raw) => refusalCode(raw) === 'FLOWSTORE_BUSY').length).toBe(server.stats.dropped)
    expect(stalled.filter((raw) => refusalCode(raw) !== undefined && refusalCode(raw) !== 'FLOWSTORE_BUSY')).toEqual([])
    await service.save({ id: 'after' })
    await service.refresh()
    expect(store.get('after')).toEqual({ id: 'after' })
    for (let i = 0; i < 12; i++) expect(service.has(`during-${i}`)).toBe(true)
    for (const raw of stalled) raw.socket.destroy()
    await expect.poll(() => server.stats.bufferedBytes).toBe(0)
  })

  it('refuses maxBufferedBytes below maxMessageBytes (a largest message must fit), and limits that are not numbers', async () => {
    await expect(serveOwner({ maxMessageBytes: 2 * MIB, serve: { maxBufferedBytes: MIB } })).rejects.toThrow(TypeError)
    await expect(serveOwner({ serve: { maxConnections: 0 } })).rejects.toThrow(TypeError)
    await expect(serveOwner({ serve: { idleTimeoutMs: -1 } })).rejects.toThrow(TypeError)
    await expect(serveOwner({ serve: { idleTimeoutMs: '5s' as never } })).rejects.toThrow(/5s/)
    const { dir } = await serveOwner()
    await expect(FlowService.connect(dir, { requestTimeoutMs: 0 })).rejects.toThrow(TypeError)
  })
})

describe('the idle deadline', () => {
  it('closes a silent connection and one stuck in a partial message with FLOWSTORE_TIMEOUT; a quiet client keeps its connection', async () => {
    const { dir, server } = await serveOwner({ serve: { idleTimeoutMs: 1000 } })
    const service = await connectService(dir, { ttlMs: Infinity })
    const lost: string[] = []
    service.on('disconnect', (err) => { lost.push(err.code) })
    const silent = await rawConnection(server.path)
    const partial = await rawConnection(server.path)
    partial.send(hello)
    partial.write(binHeader(100))
    partial.write(new Uint8Array(10))
    await silent.closed
    await partial.closed
    expect(refusalCode(silent)).toBe('FLOWSTORE_TIMEOUT')
    expect(refusalCode(partial)).toBe('FLOWSTORE_TIMEOUT')
    expect(server.stats.timedOut).toBe(2)
    // The client said nothing of its own for longer than the deadline: its keepalives kept it.
    expect(lost).toEqual([])
    expect(service.connected).toBe(true)
    await service.save({ id: 'still-connected' })
    expect(service.stats.reconnects).toBe(0)
  })

  it('does not close a connection while the owner still owes it an answer', async () => {
    const { db, server } = await serveOwner({ serve: { idleTimeoutMs: 300 } })
    const raw = await rawConnection(server.path)
    raw.send(hello)
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    let batches = 0
    db.onBatch = async () => { if (++batches === 1) await held }
    raw.send({ id: 2, op: 'save', flows: [['slow', Uint8Array.of(0x81, 0xa2, 0x69, 0x64, 0xa4, 0x73, 0x6c, 0x6f, 0x77)]] })
    // Another connection that stays silent is closed at the deadline; this one waits on its save.
    const silent = await rawConnection(server.path)
    await silent.closed
    expect(raw.socket.destroyed).toBe(false)
    release()
    await expect.poll(() => raw.messages.length).toBe(2)
    expect(raw.messages[1]).toMatchObject({ id: 2, ok: true })
    raw.socket.destroy()
  })
})

describe('the connection cap', () => {
  it('refuses connections beyond maxConnections with FLOWSTORE_BUSY while connected clients keep working', async () => {
    const { dir, server } = await serveOwner({ serve: { maxConnections: 3 } })
    const service = await connectService(dir, { ttlMs: Infinity })
    const first = await rawConnection(server.path)
    const second = await rawConnection(server.path)
    await expect.poll(() => server.connections).toBe(3)
    const refused = await rejectionOf(FlowService.connect(dir))
    expect(isFlowStoreError(refused, 'FLOWSTORE_BUSY')).toBe(true)
    const raw = await rawConnection(server.path)
    raw.send(hello)
    await raw.closed
    expect(refusalCode(raw)).toBe('FLOWSTORE_BUSY')
    expect(server.stats.refused).toBe(2)
    await service.save({ id: 'served' })
    expect(service.get('served')).toEqual({ id: 'served' })
    first.socket.destroy()
    await expect.poll(() => server.connections).toBe(2)
    const later = await connectService(dir)
    expect(later.get('served')).toEqual({ id: 'served' })
    second.socket.destroy()
  })
})
