// The `flowstore` command line: finds the command, parses its arguments, runs it, prints
// the result (text, or one JSON object with --json) and turns the outcome into an exit code:
// 0 ok, 1 failure, 2 usage.

import { readFileSync } from 'node:fs'
import { type Command, commandHelp, EXIT_CODES_HELP, parseCommand, progressFor } from './command.ts'
import { backupCommand } from './commands/backup.ts'
import { checkCommand } from './commands/check.ts'
import { exportCommand } from './commands/export.ts'
import { importCommand } from './commands/import.ts'
import { listCommand } from './commands/list.ts'
import { pruneCommand } from './commands/prune.ts'
import { repairCommand } from './commands/repair.ts'
import { restoreCommand } from './commands/restore.ts'
import { statsCommand } from './commands/stats.ts'
import { verifyCommand } from './commands/verify.ts'
import { describeFailure, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './errors.ts'
import { type Io, Output } from './output.ts'

export const COMMANDS: readonly Command[] = [
  backupCommand, restoreCommand, verifyCommand, listCommand, pruneCommand,
  importCommand, exportCommand, statsCommand, checkCommand, repairCommand
]

/** Runs one command line (without the `node flowstore` part); resolves with the exit code. */
export async function runCli (argv: readonly string[], io: Io): Promise<number> {
  const [first, ...rest] = argv
  if (first === undefined) {
    io.stderr.write(globalHelp())
    return EXIT_USAGE
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined
    const command = COMMANDS.find((c) => c.name === topic)
    io.stdout.write(command === undefined ? globalHelp() : commandHelp(command))
    return EXIT_OK
  }
  if (first === '--version' || first === '-v') {
    io.stdout.write(`${version()}\n`)
    return EXIT_OK
  }
  const json = rest.includes('--json')
  const out = new Output(io, json)
  const command = COMMANDS.find((c) => c.name === first)
  try {
    if (command === undefined) {
      throw new UsageError(first.startsWith('-') ? `unknown option ${JSON.stringify(first)}` : `unknown command ${JSON.stringify(first)}`)
    }
    const args = parseCommand(command, rest)
    if (args.values.help === true) {
      io.stdout.write(commandHelp(command))
      return EXIT_OK
    }
    const result = await command.run(args, { io, progress: progressFor(io) })
    out.result(result.json, result.text)
    return result.exitCode ?? EXIT_OK
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`flowstore: ${err.message}\n`)
      io.stderr.write(err.command === undefined ? 'Run "flowstore --help" for the commands.\n' : `Run "flowstore ${err.command} --help" for its usage.\n`)
      if (json) io.stdout.write(JSON.stringify({ ok: false, error: { code: 'USAGE', message: err.message } }) + '\n')
      return EXIT_USAGE
    }
    const failure = describeFailure(err, io.env.FLOWSTORE_DEBUG === '1')
    io.stderr.write(failure.lines.join('\n') + '\n')
    if (json) io.stdout.write(JSON.stringify({ ok: false, error: { code: failure.code ?? null, message: failure.message } }) + '\n')
    return EXIT_FAILURE
  }
}

export function globalHelp (): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  return [
    'Usage: flowstore <command> [arguments] [options]',
    '',
    'Backs up, restores, verifies, checks, repairs and migrates flowstore databases (LevelDB directories).',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    '  -h, --help     show help (also "flowstore <command> --help")',
    '  -v, --version  print the version',
    '      --json     (any command) print the result as one JSON object on stdout',
    '',
    'Examples:',
    '  flowstore backup ./data/flows-db ./backups          # into a directory: full or changed-only',
    '  flowstore verify ./backups/*.fsbk',
    '  flowstore restore ./backups --to ./restored-db',
    '  flowstore import ./flows.json --to ./data/flows-db',
    '  flowstore stats ./data/flows-db --json',
    '  flowstore check ./data/flows-db                    # exit 1 when damaged; then:',
    '  flowstore repair ./data/flows-db                   # keeps the original aside',
    '',
    'A progress line is drawn on stderr for long work when stderr is a terminal.',
    'Set FLOWSTORE_DEBUG=1 to print stack traces on errors.',
    EXIT_CODES_HELP,
    ''
  ].join('\n')
}

function version (): string {
  // The same relative path from src/cli/ and from dist/cli/.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}
