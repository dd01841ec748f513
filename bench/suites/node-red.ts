// Figure 10 — flowstore as a real Node-RED's storage module against Node-RED's own file
// storage (localfilesystem: flows.json backed up, rewritten whole and fsynced on every
// deploy), side by side in one run.
//
// Two real Node-RED processes (test/node-red-child.ts, the harness of the Node-RED tests),
// one per storage, each holding the same flow file of 1,000 tabs (~22,000 nodes with
// realistic core-node shapes, test/node-red-flows.ts; 200 tabs with --quick). Then deploys
// alternate between them, each changing one node of one tab ("modified flows" deployments,
// with the rev), and for each:
//   storage time   saveFlows (+ saveCredentials) inside the Node-RED process: the module
//                  timed by a wrapper there;
//   bytes written  /proc/self/io write_bytes of the Node-RED process across saveFlows: what
//                  the deploy caused to be written to the disk (flowstore: its LevelDB log
//                  record; localfilesystem: the backup copy and the new flows.json). A second
//                  row counts everything the process wrote during the whole series, LevelDB's
//                  background compactions included, divided by the deploys;
//   round trip     POST /admin/flows until Node-RED answers, measured here.
// Each side has one warm-up deploy first (see startSide). Both stores fsync every deploy (flowstore's Node-RED default is `sync: true`; Node-RED's
// file storage fsyncs flows.json). Both processes run the same flows; Node-RED's own work per
// deploy (cloning, diffing and restarting the changed tab) is in the round trip of both.

import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { changeOneTab, generateNodeRedFlows } from '../../test/node-red-flows.ts'
import { killAll, NodeRed } from '../../test/node-red-harness.ts'
import { formatBytes } from '../lib/report.ts'
import { compare, statOfValues } from '../lib/stats.ts'
import type { Context, Goal, Measured, Row, Suite } from '../lib/types.ts'

const TABS = 1000
const QUICK_TABS = 200
const DEPLOYS = 20
const QUICK_DEPLOYS = 8
const FEWER_BYTES: Goal = { max: 0.01, text: '≥ 100× fewer bytes' }

export const suite: Suite = {
  name: 'node-red',
  description: 'A real Node-RED on flowstore vs on its own file storage: storage time, bytes written and admin-API round trip per deploy of a 1,000-tab flow file',
  tags: ['nodered', 'deploy', 'storage-module'],
  async run (ctx: Context): Promise<Row[]> {
    const tabs = ctx.quick ? QUICK_TABS : TABS
    const deploys = ctx.quick ? QUICK_DEPLOYS : DEPLOYS
    const flows = generateNodeRedFlows({ tabs })
    const flowsBytes = Buffer.byteLength(JSON.stringify(flows))
    ctx.log(`${tabs.toLocaleString('en')} tabs, ${flows.length.toLocaleString('en')} nodes, ${formatBytes(flowsBytes)} of JSON; ${deploys} deploys each, one tab changed per deploy`)
    const dir = await ctx.tmp.make('node-red')
    const sides = {
      localfilesystem: await startSide(ctx, 'localfilesystem', join(dir, 'files'), flows),
      flowstore: await startSide(ctx, 'flowstore', join(dir, 'flowstore'), flows)
    }
    try {
      const before = { localfilesystem: (await sides.localfilesystem.red.stats()).writeBytes, flowstore: (await sides.flowstore.red.stats()).writeBytes }
      const roundTrips = { localfilesystem: [] as number[], flowstore: [] as number[] }
      for (let i = 1; i <= deploys; i++) {
        const tab = (i * 389) % tabs
        for (const name of (i % 2 === 0 ? ['localfilesystem', 'flowstore'] : ['flowstore', 'localfilesystem']) as Array<keyof typeof sides>) {
          const side = sides[name]
          // Each deploy differs from the one before in exactly one tab.
          const next = changeOneTab(side.flows, tab, i)
          const started = performance.now()
          side.rev = await side.red.deployOk(next, { rev: side.rev, type: 'flows' })
          side.flows = next
          roundTrips[name].push(performance.now() - started)
        }
      }
      const figures = { localfilesystem: await figuresOf(sides.localfilesystem.red, before.localfilesystem, deploys), flowstore: await figuresOf(sides.flowstore.red, before.flowstore, deploys) }
      const flowsFile = (await stat(join(dir, 'files', 'user', 'flows.json'))).size
      ctx.log(`flows.json: ${formatBytes(flowsFile)}; the flowstore store: ${formatBytes(await directoryBytes(join(dir, 'flowstore', 'store')))}`)
      const measured = (label: string, unit: 'ms' | 'bytes', values: number[]): Measured => {
        const stat = statOfValues(unit, values)
        ctx.recordStat('node-red', label, stat)
        return { label, stat }
      }
      const rows: Row[] = [
        compare('Node-RED deploy, one tab of 1,000 changed: storage time (saveFlows)',
          measured('flowstore saveFlows', 'ms', figures.flowstore.ms), measured('localfilesystem saveFlows (baseline)', 'ms', figures.localfilesystem.ms), null),
        compare('Node-RED deploy, one tab of 1,000 changed: bytes written by saveFlows',
          measured('flowstore bytes per deploy', 'bytes', figures.flowstore.bytes), measured('localfilesystem bytes per deploy (baseline)', 'bytes', figures.localfilesystem.bytes), FEWER_BYTES),
        compare('Node-RED deploy, one tab of 1,000 changed: bytes written, background compaction included',
          measured('flowstore bytes per deploy, all writes', 'bytes', [figures.flowstore.total]), measured('localfilesystem bytes per deploy, all writes (baseline)', 'bytes', [figures.localfilesystem.total]), FEWER_BYTES),
        compare('Node-RED deploy, one tab of 1,000 changed: admin API round trip',
          measured('flowstore round trip', 'ms', roundTrips.flowstore), measured('localfilesystem round trip (baseline)', 'ms', roundTrips.localfilesystem), null,
          'POST /admin/flows, Node-RED-Deployment-Type: flows; includes Node-RED\'s own diff and restart of the changed tab')
      ]
      for (const side of Object.values(sides)) await side.red.stop()
      return rows
    } catch (err) {
      // What Node-RED said is the first thing to read when a run fails.
      for (const [name, side] of Object.entries(sides)) console.error(`--- ${name} Node-RED log (last 4,000 characters) ---\n${side.red.output.slice(-4000)}`)
      throw err
    } finally {
      await killAll()
    }
  }
}

