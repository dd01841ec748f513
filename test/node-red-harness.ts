// Starts real Node-RED processes (test/node-red-child.ts) and drives them only through their
// admin HTTP API, as an editor or a deploy script would. Used by the Node-RED tests and the
// Node-RED benchmark.
//
// Node-RED's log goes to the child's stdout; it is collected, not printed. The tests print
// it when a test fails (printLogsOnFailure) and stop every process a test left running.

import { type ChildProcess, fork } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { ChildConfig } from './node-red-child.ts'

const CHILD = join(resolve(import.meta.dirname), 'node-red-child.ts')
const TSX = import.meta.resolve('tsx')
const START_TIMEOUT_MS = 60_000

export interface HttpAnswer {
  readonly status: number
  readonly body: any
}

export interface DeployOptions {
  /** The rev the deploy is based on (sent as `rev`: Node-RED answers 409 when it is stale). */
  readonly rev?: string
  /** Node-RED-Deployment-Type. @default 'full' */
  readonly type?: 'full' | 'nodes' | 'flows' | 'reload'
  readonly credentials?: Record<string, unknown>
}

export interface StorageStats {
  readonly saves: Array<{ ms: number, writeBytes: number }>
  readonly writeBytes: number
}

export class NodeRed {
  readonly config: ChildConfig
  readonly child: ChildProcess
  readonly port: number
  #output: string

