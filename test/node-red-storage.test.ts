// The Node-RED storage module called directly, as Node-RED's runtime calls it, on real
// LevelDB stores in temp directories: what it stores, what it writes per deploy, what it gives
// back, and where it must behave like Node-RED's own file storage (the library, settings,
// sessions), checked against that module itself. The end-to-end tests with a real Node-RED
// are in node-red-*.test.ts.

import { createRequire } from 'node:module'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { FlowStore, isFlowStoreError } from '../src/index.ts'
import { nodeRedStorage, type NodeRedStorage, type NodeRedStorageOptions } from '../src/node-red/index.ts'
import { sameJson } from '../src/node-red/json-value.ts'
import { tempDir } from './helpers.ts'
import { changeOneTab, generateNodeRedFlows, tabId } from './node-red-flows.ts'
import { waitFor } from './node-red-harness.ts'

const require = createRequire(import.meta.url)

const open: NodeRedStorage[] = []
afterEach(async () => {
  for (const storage of open.splice(0).reverse()) await storage.close()
})

/** A storage module, initialised as the runtime does, closed after the test. */
async function started (location: string, settings: object = {}, options: Partial<NodeRedStorageOptions> = {}): Promise<NodeRedStorage> {
  const storage = nodeRedStorage({ location, ...options })
  open.push(storage)
  await storage.init({ userDir: join(location, '..', 'no-user-dir'), ...settings })
  return storage
}

async function restarted (storage: NodeRedStorage, location: string, settings: object = {}): Promise<NodeRedStorage> {
  await storage.close()
  return await started(location, settings)
}

/**
 * What the store committed after `version`: the ids (sorted; '-' for a deletion) and in how
 * many commits. The storage is closed first: the store is read directly.
 */
async function changesAfter (storage: NodeRedStorage, location: string, version: number): Promise<{ ids: string[], commits: number }> {
  await storage.close()
  const store = await FlowStore.open(location)
  try {
    const { changes } = await store.changesSince(version)
    return {
      ids: changes.map((change) => `${change.deleted ? '-' : ''}${change.id}`).sort(),
      commits: new Set(changes.map((change) => change.version)).size
    }
  } finally {
    await store.close()
  }
}

describe('comparing a deploy with what the store holds', () => {
  it('finds two values the same only when their JSON texts are the same', () => {
    const odd = fc.constantFrom(undefined, Number.NaN, -0, new Date(0), [1, , 3], { toJSON: () => 1 }, Object.create(null))
    const value = fc.oneof(fc.jsonValue({ maxDepth: 3 }), odd, fc.jsonValue({ maxDepth: 2 }).map((v) => ({ wrapped: v, odd: undefined })))
    fc.assert(fc.property(value, value, fc.boolean(), (a, b, parsed) => {
      // b is what the store holds: JSON data, or whatever else the store accepts.
      const stored = parsed ? JSON.parse(JSON.stringify(b) ?? 'null') : b
      if (sameJson(a, stored)) expect(JSON.stringify(a)).toBe(JSON.stringify(stored))
    }), { numRuns: 3000 })
    expect(sameJson({}, new Date(0))).toBe(false)
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 4 }), (a) => {
      expect(sameJson(a, JSON.parse(JSON.stringify(a)))).toBe(true)
    }), { numRuns: 500 })
    // Same keys in another order: another JSON text, another rev.
    expect(sameJson({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(false)
  })
})

describe('the storage module object', () => {
  it('has every storage method as an own property, as Node-RED looks them up with hasOwnProperty', () => {
    const storage = nodeRedStorage({ location: '/nowhere' })
    for (const name of ['init', 'getFlows', 'saveFlows', 'getCredentials', 'saveCredentials', 'getSettings', 'saveSettings', 'getSessions', 'saveSessions', 'getLibraryEntry', 'saveLibraryEntry']) {
      expect(Object.hasOwn(storage, name), name).toBe(true)
      expect(typeof (storage as unknown as Record<string, unknown>)[name]).toBe('function')
    }
  })

  it('refuses options without a location with a TypeError showing the value', () => {
    expect(() => nodeRedStorage({} as NodeRedStorageOptions)).toThrow(/location.*undefined/)
    expect(() => nodeRedStorage({ location: 'x', share: 'yes' as unknown as boolean })).toThrow(/share.*yes/)
  })
})

