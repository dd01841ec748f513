// One owner per database: a second open in this process is refused before LevelDB sees it
// (a refused LevelDB open would release the POSIX lock the first handle holds), and another
// process is refused by LevelDB's lock. Cross-process cases use real child processes
// (test/fixtures/hold-open.ts, try-open.ts) and wait for their explicit messages.

import { ClassicLevel } from 'classic-level'
import { symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { FlowStore, FlowStoreError, isFlowStoreError } from '../src/index.ts'
import { type Child, killChildren, startChild } from './fixtures/child.ts'
import { tempDir } from './helpers.ts'

afterEach(killChildren)

interface OpenOutcome {
  ok: boolean
  size?: number
  code?: string
  message?: string
}

/** Runs a child that tries once to open `dir`, and returns what it reported. */
async function openInChild (dir: string): Promise<OpenOutcome> {
  const child = startChild('try-open.ts', dir)
  const line = await child.waitForLine((l) => l.startsWith('{'))
  await child.exited
  return JSON.parse(line) as OpenOutcome
}

/** Starts a child that opens `dir` and holds it; resolves once it printed "ready". */
async function holdInChild (dir: string): Promise<Child> {
  const child = startChild('hold-open.ts', dir)
  await child.waitForLine((l) => l === 'ready')
  return child
}

/** The rejection of `promise` (fails the test if it fulfils). */
async function rejectionOf (promise: Promise<unknown>): Promise<unknown> {
  try {
    const value = await promise
    if (value instanceof FlowStore) await value.close()
  } catch (err) {
    return err
  }
  expect.unreachable('expected the open to be refused')
}

/** Asserts `err` is a FlowStoreError with code FLOWSTORE_LOCKED. */
function expectLocked (err: unknown): FlowStoreError {
  expect(err).toBeInstanceOf(FlowStoreError)
  expect(isFlowStoreError(err, 'FLOWSTORE_LOCKED')).toBe(true)
  return err as FlowStoreError
}

describe('in one process', () => {
  it('refuses a second open of an open directory with FLOWSTORE_LOCKED', async () => {
    const dir = await tempDir()
    const store = await FlowStore.open(dir)
    const err = expectLocked(await rejectionOf(FlowStore.open(dir)))
    expect(err.message).toContain('this process')
    await store.close()
  })

  it('lets exactly one of two opens started in the same tick succeed', async () => {
    const dir = await tempDir()
    const results = await Promise.allSettled([FlowStore.open(dir), FlowStore.open(dir)])
    const fulfilled = results.filter((r) => r.status === 'fulfilled')
    const rejected = results.filter((r) => r.status === 'rejected')
    expect(fulfilled).toHaveLength(1)
    expect(rejected).toHaveLength(1)
    expectLocked(rejected[0]!.reason)
    await fulfilled[0]!.value.close()
  })

  it('lets exactly one of two opens in the same tick succeed when one goes through a symlink', async () => {
    const dir = await tempDir()
    const link = join(await tempDir(), 'link')
    await symlink(dir, link)
    const results = await Promise.allSettled([FlowStore.open(link), FlowStore.open(dir)])
    const fulfilled = results.filter((r) => r.status === 'fulfilled')
    const rejected = results.filter((r) => r.status === 'rejected')
    expect(fulfilled).toHaveLength(1)
    expectLocked(rejected[0]?.reason)
    await fulfilled[0]!.value.close()
  })

  it('refuses the same directory spelled with a trailing slash', async () => {
    const dir = await tempDir()
    const store = await FlowStore.open(dir)
    expectLocked(await rejectionOf(FlowStore.open(dir + '/')))
    await store.close()
  })

  it('refuses the same directory spelled as dir/../dir', async () => {
    const dir = await tempDir()
    const store = await FlowStore.open(dir)
    const parent = join(dir, '..')
    const name = dir.slice(dir.lastIndexOf('/') + 1)
    expectLocked(await rejectionOf(FlowStore.open(`${dir}/../${name}`)))
    expectLocked(await rejectionOf(FlowStore.open(`${parent}/./${name}/`)))
    await store.close()
  })

  it('refuses the same directory reached through a symlink', async () => {
    const dir = await tempDir()
    const link = join(await tempDir(), 'link')
    await symlink(dir, link)
    const store = await FlowStore.open(dir)
    expectLocked(await rejectionOf(FlowStore.open(link)))
    await store.close()
  })

  it('refuses the real directory while it is open through a symlink', async () => {
    const dir = await tempDir()
    const link = join(await tempDir(), 'link')
    await symlink(dir, link)
    const store = await FlowStore.open(link)
    expectLocked(await rejectionOf(FlowStore.open(dir)))
    await store.close()
  })

  it('refuses the same abstract-level database object passed twice', async () => {
    const db = new ClassicLevel<string, Uint8Array>(await tempDir(), { valueEncoding: 'view' })
    const store = await FlowStore.open(db)
    expectLocked(await rejectionOf(FlowStore.open(db)))
    await store.close()
    await db.close()
  })

  it('opens the same database object again after the first store closed', async () => {
    const db = new ClassicLevel<string, Uint8Array>(await tempDir(), { valueEncoding: 'view' })
    const first = await FlowStore.open(db)
    await first.save({ id: 'a', n: 1 })
    await first.close()
    const second = await FlowStore.open(db)
    expect(second.get('a')).toEqual({ id: 'a', n: 1 })
    await second.close()
    await db.close()
  })

  it('opens the directory again after the first store closed', async () => {
    const dir = await tempDir()
    const first = await FlowStore.open(dir)
    await first.save({ id: 'a', n: 1 })
    await first.close()
    const second = await FlowStore.open(dir)
    expect(second.get('a')).toEqual({ id: 'a', n: 1 })
    await second.close()
  })

  it('leaves no claim behind after a refused open, so every spelling opens again after close', async () => {
    const dir = await tempDir()
    const link = join(await tempDir(), 'link')
    await symlink(dir, link)
    const store = await FlowStore.open(dir)
    expectLocked(await rejectionOf(FlowStore.open(link)))
    expectLocked(await rejectionOf(FlowStore.open(dir + '/')))
    await store.close()
    const viaLink = await FlowStore.open(link)
    await viaLink.close()
    const viaSlash = await FlowStore.open(dir + '/')
    await viaSlash.close()
  })

  it('keeps the first store working after a refused second open', async () => {
    const dir = await tempDir()
    const store = await FlowStore.open(dir)
    await store.save({ id: 'before', n: 1 })
    expectLocked(await rejectionOf(FlowStore.open(dir)))
    await store.save({ id: 'after', n: 2 })
    await store.close()
    const reopened = await FlowStore.open(dir)
    expect([...reopened.flows.keys()].sort()).toEqual(['after', 'before'])
    await reopened.close()
  })
})

describe('across processes', () => {
  it('refuses an open while another process holds the store, saying so', async () => {
    const dir = await tempDir()
    await holdInChild(dir)
    const err = expectLocked(await rejectionOf(FlowStore.open(dir)))
    expect(err.message).toContain('another process')
  })

  it('refuses an open in another process while this process holds the store', async () => {
    const dir = await tempDir()
    const store = await FlowStore.open(dir)
    const outcome = await openInChild(dir)
    expect(outcome).toMatchObject({ ok: false, code: 'FLOWSTORE_LOCKED' })
    await store.close()
  })

  it('still refuses another process after a second in-process open was refused', async () => {
    // The refused opens must not have reached LevelDB: closing a failed LevelDB handle
    // drops the POSIX lock the first handle holds, and the child would then get in.
    const dir = await tempDir()
    const link = join(await tempDir(), 'link')
    await symlink(dir, link)
    const store = await FlowStore.open(dir)
    expectLocked(await rejectionOf(FlowStore.open(dir)))
    expectLocked(await rejectionOf(FlowStore.open(dir + '/')))
    expectLocked(await rejectionOf(FlowStore.open(link)))
    const sameTick = await Promise.allSettled([FlowStore.open(dir), FlowStore.open(link)])
    for (const result of sameTick) expectLocked(result.status === 'rejected' ? result.reason : undefined)

    const outcome = await openInChild(dir)
    expect(outcome).toMatchObject({ ok: false, code: 'FLOWSTORE_LOCKED' })
    await store.close()
  })

  it('opens after the holding process closed the store and exited', async () => {
    const dir = await tempDir()
    const holder = await holdInChild(dir)
    expectLocked(await rejectionOf(FlowStore.open(dir)))
    holder.send('close')
    await holder.waitForLine((l) => l === 'closed')
    expect(await holder.exited).toEqual({ code: 0, signal: null })
    const store = await FlowStore.open(dir)
    expect(store.get('held-by')).toMatchObject({ pid: holder.process.pid })
    await store.close()
  })

  it('opens after the holding process was killed without closing', async () => {
    const dir = await tempDir()
    const holder = await holdInChild(dir)
    holder.kill('SIGKILL')
    expect(await holder.exited).toEqual({ code: null, signal: 'SIGKILL' })
    const store = await FlowStore.open(dir)
    expect(store.get('held-by')).toMatchObject({ pid: holder.process.pid })
    await store.close()
  })

  it('lets another process open the store after this process closed it', async () => {
    const dir = await tempDir()
    const store = await FlowStore.open(dir)
    await store.save({ id: 'from-parent', n: 1 })
    await store.close()
    expect(await openInChild(dir)).toEqual({ ok: true, size: 1 })
  })
})
