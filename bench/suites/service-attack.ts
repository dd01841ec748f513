// A client's save latency while the owner's socket is attacked (hostile input and resource
// limits): `await service.save(flow)` from a FlowService in this process to an owner in
// another process, with no attack (the baseline) and while a third process runs each attack
// of service-attacker.ts against the same owner, with the owner's default limits:
//
//  · stalled partial messages: 40 connections each sending 8 MiB of an unfinished message
//    and stopping (320 MiB if nothing bounded them; past maxBufferedBytes, 128 MiB, the
//    others wait unread; messageTimeoutMs closes the stalled ones, which come back at once);
//  · an idle connection flood: 1,000 silent connections (maxConnections: 128; the rest are
//    refused at once and come back at once);
//  · random frames: 8 connections writing random bytes and MessagePack values;
//  · and a control that does not touch the socket: a process keeping one core busy, to tell
//    the owner's cost of an attack from what any busy process costs on this machine.
//
// The figures are the median (p50) and p99 of the save round trip under each attack, as
// ratios against the no-attack run of the same suite; the owner's peak of bytes held for
// partial messages and its memory are logged after each attack.

import { type ChildProcessByStdio, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { type GeneratedFlow, generateFlow, mutateFlow } from '../../examples/generate-flows.ts'
import { FlowService, FlowStore } from '../../src/index.ts'
import { atMost, compare, pick } from '../lib/stats.ts'
import type { Context, Measured, Row, Suite } from '../lib/types.ts'

const HERE = dirname(fileURLToPath(import.meta.url))
const FLOWS = 1000
const ATTACKS = [
  ['stalled', 'stalled partial messages (40 × 8 MiB)'],
  ['idle', 'idle connection flood (1,000)'],
  ['random', 'random frames (8 connections)'],
  ['spin', 'control: one core kept busy, no socket']
] as const
const BASELINE = 'no attack (baseline)'

export const suite: Suite = {
  name: 'service-attack',
  description: 'FlowService save latency (p50, p99) while the owner socket is attacked: stalled partial messages, an idle connection flood, random frames',
  tags: ['service', 'socket', 'limits', 'attack', 'hostile'],
  async run (ctx: Context): Promise<Row[]> {
    const dir = await ctx.tmp.make('service-attack')
    const flows = Array.from({ length: FLOWS }, (_, i) => generateFlow(i))
    const seed = await FlowStore.open<GeneratedFlow>(dir)
    await seed.saveMany(flows)
    await seed.close()
    const owner = new LineProcess(join(HERE, 'service-owner.ts'), [dir])
    try {
      const socket = (await owner.line((line) => line.startsWith('ready '))).slice('ready '.length)
      const attacker = new LineProcess(join(HERE, 'service-attacker.ts'), [socket])
      const service = await FlowService.connect<GeneratedFlow>(dir)
      try {
        let revision = 0
        let next = flows[0]!
        const bench = ctx.bench('service-attack: one save, awaited until committed', { iterations: 800, time: 4000 })
        const save = async (): Promise<void> => { await service.save(next) }
        const beforeEach = (): void => { revision++; next = mutateFlow(flows[revision % FLOWS]!, revision) }
        bench.add(BASELINE, save, { beforeEach })
        for (const [attack, label] of ATTACKS) {
          bench.add(label, save, {
            beforeEach,
            async beforeAll () {
              attacker.send(`start ${attack}`)
              await attacker.line((line) => line === `started ${attack}`)
            },
            async afterAll () {
              owner.send('stats')
              const stats = JSON.parse((await owner.line((line) => line.startsWith('stats '))).slice('stats '.length)) as Record<string, number>
              attacker.send('stop')
              await attacker.line((line) => line === 'stopped')
              ctx.log(`${label}: owner holds ${mib(stats.bufferedBytes!)} for partial messages (peak so far ${mib(stats.peakBufferedBytes!)}), ` +
                `${stats.connections} connections (${stats.waiting} waiting for room), ${stats.refused} refused, ${stats.timedOut} timed out so far; ` +
                `rss ${mib(stats.rss!)}, array buffers ${mib(stats.arrayBuffers!)}`)
            }
          })
        }
        const stats = await ctx.run(bench)
        if (service.stats.reconnects > 0 || !service.connected) throw new Error(`service-attack: the client lost its connection (${service.stats.reconnects} reconnects)`)
        const baseline = pick(stats, BASELINE)
        return ATTACKS.map(([attack, label]) => {
          const subject = pick(stats, label)
          return compare(`save under attack: ${label} vs no attack`, subject, baseline, attack === 'spin' ? null : atMost(3),
            `p50 ${ms(subject)} / p99 ${ms(subject, 'p99')} vs p50 ${ms(baseline)} / p99 ${ms(baseline, 'p99')}; p99 ratio ${(subject.stat.p99 / baseline.stat.p99).toFixed(2)}×`)
        })
      } finally {
        await service.close()
        await attacker.end()
      }
    } finally {
      await owner.end()
    }
  }
}

function ms (measured: Measured, which: 'median' | 'p99' = 'median'): string {
  return `${measured.stat[which].toFixed(2)} ms`
}

function mib (bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

/** A child process (`node --import tsx <script>`) spoken to by lines on stdin and stdout. */
class LineProcess {
  readonly #child: ChildProcessByStdio<Writable, Readable, null>
  readonly #lines: string[] = []
  readonly #waiters = new Set<() => void>()
  readonly #exited: Promise<void>

  constructor (script: string, args: readonly string[]) {
    this.#child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
    this.#exited = new Promise((resolve) => { this.#child.once('exit', () => { resolve(); this.#wake() }) })
    createInterface({ input: this.#child.stdout }).on('line', (line) => {
      this.#lines.push(line)
      this.#wake()
    })
  }

  send (line: string): void {
    this.#child.stdin.write(line + '\n')
  }

  /** The first line not seen before that `match` accepts (lines before it are dropped). */
  async line (match: (line: string) => boolean): Promise<string> {
    for (;;) {
      const at = this.#lines.findIndex(match)
      if (at >= 0) return this.#lines.splice(0, at + 1)[at]!
      if (this.#child.exitCode !== null || this.#child.signalCode !== null) throw new Error(`${this.#child.spawnfile}: exited before printing the expected line`)
      await new Promise<void>((resolve) => { this.#waiters.add(resolve) })
    }
  }

  /** Ends stdin and waits for the process to exit. */
  async end (): Promise<void> {
    this.#child.stdin.end()
    await this.#exited
  }

  #wake (): void {
    for (const wake of this.#waiters) wake()
    this.#waiters.clear()
  }
}
