// flowstore/node-red: flowstore as Node-RED's storage module (settings.js `storageModule`).
// Node-RED is not a dependency: the module is called by the Node-RED that loads it.
export { nodeRedStorage } from './storage.ts'

export type { NodeRedStorage } from './storage.ts'
export type { NodeRedStorageOptions } from './options.ts'
