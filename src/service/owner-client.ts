// A control connection to an owner, for tools that need its store's figures or a backup but
// not its flows (the CLI's `stats` and `backup` on a live store): no cache, no load at
// connect. FlowService uses the same requests over its own connection.

import { resolve } from 'node:path'
import type { BackupEntry, DirectoryBackupOptions } from '../backup/retention.ts'
import type { BackupInfo, BackupOptions } from '../backup/types.ts'
import { type Counters, DEFAULT_REQUEST_TIMEOUT_MS, OwnerConnection } from './connection.ts'
import { isPlainObject, type OwnerStats, parseOwnerStats, ProtocolViolation } from './protocol.ts'

/** Backup options that travel to an owner (progress stays in the owner's process). */
export type RemoteBackupOptions = Pick<BackupOptions, 'since' | 'compressionLevel' | 'overwrite'>
/** Options of a backup into a backup directory that travel to an owner. */
export type RemoteDirectoryBackupOptions = Pick<DirectoryBackupOptions, 'full' | 'compressionLevel'>

export class OwnerClient {
  readonly #connection: OwnerConnection
  readonly counters: Counters

  /** Connects to the owner of `target` (a database directory or the socket path). */
  static async connect (target: string): Promise<OwnerClient> {
    const counters: Counters = { messagesSent: 0, messagesReceived: 0 }
    const connection = await OwnerConnection.open(target, { maxMessageBytes: undefined, requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS, counters, onEvent: () => {}, onLost: () => {} })
    return new OwnerClient(connection, counters)
  }

  private constructor (connection: OwnerConnection, counters: Counters) {
    this.#connection = connection
    this.counters = counters
  }

  get socketPath (): string {
    return this.#connection.socketPath
  }

  /** The owner's process id and its store version when this client connected. */
  get owner (): { readonly pid: number, readonly version: number } {
    const { pid, version } = this.#connection.hello
    return { pid, version }
  }

  async stats (): Promise<OwnerStats> {
    return await this.#connection.request('stats', {}, parseOwnerStats)
  }

  /** The owner writes a backup of its store to `file` while it keeps serving. */
  async backup (file: string, options: RemoteBackupOptions = {}): Promise<BackupInfo> {
    return await this.#connection.request('backup', backupParams(file, options), parseBackupInfo)
  }

  /**
   * The owner takes a backup into the backup directory `dir` (see backupToDirectory():
   * changed-only against the latest backup of its store there, listed in the manifest).
   */
  async backupToDirectory (dir: string, options: RemoteDirectoryBackupOptions = {}): Promise<BackupEntry> {
    if (typeof dir !== 'string' || dir.length === 0) throw new TypeError(`backupToDirectory() needs a directory path, got ${String(dir)}`)
    const params: Record<string, unknown> = { dir: resolve(dir) }
    if (options.full !== undefined) params.full = options.full
    if (options.compressionLevel !== undefined) params.compressionLevel = options.compressionLevel
    return await this.#connection.request('backup-to-directory', params, parseBackupEntry)
  }

  async close (): Promise<void> {
    await this.#connection.close()
  }

  async [Symbol.asyncDispose] (): Promise<void> {
    await this.close()
  }
}

/** The parameters of a backup request: paths made absolute here, a BackupInfo as its version. */
export function backupParams (file: string, options: RemoteBackupOptions): Record<string, unknown> {
  if (typeof file !== 'string' || file.length === 0) throw new TypeError(`backup() needs a file path, got ${String(file)}`)
  const since = options.since
  const params: Record<string, unknown> = { file: resolve(file) }
  if (typeof since === 'number') params.since = since
  else if (typeof since === 'string') params.since = resolve(since)
  // A BackupInfo goes as its file, so the owner checks the store identity; its version only
  // when it has no file.
  else if (isPlainObject(since) && typeof since.file === 'string') params.since = resolve(since.file)
  else if (isPlainObject(since) && typeof since.version === 'number') params.since = since.version
  else if (since !== undefined) throw new TypeError(`since must be a version, a backup file or a BackupInfo, got ${typeof since}`)
  if (options.compressionLevel !== undefined) params.compressionLevel = options.compressionLevel
  // Sent only when set, so an owner of an earlier version still takes other backups.
  if (options.overwrite === true) params.overwrite = true
  return params
}

export function parseBackupInfo (result: unknown): BackupInfo {
  if (!isPlainObject(result) || typeof result.file !== 'string' || typeof result.version !== 'number' || typeof result.checksum !== 'string') {
    throw new ProtocolViolation('backup: the answer is not a BackupInfo')
  }
  return Object.freeze({ ...result }) as unknown as BackupInfo
}

export function parseBackupEntry (result: unknown): BackupEntry {
  const info = parseBackupInfo(result) as BackupInfo & { base?: unknown }
  if (info.base !== null && info.base !== undefined && typeof info.base !== 'string') {
    throw new ProtocolViolation('backup-to-directory: the answer is not a backup entry')
  }
  return Object.freeze({ ...info, base: info.base ?? undefined }) as BackupEntry
}
