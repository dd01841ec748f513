// Temporary files and directories removed when the process is interrupted. A backup, export
// or restore writes under a hidden temporary name beside its target; Ctrl-C (SIGINT) or
// SIGTERM would otherwise end the process with that temporary left behind (a backup can
// leave tens of megabytes).
//
// While at least one cleanup is registered, one listener per signal is installed. On the
// signal, when nobody else listens for it (a command-line run), every cleanup runs
// synchronously and the signal is raised again with flowstore's listeners removed, so the
// process ends exactly as it would have (killed by the signal, exit status 128 + n). When the
// application has listeners of its own, it decides what the signal means; flowstore cleans up
// only if the process then exits ('exit' runs the cleanups too). A cleanup must be
// synchronous: nothing asynchronous runs after 'exit' or after the signal is raised again.
//
// Signal listeners belong to the process, so the registry is process-wide by nature; it is
// kept on globalThis under a registered symbol (like the open-location guard in
// location.ts), so that two copies of flowstore loaded in one process share one listener.

import { existsSync, renameSync, rmSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { parseTempName, tempPath } from './temp-names.ts'

const SIGNALS = ['SIGINT', 'SIGTERM'] as const
const REGISTRY = Symbol.for('flowstore.interrupt-cleanups')

interface Registry {
  readonly cleanups: Set<() => void>
  listeners: { readonly signal: Map<NodeJS.Signals, (signal: NodeJS.Signals) => void>, readonly exit: () => void } | undefined
}

function registry (): Registry {
  const holder = globalThis as { [REGISTRY]?: Registry }
  holder[REGISTRY] ??= { cleanups: new Set(), listeners: undefined }
  return holder[REGISTRY]
}

function runAll (reg: Registry): void {
  for (const cleanup of [...reg.cleanups]) {
    reg.cleanups.delete(cleanup)
    try {
      cleanup()
    } catch {
      // Best effort on the way out: the next run of the same kind removes stale leftovers.
    }
  }
}

function install (reg: Registry): void {
  if (reg.listeners !== undefined) return
  const signal = new Map<NodeJS.Signals, (signal: NodeJS.Signals) => void>()
  const onSignal = (name: NodeJS.Signals): void => {
    // Someone else listens: the application decides whether this ends the process.
    if (process.listenerCount(name) > 1) return
    runAll(reg)
    uninstall(reg)
    process.kill(process.pid, name)
  }
  for (const name of SIGNALS) {
    signal.set(name, onSignal)
    process.on(name, onSignal)
  }
  const exit = (): void => { runAll(reg) }
  process.on('exit', exit)
  reg.listeners = { signal, exit }
}

function uninstall (reg: Registry): void {
  const listeners = reg.listeners
  if (listeners === undefined) return
  for (const [name, listener] of listeners.signal) process.removeListener(name, listener)
  process.removeListener('exit', listeners.exit)
  reg.listeners = undefined
}

/**
 * Runs `cleanup` (synchronously) if the process is interrupted by SIGINT or SIGTERM, or
 * exits, before the returned function is called. Call the returned function once the
 * temporary is gone or has become the real thing.
 */
export function cleanUpOnInterrupt (cleanup: () => void): () => void {
  const reg = registry()
  reg.cleanups.add(cleanup)
  install(reg)
  return () => {
    reg.cleanups.delete(cleanup)
    if (reg.cleanups.size === 0) uninstall(reg)
  }
}

/**
 * Removes a directory tree synchronously, for a cleanup. A store being built there may still
 * have LevelDB working on it in its own threads: a compaction keeps creating files while the
 * tree is removed (the removal then fails: the directory is not empty), and an open in
 * progress creates the directory again right after it was removed. So the tree is first
 * renamed out of the way (LevelDB's threads name files by the old path: what they create next
 * fails instead of landing in it) under a fresh temporary name of its kind, then removed; and this is repeated until the path has
 * stayed gone for a moment (at most about a second: the process is being interrupted).
 */
export function removeTreeSync (path: string): void {
  const pause = new Int32Array(new SharedArrayBuffer(4))
  let goneSince: number | undefined
  for (let round = 0; round < 50; round++) {
    if (existsSync(path)) {
      goneSince = undefined
      // Aside under a temporary name of the same kind, so that if it cannot be removed now,
      // the leftover listing reports it and the next run of its kind removes it.
      const parsed = parseTempName(basename(path))
      const aside = parsed === undefined ? `${path}.removing-${round}` : tempPath(join(dirname(path), parsed.target), parsed.kind)
      try {
        renameSync(path, aside)
        rmSync(aside, { recursive: true, force: true, maxRetries: 5, retryDelay: 5 })
      } catch {
        // Tried again next round.
      }
    } else {
      goneSince ??= performance.now()
      if (performance.now() - goneSince >= 60) return
    }
    Atomics.wait(pause, 0, 0, 20)
  }
}
