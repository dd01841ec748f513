// flowstore verify <backup>...: reads backups to the end and checks everything a restore
// would; exit 1 when any has a problem.

import { stat } from 'node:fs/promises'
import { type BackupReport, type Leftover, listBackups, listLeftovers, verifyBackup } from '../../index.ts'
import { type Command, expectPositionals } from '../command.ts'
import { isDirectory } from '../database.ts'
import { EXIT_FAILURE, EXIT_OK } from '../errors.ts'
import { leftoverLines } from '../leftovers.ts'
import { formatCount } from '../output.ts'

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'check backups completely (gzip, header, every record, counts, checksum)',
  synopsis: '<backup|dir>... [options]',
  description: [
    'Reads each backup to the end and checks what a restore would: the gzip stream, the',
    'header, every record, the record counts and the sha256 checksum. A backup directory',
    'stands for every backup its manifest lists (their checksums are compared with the',
    'manifest too), and what interrupted runs left there is listed. Exits 1 if any backup has',
    'a problem.'
  ],
  options: {},
  examples: [
    'flowstore verify ./backups/flowstore-120-full-20250101T000000000Z.fsbk',
    'flowstore verify ./backups --json'
  ],
  async run (args, { progress }) {
    const targets = expectPositionals(this, args, 1, Infinity, '<backup|dir>...')
    // Every file first, so that the progress line has a total (files, bytes) and an ETA.
    const files: Array<{ file: string, checksum?: string }> = []
    const leftovers: Leftover[] = []
    for (const target of targets) {
      if (await isDirectory(target)) {
        leftovers.push(...await listLeftovers(target))
        files.push(...(await listBackups(target)).map((entry) => ({ file: entry.file, checksum: entry.checksum })))
      } else {
        files.push({ file: target })
      }
    }
    const sizes = await Promise.all(files.map(async ({ file }) => await stat(file).then((info) => info.size, () => 0)))
    const totalBytes = sizes.reduce((sum, size) => sum + size, 0)
    const line = progress(files.length === 1 ? 'verify' : `verify ${files.length} backups`)
    const reports: BackupReport[] = []
    let records = 0
    let bytes = 0
    try {
      for (const [i, { file, checksum }] of files.entries()) {
        const report = await verifyBackup(file, {
          onProgress: (p) => { line.update({ records: records + p.records, bytes: bytes + p.bytes, totalBytes, unit: 'records' }) }
        })
        records += report.flows + report.deletions
        bytes += sizes[i]!
        line.update({ records, bytes, totalBytes, unit: 'records' })
        const mismatch = checksum !== undefined && report.ok && report.checksum !== checksum
        reports.push(mismatch ? { ...report, ok: false, problems: [`its checksum ${report.checksum} differs from the manifest's ${checksum}`] } : report)
      }
    } finally {
      line.done()
    }
    const ok = reports.every((report) => report.ok)
    const text: string[] = []
    for (const report of reports) {
      if (report.ok) {
        const kind = report.kind === 'full' ? 'full' : `changed-only since version ${report.baseVersion}`
        text.push(`ok   ${report.file}  ${kind}, version ${report.version}, ${formatCount(report.flows)} flow(s), ${formatCount(report.deletions)} deletion(s)`)
      } else {
        text.push(`BAD  ${report.file}`, ...report.problems.map((problem) => `       ${problem}`))
      }
    }
    if (reports.length === 0) text.push('no backups to verify')
    else text.push(ok ? `${reports.length} backup(s) ok` : `${reports.filter((r) => !r.ok).length} of ${reports.length} backup(s) have problems`)
    text.push(...leftoverLines(leftovers))
    return { json: { ok, backups: reports, leftovers }, text, exitCode: ok ? EXIT_OK : EXIT_FAILURE }
  }
}
