// The owner's socket and what it accepts: owner-only permissions checked by clients, the
// socket's place and its advertisement, and messages that are malformed or too large (each
// closes its own connection with FLOWSTORE_PROTOCOL and harms nothing else).

import { existsSync } from 'node:fs'
import { chmod, mkdir, readFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { FlowService, FlowStore, isFlowStoreError, serveStore } from '../src/index.ts'
import { tempDir } from './helpers.ts'
import { closeLater, connectService, rawConnection, rejectionOf, serveOwner } from './service-helpers.ts'

/** The error a raw connection received before the owner closed it. */
function refusal (messages: unknown[]): { code: string, message: string } | undefined {
  const failed = messages.find((m) => (m as { ok?: unknown }).ok === false) as { error: { code: string, message: string } } | undefined
  return failed?.error
}

describe('the owner\'s socket', () => {
  it('is 0600 inside a 0700 directory of the database, and OWNER.json names it', async () => {
    const { dir, server } = await serveOwner()
    expect((await stat(server.path)).mode & 0o777).toBe(0o600)
    expect((await stat(dirname(server.path))).mode & 0o777).toBe(0o700)
    expect(dirname(dirname(server.path))).toBe(dir)
    expect(JSON.parse(await readFile(join(dir, 'OWNER.json'), 'utf8'))).toMatchObject({ socket: server.path, pid: process.pid, instance: server.instance })
  })

  it('is refused by a client with FLOWSTORE_UNSAFE_SOCKET once it is not owner-only', async () => {
    const { dir, server } = await serveOwner()
    await chmod(server.path, 0o666)
    expect(isFlowStoreError(await rejectionOf(FlowService.connect(dir)), 'FLOWSTORE_UNSAFE_SOCKET')).toBe(true)
    expect(isFlowStoreError(await rejectionOf(FlowService.connect(server.path)), 'FLOWSTORE_UNSAFE_SOCKET')).toBe(true)
  })

  it('moves under os.tmpdir() when the database path is too long for a socket address', async () => {
    const dir = join(await tempDir(), 'd'.repeat(100))
    await mkdir(dir)
    const store = closeLater(await FlowStore.open(dir))
    await store.save({ id: 'far' })
    const server = await serveStore(store)
    expect(server.path.startsWith(tmpdir())).toBe(true)
    expect(Buffer.byteLength(server.path)).toBeLessThanOrEqual(103)
    const service = await connectService(dir)
    expect(service.get('far')).toEqual({ id: 'far' })
    await store.close()
    expect(existsSync(dirname(server.path))).toBe(false)
  })

  it('is closed with the store, which removes the socket and OWNER.json and disconnects clients', async () => {
    const { dir, store, server } = await serveOwner()
    const service = await connectService(dir)
    const lost = new Promise<string>((resolve) => { service.on('disconnect', (err) => { resolve(err.code) }) })
    await store.close()
    expect(server.closed).toBe(true)
    expect(existsSync(server.path)).toBe(false)
    expect(existsSync(join(dir, 'OWNER.json'))).toBe(false)
    expect(await lost).toBe('FLOWSTORE_DISCONNECTED')
  })

  it('is served once per store: serving it again fails with FLOWSTORE_LOCKED and the first server keeps serving', async () => {
    const dir = await tempDir()
    const store = closeLater(await FlowStore.open(dir))
    const server = await serveStore(store)
    expect(isFlowStoreError(await rejectionOf(serveStore(store)), 'FLOWSTORE_LOCKED')).toBe(true)
    expect(isFlowStoreError(await rejectionOf(serveStore(store, { advertise: false })), 'FLOWSTORE_LOCKED')).toBe(true)
    expect(isFlowStoreError(await rejectionOf(serveStore(store, { path: server.path, advertise: false })), 'FLOWSTORE_LOCKED')).toBe(true)
    expect(server.closed).toBe(false)
    const service = await connectService(dir)
    await service.save({ id: 'still-served' })
    expect(store.get('still-served')).toEqual({ id: 'still-served' })
  })
})

describe('messages the owner refuses', () => {
  const hello = { id: 1, op: 'hello', protocol: 1 }
  const cases: Array<[string, (raw: Awaited<ReturnType<typeof rawConnection>>) => void]> = [
    ['bytes that are not MessagePack it can decode (an unknown extension)', (raw) => { raw.write(Uint8Array.of(0xd4, 0x05, 0x01)) }],
    ['a value that is not a request map', (raw) => { raw.send('hello') }],
    ['a request before hello', (raw) => { raw.send({ id: 1, op: 'version' }) }],
    ['a hello of another protocol version', (raw) => { raw.send({ id: 1, op: 'hello', protocol: 99 }) }],
    ['an unknown op', (raw) => { raw.send(hello); raw.send({ id: 2, op: 'drop-everything' }) }],
    ['a save whose flows are not [id, bytes] pairs', (raw) => { raw.send(hello); raw.send({ id: 2, op: 'save', flows: [['a', 'not bytes']] }) }],
    ['a request with a field it does not know', (raw) => { raw.send(hello); raw.send({ id: 2, op: 'version', extra: true }) }],
    ['a changes-since whose version is not an integer', (raw) => { raw.send(hello); raw.send({ id: 2, op: 'changes-since', since: -1.5 }) }],
    ['a hello wrapped in msgpackr\'s structured-clone id extension (0x69), which the protocol never uses', (raw) => {
      const wrapped = new Packr({ useRecords: false }).pack(hello)
      raw.write(Uint8Array.of(0xd6, 0x69, 0, 0, 0, 1, ...wrapped))
    }]
  ]

  it.each(cases)('closes only the connection that sent %s, with FLOWSTORE_PROTOCOL', async (_, misbehave) => {
    const { dir, store, server } = await serveOwner({ flows: 2 })
    const service = await connectService(dir, { ttlMs: Infinity })
    const raw = await rawConnection(server.path)
    misbehave(raw)
    await raw.closed
    expect(refusal(raw.messages)?.code).toBe('FLOWSTORE_PROTOCOL')
    await service.save({ id: 'still-served' })
    await store.save({ id: 'from-owner' })
    await service.refresh()
    expect([...service.flows.keys()].sort()).toEqual(['f0', 'f1', 'from-owner', 'still-served'])
  })

  it('answers a flow that does not decode with FLOWSTORE_INVALID_FLOW and keeps the connection', async () => {
    const { store, server } = await serveOwner()
    const raw = await rawConnection(server.path)
    raw.send({ id: 1, op: 'hello', protocol: 1 })
    raw.send({ id: 2, op: 'save', flows: [['x', Uint8Array.of(0xc1)]] })
    raw.send({ id: 3, op: 'version' })
    const answered = new Promise<void>((resolve) => {
      raw.socket.on('data', () => { if (raw.messages.length >= 3) resolve() })
    })
    await answered
    expect(raw.messages[1]).toMatchObject({ id: 2, ok: false, error: { code: 'FLOWSTORE_INVALID_FLOW' } })
    expect(raw.messages[2]).toMatchObject({ id: 3, ok: true, result: { version: store.version } })
    expect(store.has('x')).toBe(false)
    raw.socket.destroy()
  })

  const oversized: Array<[string, (raw: Awaited<ReturnType<typeof rawConnection>>) => void]> = [
    ['announces 1 MiB and keeps sending', (raw) => {
      // A bin 32 header announcing 1 MiB, then 128 KiB of it.
      raw.write(Uint8Array.of(0xc6, 0x00, 0x10, 0x00, 0x00))
      raw.write(new Uint8Array(128 * 1024))
    }],
    ['sends a complete 100 KiB request in one write', (raw) => {
      raw.send({ id: 2, op: 'save', flows: [['big', new Uint8Array(100 * 1024)]] })
    }]
  ]

  it.each(oversized)('closes only the connection that %s past a 64 KiB maxMessageBytes', async (_, send) => {
    const { dir, store, server } = await serveOwner({ maxMessageBytes: 64 * 1024 })
    const service = await connectService(dir)
    const raw = await rawConnection(server.path)
    raw.send({ id: 1, op: 'hello', protocol: 1 })
    send(raw)
    await raw.closed
    const error = refusal(raw.messages)
    expect(error?.code).toBe('FLOWSTORE_PROTOCOL')
    expect(error?.message).toContain('limit')
    expect(store.has('big')).toBe(false)
    // A flow well under the limit still goes through the other connection.
    await service.save({ id: 'fits', text: 'x'.repeat(30 * 1024) })
    expect(service.get('fits')).toMatchObject({ id: 'fits' })
  })
})
