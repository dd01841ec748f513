// The owner's limits on what connections may cost it: deadlines for a connection that
// completes no message (idle) or whose unfinished message stalls, a cap on connections, and a
// bound on the bytes held for unfinished messages across all connections (past it, a
// connection waits, unread). Each refusal reaches the offending connection as a typed error
// it can show, and a well-behaved client on the same owner keeps working meanwhile.

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

describe('the bytes held for unfinished messages', () => {
  it('stay within maxBufferedBytes across stalled connections (those that need more room wait, unread), a client keeps saving, and its large flow goes through once the stalled ones pass messageTimeoutMs', async () => {
    const { dir, store, server } = await serveOwner({ maxMessageBytes: MIB, serve: { maxBufferedBytes: 4 * MIB, messageTimeoutMs: 2000 } })
    const service = await connectService(dir, { ttlMs: Infinity })
    const stalled: RawConnection[] = []
    for (let i = 0; i < 12; i++) {
      const raw = await rawConnection(server.path)
      raw.send(hello)
      // 800 KiB of a 900 KiB message, never finished: 9.6 MiB in all if nothing bounds it.
      raw.write(binHeader(900 * KIB))
      raw.write(new Uint8Array(800 * KIB))
      stalled.push(raw)
      // A small flow: its message starts and ends in one read, so it never waits for room.
      await service.save({ id: `during-${i}` })
    }
    // A flow larger than a read needs room, which the stalled connections hold until their
    // deadline closes them. Once the first ones go, the waiting ones take their room and wait
    // again, holding it all between them: the owner must still close them (oldest first),
    // although it is not reading them, or nothing would ever free that room.
    const large = { id: 'large', blob: new Uint8Array(200 * KIB).fill(7) }
    await service.save(large)
    expect(store.get('large')).toEqual(large)
    await Promise.all(stalled.map(async (raw) => { await raw.closed }))
    for (const raw of stalled) expect(refusalCode(raw)).toBe('FLOWSTORE_TIMEOUT')
    // Never more than the bound, plus the first 16 KiB read of a message per connection.
    expect(server.stats.peakBufferedBytes).toBeLessThanOrEqual(4 * MIB + 13 * 16 * KIB)
    expect(server.stats.peakBufferedBytes).toBeGreaterThan(2 * MIB)
    expect(server.stats.timedOut).toBe(12)
    await expect.poll(() => server.stats.bufferedBytes).toBe(0)
    expect(server.stats.waiting).toBe(0)
    await service.refresh()
    for (let i = 0; i < 12; i++) expect(service.has(`during-${i}`)).toBe(true)
  }, 120_000)

  it('closes a connection whose unfinished message gets no more bytes for messageTimeoutMs, with FLOWSTORE_TIMEOUT', async () => {
    const { server } = await serveOwner({ serve: { idleTimeoutMs: Infinity, messageTimeoutMs: 300 } })
    const silent = await rawConnection(server.path)
    silent.send(hello)
    const stuck = await rawConnection(server.path)
    stuck.send(hello)
    stuck.write(binHeader(100 * KIB))
    stuck.write(new Uint8Array(40 * KIB))
    await stuck.closed
    expect(refusalCode(stuck)).toBe('FLOWSTORE_TIMEOUT')
    expect(JSON.stringify(stuck.messages)).toContain('messageTimeoutMs')
    // A connection that holds no unfinished message is not concerned (and has no idle deadline here).
    await expect.poll(() => server.connections).toBe(1)
    expect(silent.socket.destroyed).toBe(false)
    silent.socket.destroy()
  })

  it('refuses maxBufferedBytes below maxMessageBytes (a largest message must fit), and limits that are not numbers', async () => {
    await expect(serveOwner({ maxMessageBytes: 2 * MIB, serve: { maxBufferedBytes: MIB } })).rejects.toThrow(TypeError)
    await expect(serveOwner({ serve: { maxConnections: 0 } })).rejects.toThrow(TypeError)
    await expect(serveOwner({ serve: { idleTimeoutMs: -1 } })).rejects.toThrow(TypeError)
    await expect(serveOwner({ serve: { idleTimeoutMs: '5s' as never } })).rejects.toThrow(/5s/)
    await expect(serveOwner({ serve: { messageTimeoutMs: 0 } })).rejects.toThrow(TypeError)
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
