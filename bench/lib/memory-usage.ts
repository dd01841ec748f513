// Memory readings for the child processes that measure memory (run with --expose-gc):
// a settled heap, and "memory" as heapUsed + external (external includes ArrayBuffers).

export interface Usage {
  readonly heapUsed: number
  readonly external: number
  readonly arrayBuffers: number
  readonly rss: number
  /** heapUsed + external: the figure the goals are about. */
  readonly total: number
}

/** Throws unless the process runs with --expose-gc. */
export function requireGc (script: string): () => void {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error(`${script} needs node --expose-gc`)
  return gc
}

/**
 * Several full collections, with turns of the event loop between them so that freed
 * ArrayBuffer backing stores are released before the counters are read.
 */
export async function settle (gc: () => void): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
}

export function usage (): Usage {
  const { heapUsed, external, arrayBuffers, rss } = process.memoryUsage()
  return { heapUsed, external, arrayBuffers, rss, total: heapUsed + external }
}
