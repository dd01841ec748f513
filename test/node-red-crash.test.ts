// SIGKILL of a real Node-RED on flowstore in the middle of a loop of deploys, then a
// restart: the flows are the last deploy Node-RED acknowledged (or the one in flight, when
// it was committed just before the kill), never empty, never a mix, and the store checks
// clean.

import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { checkStore } from '../src/index.ts'
import { tempDir } from './helpers.ts'
import { changeOneTab, generateNodeRedFlows, tabId } from './node-red-flows.ts'
import { NodeRed, nodeRedHooks } from './node-red-harness.ts'

nodeRedHooks({ beforeEach, afterEach })

const TABS = 40
const KILLS = 3

/** Deploy `i` of the loop: two tabs changed; every fifth drops the last tab, the next brings it back. */
function variant (base: ReturnType<typeof generateNodeRedFlows>, i: number): ReturnType<typeof generateNodeRedFlows> {
  let flows = changeOneTab(changeOneTab(base, i % TABS, i), (i * 7 + 3) % TABS, i)
  if (i % 5 === 0) flows = flows.filter((node) => node.id !== tabId(TABS - 1) && node.z !== tabId(TABS - 1))
  return flows
}

function revOf (flows: unknown): string {
  return createHash('sha256').update(JSON.stringify(flows)).digest('hex')
}

describe('SIGKILL during a loop of deploys', { timeout: 300_000 }, () => {
  it('restarts on the last acknowledged deploy (or the one in flight), never empty, never corrupt', async () => {
    const dir = await tempDir('flowstore-node-red-')
    const config = { userDir: join(dir, 'user'), storage: 'flowstore' as const, flowstore: { location: join(dir, 'store') } }
    let red = await NodeRed.start(config)
    const base = generateNodeRedFlows({ tabs: TABS })
    let acknowledged: unknown[] = base
    await red.deployOk(base)
    let i = 0
    for (let kill = 0; kill < KILLS; kill++) {
      let inFlight: unknown[] | undefined
      let acks = 0
      // Deploy as fast as Node-RED answers; the kill lands at a different point each time.
      const loop = (async () => {
        for (;;) {
          const flows = variant(base, ++i)
          inFlight = flows
          const answer = await red.deploy(flows, { type: kill % 2 === 0 ? 'flows' : 'full' })
          if (answer.status !== 200) throw new Error(`Deploy answered ${answer.status}: ${JSON.stringify(answer.body)}`)
          acknowledged = flows
          inFlight = undefined
          acks++
        }
      })()
      const stopped = loop.catch(() => {})
      const target = 3 + kill * 2
      while (acks < target) await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, 5))])
      await red.kill()
      await stopped

      red = await NodeRed.start(config)
      const { flows, rev } = await red.flows()
      expect(flows.length).toBeGreaterThan(0)
      expect(rev).toBe(revOf(flows))
      const expected = [acknowledged, ...(inFlight === undefined ? [] : [inFlight])].map(revOf)
      expect(expected).toContain(rev)
      acknowledged = flows
    }
    await red.stop()
    const report = await checkStore(config.flowstore.location)
    expect(report.problems).toEqual([])
    expect(report.ok).toBe(true)
  })
})
