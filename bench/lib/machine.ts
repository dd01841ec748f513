// The machine and software a run was measured on, for the results files.

import { readFileSync } from 'node:fs'
import { availableParallelism, cpus, release, totalmem } from 'node:os'
import { join } from 'node:path'

export interface MachineInfo {
  readonly cpu: string
  readonly cores: number
  readonly ramBytes: number
  readonly node: string
  readonly v8: string
  readonly os: string
  readonly packages: Record<string, string>
}

const PACKAGES = ['classic-level', 'msgpackr', 'tinybench', 'tsx'] as const

export function machineInfo (root: string): MachineInfo {
  const list = cpus()
  const packages: Record<string, string> = {}
  for (const name of PACKAGES) {
    try {
      const pkg = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version?: string }
      packages[name] = pkg.version ?? '?'
    } catch {
      packages[name] = 'missing'
    }
  }
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    ramBytes: totalmem(),
    node: process.version,
    v8: process.versions.v8,
    os: `${process.platform} ${release()} ${process.arch}`,
    packages
  }
}