describe('flows', () => {
  it('gives back exactly the array it was given, in the same order, after a restart', async () => {
    const dir = join(await tempDir(), 'store')
    let storage = await started(dir)
    expect(await storage.getFlows()).toEqual([])
    const flows = generateNodeRedFlows({ tabs: 5 })
    await storage.saveFlows(flows)
    storage = await restarted(storage, dir)
    expect(JSON.stringify(await storage.getFlows())).toBe(JSON.stringify(flows))
  })

  it('keeps any JSON Node-RED can send, as its JSON text, whatever the order of nodes and tabs', async () => {
    const dir = join(await tempDir(), 'store')
    let storage = await started(dir)
    // Node-RED's arrays come from JSON: lone surrogates, -0 and __proto__ keys included.
    const odd = fc.constantFrom('"\\ud800"', '-0', '{"__proto__":{"x":1}}', '1e400', '"\\u0000"', '{"0":1,"b":2,"1":3}')
    const value = fc.oneof(fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), odd)
    const node = fc.record({
      id: fc.constantFrom('a', 'b', 'c', 'd', 't1', 't2', 's1'),
      type: fc.constantFrom('tab', 'subflow', 'inject', 'function', 'subflow:s1', 'mqtt-broker'),
      z: fc.option(fc.constantFrom('t1', 't2', 's1', 'gone', ''), { nil: undefined }),
      extra: value
    }).map(({ id, type, z, extra }) => `{"id":${JSON.stringify(id)},"type":${JSON.stringify(type)}${z === undefined ? '' : `,"z":${JSON.stringify(z)}`},"x":${extra}}`)
    const array = fc.array(node, { maxLength: 30 }).map((nodes) => `[${nodes.join(',')}]`)
    await fc.assert(fc.asyncProperty(fc.array(array, { minLength: 1, maxLength: 4 }), async (texts) => {
      for (const text of texts) {
        const flows = JSON.parse(text) as unknown[]
        await storage.saveFlows(flows)
        // Read back by another instance (through the owner's socket), then after a restart.
        // The runtime's rev is a sha256 of this text: it must not change.
        const reader = await started(dir)
        expect(JSON.stringify(await reader.getFlows())).toBe(JSON.stringify(flows))
        await reader.close()
      }
      storage = await restarted(storage, dir)
      expect(JSON.stringify(await storage.getFlows())).toBe(JSON.stringify(JSON.parse(texts.at(-1)!)))
    }), { numRuns: 20 })
  })

  it('commits only the record of the tab that changed', async () => {
    const dir = join(await tempDir(), 'store')
    let storage = await started(dir)
    const flows = generateNodeRedFlows({ tabs: 50 })
    await storage.saveFlows(flows)
    const version = storage.store!.version
    await storage.saveFlows(changeOneTab(flows, 17, 1))
    expect(await changesAfter(storage, dir, version)).toEqual({ ids: [`node-red/flow/${tabId(17)}`], commits: 1 })
    storage = await started(dir)
    expect(await storage.getFlows()).toEqual(changeOneTab(flows, 17, 1))
  })

  it('writes nothing with Node-RED\'s readOnly setting', async () => {
    const dir = join(await tempDir(), 'store')
    const storage = await started(dir, { readOnly: true })
    await storage.saveFlows(generateNodeRedFlows({ tabs: 2 }))
    await storage.saveCredentials({ $: 'x' })
    await storage.saveSettings({ a: 1 })
    await storage.saveSessions({ s: 1 })
    await storage.saveLibraryEntry('functions', 'f.js', {}, 'return msg;')
    expect(storage.store!.version).toBe(0)
  })

  it('commits nothing for a deploy that changes nothing', async () => {
    const dir = join(await tempDir(), 'store')
    const storage = await started(dir)
    const flows = generateNodeRedFlows({ tabs: 3 })
    await storage.saveFlows(flows)
    const version = storage.store!.version
    await storage.saveFlows(structuredClone(flows))
    expect(storage.store!.version).toBe(version)
  })

  it('rewrites the order only when tabs are added, removed or moved, and deletes a removed tab', async () => {
    const dir = join(await tempDir(), 'store')
    let storage = await started(dir)
    const flows = generateNodeRedFlows({ tabs: 4 })
    await storage.saveFlows(flows)

    // A node added to a tab, among that tab's nodes: that tab only.
    let version = storage.store!.version
    const last = flows.findLastIndex((node) => node.z === tabId(2))
    const added = [...flows.slice(0, last + 1), { id: 'new-node', type: 'debug', z: tabId(2), wires: [] }, ...flows.slice(last + 1)]
    await storage.saveFlows(added)
    expect(await changesAfter(storage, dir, version)).toEqual({ ids: [`node-red/flow/${tabId(2)}`], commits: 1 })

    // A tab removed: the order, and the tab's record deleted, in one commit.
    storage = await started(dir)
    await storage.getFlows()
    version = storage.store!.version
    const removed = added.filter((node) => node.id !== tabId(1) && node.z !== tabId(1))
    await storage.saveFlows(removed)
    expect(await changesAfter(storage, dir, version)).toEqual({ ids: [`-node-red/flow/${tabId(1)}`, 'node-red/flows'], commits: 1 })

    // Tabs reordered: the order only.
    storage = await started(dir)
    await storage.getFlows()
    version = storage.store!.version
    const moved = [removed[1]!, removed[0]!, ...removed.slice(2)]
    await storage.saveFlows(moved)
    expect(await changesAfter(storage, dir, version)).toEqual({ ids: ['node-red/flows'], commits: 1 })
    storage = await started(dir)
    expect(await storage.getFlows()).toEqual(moved)
  })
})

