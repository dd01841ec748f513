// Measures the memory of one opened store in a clean process. Run by the memory suite as:
//   node --expose-gc --import tsx bench/suites/memory-child.ts <store directory>
// Prints one JSON object (MemoryMeasurement) on stdout.
//
// "Memory" here is heapUsed + external from process.memoryUsage(): the JS heap in use plus
// the memory of ArrayBuffers/Buffers and other V8-tracked off-heap allocations (external
// already includes arrayBuffers, so it is not added twice). It leaves out LevelDB's own
// native allocations (block cache, memtable), which do not grow with the number of flows;
// RSS, which includes them, is reported alongside for information.

import { FlowStore } from '../../src/index.ts'
import { requireGc, settle, type Usage, usage } from '../lib/memory-usage.ts'

export interface MemoryMeasurement {
  readonly flows: number
  /** Σ lazy(id).bytes.length: the flows' msgpack encodings, without record headers. */
  readonly encodedBytes: number
  readonly before: Usage
  readonly opened: Usage
  readonly decoded: Usage
}

const gc = requireGc('memory-child.ts')

const dir = process.argv[2]
if (dir === undefined) throw new Error('usage: memory-child.ts <store directory>')

await settle(gc)
const before = usage()
const store = await FlowStore.open(dir)
await settle(gc)
const opened = usage()

const ids = [...store.flows.keys()]
let encodedBytes = 0
for (const id of ids) {
  const lazy = store.lazy(id)!
  if (lazy.decoded) throw new Error(`memory-child: ${id} was decoded at open`)
  encodedBytes += lazy.bytes.length
}
for (const id of ids) store.get(id)
ids.length = 0
await settle(gc)
const decoded = usage()
const flows = store.size
await store.close()

const result: MemoryMeasurement = { flows, encodedBytes, before, opened, decoded }
process.stdout.write(JSON.stringify(result) + '\n')
