// What both engines share about the bounded change record: the retainChanges option and the
// error for changes asked since a version the record no longer reaches.

import { FlowStoreError } from '../errors.ts'

/** The default of the retainChanges option. */
export const DEFAULT_RETAIN_CHANGES = 100_000

/** The checked retainChanges option (undefined: the default; Infinity: never prune). */
export function resolveRetainChanges (retain: unknown): number {
  if (retain === undefined) return DEFAULT_RETAIN_CHANGES
  if (retain === Infinity || (typeof retain === 'number' && Number.isSafeInteger(retain) && retain >= 1)) return retain
  throw new TypeError(`Option retainChanges must be a positive integer or Infinity, got ${String(retain)}`)
}

/** The error for changes asked since a version the change record no longer reaches. */
export function prunedError (since: number, horizon: number): FlowStoreError {
  return new FlowStoreError('FLOWSTORE_CHANGES_PRUNED', `The changes since version ${since} are no longer known: the change log was pruned up to version ${horizon} (option retainChanges). Read the whole store again (a FlowService does this by itself), or take a full backup instead of a changed-only one`, { horizon })
}
