// Path questions asked before writing: is one path inside another, and where does a path
// really lead (symbolic links resolved, also for a path that does not exist yet).

import { realpath } from 'node:fs/promises'
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path'

/** True when `path` is `directory` or lies under it (both absolute, comparable). */
export function isInside (path: string, directory: string): boolean {
  const rel = relative(directory, path)
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel))
}

/** The real path of `path`, or of its nearest existing ancestor joined with the rest. */
export async function realPathOf (path: string): Promise<string> {
  try {
    return await realpath(path)
  } catch {
    const parent = dirname(path)
    return parent === path ? path : join(await realPathOf(parent), basename(path))
  }
}
