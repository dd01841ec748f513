// Two real Node-RED processes on one store: the first owns it and serves it, the second
// works through the owner's socket. A deploy on either is reloaded and run by the other;
// when the owner is killed, the other takes the store over and keeps deploying; the killed
// one comes back as a client of the new owner.

import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { tempDir } from './helpers.ts'
import { httpTab } from './node-red-flows.ts'
import { type NodeRed as NodeRedProcess, NodeRed, nodeRedHooks, waitFor } from './node-red-harness.ts'

nodeRedHooks({ beforeEach, afterEach })

/** Polls `red` until it runs the flows of `rev`. */
async function waitForRev (red: NodeRedProcess, rev: string): Promise<void> {
  await waitFor(`Node-RED on port ${red.port} to run rev ${rev.slice(0, 8)}`, async () => {
    const flows = await red.flows()
    if (flows.rev === rev) return true
    throw new Error(`it has rev ${flows.rev.slice(0, 8)}`)
  })
}

describe('two Node-RED instances on one store', { timeout: 300_000 }, () => {
  it('see and run each other\'s deploys, and go on when the owner is killed', async () => {
    const dir = await tempDir('flowstore-node-red-')
    const location = join(dir, 'store')
    const configA = { userDir: join(dir, 'a'), storage: 'flowstore' as const, flowstore: { location } }
    const configB = { userDir: join(dir, 'b'), storage: 'flowstore' as const, flowstore: { location } }
    let a = await NodeRed.start(configA)
    const b = await NodeRed.start(configB)

    // A deploy on the owner: the client reloads it and runs it.
    const rev1 = await a.deployOk(httpTab({ id: 'shared', answer: 'one' }))
    await waitForRev(b, rev1)
    await b.waitForAnswer('/shared/hello', 'one')
    expect(b.output).toContain('another instance changed the flows in the store')

    // A deploy on the client: the owner reloads it.
    const rev2 = await b.deployOk(httpTab({ id: 'shared', answer: 'two' }), { rev: rev1 })
    await waitForRev(a, rev2)
    await a.waitForAnswer('/shared/hello', 'two')

    // The owner dies: the client takes the store over and deploys on.
    await a.kill()
    const rev3 = await waitFor('a deploy on the remaining instance', async () => {
      const answer = await b.deploy(httpTab({ id: 'shared', answer: 'three' }), { rev: rev2 })
      if (answer.status === 200) return answer.body.rev as string
      throw new Error(`it answered ${answer.status}: ${JSON.stringify(answer.body)}`)
    })
    await b.waitForAnswer('/shared/hello', 'three')
    expect(b.output).toContain('this instance owns the store now')

    // The killed instance comes back as a client and runs the latest flows.
    a = await NodeRed.start(configA)
    expect((await a.flows()).rev).toBe(rev3)
    await a.waitForAnswer('/shared/hello', 'three')
    const rev4 = await a.deployOk(httpTab({ id: 'shared', answer: 'four' }), { rev: rev3 })
    await waitForRev(b, rev4)
    await b.waitForAnswer('/shared/hello', 'four')
    await a.stop()
    await b.stop()
  })
})