type Flows = ReturnType<typeof generateNodeRedFlows>

interface Side {
  readonly red: NodeRed
  rev: string
  /** What the Node-RED runs now. */
  flows: Flows
}

/**
 * A Node-RED on one storage, holding `flows` (deployed whole once), after one warm-up deploy
 * of one changed tab (not measured): the first write after the big first deploy is when
 * LevelDB writes that deploy from its log into a table file (1.8 MiB, once).
 */
async function startSide (ctx: Context, storage: 'localfilesystem' | 'flowstore', dir: string, flows: Flows): Promise<Side> {
  const red = await NodeRed.start({
    userDir: join(dir, 'user'),
    storage,
    flowstore: { location: join(dir, 'store') },
    // A flow file this size needs a larger admin API body limit than Node-RED's 5 MB default.
    settings: { flowFile: 'flows.json', credentialSecret: 'bench', apiMaxLength: '64mb' },
    measure: true,
    logLevel: 'warn'
  })
  const started = performance.now()
  const first = await red.deployOk(flows)
  ctx.log(`${storage}: first full deploy in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  const warmed = changeOneTab(flows, 0, 0)
  const rev = await red.deployOk(warmed, { rev: first, type: 'flows' })
  const warmUp = (await red.stats()).saves.at(-1)
  ctx.log(`${storage}: warm-up deploy wrote ${formatBytes(warmUp?.writeBytes ?? 0)}`)
  return { red, rev, flows: warmed }
}

async function figuresOf (red: NodeRed, before: number, deploys: number): Promise<{ ms: number[], bytes: number[], total: number }> {
  const { saves, writeBytes } = await red.stats()
  if (saves.length !== deploys) throw new Error(`Expected ${deploys} saves, got ${saves.length}`)
  return { ms: saves.map((save) => save.ms), bytes: saves.map((save) => save.writeBytes), total: (writeBytes - before) / deploys }
}

async function directoryBytes (dir: string): Promise<number> {
  const { readdir } = await import('node:fs/promises')
  let total = 0
  for (const name of await readdir(dir, { recursive: true })) {
    const info = await stat(join(dir, name))
    if (info.isFile()) total += info.size
  }
  return total
}