describe('credentials, settings and sessions', () => {
  it('keeps encrypted and plain credentials as given', async () => {
    const dir = join(await tempDir(), 'store')
    let storage = await started(dir)
    expect(await storage.getCredentials()).toEqual({})
    await storage.saveCredentials({ $: '4f2a…ciphertext' })
    storage = await restarted(storage, dir)
    expect(await storage.getCredentials()).toEqual({ $: '4f2a…ciphertext' })
    await storage.saveCredentials({ node1: { user: 'alice', password: 's3cret' } })
    storage = await restarted(storage, dir)
    expect(await storage.getCredentials()).toEqual({ node1: { user: 'alice', password: 's3cret' } })
  })

  it('gives settings and sessions back as Node-RED\'s file storage does', async () => {
    const base = await tempDir()
    const dir = join(base, 'store')
    const userDir = join(base, 'user')
    const files = require('@node-red/runtime/lib/storage/localfilesystem') as NodeRedStorage
    await files.init({ userDir }, {})
    let storage = await started(dir)
    const settings = { _credentialSecret: 'abc', instanceId: 'i-1', nodes: { 'node-red': { name: 'node-red', version: '4.1.15' } }, users: {}, telemetryEnabled: false }
    const sessions = { token1: { user: 'admin', client: 'node-red-editor', scope: ['*'], accessToken: 'token1', expires: 1700000000000 } }
    for (const target of [files, storage]) {
      await target.saveSettings(structuredClone(settings))
      await target.saveSessions(structuredClone(sessions))
    }
    storage = await restarted(storage, dir)
    expect(await storage.getSettings()).toEqual(await files.getSettings())
    expect(await storage.getSessions()).toEqual(await files.getSessions())
  })

  it('does not change the settings object it is given', async () => {
    const storage = await started(join(await tempDir(), 'store'))
    const settings = { a: 1, nodes: { x: {} } }
    await storage.saveSettings(settings)
    expect(settings).toEqual({ a: 1, nodes: { x: {} } })
  })

  it('writes only the settings sections that changed', async () => {
    const dir = join(await tempDir(), 'store')
    const storage = await started(dir)
    await storage.saveSettings({ instanceId: 'i-1', users: { admin: { editor: { view: {} } } } })
    const version = storage.store!.version
    await storage.saveSettings({ instanceId: 'i-1', users: { admin: { editor: { view: { grid: true } } } } })
    expect(await changesAfter(storage, dir, version)).toEqual({ ids: ['node-red/settings/users'], commits: 1 })
  })
})

