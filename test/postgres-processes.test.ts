// Several processes (standing for app servers on several hosts) sharing one PostgreSQL-backed
// store: two and three writers running interleaved saves, deletes, transactions and
// saveManys at once; three processes racing on the same ifVersion; a writer SIGKILLed while
// it commits. Every acknowledged write is in the
// database exactly once, versions run 1..N with each commit once, "changes since" read from
// outside never misses a commit, and every writer's cache (and its change events) converges
// to the database without a reload.

import { afterEach, describe, expect, it } from 'vitest'
import { type Child, killChildren, startChild } from './fixtures/child.ts'
import type { Writer } from './pg-writers.ts'
import { freshPostgresUrl, schemaOf, sql } from './pg-helpers.ts'
import { FlowStore } from '../src/index.ts'
import { ChangeObserver, checkAppliedOnce, checkConverged, checkHistory, interleavings, readDatabase, startWriters, until } from './pg-writers.ts'

afterEach(killChildren)

describe('one PostgreSQL store, several processes', () => {
  it.each([2, 3])('%i writer processes: every acknowledged write lands once, changes since never skip, caches converge', async (count) => {
    const url = freshPostgresUrl()
    // The store exists before the writers start, so they do not race to create it.
    await readDatabase(url).catch(() => {})
    const observer = await ChangeObserver.start(url)
    const writers = await startWriters(url, Array.from({ length: count }, (_, i) => ({ name: `w${i}`, rounds: 30, seed: 1000 * count + i })))
    await Promise.all(writers.map(async (writer) => { await writer.finished() }))
    await observer.stop()

    const db = await readDatabase(url)
    expect(writers.every((writer) => writer.fails.length === 0), writers.map((writer) => writer.fails.join(',')).join(' / ')).toBe(true)
    checkHistory(writers, db, { complete: true })
    // The writers did run at the same time: their commits alternate.
    expect(interleavings(writers)).toBeGreaterThan(0)
    expect(observer.rows).toEqual(new Map([...db.rows].map(([id, row]) => [id, { version: row.version, deleted: row.deleted }])))
    expect(observer.version).toBe(db.version)

    const dumps = await Promise.all(writers.map(async (writer) => await writer.dump(db.version)))
    dumps.forEach((dump, i) => { checkConverged(dump, db, writers[i]!.openedAt) })
    checkAppliedOnce(dumps)
    for (const writer of writers) await writer.exit()
  })

  it('three processes saving on the same ifVersion: exactly one wins each round, the others get FLOWSTORE_CONFLICT', async () => {
    const url = freshPostgresUrl()
    const first = await FlowStore.open(url)
    await first.save({ id: 'doc', by: 'nobody', round: 0 })
    await first.close()
    const racers = ['r0', 'r1', 'r2'].map((name) => startChild('pg-racer.ts', url, name))
    await Promise.all(racers.map(async (racer) => await racer.waitForLine((line) => line === 'ready')))
    const ROUNDS = 8
    const winners: number[] = []
    for (let round = 1; round <= ROUNDS; round++) {
      const armed = await Promise.all(racers.map(async (racer) => await next(racer, 'arm', (line) => line.startsWith('armed '))))
      // All start from the version of the last round's winner.
      expect(new Set(armed)).toEqual(new Set([`armed ${round}`]))
      const results = await Promise.all(racers.map(async (racer) => await next(racer, 'go', (line) => line === 'won' || line.startsWith('lost '))))
      expect(results.filter((result) => result === 'won')).toHaveLength(1)
      for (const result of results) if (result !== 'won') expect(result).toBe('lost FLOWSTORE_CONFLICT')
      winners.push(results.indexOf('won'))
    }
    // One commit per round, and the doc is the last winner's.
    const [row] = await sql<{ version: string }>(url, `SELECT version FROM "${schemaOf(url)}".flowstore_store`)
    expect(Number(row!.version)).toBe(1 + ROUNDS)
    const db = await FlowStore.open(url)
    try {
      expect(db.get('doc')).toEqual({ id: 'doc', by: `r${winners.at(-1)!}`, round: ROUNDS })
    } finally {
      await db.close()
    }
    for (const racer of racers) racer.send('exit')
    for (const racer of racers) expect(await racer.exited).toEqual({ code: 0, signal: null })
  })

  it('a writer SIGKILLed while committing loses nothing it acknowledged, leaves no half commit, and holds up no one', async () => {
    const url = freshPostgresUrl()
    await readDatabase(url).catch(() => {})
    const [victim, survivor] = await startWriters(url, [{ name: 'victim', rounds: 'loop', seed: 7 }, { name: 'survivor', rounds: 'loop', seed: 8 }]) as [Writer, Writer]
    await until(() => victim.acks.length >= 25 && survivor.acks.length >= 5, 'both writers have committed')
    victim.child.kill('SIGKILL')
    expect(await victim.child.exited).toEqual({ code: null, signal: 'SIGKILL' })
    // The killed process's transaction is gone with its connection: the other one goes on.
    const after = survivor.acks.length
    await until(() => survivor.acks.length >= after + 10, 'the survivor commits after the kill')
    survivor.child.send('stop')
    await survivor.finished()

    const db = await readDatabase(url)
    checkHistory([victim, survivor], db, { complete: false })
    // All or nothing: the flows one transaction or saveMany wrote exist together (a row,
    // even a tombstone, is never removed).
    for (const id of db.rows.keys()) {
      const tx = /^(.*)-(a|b)$/.exec(id)
      if (tx !== null) expect(db.rows.has(`${tx[1]}-${tx[2] === 'a' ? 'b' : 'a'}`), id).toBe(true)
      const many = /^(.*)-m[012]$/.exec(id)
      if (many !== null) for (const k of [0, 1, 2]) expect(db.rows.has(`${many[1]}-m${k}`), id).toBe(true)
    }
    const dump = await survivor.dump(db.version)
    checkConverged(dump, db, survivor.openedAt)
    checkAppliedOnce([dump])
    await survivor.exit()
  })
})

/** Sends `command` and returns the next line `match` accepts (after the ones already read). */
async function next (child: Child, command: string, match: (line: string) => boolean): Promise<string> {
  const from = child.lines.length
  child.send(command)
  return await child.waitForLine((line) => match(line) && child.lines.lastIndexOf(line) >= from)
}
