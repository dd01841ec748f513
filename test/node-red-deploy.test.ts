// A real Node-RED on flowstore, driven only through its admin HTTP API: deploys come back
// after a restart with the same rev, credentials (with and without a credentialSecret)
// survive a restart and are in use, HTTP endpoints deployed through the API answer, a stale
// rev is refused, and a deploy that changes one tab commits that tab's record only.

import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { FlowStore, serveStore } from '../src/index.ts'
import { tempDir } from './helpers.ts'
import { basicAuth, changeOneTab, generateNodeRedFlows, httpTab, tabId, withoutCredentials } from './node-red-flows.ts'
import { NodeRed, nodeRedHooks, waitFor } from './node-red-harness.ts'

interface Place {
  readonly userDir: string
  readonly location: string
}

async function place (): Promise<Place> {
  const dir = await tempDir('flowstore-node-red-')
  return { userDir: join(dir, 'user'), location: join(dir, 'store') }
}

async function startOn ({ userDir, location }: Place, settings: Record<string, unknown> = {}): Promise<NodeRed> {
  return await NodeRed.start({ userDir, storage: 'flowstore', flowstore: { location }, settings })
}

function revOf (flows: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(flows)).digest('hex')
}

/** Reads the store directly (Node-RED stopped): the value of a record. */
async function record (location: string, id: string): Promise<any> {
  const store = await FlowStore.open(location)
  try {
    return store.get(id)
  } finally {
    await store.close()
  }
}

describe('a Node-RED that owns its store', { timeout: 180_000 }, () => {
  nodeRedHooks({ beforeEach, afterEach })

  it('gives the same flows and the same rev after a restart, with the credentials (no credentialSecret) decrypted and in use', async () => {
    const at = await place()
    const deployed = [...generateNodeRedFlows({ tabs: 5 }), ...httpTab({ id: 'web', answer: 'hello', credentials: { user: 'alice', password: 's3cret' } })]
    let red = await startOn(at)
    expect(await red.flows()).toEqual({ flows: [], rev: revOf([]) })
    const rev = await red.deployOk(deployed)
    expect(rev).toBe(revOf(withoutCredentials(deployed)))
    await red.waitForAnswer('/web/hello', 'hello')
    await red.waitForAnswer('/web/check', basicAuth('alice', 's3cret'))
    await red.stop()

    // The credentials are encrypted with the key the runtime generated, and that key was
    // kept in the settings (found only because getSettings/saveSettings are own properties).
    expect(Object.keys((await record(at.location, 'node-red/credentials')).value)).toEqual(['$'])
    expect(typeof (await record(at.location, 'node-red/settings/runtime')).value._credentialSecret).toBe('string')

    red = await startOn(at)
    const after = await red.flows()
    expect(after.rev).toBe(rev)
    expect(after.flows).toEqual(withoutCredentials(deployed))
    await red.waitForAnswer('/web/check', basicAuth('alice', 's3cret'))
    await red.stop()
  })

  it('keeps credentials encrypted with the credentialSecret setting across a restart', async () => {
    const at = await place()
    const settings = { credentialSecret: 'a secret of this installation' }
    let red = await startOn(at, settings)
    await red.deployOk(httpTab({ id: 'keyed', answer: 'hi', credentials: { user: 'bob', password: 'pa55' } }))
    await red.waitForAnswer('/keyed/check', basicAuth('bob', 'pa55'))
    await red.stop()
    expect(Object.keys((await record(at.location, 'node-red/credentials')).value)).toEqual(['$'])
    expect((await record(at.location, 'node-red/settings/runtime'))?.value?._credentialSecret).toBeUndefined()

    red = await startOn(at, settings)
    await red.waitForAnswer('/keyed/check', basicAuth('bob', 'pa55'))
    await red.stop()
  })
})

describe('a Node-RED working through the socket of a store this process owns', { timeout: 180_000 }, () => {
  nodeRedHooks({ beforeEach, afterEach }, true)
  let store: FlowStore
  let red: NodeRed

  beforeAll(async () => {
    const at = await place()
    store = await FlowStore.open(at.location, { sync: true })
    await serveStore(store)
    red = await startOn(at)
    // Node-RED made its first start through the socket.
    expect(store.has('node-red/meta')).toBe(true)
  }, 180_000)

  afterAll(async () => {
    await red?.stop()
    await store?.close()
  }, 60_000)

  it('refuses a deploy based on a stale rev with 409 version_mismatch and keeps the newer flows', async () => {
    const first = generateNodeRedFlows({ tabs: 2, prefix: 'stale-' })
    const rev1 = await red.deployOk(first)
    const second = changeOneTab(first, 0, 1, 'stale-')
    await red.deployOk(second, { rev: rev1, type: 'nodes' })
    const stale = await red.deploy(changeOneTab(first, 1, 2, 'stale-'), { rev: rev1, type: 'flows' })
    expect(stale.status).toBe(409)
    expect(stale.body).toMatchObject({ code: 'version_mismatch' })
    expect((await red.flows()).flows).toEqual(second)
  })

  it('commits exactly the record of the one tab of fifty a deploy changed', async () => {
    const flows = generateNodeRedFlows({ tabs: 50 })
    const rev = await red.deployOk(flows)
    const before = store.version
    await red.deployOk(changeOneTab(flows, 17, 1), { rev, type: 'flows' })
    const { changes } = await store.changesSince(before)
    expect(changes.map((change) => change.id)).toEqual([`node-red/flow/${tabId(17)}`])
    expect(store.get(`node-red/flow/${tabId(17)}`)).toMatchObject({ runs: [1, 1, 20] })
  })
})

describe('a Node-RED deploying while it still loads its flows at start', { timeout: 180_000 }, () => {
  nodeRedHooks({ beforeEach, afterEach })

  // Node-RED listens (and accepts deploys) before it has loaded its flows: RED.start() does
  // not wait for the load, and applies what it loaded when the load completes. A deploy made
  // meanwhile must be what the runtime ends with, and the rev it answers must be the one the
  // next deploy can be based on. The load is made slow (as on a slow store) so that the
  // deploys below always fall within it.
  for (const through of ['its own store', 'the socket of a store this process owns'] as const) {
    it(`accepts every quick successive deploy based on the rev the previous one answered, and runs the last one (${through})`, async () => {
      const at = await place()
      const owner = through === 'its own store' ? undefined : await FlowStore.open(at.location)
      try {
        if (owner !== undefined) await serveStore(owner)
        const red = await NodeRed.start({ userDir: at.userDir, storage: 'flowstore', flowstore: { location: at.location }, slowLoadMs: 1500 })
        let flows = generateNodeRedFlows({ tabs: 2, prefix: 'quick-' })
        let rev = await red.deployOk(flows)
        expect(rev).toBe(revOf(flows))
        for (let round = 1; round <= 6; round++) {
          flows = changeOneTab(flows, round % 2, round, 'quick-')
          rev = await red.deployOk(flows, { rev, type: round % 3 === 0 ? 'full' : 'nodes' })
          expect(rev).toBe(revOf(flows))
        }
        // Once the runtime has started its flows (after its load), it runs the last deploy.
        await waitFor('the flows to start', async () => red.output.includes('Started flows') ? true : undefined)
        expect(await red.flows()).toEqual({ flows, rev })
        // The storage never reloaded the runtime for these deploys of its own.
        expect(red.output).not.toContain('reloading them')
        await red.stop()
      } finally {
        await owner?.close()
      }
    })
  }
})