describe('the library', () => {
  it('answers every lookup as Node-RED\'s file storage does', async () => {
    const base = await tempDir()
    const userDir = join(base, 'user')
    const files = require('@node-red/runtime/lib/storage/localfilesystem') as NodeRedStorage
    await files.init({ userDir }, {})
    const storage = await started(join(base, 'store'))
    const entries: Array<[string, string, Record<string, string>, string]> = [
      ['flows', 'alarms', {}, '[{"id":"a","type":"tab"}]'],
      ['flows', 'lines/line-1.json', {}, '[]'],
      ['flows', 'lines/deep/x', {}, '[{"id":"x"}]'],
      ['functions', 'maths/scale.js', { name: 'scale', outputs: '1', info: 'two\nlines' }, 'return msg;'],
      ['functions', 'maths/round.js', { name: 'round' }, 'msg.payload = Math.round(msg.payload)\nreturn msg;'],
      ['functions', 'top.js', { name: 'top' }, '// not a header\nreturn msg;']
    ]
    for (const [type, path, meta, body] of entries) {
      await files.saveLibraryEntry(type, path, meta, body)
      await storage.saveLibraryEntry(type, path, meta, body)
    }
    // Node-RED's file storage resolves a save before its file is written: wait for them.
    for (const [type, path] of entries) await waitFor(`${type}/${path}`, async () => await files.getLibraryEntry(type, path))
    const lookups: Array<[string, string]> = [
      ['flows', ''], ['flows', 'alarms'], ['flows', 'alarms.json'], ['flows', 'lines'], ['flows', 'lines/'],
      ['flows', 'lines/line-1'], ['flows', 'lines/deep/x.json'], ['flows', 'missing'], ['flows', 'missing/'],
      ['functions', ''], ['functions', 'maths'], ['functions', 'maths/scale.js'], ['functions', 'top.js'],
      ['functions', 'maths/nothing.js'], ['templates', ''], ['templates', 'x']
    ]
    // The two agree on a listing of folders and entries (not only on errors).
    expect(await storage.getLibraryEntry('functions', 'maths')).toEqual([{ name: 'round', fn: 'round.js' }, { name: 'scale', outputs: '1', info: 'two\nlines', fn: 'scale.js' }])
    expect(await storage.getLibraryEntry('flows', '')).toEqual(['lines', { fn: 'alarms.json' }])
    for (const [type, path] of lookups) {
      const expected = await files.getLibraryEntry(type, path).then((value) => ({ value }), () => ({ error: true }))
      const actual = await storage.getLibraryEntry(type, path).then((value) => ({ value }), () => ({ error: true }))
      expect(actual, `${type} ${path}`).toEqual(expected)
    }
  })
})

