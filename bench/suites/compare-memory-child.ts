// Measures the memory one contender holds in a clean process. Run by the compare suite as:
//   node --expose-gc --import tsx bench/suites/compare-memory-child.ts <contender name> <directory> <flows>
// Prints one JSON object (ContenderMemory) on stdout: heapUsed + external (see memory-child.ts)
// before opening, after opening, and after every flow was read through `flows` once and the
// result kept (what an application holding every flow decoded would keep).

import { contenderByName } from '../contenders/index.ts'
import { allIds } from '../contenders/workload.ts'
import { requireGc, settle, type Usage, usage } from '../lib/memory-usage.ts'

export interface ContenderMemory {
  readonly contender: string
  readonly flows: number
  readonly before: Usage
  readonly opened: Usage
  readonly decoded: Usage
}

const gc = requireGc('compare-memory-child.ts')

const [name, dir, countText] = process.argv.slice(2)
if (name === undefined || dir === undefined || countText === undefined) throw new Error('usage: compare-memory-child.ts <contender> <directory> <flows>')
const kind = contenderByName(name)
const count = Number(countText)
const ids = allIds(count)

await settle(gc)
const before = usage()
const contender = await kind.open(dir)
await settle(gc)
const opened = usage()

// One `flows` access kept alive (the legacy repository returns a new full Map per access),
// then every flow read through it once: decoded and cached wherever the contender caches.
const all = contender.flows()
let found = 0
for (const id of ids) if (all.get(id) !== undefined) found++
if (found !== count) throw new Error(`compare-memory-child: ${name} found ${found} of ${count} flows`)
await settle(gc)
const decoded = usage()
if (all.size !== count) throw new Error('compare-memory-child: flows lost entries')
await contender.close()

const result: ContenderMemory = { contender: name, flows: count, before, opened, decoded }
process.stdout.write(JSON.stringify(result) + '\n')
