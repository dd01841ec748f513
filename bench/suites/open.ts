// Figure 3 — open: FlowStore.open + close of a 100,000-flow store (20,000 with --quick) vs
//   - a raw classic-level scan of the same flow keys and values (the least any store that
//     loads everything at open must do), and
//   - that scan plus a msgpackr unpack of every value (what a store that decodes at open
//     would do).
// All three open and close the database inside the measured time.

import { ClassicLevel } from 'classic-level'
import { Packr } from 'msgpackr'
import { FlowStore } from '../../src/index.ts'
import { gc } from '../lib/gc.ts'
import { atMost, compare, fasterBy, pick } from '../lib/stats.ts'
import type { Context, Row, Suite } from '../lib/types.ts'

const FLOWS = 100_000
const QUICK_FLOWS = 20_000
const HEADER_BYTES = 7 // the flowstore record header before the msgpack body (src/layout.ts)
const SCAN = { gte: Buffer.from('f!'), lt: Buffer.from('f"'), keyEncoding: 'view', valueEncoding: 'view', highWaterMarkBytes: 4 * 1024 * 1024 } as const

/** Opens the directory, scans every flow record with nextv(1000), closes; returns the count. */
async function rawScan (dir: string, onEntry?: (key: Uint8Array, value: Uint8Array) => void): Promise<number> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  let count = 0
  try {
    const iterator = db.iterator(SCAN)
    try {
      for (;;) {
        const entries = await iterator.nextv(1000)
        if (entries.length === 0) break
        count += entries.length
        if (onEntry !== undefined) for (const [key, value] of entries) onEntry(key, value)
      }
    } finally {
      await iterator.close()
    }
  } finally {
    await db.close()
  }
  return count
}

export const suite: Suite = {
  name: 'open',
  description: `FlowStore.open + close of a ${FLOWS.toLocaleString('en')}-flow store (${QUICK_FLOWS.toLocaleString('en')} with --quick) vs a raw classic-level scan, and vs scan + decode of every value`,
  tags: ['load', 'scan'],
  async run (ctx: Context): Promise<Row[]> {
    const count = ctx.quick ? QUICK_FLOWS : FLOWS
    const dir = await ctx.stores.flowStore(count)
    const packr = new Packr({ useRecords: false, mapsAsObjects: true })
    const check = (what: string, n: number): void => {
      if (n !== count) throw new Error(`open: ${what} saw ${n} flows, expected ${count}`)
    }
    let decoded = 0
    // A full collection before each open, outside the measured time: an application opens
    // its store once, so collecting the previous iteration's store is not part of the figure.
    // Collections the open itself causes (it allocates everything it keeps) are measured.
    const fresh = { beforeEach: gc }
    const bench = ctx.bench(`open: ${count.toLocaleString('en')} flows`, { iterations: 8, warmupIterations: 2 })
      .add('raw scan (baseline)', async () => { check('raw scan', await rawScan(dir)) }, fresh)
      .add('raw scan + decode every value', async () => {
        check('decode scan', await rawScan(dir, (_key, value) => {
          if (packr.unpack(value.subarray(HEADER_BYTES)) !== undefined) decoded++
        }))
      }, fresh)
      .add('raw scan keeping ids + bytes in a Map (info)', async () => {
        const kept = new Map<string, Uint8Array>()
        check('keeping scan', await rawScan(dir, (key, value) => {
          kept.set(Buffer.from(key.buffer, key.byteOffset + 2, key.byteLength - 2).toString('utf8'), value)
        }))
        if (kept.size !== count) throw new Error('open: the keeping scan lost entries')
      }, fresh)
      .add('FlowStore.open + close', async () => {
        const store = await FlowStore.open(dir)
        check('FlowStore.open', store.size)
        await store.close()
      }, fresh)
    await bench.run()
    if (decoded === 0) throw new Error('open: nothing decoded')
    const stats = ctx.record(bench)
    const subject = pick(stats, 'FlowStore.open + close')
    return [
      compare(`open of ${count.toLocaleString('en')} flows vs raw scan`, subject, pick(stats, 'raw scan (baseline)'), atMost(1.3)),
      compare(`open of ${count.toLocaleString('en')} flows vs decoding every value`, subject, pick(stats, 'raw scan + decode every value'), fasterBy(3)),
      compare(`open of ${count.toLocaleString('en')} flows vs a raw scan that keeps ids + bytes`, subject, pick(stats, 'raw scan keeping ids + bytes in a Map (info)'), null,
        'extra row, no goal: the raw-scan baseline keeps nothing; this one keeps what any load-everything store must keep (an id string and a Buffer per flow in a Map)')
    ]
  }
}
