// Child process of the service suite: owns the store in argv[2], serves it, prints
// "ready <socket>", and closes it when stdin ends. The save round trip is then measured
// between two processes, as in a real deployment.

import { FlowStore, serveStore } from '../../src/index.ts'

const store = await FlowStore.open(process.argv[2]!)
const server = await serveStore(store)
process.stdout.write(`ready ${server.path}\n`)
process.stdin.resume()
process.stdin.once('end', () => {
  void store.close().then(() => { process.stdin.destroy() })
})
