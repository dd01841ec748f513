// Node-RED's flow array <-> its records (see layout.ts): split cuts the array into runs of
// consecutive nodes of one record; join puts them back in exactly the same order, so the
// runtime's `rev` (a sha256 of the array's JSON) is the same after a restart.

import { type Order, segmentId, segmentKeyOf } from './layout.ts'

/** One record's share of the flow array. */
export interface Segment {
  /** The lengths of this record's runs, in array order. */
  readonly runs: number[]
  readonly nodes: unknown[]
}

export interface SplitFlows {
  readonly order: Order
  /** Record id -> segment, in order of first appearance. */
  readonly segments: Map<string, Segment>
}

/** Cuts the flow array into one segment per tab, subflow and the global config nodes. */
export function splitFlows (flows: readonly unknown[]): SplitFlows {
  const segments = new Map<string, Segment>()
  const indexOf = new Map<string, number>()
  const byKey = new Map<string, { index: number, segment: Segment }>()
  const runs: number[] = []
  let current: Segment | undefined
  let currentKey: string | undefined
  let length = 0
  for (const node of flows) {
    const key = segmentKeyOf(node)
    if (key !== currentKey) {
      if (current !== undefined) current.runs.push(length)
      let entry = byKey.get(key)
      if (entry === undefined) {
        const id = segmentId(key)
        let segment = segments.get(id)
        if (segment === undefined) {
          segment = { runs: [], nodes: [] }
          segments.set(id, segment)
          indexOf.set(id, indexOf.size)
        }
        entry = { index: indexOf.get(id)!, segment }
        byKey.set(key, entry)
      }
      runs.push(entry.index)
      current = entry.segment
      currentKey = key
      length = 0
    }
    current!.nodes.push(node)
    length++
  }
  if (current !== undefined) current.runs.push(length)
  return { order: { segments: [...segments.keys()], runs }, segments }
}

/** What join found that does not fit (two writers raced, or records were lost). */
export interface JoinProblems {
  /** Records the order names that are not in the store: their nodes are missing. */
  readonly missing: string[]
  /** Records whose runs do not match the order: their nodes were placed as well as possible. */
  readonly mismatched: string[]
}

/**
 * Puts the flow array back together. When a record does not match the order (which only a
 * race between two writers or a lost record can cause), every node it holds is still placed
 * exactly once: a missing run is empty, and nodes left over go at the end of its last run.
 */
export function joinFlows (order: Order, segmentOf: (id: string) => Segment | undefined): { flows: unknown[], problems: JoinProblems } {
  const runsPerSegment = new Array<number>(order.segments.length).fill(0)
  for (const index of order.runs) runsPerSegment[index]!++
  const segments = order.segments.map((id) => segmentOf(id))
  const missing: string[] = []
  const mismatched: string[] = []
  segments.forEach((segment, index) => {
    if (segment === undefined) {
      missing.push(order.segments[index]!)
      return
    }
    const total = segment.runs.reduce((sum, length) => sum + length, 0)
    if (segment.runs.length !== runsPerSegment[index] || total !== segment.nodes.length) mismatched.push(order.segments[index]!)
  })
  const flows: unknown[] = []
  const runCursor = new Array<number>(order.segments.length).fill(0)
  const nodeCursor = new Array<number>(order.segments.length).fill(0)
  const seen = new Array<number>(order.segments.length).fill(0)
  for (const index of order.runs) {
    const segment = segments[index]
    if (segment === undefined) continue
    const last = ++seen[index]! === runsPerSegment[index]
    const from = nodeCursor[index]!
    const to = last ? segment.nodes.length : Math.min(segment.nodes.length, from + (segment.runs[runCursor[index]!] ?? 0))
    for (let i = from; i < to; i++) flows.push(segment.nodes[i])
    nodeCursor[index] = to
    runCursor[index]!++
  }
  return { flows, problems: { missing, mismatched } }
}
