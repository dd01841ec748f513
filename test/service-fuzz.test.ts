// Fuzzing the owner's socket with fast-check (bounded runs, seeded; FUZZ_SEED=random explores
// new inputs, a failure prints the seed and the shrunk frames): whatever a raw connection
// sends — random bytes, random MessagePack values, requests with wrong fields, unknown ops,
// extensions, deep nesting, messages cut short — and however it ends, a client on the same
// owner keeps saving and reading, and the owner lets go of the bad connection and its bytes.

import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import { connectService, rawConnection, serveOwner } from './service-helpers.ts'

const SEED = process.env.FUZZ_SEED === 'random' ? {} : { seed: Number(process.env.FUZZ_SEED ?? 20261129) }
const packr = new Packr({ useRecords: false })
const hello = packr.pack({ id: 1, op: 'hello', protocol: 1 })

function pack (value: unknown): Uint8Array {
  try {
    return packr.pack(value)
  } catch {
    // A value msgpackr cannot pack (a BigInt past 64 bits…): send its text instead.
    return packr.pack(String(value))
  }
}

// Backups are left out: a random path would be written to.
const OPS = ['hello', 'version', 'changes-since', 'load-all', 'save', 'save-many', 'delete', 'stats', 'watch', 'drop-everything', '']
const value = fc.oneof(fc.nat(), fc.integer({ min: -5, max: 5 }), fc.double(), fc.string({ maxLength: 20 }), fc.boolean(), fc.constant(null), fc.uint8Array({ maxLength: 40 }))
const request = fc.record({
  id: fc.oneof(fc.nat(1000), value),
  op: fc.oneof(fc.constantFrom(...OPS), fc.string({ maxLength: 12 })),
  protocol: fc.oneof(fc.constant(1), value),
  since: value,
  flowId: fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), value),
  flows: fc.oneof(
    fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constant(pack({ id: 'x' })))), { maxLength: 3 }),
    value
  ),
  extra: value
}, { requiredKeys: ['op'] })

/** One frame: bytes a misbehaving peer writes in one go. */
const frame: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 256 }),
  fc.anything({ maxDepth: 3 }).map(pack),
  request.map(pack),
  // A request cut short: the rest never comes.
  fc.tuple(request.map(pack), fc.double({ min: 0, max: 1, noNaN: true })).map(([bytes, at]) => bytes.subarray(0, Math.floor(bytes.length * at))),
  // Extensions: msgpackr's (structured-clone ids and pointers, Set, Error, RegExp, typed arrays) and unknown ones.
  fc.tuple(fc.constantFrom(0x65, 0x69, 0x70, 0x73, 0x74, 0x78, 0x05, 0xff), fc.uint8Array({ minLength: 4, maxLength: 4 }), request.map(pack))
    .map(([type, data, rest]) => Uint8Array.of(0xd6, type, ...data, ...rest)),
  // Deeply nested arrays.
  fc.integer({ min: 100, max: 20_000 }).map((depth) => Uint8Array.of(...new Array<number>(depth).fill(0x91), 0xc0)),
  // A message announcing more than the owner accepts.
  fc.constant(Uint8Array.of(0xc6, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0))
)

describe('random frames on a raw connection', () => {
  it('never stop a client of the same owner, and leave nothing held behind', async () => {
    const { dir, store, server } = await serveOwner({ flows: 3, serve: { maxMessageBytes: 64 * 1024, idleTimeoutMs: 5000 } })
    const service = await connectService(dir, { ttlMs: Infinity, requestTimeoutMs: 5000 })
    let run = 0
    await fc.assert(fc.asyncProperty(fc.boolean(), fc.array(frame, { minLength: 1, maxLength: 6 }), fc.constantFrom('end', 'destroy'), async (sayHello, frames, ending) => {
      const raw = await rawConnection(server.path)
      if (sayHello) raw.write(hello)
      for (const bytes of frames) raw.write(bytes)
      const id = `legit:${++run}`
      await service.save({ id, run, frames: frames.length })
      await service.refresh()
      expect(service.get(id)).toEqual({ id, run, frames: frames.length })
      if (ending === 'end') raw.socket.end()
      else raw.socket.destroy()
      await raw.closed
    }), { ...SEED, numRuns: 60, interruptAfterTimeLimit: 60_000 })
    expect(service.connected).toBe(true)
    expect(service.stats.reconnects).toBe(0)
    await expect.poll(() => server.connections).toBe(1)
    expect(server.stats.bufferedBytes).toBe(0)
    for (let i = 1; i <= run; i++) expect(store.get(`legit:${i}`)).toMatchObject({ id: `legit:${i}` })
  }, 120_000)
})
