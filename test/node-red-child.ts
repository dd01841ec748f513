// A real Node-RED, headless, in its own process: the child the Node-RED tests and the
// Node-RED benchmark start (test/node-red-harness.ts). argv[2] is a JSON ChildConfig.
//
// It serves the admin API on /admin and the flows' HTTP nodes on /api, on 127.0.0.1 and a
// random port, reported to the parent over IPC ({ type: 'ready', port }). Node-RED logs to
// stdout, which the parent collects. The parent sends { type: 'stop' } for a clean stop
// (RED.stop(), then the storage is closed) and { type: 'stats' } for the storage figures
// ({ type: 'stats', saves: [{ ms, writeBytes }], writeBytes }) when `measure` is set.

import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { nodeRedStorage } from '../src/node-red/index.ts'
import type { NodeRedStorageOptions } from '../src/node-red/index.ts'

export interface ChildConfig {
  readonly userDir: string
  /** 'flowstore' (nodeRedStorage) or Node-RED's own 'localfilesystem'. */
  readonly storage: 'flowstore' | 'localfilesystem'
  /** nodeRedStorage options (location is required for 'flowstore'). */
  readonly flowstore?: NodeRedStorageOptions
  /** Extra Node-RED settings (credentialSecret, flowFile, …). */
  readonly settings?: Record<string, unknown>
  /** Time each saveFlows and count the bytes the process wrote (/proc/self/io). */
  readonly measure?: boolean
  readonly logLevel?: string
  /**
   * Delays each getCredentials answer by this long: the runtime's loading of the flows (which
   * reads the flows, then the credentials) takes that much longer, as on a slow store.
   */
  readonly slowLoadMs?: number
}

interface StorageModule {
  init (settings: object, runtime?: object): Promise<void>
  saveFlows (flows: unknown[], user?: unknown): Promise<void>
  saveCredentials (credentials: object): Promise<void>
  close?: () => Promise<void>
  [method: string]: unknown
}

const require = createRequire(import.meta.url)
const config = JSON.parse(process.argv[2]!) as ChildConfig
const express = require('express') as () => any
const RED = require('node-red') as {
  init (server: unknown, settings: object): void
  start (): Promise<void>
  stop (): Promise<void>
  httpAdmin: unknown
  httpNode: unknown
}

const storage: StorageModule = config.storage === 'flowstore'
  ? nodeRedStorage(config.flowstore!) as unknown as StorageModule
  : require('@node-red/runtime/lib/storage/localfilesystem') as StorageModule
const saves: Array<{ ms: number, writeBytes: number }> = []
const storageModule = slowLoad(config.measure === true ? measured(storage) : storage, config.slowLoadMs)

const app = express()
const server = createServer(app)
// Idle connections stay open longer than any pause between the parent's requests: a server
// closing one just as the parent reuses it would reset that request. No limit on how long a
// request may take (a deploy of a big flow file on a busy machine can take minutes).
server.keepAliveTimeout = 10 * 60_000
server.headersTimeout = 11 * 60_000
server.requestTimeout = 0
const settings = {
  userDir: config.userDir,
  storageModule,
  disableEditor: true,
  httpAdminRoot: '/admin',
  httpNodeRoot: '/api',
  uiHost: '127.0.0.1',
  uiPort: 0,
  logging: { console: { level: config.logLevel ?? 'info', metrics: false, audit: false } },
  editorTheme: { projects: { enabled: false } },
  diagnostics: { enabled: false },
  telemetry: { enabled: false },
  externalModules: { autoInstall: false, palette: { allowInstall: false } },
  ...config.settings
}
RED.init(server, settings)
app.use('/admin', RED.httpAdmin)
app.use('/api', RED.httpNode)
await RED.start()
server.listen(0, '127.0.0.1', () => {
  process.send!({ type: 'ready', port: (server.address() as AddressInfo).port })
})

process.on('message', (message: { type?: string }) => {
  if (message.type === 'stop') {
    void (async () => {
      await RED.stop()
      await storage.close?.()
      server.close()
      process.exit(0)
    })()
  } else if (message.type === 'stats') {
    process.send!({ type: 'stats', saves: saves.splice(0), writeBytes: writeBytes() })
  }
})
process.on('disconnect', () => { process.exit(0) })

/** The storage module with saveFlows (and the saveCredentials before it) timed, as own properties. */
function measured (target: StorageModule): StorageModule {
  const wrapper: StorageModule = { ...target }
  for (const name of Object.keys(target)) {
    const value = target[name]
    if (typeof value === 'function') wrapper[name] = (...args: unknown[]) => (value as (...a: unknown[]) => unknown).apply(target, args)
  }
  let pendingCredentialsMs = 0
  wrapper.saveCredentials = async (credentials) => {
    const started = performance.now()
    await target.saveCredentials(credentials)
    pendingCredentialsMs += performance.now() - started
  }
  wrapper.saveFlows = async (flows, user) => {
    const before = writeBytes()
    const started = performance.now()
    await target.saveFlows(flows, user)
    saves.push({ ms: performance.now() - started + pendingCredentialsMs, writeBytes: writeBytes() - before })
    pendingCredentialsMs = 0
  }
  return wrapper
}

/** The storage module with getCredentials answering `ms` later (the same object without `ms`). */
function slowLoad (target: StorageModule, ms: number | undefined): StorageModule {
  if (ms === undefined) return target
  const getCredentials = target.getCredentials as () => Promise<object>
  return {
    ...target,
    getCredentials: async () => {
      const credentials = await getCredentials()
      await new Promise((resolve) => setTimeout(resolve, ms))
      return credentials
    }
  }
}

/** Bytes this process has caused to be written to storage so far (Linux). */
function writeBytes (): number {
  const match = /^write_bytes: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))
  return match === null ? 0 : Number(match[1])
}
