// The public API of flowstore.
export { FlowStore } from './store.ts'
export { FlowStoreError, isFlowStoreError } from './errors.ts'

export type { ChangesSince } from './store.ts'
export type { FlowStoreErrorCode, FlowStoreErrorOptions } from './errors.ts'
export type { Transaction } from './transaction.ts'
export type { Change, Flow, FlowStoreOptions, FlushMode, Frozen, LazyFlow } from './types.ts'
