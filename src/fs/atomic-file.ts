// The one way flowstore writes a file that must appear whole or not at all (backups, JSON
// exports, a backup directory's manifest): checked target, a temporary beside it created
// owner-only (0600), written, fsynced, then moved into place and the directory fsynced. On
// any failure, and on SIGINT/SIGTERM (interrupt-cleanup.ts), the temporary is removed; a
// temporary left by a killed process is removed by the next write of the same kind in that
// directory once its writer is provably gone (leftovers.ts).
//
// What may be replaced: only a regular file (a symbolic link to one: the file it points to,
// so the link stays), and only when asked (`overwrite`). A directory, a device, a FIFO, a
// socket or a dangling link is refused (FLOWSTORE_TARGET_UNSAFE) whatever the options: a
// rename over /dev/stdout or /dev/full would replace the device node itself. So is a file the
// same operation reads (the base of a changed-only backup), and a path inside a directory it
// reads (the store's own directory). Without `overwrite` the file is put in place with link(),
// which fails when the name exists: even a file created while the temporary was written is
// never replaced.
//
// Standard output (or any stream) is written by writeToStream(): streamed, no temporary.

import { createWriteStream, rmSync } from 'node:fs'
import { type FileHandle, link, lstat, mkdir, open, readlink, realpath, rename, rm, stat, unlink } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { Writable } from 'node:stream'
import { noop } from '../deferred.ts'
import { FlowStoreError } from '../errors.ts'
import { cleanUpOnInterrupt } from './interrupt-cleanup.ts'
import { errnoCode, ioError, isSystemError } from './io-error.ts'
import { removeStaleLeftovers } from './leftovers.ts'
import { isInside, realPathOf } from './paths.ts'
import { type TempKind, tempPath } from './temp-names.ts'

export interface AtomicFileOptions {
  /** What is written, for messages ("backup", "JSON export", "manifest"). */
  readonly what: string
  /** Its kind of temporary (temp-names.ts). */
  readonly kind: Extract<TempKind, 'backup' | 'export' | 'manifest'>
  /**
   * Replace an existing regular file.
   * @default false
   */
  readonly overwrite?: boolean
  /** How to ask for `overwrite`, for the message when the file exists. @default 'pass { overwrite: true }' */
  readonly overwriteHint?: string
  /**
   * Files and directories the same operation reads: a file among them is never replaced,
   * and nothing is written inside a directory among them.
   * @default []
   */
  readonly reads?: ReadonlyArray<string | undefined>
}

function unsafe (message: string): FlowStoreError {
  return new FlowStoreError('FLOWSTORE_TARGET_UNSAFE', message)
}

function describeType (stats: { isDirectory (): boolean, isCharacterDevice (): boolean, isBlockDevice (): boolean, isFIFO (): boolean, isSocket (): boolean }): string {
  if (stats.isDirectory()) return 'a directory'
  if (stats.isCharacterDevice()) return 'a character device'
  if (stats.isBlockDevice()) return 'a block device'
  if (stats.isFIFO()) return 'a named pipe (FIFO)'
  if (stats.isSocket()) return 'a socket'
  return 'not a regular file'
}

/**
 * Checks `file` as the target of a write and returns the path to write (the file a symbolic
 * link points to, or the file itself). Creates missing parent directories. Throws
 * FLOWSTORE_TARGET_UNSAFE, FLOWSTORE_TARGET_EXISTS or FLOWSTORE_IO_ERROR, naming `file`.
 */
export async function checkFileTarget (file: string, options: AtomicFileOptions): Promise<string> {
  const absolute = resolve(file)
  const what = options.what
  let stats
  try {
    stats = await lstat(absolute)
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw ioError(err, `Checking the ${what} target`, absolute)
  }
  let target = absolute
  if (stats?.isSymbolicLink() === true) {
    try {
      stats = await stat(absolute)
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw ioError(err, `Checking the ${what} target`, absolute)
      const points = await readlink(absolute).catch(() => '?')
      throw unsafe(`Cannot write the ${what} to ${absolute}: it is a symbolic link to nothing (${points}); remove the link or choose another name`)
    }
    // Only a link to a regular file is followed (/proc/self/fd/1 has no real path to follow).
    if (stats.isFile()) {
      try {
        target = await realpath(absolute)
      } catch (err) {
        throw ioError(err, `Checking the ${what} target`, absolute)
      }
    }
  }
  const real = stats === undefined ? await realPathOf(absolute) : target
  for (const read of options.reads ?? []) {
    if (read === undefined) continue
    const readStats = await stat(read).catch(() => undefined)
    if (readStats === undefined) continue
    if (readStats.isDirectory()) {
      if (isInside(real, await realPathOf(read))) {
        throw unsafe(`Cannot write the ${what} to ${absolute}: it is inside ${resolve(read)}, which this operation reads (a store's directory holds only the store's own files)`)
      }
    } else if (stats !== undefined && readStats.dev === stats.dev && readStats.ino === stats.ino) {
      throw unsafe(`Cannot write the ${what} to ${absolute}: it is the file this operation reads (${resolve(read)}); write it under another name`)
    }
  }
  if (stats !== undefined) {
    if (!stats.isFile()) {
      throw unsafe(`Cannot write the ${what} to ${absolute}: it is ${describeType(stats)}, not a regular file (flowstore replaces only regular files; for standard output use "-")`)
    }
    if (options.overwrite !== true) {
      throw new FlowStoreError('FLOWSTORE_TARGET_EXISTS', `${absolute} already exists; ${options.overwriteHint ?? 'pass { overwrite: true }'} to replace it`)
    }
    return target
  }
  const parent = dirname(absolute)
  try {
    await mkdir(parent, { recursive: true })
  } catch (err) {
    throw ioError(err, `Creating the directory ${parent} for the ${what}`, absolute)
  }
  return absolute
}

