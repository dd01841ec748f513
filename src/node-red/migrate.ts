// The first start on an empty store: what Node-RED's own file storage (localfilesystem) has
// in userDir, read the way it reads it — the flows file (settings.flowFile, found as it
// finds it, or flows_<hostname>.json), its credentials file, the `.config.*.json` settings
// sections (or the older single `.config.json`), `.sessions.json` and the `lib/` library.
// Files are only read, never changed, moved or removed.

import { readdir, readFile, stat } from 'node:fs/promises'
import { hostname } from 'node:os'
import { basename, dirname, extname, isAbsolute, join } from 'node:path'
import { type Flow, FlowStoreError } from '../index.ts'
import { splitFlows } from './flow-array.ts'
import { pack } from './json-value.ts'
import { CREDENTIALS_ID, ORDER_ID, SESSIONS_ID, SETTINGS_PREFIX } from './layout.ts'
import { libraryRecord } from './library.ts'

export interface NodeRedFiles {
  /** The files that were read. */
  readonly read: string[]
  readonly flows: unknown[] | undefined
  readonly credentials: unknown
  /** Settings sections by name (runtime, nodes, users, projects, modules). */
  readonly settings: Map<string, unknown>
  readonly sessions: unknown
  readonly library: Array<{ type: string, path: string, meta: Record<string, string>, body: string }>
}

const SECTIONS = ['nodes', 'users', 'projects', 'modules'] as const

/** The store records of what was read (layout.ts), as the storage module writes them. */
export function importedRecords (files: NodeRedFiles): Flow[] {
  const records: Flow[] = []
  if (files.flows !== undefined) {
    const { order, segments } = splitFlows(files.flows)
    for (const [id, segment] of segments) records.push({ id, runs: segment.runs, ...pack(segment.nodes) })
    records.push({ id: ORDER_ID, segments: order.segments, runs: order.runs })
  }
  if (files.credentials !== undefined) records.push({ id: CREDENTIALS_ID, ...pack(files.credentials) })
  for (const [section, value] of files.settings) records.push({ id: SETTINGS_PREFIX + section, ...pack(value) })
  if (files.sessions !== undefined) records.push({ id: SESSIONS_ID, ...pack(files.sessions) })
  for (const entry of files.library) records.push(libraryRecord(entry.type, entry.path, entry.meta, entry.body, false))
  return records
}

/** Node-RED's userDir, found as its file storage finds it when the setting is not given. */
export function userDirOf (settings: { userDir?: unknown }): string {
  if (typeof settings.userDir === 'string' && settings.userDir !== '') return settings.userDir
  return join(process.env.HOME ?? process.env.USERPROFILE ?? process.env.HOMEPATH ?? process.cwd(), '.node-red')
}

/** The flows file's path, resolved as Node-RED's file storage resolves it. */
export async function flowsFileOf (settings: { flowFile?: unknown, userDir?: unknown }): Promise<string> {
  const userDir = userDirOf(settings)
  const flowFile = settings.flowFile
  if (typeof flowFile !== 'string' || flowFile === '') return join(userDir, `flows_${hostname()}.json`)
  if (isAbsolute(flowFile)) return flowFile
  if (flowFile.startsWith('./')) return join(process.cwd(), flowFile)
  const inCwd = join(process.cwd(), flowFile)
  return await exists(inCwd) ? inCwd : join(userDir, flowFile)
}

/** Reads what Node-RED's file storage has in userDir; undefined fields where files are absent. */
export async function readNodeRedFiles (settings: { flowFile?: unknown, userDir?: unknown }): Promise<NodeRedFiles> {
  const userDir = userDirOf(settings)
  const read: string[] = []
  const flowsFile = await flowsFileOf(settings)
  const flows = await readJson(flowsFile, read)
  if (flows !== undefined && !Array.isArray(flows)) {
    throw new FlowStoreError('FLOWSTORE_IMPORT_FAILED', `${flowsFile} does not hold a flow array; fix it or move it away, then start Node-RED again`)
  }
  const ext = extname(flowsFile)
  const credentials = await readJson(join(userDir, `${basename(flowsFile, ext)}_cred${ext}`), read)

  const settingsSections = new Map<string, unknown>()
  for (const section of ['runtime', ...SECTIONS]) {
    const value = await readJson(join(userDir, `.config.${section}.json`), read)
    if (value !== undefined) settingsSections.set(section, value)
  }
  if (settingsSections.size === 0) {
    // Before Node-RED 1.2, one file held every section.
    const all = await readJson(join(userDir, '.config.json'), read)
    if (typeof all === 'object' && all !== null && !Array.isArray(all)) {
      const rest: Record<string, unknown> = { ...all as Record<string, unknown> }
      for (const section of SECTIONS) {
        if (rest[section] !== undefined) settingsSections.set(section, rest[section])
        delete rest[section]
      }
      settingsSections.set('runtime', rest)
    }
  }
  const sessions = await readJson(join(userDir, '.sessions.json'), read, { fallback: false })
  const library = await readLibrary(join(userDir, 'lib'), read)
  return { read, flows: flows as unknown[] | undefined, credentials, settings: settingsSections, sessions, library }
}

