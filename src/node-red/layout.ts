// How Node-RED's data lies in a flowstore store: one flow record per tab, per subflow and
// for the global config nodes, one record for the order, and one record each for the
// credentials, the sessions, every settings section and every library entry. All ids start
// with `node-red/`, so the store can hold other flows beside them.
//
//   node-red/meta                  { format, createdAt, migratedFrom? }: written once, at the first start
//   node-red/flows                 the order: { segments: [record id…], runs: [segment index…] }
//   node-red/flow/<z>              one tab or subflow and every node whose `z` is it:
//                                  { z, runs: [run length…], value: [node…] | json }
//   node-red/global                the nodes without a `z` (global config nodes)
//   node-red/credentials           { value | json }: Node-RED's credentials object (`{ "$": … }` when encrypted)
//   node-red/sessions              { value | json }
//   node-red/settings/<section>    { value | json }: runtime, nodes, users, projects, modules
//   node-red/library/<type>/<path> { type, path, meta: { value | json }, body }
//
// The order: Node-RED's flow array is cut into runs of consecutive nodes of one record; the
// order lists each run's record, each record lists the lengths of its own runs. Changing a
// node (or adding one inside an existing run) rewrites only its record; the order is
// rewritten only when runs appear, vanish or move (a tab added, removed or moved).

import { createHash } from 'node:crypto'

export const PREFIX = 'node-red/'
export const META_ID = 'node-red/meta'
export const ORDER_ID = 'node-red/flows'
export const GLOBAL_ID = 'node-red/global'
export const CREDENTIALS_ID = 'node-red/credentials'
export const SESSIONS_ID = 'node-red/sessions'
export const FLOW_PREFIX = 'node-red/flow/'
export const SETTINGS_PREFIX = 'node-red/settings/'
export const LIBRARY_PREFIX = 'node-red/library/'

/** The layout version written in node-red/meta. */
export const LAYOUT_FORMAT = 1

/** Longer `z` values (or ones that are not valid Unicode) are named by their hash. */
const MAX_Z_BYTES = 512

/**
 * What decides a node's record: its `z` (a tab or subflow id), its own id for a tab or a
 * subflow definition, '' for a node of neither (a global config node). Cheap: it runs for
 * every node of every deploy; segmentId turns it into a record id once per key.
 */
export function segmentKeyOf (node: unknown): string {
  if (typeof node !== 'object' || node === null) return ''
  const z = (node as { z?: unknown }).z
  if (typeof z === 'string' && z !== '') return z
  // A tab or a subflow definition lives with the nodes it holds.
  const { type, id } = node as { type?: unknown, id?: unknown }
  if ((type === 'tab' || type === 'subflow') && typeof id === 'string') return id
  return ''
}

/** The record id of a segment key (see segmentKeyOf). */
export function segmentId (key: string): string {
  if (key === '') return GLOBAL_ID
  if (key.isWellFormed() && Buffer.byteLength(key) <= MAX_Z_BYTES) return FLOW_PREFIX + key
  return `${FLOW_PREFIX}sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`
}

/** True for the ids of records that hold nodes of the flow array. */
export function isSegmentId (id: string): boolean {
  return id === GLOBAL_ID || id.startsWith(FLOW_PREFIX)
}

/** The record id of a library entry (`path` already normalised). */
export function libraryId (type: string, path: string): string {
  return `${LIBRARY_PREFIX}${encodeURIComponent(type)}/${path}`
}

/** Where the entries of one library type start. */
export function libraryPrefix (type: string): string {
  return `${LIBRARY_PREFIX}${encodeURIComponent(type)}/`
}

/** The order record's content. */
export interface Order {
  /** Record ids, each once, in order of first appearance. */
  readonly segments: readonly string[]
  /** For each run of the flow array, the index in `segments` of the record that holds it. */
  readonly runs: readonly number[]
}
