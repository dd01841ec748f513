// Moving an installation from Node-RED's own file storage to flowstore: a real Node-RED on
// localfilesystem writes flows.json, its credentials file and its settings; a Node-RED on
// flowstore started on the same userDir imports them on its first start — same flows, same
// rev, the credentials still decrypt — and every file of the user is left exactly as it was.

import { createHash } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FlowStore } from '../src/index.ts'
import { tempDir } from './helpers.ts'
import { basicAuth, changeOneTab, generateNodeRedFlows, httpTab, withoutCredentials } from './node-red-flows.ts'
import { NodeRed, nodeRedHooks } from './node-red-harness.ts'

nodeRedHooks({ beforeEach, afterEach })

/** Every file under `dir`: its content hash and modification time. */
async function snapshot (dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>()
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const path = join(entry.parentPath, entry.name)
    const hash = createHash('sha256').update(await readFile(path)).digest('hex')
    files.set(relative(dir, path), `${hash} ${(await stat(path)).mtimeMs}`)
  }
  return files
}

describe('the first start on a userDir of Node-RED\'s file storage', { timeout: 300_000 }, () => {
  it('imports flows, credentials and settings, with the same rev, and leaves every file of the user untouched', async () => {
    const dir = await tempDir('flowstore-node-red-')
    const userDir = join(dir, 'user')
    const location = join(dir, 'store')
    const settings = { flowFile: 'flows.json' }
    const deployed = [...generateNodeRedFlows({ tabs: 8 }), ...httpTab({ id: 'old', answer: 'from files', credentials: { user: 'carol', password: 'c4rol' } })]

    const files = await NodeRed.start({ userDir, storage: 'localfilesystem', settings })
    const rev = await files.deployOk(deployed)
    await files.waitForAnswer('/old/check', basicAuth('carol', 'c4rol'))
    await files.stop()
    const names = [...(await snapshot(userDir)).keys()]
    expect(names).toEqual(expect.arrayContaining(['flows.json', 'flows_cred.json', '.config.runtime.json']))
    expect(JSON.parse(await readFile(join(userDir, 'flows_cred.json'), 'utf8'))).toHaveProperty('$')
    const before = await snapshot(userDir)

    const red = await NodeRed.start({ userDir, storage: 'flowstore', flowstore: { location }, settings })
    const imported = await red.flows()
    expect(imported.rev).toBe(rev)
    expect(imported.flows).toEqual(withoutCredentials(deployed))
    // The credentials decrypt with the key the imported settings hold.
    await red.waitForAnswer('/old/check', basicAuth('carol', 'c4rol'))
    await red.deployOk(changeOneTab(imported.flows, 3, 1), { rev })
    await red.stop()

    expect(await snapshot(userDir)).toEqual(before)
    const store = await FlowStore.open(location)
    try {
      expect(store.get('node-red/meta')).toMatchObject({ migratedFrom: expect.arrayContaining([join(userDir, 'flows.json'), join(userDir, 'flows_cred.json')]) })
    } finally {
      await store.close()
    }
  })
})
