// Child process of the postgres suite: another process (another app server) on the same
// store. Two roles:
//
//   watch <kind> <target>: opens the store (kind 'postgres': a FlowStore on the URL;
//     'service': a FlowService on the LevelDB owner's socket, watching) and prints
//     "seen <revision>" as soon as its `flows` shows flow-000000 at that metadata.revision.
//   write <kind> <target> <count> <name>: opens the store (kind 'postgres': a FlowStore on
//     the URL; 'level': a FlowStore on the directory, this process being its only writer;
//     'service': a FlowService on the owner's socket) and, on each "go" line, saves <count>
//     flows one after the other (each awaited: one commit per save), then prints "done".
//
// Both print "ready" once open, and close and exit when stdin ends.

import { createInterface } from 'node:readline'
import { generateFlow, type GeneratedFlow, mutateFlow } from '../../examples/generate-flows.ts'
import { FlowService, FlowStore } from '../../src/index.ts'

const [role, kind, target, countArg, name] = process.argv.slice(2)
if ((role !== 'watch' && role !== 'write') || kind === undefined || target === undefined) {
  throw new Error('usage: postgres-child.ts watch|write postgres|level|service <target> [count name]')
}

interface Handle {
  readonly flows: ReadonlyMap<string, { readonly metadata: { readonly revision: number } }>
  save (flow: GeneratedFlow): Promise<void>
  on (event: 'change', listener: (change: { id: string }) => void): unknown
  close (): Promise<void>
}

const handle: Handle = kind === 'service'
  ? await FlowService.connect<GeneratedFlow>(target, { watch: true, ttlMs: 60 * 60_000 }) as unknown as Handle
  : await FlowStore.open<GeneratedFlow>(target) as unknown as Handle

const lines = createInterface({ input: process.stdin })
// Exits once closed: nothing left open may keep it waiting.
lines.on('close', () => { void handle.close().finally(() => { process.exit(0) }) })

if (role === 'watch') {
  const WATCHED = 'flow-000000'
  let last = -1
  handle.on('change', (change) => {
    if (change.id !== WATCHED) return
    const revision = handle.flows.get(WATCHED)?.metadata.revision
    if (revision !== undefined && revision !== last) {
      last = revision
      process.stdout.write(`seen ${revision}\n`)
    }
  })
} else {
  const count = Number(countArg)
  const base = Array.from({ length: 100 }, (_, i) => generateFlow(i))
  let revision = 0
  const prefix = name ?? 'writer'
  lines.on('line', (line) => {
    if (line !== 'go') return
    void (async () => {
      for (let i = 0; i < count; i++) {
        revision++
        const flow = mutateFlow(base[revision % base.length]!, revision)
        // Each writer its own ids: the writers do not overwrite each other.
        await handle.save({ ...flow, id: `${prefix}-${flow.id}` })
      }
      process.stdout.write('done\n')
    })()
  })
}
process.stdout.write('ready\n')
