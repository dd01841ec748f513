// The public API of flowstore.
export { FlowStore } from './store.ts'
export { FlowStoreError, isFlowStoreError } from './errors.ts'
export { importLegacyJson, LegacyImportError } from './legacy/import-json.ts'
export { exportJson } from './legacy/export-json.ts'

export type { ChangesSince } from './store.ts'
export type { FlowStoreErrorCode, FlowStoreErrorOptions } from './errors.ts'
export type { Transaction } from './transaction.ts'
export type { ImportOptions, ImportProgress, ImportReport, LegacyFormat, SkippedRecord } from './legacy/import-json.ts'
export type { ExportOptions, ExportProgress, ExportReport } from './legacy/export-json.ts'
export type { Change, Flow, FlowShape, FlowStoreOptions, FlushMode, Frozen, LazyFlow } from './types.ts'