/**
 * Writes `file` atomically: `write` gets a stream into a temporary beside the target and must
 * end it (a pipeline does); the file appears under its name only once complete and fsynced.
 * Resolves with what `write` resolved with. File-system failures are FLOWSTORE_IO_ERROR
 * naming `file`; other errors from `write` pass through. Nothing is left behind on failure.
 */
export async function writeFileAtomically<T> (file: string, write: (out: Writable) => Promise<T>, options: AtomicFileOptions): Promise<T> {
  const absolute = resolve(file)
  const target = await checkFileTarget(absolute, options)
  const directory = dirname(target)
  await removeStaleLeftovers(directory, [options.kind]).catch(noop)
  const temp = tempPath(target, options.kind)
  const forget = cleanUpOnInterrupt(() => { rmSync(temp, { force: true }) })
  // The stream closes its descriptor when it finishes; the fsync is done on a new one
  // (a FileHandle's own write stream leaves later calls on that handle hanging on Node 20).
  const stream = createWriteStream(temp, { flags: 'wx', mode: 0o600, highWaterMark: 1024 * 1024 })
  try {
    const result = await write(stream)
    const handle = await open(temp, 'r+')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
    if (options.overwrite === true) await replace(temp, target, absolute, options.what)
    else await putNew(temp, target)
    await syncDirectory(directory)
    return result
  } catch (err) {
    stream.destroy()
    // The stream opens its file asynchronously: a write that fails at once may come before
    // the open, which would create the temporary after it was removed. Wait for the close.
    if (!stream.closed) await new Promise<void>((resolve) => { stream.once('close', () => { resolve() }) })
    await rm(temp, { force: true }).catch(noop)
    if (errnoCode(err) === 'EEXIST' && options.overwrite !== true) {
      throw new FlowStoreError('FLOWSTORE_TARGET_EXISTS', `${absolute} was created by someone else while the ${options.what} was written; it was left as it is. ${options.overwriteHint ?? 'Pass { overwrite: true }'} to replace it`, { cause: err })
    }
    throw isSystemError(err) ? ioError(err, `Writing the ${options.what}`, absolute) : err
  } finally {
    forget()
  }
}

/** Moves `temp` to the name `target`, which must not exist (link() refuses an existing name). */
async function putNew (temp: string, target: string): Promise<void> {
  try {
    await link(temp, target)
  } catch (err) {
    const code = errnoCode(err)
    // A file system without hard links: the target was checked absent before writing.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw err
    if (await lstat(target).then(() => true, () => false)) throw Object.assign(new Error(`${target} exists`), { code: 'EEXIST' })
    await rename(temp, target)
    return
  }
  await unlink(temp)
}

/** Replaces the regular file `target` with `temp`, checking again just before that it is one. */
async function replace (temp: string, target: string, shown: string, what: string): Promise<void> {
  const stats = await lstat(target).catch(() => undefined)
  if (stats !== undefined && !stats.isFile()) {
    throw unsafe(`Cannot write the ${what} to ${shown}: it became ${describeType(stats)} while the ${what} was written`)
  }
  await rename(temp, target)
}

/**
 * Streams into `stream` (standard output, a socket, a pipe): `write` gets a stream that passes
 * everything on with backpressure and, when ended, leaves `stream` open. No temporary.
 */
export async function writeToStream<T> (stream: NodeJS.WritableStream, write: (out: Writable) => Promise<T>, what: string): Promise<T> {
  const out = new Writable({
    highWaterMark: 1024 * 1024,
    write (chunk: Buffer, _encoding, callback) {
      stream.write(chunk, (err) => { callback(err ?? undefined) })
    }
  })
  try {
    return await write(out)
  } catch (err) {
    if (!isSystemError(err)) throw err
    // Nothing can be taken back from a stream: say that what it got is unusable (a reader
    // that stopped early, `| head`, got a beginning only).
    const failure = ioError(err, `Writing the ${what} to`, 'the output stream')
    throw new FlowStoreError('FLOWSTORE_IO_ERROR', `${failure.message}; what it received is incomplete and must not be used`, { cause: err })
  }
}

/** True for something writeToStream() takes: a writable stream rather than a path. */
export function isWritableStream (value: unknown): value is NodeJS.WritableStream {
  return typeof value === 'object' && value !== null && typeof (value as { write?: unknown }).write === 'function' &&
    typeof (value as { on?: unknown }).on === 'function'
}

/** fsyncs a directory so a rename in it is durable; a no-op where that is not possible. */
export async function syncDirectory (directory: string): Promise<void> {
  let handle: FileHandle | undefined
  try {
    handle = await open(directory, 'r')
    await handle.sync()
  } catch {
    // Some platforms (Windows) cannot fsync a directory; the rename is still atomic.
  } finally {
    await handle?.close().catch(noop)
  }
}
