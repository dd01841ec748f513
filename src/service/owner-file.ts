// Where an owner's socket lives, how it is advertised, and the checks a client makes before
// it trusts one.
//
// The socket: by default `<db>/flowstore-owner/socket`, inside a directory created 0700, so
// no other user can reach the socket even in the instant between bind() and the chmod to
// 0600 that follows it (the socket file is created with the process umask). When that path
// is too long for a unix socket address (sun_path: 108 bytes on Linux, 104 on macOS), the
// private directory is a fresh mkdtemp() directory (always 0700) under os.tmpdir().
//
// The advertisement: `<db>/OWNER.json` = { socket, pid, instance, protocol }, written to a
// temp file and renamed into place, removed by the owner that wrote it when it stops. A
// crashed owner leaves it behind: clients then find no one listening (FLOWSTORE_DISCONNECTED)
// until a new owner overwrites it.

import { randomBytes } from 'node:crypto'
import { chmod, lstat, mkdir, mkdtemp, readFile, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { connect } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { FlowStoreError } from '../errors.ts'
import { isPlainObject } from './protocol.ts'

export const OWNER_FILE = 'OWNER.json'
const SOCKET_DIR = 'flowstore-owner'
const SOCKET_NAME = 'socket'
/** The longest socket path every platform we run on accepts (macOS: 104 bytes with the NUL). */
export const MAX_SOCKET_PATH_BYTES = 103

export interface Advertisement {
  readonly socket: string
  readonly pid: number
  readonly instance: string
  readonly protocol: number
}

/** A socket path chosen for an owner, and the private directory to remove when it stops. */
export interface SocketPlace {
  readonly path: string
  /** The directory flowstore created for it (removed on close), if any. */
  readonly privateDir: string | undefined
}

/** Prepares the private directory of the default socket of the store in `directory`. */
export async function defaultSocketPlace (directory: string | undefined): Promise<SocketPlace> {
  if (directory !== undefined) {
    const dir = join(directory, SOCKET_DIR)
    const path = join(dir, SOCKET_NAME)
    if (Buffer.byteLength(path) <= MAX_SOCKET_PATH_BYTES) {
      await privateDirectory(dir)
      // Only the owner of the database (LevelDB's lock) gets here: a socket left behind is
      // a crashed owner's, unless this very process serves the store already.
      if (await probeSocket(path) === 'live') {
        throw new FlowStoreError('FLOWSTORE_LOCKED', `The store at ${directory} is already served (at ${path}): close that server before serving it again`)
      }
      await unlink(path).catch(ignoreMissing)
      return { path, privateDir: dir }
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'flowstore-'))
  return { path: join(dir, SOCKET_NAME), privateDir: dir }
}

/** Creates `dir` 0700, or checks that the existing one is a directory of ours and makes it 0700. */
async function privateDirectory (dir: string): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o700 })
    return
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  const info = await lstat(dir)
  const uid = process.getuid?.()
  if (!info.isDirectory() || (uid !== undefined && info.uid !== uid)) {
    throw new FlowStoreError('FLOWSTORE_UNSAFE_SOCKET', `${dir} is not a directory of this user; remove it so that the owner can create its private socket directory`)
  }
  if ((info.mode & 0o777) !== 0o700) await chmod(dir, 0o700)
}

/**
 * What is at `path`: a socket something listens on ('live'), a socket nobody listens on, left
 * by an owner that crashed ('stale'), or neither ('none').
 */
export async function probeSocket (path: string): Promise<'live' | 'stale' | 'none'> {
  const info = await lstat(path).catch(() => undefined)
  if (info?.isSocket() !== true) return 'none'
  return await new Promise((resolve) => {
    const probe = connect(path)
    probe.once('connect', () => { probe.destroy(); resolve('live') })
    probe.once('error', (err: NodeJS.ErrnoException) => { resolve(err.code === 'ECONNREFUSED' ? 'stale' : 'none') })
  })
}

/** Whether the OWNER.json in `directory` names a socket that answers (a live owner). */
export async function alreadyServed (directory: string): Promise<boolean> {
  const ad = await readAdvertisement(join(directory, OWNER_FILE)).catch(() => undefined)
  return ad !== undefined && await probeSocket(resolve(directory, ad.socket)) === 'live'
}