  /** Starts Node-RED and resolves once its HTTP server listens. */
  static async start (config: ChildConfig): Promise<NodeRed> {
    await mkdir(config.userDir, { recursive: true })
    const child = fork(CHILD, [JSON.stringify(config)], {
      execArgv: ['--import', TSX],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, NODE_OPTIONS: '' }
    })
    let output = ''
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { output += chunk })
    running.add(child)
    child.once('exit', () => { running.delete(child) })
    try {
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`Node-RED did not start within ${START_TIMEOUT_MS} ms`)) }, START_TIMEOUT_MS)
        child.once('error', reject)
        child.once('exit', (code, signal) => { reject(new Error(`Node-RED exited during start (code ${String(code)}, signal ${String(signal)})`)) })
        child.on('message', (message: { type?: string, port?: number }) => {
          if (message.type === 'ready') {
            clearTimeout(timer)
            resolve(message.port!)
          }
        })
      })
      const red = new NodeRed(config, child, port, output)
      child.stdout!.removeAllListeners('data').on('data', (chunk: string) => { red.#output += chunk })
      child.stderr!.removeAllListeners('data').on('data', (chunk: string) => { red.#output += chunk })
      child.once('exit', (code, signal) => { red.#output += `\n[the process exited: code ${String(code)}, signal ${String(signal)}]\n` })
      logs.push({ label: `Node-RED on port ${port} (${config.storage})`, output: () => red.#output, from: 0, child })
      return red
    } catch (err) {
      logs.push({ label: `Node-RED that failed to start (${config.storage})`, output: () => output, from: 0, child })
      child.kill('SIGKILL')
      throw err
    }
  }

  private constructor (config: ChildConfig, child: ChildProcess, port: number, output: string) {
    this.config = config
    this.child = child
    this.port = port
    this.#output = output
  }

  /** Everything Node-RED logged so far. */
  get output (): string {
    return this.#output
  }

  get url (): string {
    return `http://127.0.0.1:${this.port}`
  }

  async request (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer> {
    const response = await fetch(this.url + path, {
      method,
      headers: { 'Node-RED-API-Version': 'v2', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await response.text()
    let parsed: unknown = text
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {}
    return { status: response.status, body: parsed }
  }

  /** GET on the flows' HTTP nodes (/api/...): the status and the body text; undefined when nothing answers yet. */
  async get (path: string): Promise<{ status: number, text: string }> {
    const response = await fetch(`${this.url}/api${path}`)
    return { status: response.status, text: await response.text() }
  }

  /** Polls GET /api<path> until it answers 200 with `text` (flows start some ms after a deploy or a start). */
  async waitForAnswer (path: string, text: string, timeoutMs?: number): Promise<void> {
    await waitFor(`GET /api${path} to answer ${JSON.stringify(text)}`, async () => {
      const answer = await this.get(path)
      if (answer.status === 200 && answer.text === text) return true
      throw new Error(`it answered ${answer.status} ${JSON.stringify(answer.text.slice(0, 200))}`)
    }, timeoutMs)
  }

  /** GET /admin/flows (v2): { flows, rev }. */
  async flows (): Promise<{ flows: any[], rev: string }> {
    const answer = await this.request('GET', '/admin/flows')
    if (answer.status !== 200) throw new Error(`GET /admin/flows answered ${answer.status}: ${JSON.stringify(answer.body)}`)
    return answer.body
  }

  /** POST /admin/flows (v2) with a deployment type; the raw answer. */
  async deploy (flows: unknown[], options: DeployOptions = {}): Promise<HttpAnswer> {
    const body = { flows, ...(options.rev === undefined ? {} : { rev: options.rev }), ...(options.credentials === undefined ? {} : { credentials: options.credentials }) }
    return await this.request('POST', '/admin/flows', options.type === 'reload' ? undefined : body, { 'Node-RED-Deployment-Type': options.type ?? 'full' })
  }

  /** A deploy that must succeed: its new rev. */
  async deployOk (flows: unknown[], options: DeployOptions = {}): Promise<string> {
    const answer = await this.deploy(flows, options)
    if (answer.status !== 200) throw new Error(`Deploy answered ${answer.status}: ${JSON.stringify(answer.body)}`)
    return answer.body.rev
  }

  /** The storage figures (children started with `measure`). */
  async stats (): Promise<StorageStats> {
    return await new Promise<StorageStats>((resolve) => {
      const onMessage = (message: { type?: string } & StorageStats): void => {
        if (message.type !== 'stats') return
        this.child.off('message', onMessage)
        resolve(message)
      }
      this.child.on('message', onMessage)
      this.child.send({ type: 'stats' })
    })
  }

  /** A clean stop: RED.stop(), the storage closed, the process exits. */
  async stop (): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => { this.child.once('exit', () => { resolve() }) })
    this.child.send({ type: 'stop' })
    await exited
  }

  /** SIGKILL, as a crash or an OOM kill would end it. */
  async kill (): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => { this.child.once('exit', () => { resolve() }) })
    this.child.kill('SIGKILL')
    await exited
  }
}

const running = new Set<ChildProcess>()
const logs: Array<{ label: string, output: () => string, from: number, child: ChildProcess }> = []

/** Kills every Node-RED still running (after each test). */
export async function killAll (): Promise<void> {
  await Promise.all([...running].map(async (child) => {
    const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
    child.kill('SIGKILL')
    await exited
  }))
}

/** Forgets what every Node-RED logged so far: takeLogs() then shows only what comes after. */
export function markLogs (): void {
  for (const log of logs) log.from = log.output().length
  pruneLogs()
}

/** What every Node-RED logged since markLogs() (to print when a test fails). */
export function takeLogs (): string {
  const text = logs.map((log) => `--- ${log.label} ---\n${log.output().slice(log.from)}`).join('\n')
  markLogs()
  return text
}

function pruneLogs (): void {
  for (let i = logs.length - 1; i >= 0; i--) {
    const { child } = logs[i]!
    if (child.exitCode !== null || child.signalCode !== null) logs.splice(i, 1)
  }
}

/**
 * Registers the tests' hooks: Node-RED's log is printed when a test fails, and (unless
 * `keepRunning`, for processes started in beforeAll) every Node-RED a test left running is
 * killed after it.
 */
export function nodeRedHooks (hooks: { beforeEach: typeof import('vitest').beforeEach, afterEach: typeof import('vitest').afterEach }, keepRunning = false): void {
  hooks.beforeEach(({ onTestFailed }) => {
    markLogs()
    onTestFailed(() => { console.log(takeLogs()) })
  })
  if (!keepRunning) hooks.afterEach(killAll)
}

/** Polls `probe` until it returns something other than undefined, at most `timeoutMs`. */
export async function waitFor<T> (what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
