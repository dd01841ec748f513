// Helpers of the FlowService tests: an owner store served in this process, clients closed
// after each test, and a raw socket that speaks (or breaks) the protocol byte by byte.

import { connect, type Socket } from 'node:net'
import { Packr, UnpackrStream } from 'msgpackr'
import { afterEach } from 'vitest'
import { type ConnectOptions, type Flow, FlowService, FlowStore, type FlowStoreOptions, type ServeOptions, serveStore, type StoreServer } from '../src/index.ts'
import { CountingClassicLevel, tempDir } from './helpers.ts'

type Closable = { close (): Promise<void> }
const resources: Closable[] = []
afterEach(async () => {
  for (const resource of resources.splice(0).reverse()) await resource.close().catch(() => {})
})

/** Closes `resource` after the current test (in reverse order of registration). */
export function closeLater<T extends Closable> (resource: T): T {
  resources.push(resource)
  return resource
}

export interface Owner {
  readonly dir: string
  readonly store: FlowStore
  readonly server: StoreServer
  readonly db: InstanceType<typeof CountingClassicLevel>
}

export interface OwnerOptions extends FlowStoreOptions {
  /** Flows { id: 'f<i>', i } saved (and committed) before serving. */
  flows?: number
  maxMessageBytes?: number
  /** Further serveStore() options (the socket is advertised in the store's directory). */
  serve?: Omit<ServeOptions, 'advertise'>
}

/** A store on a counting classic-level database in a fresh directory, served and advertised there. */
export async function serveOwner (options: OwnerOptions = {}): Promise<Owner> {
  const { flows = 0, maxMessageBytes, serve, ...storeOptions } = options
  const dir = await tempDir()
  const db = closeLater(new CountingClassicLevel(dir, { keyEncoding: 'utf8', valueEncoding: 'view' }))
  const store = closeLater(await FlowStore.open(db, storeOptions))
  if (flows > 0) await store.saveMany(Array.from({ length: flows }, (_, i) => ({ id: `f${i}`, i })))
  const server = await serveStore(store, { ...serve, advertise: dir, maxMessageBytes })
  return { dir, store, server, db }
}

/** FlowService.connect(), closed after the test. */
export async function connectService<F extends Flow = Flow> (target: string, options?: ConnectOptions): Promise<FlowService<F>> {
  return closeLater(await FlowService.connect<F>(target, options))
}

/** The rejection reason of `promise` (fails the test if it fulfils). */
export async function rejectionOf (promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

/** A raw connection to an owner: send any bytes, see every message it answers. */
export interface RawConnection {
  readonly socket: Socket
  readonly messages: unknown[]
  /** Resolves when the owner has closed the connection. */
  readonly closed: Promise<void>
  send (message: unknown): void
  write (bytes: Uint8Array): void
}

export async function rawConnection (path: string): Promise<RawConnection> {
  const socket = connect(path)
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  socket.on('error', () => {})
  const messages: unknown[] = []
  const decoder = new UnpackrStream({ useRecords: false, mapsAsObjects: true })
  decoder.on('data', (message: unknown) => { messages.push(message) })
  decoder.on('error', () => {})
  socket.pipe(decoder)
  const closed = new Promise<void>((resolve) => { socket.once('close', () => { resolve() }) })
  const packr = new Packr({ useRecords: false })
  return {
    socket,
    messages,
    closed,
    send: (message) => { socket.write(packr.pack(message)) },
    write: (bytes) => { socket.write(bytes) }
  }
}