describe('two storages on one store', () => {
  it('refuses a deploy on a tab another instance changed since this one read it (409 version_mismatch), and merges changes to other tabs', async () => {
    const dir = join(await tempDir(), 'store')
    const owner = await started(dir)
    const flows = generateNodeRedFlows({ tabs: 3 })
    await owner.saveFlows(flows)
    const client = await started(dir)
    expect(client.store).toBeUndefined()
    expect(await client.getFlows()).toEqual(flows)

    const ownerChange = changeOneTab(flows, 1, 1)
    await owner.saveFlows(ownerChange)
    const err = await client.saveFlows(changeOneTab(flows, 1, 2)).then(() => undefined, (e: unknown) => e)
    expect(err).toMatchObject({ code: 'version_mismatch', status: 409 })

    // The client has not reloaded; a change to another tab still goes in, beside the owner's.
    await client.saveFlows(changeOneTab(flows, 2, 3))
    const merged = changeOneTab(ownerChange, 2, 3)
    expect(await owner.getFlows()).toEqual(merged)
    expect(await client.getFlows()).toEqual(merged)

    // And the other way round: the owner is behind the client now.
    await client.saveFlows(changeOneTab(merged, 0, 4))
    const refused = await owner.saveFlows(changeOneTab(ownerChange, 0, 5)).then(() => undefined, (e: unknown) => e)
    expect(refused).toMatchObject({ code: 'version_mismatch', status: 409 })
    expect(await owner.getFlows()).toEqual(changeOneTab(merged, 0, 4))
  })

  it('lets the other instance take the store over when its owner stops', async () => {
    const dir = join(await tempDir(), 'store')
    const owner = await started(dir)
    const flows = generateNodeRedFlows({ tabs: 2 })
    await owner.saveFlows(flows)
    const client = await started(dir)
    await client.getFlows()
    await owner.close()
    await waitFor('the takeover', async () => client.store === undefined ? undefined : true)
    await client.saveFlows(changeOneTab(flows, 0, 1))
    const later = await started(dir)
    expect(later.store).toBeUndefined()
    expect(await later.getFlows()).toEqual(changeOneTab(flows, 0, 1))
  })
})

describe('the first start on an existing Node-RED user directory', () => {
  it('refuses to start on a flows file that is not JSON and has no backup, and leaves it as it was', async () => {
    const base = await tempDir()
    const userDir = join(base, 'user')
    await files(userDir, { 'flows.json': '[{"id":"a", broken' })
    const storage = nodeRedStorage({ location: join(base, 'store') })
    open.push(storage)
    const err = await storage.init({ userDir, flowFile: 'flows.json' }).then(() => undefined, (e: unknown) => e)
    expect(isFlowStoreError(err, 'FLOWSTORE_IMPORT_FAILED')).toBe(true)
    expect(await readFile(join(userDir, 'flows.json'), 'utf8')).toBe('[{"id":"a", broken')
  })

  it('imports the backup Node-RED keeps beside a damaged flows file', async () => {
    const base = await tempDir()
    const userDir = join(base, 'user')
    await files(userDir, { 'flows.json': '', '.flows.json.backup': '[{"id":"t","type":"tab"}]' })
    const storage = await started(join(base, 'store'), { userDir, flowFile: 'flows.json' })
    expect(await storage.getFlows()).toEqual([{ id: 't', type: 'tab' }])
  })

  it('imports only once: a later start does not import the files again', async () => {
    const base = await tempDir()
    const userDir = join(base, 'user')
    const dir = join(base, 'store')
    await files(userDir, { 'flows.json': '[{"id":"t","type":"tab"}]' })
    let storage = await started(dir, { userDir, flowFile: 'flows.json' })
    await storage.saveFlows([])
    storage = await restarted(storage, dir, { userDir, flowFile: 'flows.json' })
    expect(await storage.getFlows()).toEqual([])
    expect(await readFile(join(userDir, 'flows.json'), 'utf8')).toBe('[{"id":"t","type":"tab"}]')
  })
})

async function files (dir: string, contents: Record<string, string>): Promise<void> {
  const { mkdir } = await import('node:fs/promises')
  await mkdir(dir, { recursive: true })
  for (const [name, text] of Object.entries(contents)) await writeFile(join(dir, name), text)
}
