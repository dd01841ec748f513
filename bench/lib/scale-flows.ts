// The flows of the scale benchmark: every flow has 6 nodes in a chain joined by 5 edges, and
// encodes to ~930 bytes of record (close to the 1,000,000-flow store the scale goals were set
// on: 864 MiB of records for a million flows). Deterministic per index, like
// examples/generate-flows.ts, and cheap to make.

import { mulberry32 } from '../../examples/generate-flows.ts'

export interface ScaleNode {
  id: string
  type: string
  position: { x: number, y: number }
  config: Record<string, string | number | boolean | null>
}

export interface ScaleFlow {
  id: string
  name: string
  version: number
  nodes: ScaleNode[]
  edges: Array<{ source: string, target: string }>
  tags: string[]
  metadata: { owner: string, createdAt: string, revision: number, enabled: boolean }
  [key: string]: unknown
}

const TYPES = ['trigger.webhook', 'action.http', 'transform.map', 'logic.condition', 'action.email', 'output.log'] as const
const WORDS = ['invoice', 'customer', 'order', 'payment', 'refund', 'shipment', 'ticket', 'lead', 'report', 'account'] as const
const OWNERS = ['alice', 'bob', 'chandra', 'dmitri', 'zoë', 'josé', 'mei', 'priya'] as const
const EPOCH_MS = Date.UTC(2023, 0, 1)

/** Bump when scaleFlow() changes: cached scale stores built by another version are rebuilt. */
export const SCALE_FLOWS_VERSION = 1

/** The id of scaleFlow(index), without building it. */
export function scaleFlowId (index: number): string {
  return `flow-${String(index).padStart(8, '0')}`
}

export function scaleFlow (index: number): ScaleFlow {
  const next = mulberry32(Math.imul(index + 1, 0x9e3779b1) ^ 0x5eed)
  const int = (max: number): number => Math.floor(next() * max)
  const word = (): string => WORDS[int(WORDS.length)]!
  // Random node ids (12 hex digits): real flows are full of such ids, and they keep LevelDB's
  // block compression as modest as it is on real data.
  const hex = (): string => (next() * 2 ** 24 >>> 0).toString(16).padStart(6, '0') + (next() * 2 ** 24 >>> 0).toString(16).padStart(6, '0')
  const ids = Array.from({ length: 6 }, hex)
  const nodes: ScaleNode[] = []
  const edges: ScaleFlow['edges'] = []
  for (let i = 0; i < 6; i++) {
    nodes.push({
      id: ids[i]!,
      type: TYPES[i]!,
      position: { x: i * 240 + int(40), y: int(7) * 80 },
      config: {
        url: `/${word()}`,
        retries: int(6)
      }
    })
    if (i > 0) edges.push({ source: ids[i - 1]!, target: ids[i]! })
  }
  const created = EPOCH_MS + int(365 * 86400) * 1000
  const revision = 1 + int(20)
  return {
    id: scaleFlowId(index),
    name: `${word()} ${word()} flow`,
    version: revision,
    nodes,
    edges,
    tags: [word(), word()],
    metadata: {
      owner: OWNERS[int(OWNERS.length)]!,
      createdAt: new Date(created).toISOString(),
      revision,
      enabled: next() < 0.9
    }
  }
}
