// Seeded, deterministic generator of realistic workflow flows, shared by the
// examples, tests and benchmarks so they all exercise the same data shape.
//
// Every flow depends only on (index, seed): each call builds its own PRNG, so
// generateFlow(7) is identical whether or not flows 0..6 were generated first,
// and there is no module-level mutable state to leak between tests.
//
// Size: the average JSON.stringify(flow).length is tuned to ~1,600 characters
// (about 1,590 for the default seed); tests and benchmarks rely on that size
// target, so re-measure after changing any template. Values are plain JSON
// (finite numbers, never -0; ISO date strings, never Date objects) so any
// codec should round-trip them exactly.

/** Any plain JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

export interface FlowNode {
  id: string
  type: string
  label: string
  position: { x: number; y: number }
  config: { [key: string]: JsonValue }
}

export interface FlowEdge {
  id: string
  source: string
  target: string
  sourceHandle: string
  targetHandle: string
}

export interface FlowMetadata {
  owner: string
  description: string
  createdAt: string // ISO 8601
  updatedAt: string // ISO 8601
  revision: number
  environment: 'development' | 'staging' | 'production'
  enabled: boolean
  lockedBy: string | null
}

export interface GeneratedFlow {
  id: string
  name: string
  version: number
  nodes: FlowNode[]
  edges: FlowEdge[]
  tags: string[]
  metadata: FlowMetadata
  [key: string]: unknown
}

export const DEFAULT_SEED = 0x5eed

// mulberry32: tiny, fast, good enough for test data. Not for cryptography. Exported for the
// tests and benchmarks that need the same seeded randomness.
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// Small helpers around one PRNG instance.
function makeRandom(index: number, seed: number) {
  // Scramble (index, seed) so neighbouring indexes get unrelated streams.
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35)
  h = Math.imul(h ^ (h >>> 16), 0x27d4eb2f)
  const next = mulberry32(h ^ (h >>> 15))
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1))
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T
  const chance = (p: number): boolean => next() < p
  const word = (): string => pick(WORDS)
  return { next, int, pick, chance, word }
}
type Random = ReturnType<typeof makeRandom>

const WORDS = [
  'invoice', 'customer', 'order', 'payment', 'refund', 'shipment', 'ticket', 'lead', 'report',
  'account', 'subscription', 'inventory', 'alert', 'digest', 'signup', 'webhook', 'export', 'sync'
] as const
const VERBS = ['Sync', 'Notify', 'Process', 'Archive', 'Validate', 'Enrich', 'Route', 'Escalate'] as const
// A few non-ASCII owners so byte length != string length somewhere in the data.
const OWNERS = ['alice', 'bob', 'chandra', 'dmitri', 'zoë', 'josé', 'mei', 'oluwaseun', 'priya', 'sven'] as const
const TAGS = ['billing', 'crm', 'ops', 'marketing', 'nightly', 'critical', 'beta', 'internal', 'eu', 'us'] as const
const TRIGGERS = ['trigger.webhook', 'trigger.schedule'] as const
const STEPS = [
  'action.http', 'transform.map', 'logic.condition', 'action.email',
  'action.database', 'logic.delay', 'output.log'
] as const

// 2023-01-01T00:00:00Z; all timestamps are offsets from here, whole seconds.
const EPOCH_MS = Date.UTC(2023, 0, 1)

function isoAt(ms: number): string {
  return new Date(ms).toISOString()
}

function nodeConfig(type: string, r: Random): { [key: string]: JsonValue } {
  switch (type) {
    case 'trigger.webhook':
      return {
        path: `/hooks/${r.word()}-${r.int(100, 999)}`,
        method: r.pick(['POST', 'PUT']),
        authRequired: r.chance(0.7),
        allowedIps: [`10.0.${r.int(0, 255)}.${r.int(1, 254)}`, `10.1.${r.int(0, 255)}.0/24`]
      }
    case 'trigger.schedule':
      return { cron: `*/${r.int(5, 59)} * * * *`, timezone: r.pick(['UTC', 'Europe/Berlin', 'America/New_York']), catchUp: r.chance(0.3) }
    case 'action.http':
      return {
        url: `https://api.example.com/v${r.int(1, 3)}/${r.word()}s`,
        method: r.pick(['GET', 'POST', 'PATCH']),
        headers: [['Content-Type', 'application/json'], ['X-Request-Source', 'flowstore']],
        timeoutMs: r.int(1, 30) * 1000,
        retries: r.int(0, 5),
        backoffFactor: r.pick([1, 1.5, 2, 2.5]),
        followRedirects: r.chance(0.5)
      }
    case 'transform.map':
      return {
        expression: `$.${r.word()}.${r.word()}Id`,
        fields: [r.word(), r.word(), r.word()],
        dropNulls: r.chance(0.5),
        defaults: { currency: 'EUR', quantity: r.int(0, 10) }
      }
    case 'logic.condition':
      return { left: `{{ $.${r.word()}.amount }}`, operator: r.pick(['gt', 'lt', 'eq', 'neq']), right: r.int(1, 5000), caseSensitive: false }
    case 'action.email':
      return {
        to: [`${r.pick(OWNERS)}@example.com`],
        cc: [],
        subject: `${r.pick(VERBS)} ${r.word()} #{{ $.id }}`,
        template: `${r.word()}-v${r.int(1, 9)}`,
        priority: r.int(1, 5)
      }
    case 'action.database':
      return {
        connection: r.pick(['pg-main', 'pg-replica', 'mysql-legacy']),
        query: `UPDATE ${r.word()}s SET status = $1 WHERE id = $2`,
        params: ['{{ $.status }}', '{{ $.id }}', r.int(0, 1000), r.chance(0.5), null],
        batchSize: r.pick([50, 100, 500])
      }
    case 'logic.delay':
      return { seconds: r.int(1, 3600), jitter: Math.round(r.next() * 100) / 100 }
    default: // output.log
      return { level: r.pick(['debug', 'info', 'warn']), message: `${r.pick(VERBS)} ${r.word()} done`, includePayload: r.chance(0.4), timeoutMs: null }
  }
}

