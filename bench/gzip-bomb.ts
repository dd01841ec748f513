// A gzip bomb against restore: a small backup file that expands enormously and is refused
// only at its end (a wrong checksum in the trailer). Measures what refusing it costs: wall
// time, the restoring process's peak RSS, and the peak disk space used beside the target.
//
//   npx tsx bench/gzip-bomb.ts [--gib 2] [--kind zeros|flows] [--keep]
//
// --kind zeros: each record's flow bytes are 16 MiB of zero bytes (not even msgpack).
// --kind flows: each record is a well-formed flow ({ id, blob: "aaaa…" }, 16 MiB) whose id
// matches its record, so per-record checks pass and only the trailer is wrong.
// The restore runs in a child process (`restoreBackup(bomb, target)`); the parent samples the
// disk use of the target's parent directory every 20 ms while it runs.

import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import { createGzip } from 'node:zlib'
import { Packr } from 'msgpackr'

const { values } = parseArgs({
  options: {
    gib: { type: 'string', default: '2' },
    kind: { type: 'string', default: 'flows' },
    keep: { type: 'boolean', default: false },
    child: { type: 'string' }
  }
})

if (values.child !== undefined) {
  // The restoring process: prints its outcome and its peak RSS.
  const { restoreBackup } = await import('../src/index.ts')
  const [file, target] = values.child.split('\n') as [string, string]
  let outcome: string
  try {
    await restoreBackup(file, target)
    outcome = 'restored (!)'
  } catch (err) {
    const e = err as { code?: string, message?: string }
    outcome = `${e.code ?? 'error'}: ${String(e.message).slice(0, 160)}`
  }
  process.stdout.write(JSON.stringify({ outcome, maxRssBytes: process.resourceUsage().maxRSS * 1024 }) + '\n')
  process.exit(0)
}

const RECORD_BYTES = 16 * 1024 * 1024 - 1024
const packr = new Packr({ useRecords: false })

function frame (payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + payload.length)
  out.writeUInt32BE(payload.length, 0)
  out.set(payload, 4)
  return out
}

async function * content (records: number, kind: string): AsyncGenerator<Buffer> {
  const hash = createHash('sha256')
  const header = frame(packr.pack({ type: 'header', magic: 'FLOWSTORE-BACKUP', format: 1, kind: 'full', version: 1, baseVersion: 0, createdAt: new Date().toISOString() }))
  hash.update(header)
  yield header
  const blob = 'a'.repeat(RECORD_BYTES)
  for (let i = 0; i < records; i++) {
    const id = `bomb-${String(i).padStart(6, '0')}`
    const bytes = kind === 'zeros' ? new Uint8Array(RECORD_BYTES) : packr.pack({ id, blob })
    const record = frame(packr.pack({ id, version: 1, bytes }))
    hash.update(record)
    yield record
  }
  // A trailer with the right counts and a wrong checksum: refused only here, at the end.
  yield frame(packr.pack({ type: 'trailer', records, deletions: 0, sha256: '0'.repeat(64) }))
}

async function build (file: string, gib: number, kind: string): Promise<number> {
  const records = Math.round(gib * 1024 * 1024 * 1024 / RECORD_BYTES)
  await pipeline(Readable.from(content(records, kind)), createGzip({ level: 9 }), createWriteStream(file))
  // The fixed gzip header of a backup (MTIME 0, XFL 0, OS 255), as the reader insists.
  const handle = await import('node:fs/promises').then(async (fs) => await fs.open(file, 'r+'))
  await handle.write(Uint8Array.of(0, 0, 0, 0, 0, 0xff), 0, 6, 4)
  await handle.close()
  return records
}

async function diskUse (dir: string, skip: string): Promise<number> {
  let total = 0
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch {
    return 0
  }
  for (const entry of entries) {
    const path = join(dir, entry.name)
    if (path === skip) continue
    try {
      if (entry.isDirectory()) total += await diskUse(path, skip)
      else total += (await stat(path)).blocks * 512
    } catch {
      // removed while sampling
    }
  }
  return total
}

const gib = Number(values.gib)
const dir = await mkdtemp(join(tmpdir(), 'flowstore-bomb-'))
try {
  const bomb = join(dir, 'bomb.fsbk')
  const records = await build(bomb, gib, values.kind!)
  const size = (await stat(bomb)).size
  const target = join(dir, 'restored')
  let peakDisk = 0
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      peakDisk = Math.max(peakDisk, await diskUse(dir, bomb))
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })()
  const started = performance.now()
  const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', `${bomb}\n${target}`], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  await new Promise((resolve) => child.on('close', resolve))
  const seconds = (performance.now() - started) / 1000
  sampling = false
  await sampler
  const result = JSON.parse(out) as { outcome: string, maxRssBytes: number }
  const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`
  console.log(`bomb: ${mib(size)} file, ${records} record(s) of ${mib(RECORD_BYTES)} (${values.kind}), ${mib(records * RECORD_BYTES)} expanded`)
  console.log(`restore: ${result.outcome}`)
  console.log(`time ${seconds.toFixed(1)} s (child process, including its start), peak RSS ${mib(result.maxRssBytes)}, peak temp disk ${mib(peakDisk)}`)
  console.log(`left beside the target afterwards: ${JSON.stringify((await readdir(dir)).filter((name) => name !== 'bomb.fsbk'))}`)
} finally {
  if (values.keep !== true) await rm(dir, { recursive: true, force: true })
  else console.log(`kept ${dir}`)
}
