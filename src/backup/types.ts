// Public types of backups: what a backup reports, how it is chosen, verified and restored.

/** What `store.backup()` returns, and what a backup file's header and trailer say. */
export interface BackupInfo {
  /** The backup file (absolute path); '-' for a backup written to a stream. */
  readonly file: string
  /** The store version the backup holds exactly. */
  readonly version: number
  /** For a changed-only backup, the version it is based on; 0 for a full backup. */
  readonly baseVersion: number
  /** 'full', or 'changes' for a changed-only backup. */
  readonly kind: 'full' | 'changes'
  /** Flow records in the backup. */
  readonly flows: number
  /** Deletions in the backup (always 0 for a full backup). */
  readonly deletions: number
  /** The file's size in bytes (compressed). */
  readonly bytes: number
  /** sha256 (hex) over the backup's uncompressed content, as stored in its trailer. */
  readonly checksum: string
  /** When the backup was taken (ISO 8601). */
  readonly createdAt: string
  /** How long taking it took, in milliseconds. */
  readonly durationMs: number
  /**
   * The identity of the store backed up (`store.storeId`). Undefined only for a backup file
   * written before backups recorded it. A changed-only backup applies only on a backup with
   * the same storeId.
   */
  readonly storeId?: string | undefined
}

/** Progress of long work (backup, restore, verify, import, export). */
export interface Progress {
  /** Records done so far. */
  readonly records: number
  /** Records in all, when known. */
  readonly total: number | undefined
  /** Bytes read or written so far. */
  readonly bytes: number
}

export interface BackupOptions {
  /**
   * Take a changed-only backup: only what changed after this version, or after an earlier
   * backup (its file path or its BackupInfo). An earlier backup must be one of this store
   * (the same storeId), else FLOWSTORE_BACKUP_CHAIN; a version is taken on trust.
   * @default undefined (a full backup)
   */
  since?: number | string | BackupInfo
  /**
   * gzip level, 1 (fastest) to 9 (smallest).
   * @default 3
   */
  compressionLevel?: number
  /**
   * Replace the file if it exists (a regular file only; never the file given as `since`).
   * Without it, an existing file is refused with FLOWSTORE_TARGET_EXISTS.
   * @default false
   */
  overwrite?: boolean
  /** Called now and then with the progress. */
  onProgress?: (progress: Progress) => void
}

export interface RestoreOptions {
  /**
   * Replace what is at the location: only a flowstore store (a directory holding nothing but
   * LevelDB's and flowstore's own files) or an empty directory; anything else is refused with
   * FLOWSTORE_TARGET_UNSAFE. Without it, a non-empty location is refused with
   * FLOWSTORE_TARGET_NOT_EMPTY.
   * @default false
   */
  overwrite?: boolean
  /** Called now and then with the progress. */
  onProgress?: (progress: Progress) => void
}

/** What `restoreBackup()` returns. */
export interface RestoreInfo {
  readonly location: string
  /** The store version restored. */
  readonly version: number
  /** Flows in the restored store. */
  readonly flows: number
  /** Backup files applied, in order. */
  readonly files: readonly string[]
  readonly durationMs: number
}

/** What `verifyBackup()` returns: ok, or the problems found. */
export interface BackupReport {
  readonly file: string
  readonly ok: boolean
  readonly kind: 'full' | 'changes' | undefined
  readonly version: number | undefined
  readonly baseVersion: number | undefined
  readonly flows: number
  readonly deletions: number
  readonly checksum: string | undefined
  /** The identity of the store backed up, from the header (undefined if unreadable or not recorded). */
  readonly storeId?: string | undefined
  readonly problems: readonly string[]
}