export function generateFlow(index: number, seed: number = DEFAULT_SEED): GeneratedFlow {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`index must be a non-negative integer, got ${index}`)
  const r = makeRandom(index, seed)

  const nodeCount = r.int(3, 6)
  const nodes: FlowNode[] = []
  for (let i = 0; i < nodeCount; i++) {
    const type = i === 0 ? r.pick(TRIGGERS) : r.pick(STEPS)
    nodes.push({
      id: `n${i + 1}`,
      type,
      label: `${r.pick(VERBS)} ${r.word()}`,
      // Non-negative integers: never -0, and stable across codecs.
      position: { x: i * 240 + r.int(0, 40), y: r.int(0, 6) * 80 },
      config: nodeConfig(type, r)
    })
  }

  // A linear chain, plus the "false" branch of any condition skipping ahead.
  const edges: FlowEdge[] = []
  for (let i = 1; i < nodeCount; i++) {
    const from = nodes[i - 1] as FlowNode
    const isCondition = from.type === 'logic.condition'
    edges.push({ id: `e${edges.length + 1}`, source: from.id, target: `n${i + 1}`, sourceHandle: isCondition ? 'true' : 'out', targetHandle: 'in' })
    if (isCondition && i + 1 < nodeCount) {
      edges.push({ id: `e${edges.length + 1}`, source: from.id, target: `n${i + 2}`, sourceHandle: 'false', targetHandle: 'in' })
    }
  }

  const tags = [...new Set(Array.from({ length: r.int(1, 4) }, () => r.pick(TAGS)))]
  const createdMs = EPOCH_MS + r.int(0, 365 * 86400) * 1000
  const revision = r.int(1, 20)
  const subject = r.word()
  return {
    id: `flow-${String(index).padStart(6, '0')}`,
    name: `${r.pick(VERBS)} ${subject}s (${r.pick(TAGS)})`,
    version: revision,
    nodes,
    edges,
    tags,
    metadata: {
      owner: r.pick(OWNERS),
      description: `${r.pick(VERBS)} each new ${subject} via the ${r.word()} API.`,
      createdAt: isoAt(createdMs),
      updatedAt: isoAt(createdMs + r.int(0, 90 * 86400) * 1000),
      revision,
      environment: r.pick(['development', 'staging', 'production'] as const),
      enabled: r.chance(0.8),
      lockedBy: r.chance(0.1) ? r.pick(OWNERS) : null
    }
  }
}

/** Flows for indexes 0..count-1, so `flows[i].id === flow-<i padded>`. */
export function generateFlows(count: number, seed: number = DEFAULT_SEED): GeneratedFlow[] {
  return Array.from({ length: count }, (_, i) => generateFlow(i, seed))
}

// Lets mutateFlow take a flow as read back from a store (deeply readonly / frozen).
type DeepReadonly<T> = T extends readonly (infer U)[] ? readonly DeepReadonly<U>[]
  : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T

/**
 * A changed deep copy, as if a user edited and re-saved the flow. Always
 * differs from the input (version always increases), is deterministic for
 * (flow, revision), and keeps the size roughly constant over many rewrites
 * so benchmarks don't drift.
 */
export function mutateFlow(flow: GeneratedFlow | DeepReadonly<GeneratedFlow>, revision: number): GeneratedFlow {
  // structuredClone also thaws frozen input, so the copy is freely mutable.
  const copy = structuredClone(flow) as GeneratedFlow
  copy.version = flow.version + 1
  copy.metadata.revision = revision
  // Strictly later than before, whole seconds, derived from the old value.
  copy.metadata.updatedAt = isoAt(Date.parse(flow.metadata.updatedAt) + (60 + (Math.abs(revision) % 3600)) * 1000)
  const node = copy.nodes[Math.abs(revision) % copy.nodes.length]
  if (node) {
    // Wrap within a bounded range so repeated rewrites don't grow the record.
    node.position.x = (node.position.x + 17) % 2000
    node.position.y = (node.position.y + 80) % 560
  }
  return copy
}