/** The identity of the socket file this owner bound, to remove it and nothing else. */
export async function socketIdentity (path: string): Promise<string> {
  const info = await lstat(path)
  return `${info.dev}:${info.ino}`
}

/**
 * Removes what defaultSocketPlace() made. Closing the server already unlinks its socket;
 * a socket still there is removed only if it is the one this owner bound (`identity`): a
 * new owner may already listen at the same path.
 */
export async function removeSocketPlace (place: SocketPlace, identity?: string): Promise<void> {
  const current = await socketIdentity(place.path).catch(() => undefined)
  if (current !== undefined && current === identity) await unlink(place.path).catch(ignoreMissing)
  // Left in place if something else was put in it.
  if (place.privateDir !== undefined) await rmdir(place.privateDir).catch(() => {})
}

/** Writes `<directory>/OWNER.json` atomically (temp file + rename). */
export async function advertise (directory: string, ad: Advertisement): Promise<string> {
  const file = join(directory, OWNER_FILE)
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    await writeFile(temp, JSON.stringify(ad) + '\n', { mode: 0o644 })
    await rename(temp, file)
  } catch (err) {
    await rm(temp, { force: true })
    throw err
  }
  return file
}

/** Removes `<directory>/OWNER.json` if it still names this owner `instance`. */
export async function withdraw (file: string, instance: string): Promise<void> {
  const current = await readAdvertisement(file).catch(() => undefined)
  if (current?.instance === instance) await unlink(file).catch(ignoreMissing)
}

async function readAdvertisement (file: string): Promise<Advertisement> {
  const parsed: unknown = JSON.parse(await readFile(file, 'utf8'))
  if (!isPlainObject(parsed) || typeof parsed.socket !== 'string' || parsed.socket.length === 0) {
    throw new Error(`${file} does not name a socket`)
  }
  return {
    socket: parsed.socket,
    pid: typeof parsed.pid === 'number' ? parsed.pid : 0,
    instance: typeof parsed.instance === 'string' ? parsed.instance : '',
    protocol: typeof parsed.protocol === 'number' ? parsed.protocol : 0
  }
}

/**
 * The socket a client should connect to for `target`: a socket path itself, a database
 * directory (its OWNER.json), or an OWNER.json file. Checked to be owner-only.
 */
export async function resolveSocket (target: string): Promise<string> {
  const absolute = resolve(target)
  let info
  try {
    info = await stat(absolute)
  } catch (cause) {
    throw disconnected(`Nothing at ${absolute}: give a database directory served by its owner (serveStore()) or the owner's socket path`, cause)
  }
  let socket = absolute
  if (!info.isSocket()) {
    const file = info.isDirectory() ? join(absolute, OWNER_FILE) : absolute
    let ad: Advertisement
    try {
      ad = await readAdvertisement(file)
    } catch (cause) {
      throw disconnected(`No owner serves ${info.isDirectory() ? `the database at ${absolute}` : absolute} (no readable ${OWNER_FILE}): the process that opened it must serve it (serveStore())`, cause)
    }
    socket = resolve(dirname(file), ad.socket)
  }
  await checkSocket(socket)
  return socket
}

/** Refuses a socket another user could reach or replace (FLOWSTORE_UNSAFE_SOCKET). */
export async function checkSocket (path: string): Promise<void> {
  let info
  try {
    info = await lstat(path)
  } catch (cause) {
    throw disconnected(`The owner's socket ${path} is gone (the owner stopped or crashed)`, cause)
  }
  if (!info.isSocket()) throw new FlowStoreError('FLOWSTORE_UNSAFE_SOCKET', `${path} is not a socket`)
  const uid = process.getuid?.()
  if (uid !== undefined && info.uid !== uid) {
    throw new FlowStoreError('FLOWSTORE_UNSAFE_SOCKET', `The socket ${path} belongs to user ${info.uid}, not to this user (${uid}); refusing to talk to it`)
  }
  const mode = info.mode & 0o777
  if (mode !== 0o600) {
    throw new FlowStoreError('FLOWSTORE_UNSAFE_SOCKET', `The socket ${path} has mode ${mode.toString(8).padStart(4, '0')}; an owner's socket must be 0600 (owner-only), refusing to talk to it`)
  }
}

export function disconnected (message: string, cause?: unknown): FlowStoreError {
  return new FlowStoreError('FLOWSTORE_DISCONNECTED', message, { cause })
}

function ignoreMissing (err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
}