/**
 * A JSON file as Node-RED's file storage reads it: a leading BOM is dropped; an empty or
 * unparseable file falls back to its backup (`.<name>.backup` beside a flows file,
 * `<name>.backup` for settings). Undefined when there is no file (or an empty one). A file
 * that holds something that is not JSON, and has no good backup, stops the import: starting
 * without those flows would be worse than not starting.
 */
async function readJson (file: string, read: string[], { fallback = true } = {}): Promise<unknown> {
  const text = await readText(file)
  if (text === undefined) return undefined
  const parsed = parseJson(text)
  if (parsed.ok) {
    read.push(file)
    return parsed.value
  }
  if (fallback) {
    for (const backup of [join(dirname(file), `.${basename(file)}.backup`), `${file}.backup`]) {
      const backupText = await readText(backup)
      const fromBackup = backupText === undefined ? undefined : parseJson(backupText)
      if (fromBackup?.ok === true) {
        read.push(backup)
        return fromBackup.value
      }
    }
  }
  // An empty file with no backup holds nothing, as Node-RED reads it; garbage stops the import.
  if (!fallback || text.trim() === '' || text === '\ufeff') return undefined
  throw new FlowStoreError('FLOWSTORE_IMPORT_FAILED', `${file} is not valid JSON and has no usable backup; fix it or move it away, then start Node-RED again`)
}

function parseJson (text: string): { ok: true, value: unknown } | { ok: false } {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  if (body.trim() === '') return { ok: false }
  try {
    return { ok: true, value: JSON.parse(body) }
  } catch {
    return { ok: false }
  }
}

/** Library files: `// key: value` header lines (the meta), then the body. */
async function readLibrary (root: string, read: string[]): Promise<NodeRedFiles['library']> {
  const entries: NodeRedFiles['library'] = []
  let types: string[]
  try {
    types = await readdir(root)
  } catch {
    return entries
  }
  for (const type of types.sort()) {
    const typeDir = join(root, type)
    if (!(await stat(typeDir)).isDirectory()) continue
    for (const path of await filesUnder(typeDir, '')) {
      const text = await readFile(join(typeDir, path), 'utf8')
      read.push(join(typeDir, path))
      entries.push({ type, path, ...parseLibraryFile(text) })
    }
  }
  return entries
}

async function filesUnder (dir: string, prefix: string): Promise<string[]> {
  const found: string[] = []
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name < b.name ? -1 : 1)) {
    // Node-RED's library hides dot files.
    if (entry.name.startsWith('.')) continue
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`
    if (entry.isDirectory()) found.push(...await filesUnder(join(dir, entry.name), path))
    else if (entry.isFile()) found.push(path)
  }
  return found
}

/** Splits a library file as Node-RED's getFileMeta/getFileBody do. */
export function parseLibraryFile (text: string): { meta: Record<string, string>, body: string } {
  const meta: Record<string, string> = {}
  const lines = text.split('\n')
  let i = 0
  for (; i < lines.length; i++) {
    const match = /^\/\/ (\w+): (.*)/.exec(lines[i]!)
    if (match === null) break
    meta[match[1]!] = match[2]!.replace(/\\[\\n]/g, (s) => s === '\\\\' ? '\\' : '\n')
  }
  return { meta, body: lines.slice(i).join('\n') }
}

async function readText (file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new FlowStoreError('FLOWSTORE_IMPORT_FAILED', `Cannot read ${file}: ${(err as Error).message}`, { cause: err })
  }
}

async function exists (file: string): Promise<boolean> {
  try {
    await stat(file)
    return true
  } catch {
    return false
  }
}
