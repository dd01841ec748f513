// Child process of the service suites: owns the store in argv[2], serves it, prints
// "ready <socket>", and closes it when stdin ends. The save round trip is then measured
// between two processes, as in a real deployment. Stdin "stats" prints
// "stats <json>": the server's counters and this process's memory.

import { createInterface } from 'node:readline'
import { FlowStore, serveStore } from '../../src/index.ts'

const store = await FlowStore.open(process.argv[2]!)
const server = await serveStore(store)
process.stdout.write(`ready ${server.path}\n`)
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'stats') {
    const { rss, arrayBuffers } = process.memoryUsage()
    process.stdout.write(`stats ${JSON.stringify({ ...server.stats, rss, arrayBuffers })}\n`)
  }
}
await store.close()
