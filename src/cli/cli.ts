// The `flowstore` command line: finds the command, parses its arguments, runs it, prints
// the result (text, or one JSON object with --json) and turns the outcome into an exit code:
// 0 ok, 1 failure, 2 usage.

import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { isFlowStoreError } from '../index.ts'
import { isLevelCorruption, levelCorruptionError, namingDamagedFiles } from '../leveldb/corruption.ts'
import { type Command, commandHelp, EXIT_CODES_HELP, parseCommand, progressFor, stringOption } from './command.ts'
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
import { describeFailure, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type FailureContext, UsageError } from './errors.ts'
import { type Io, Output } from './output.ts'
import { didYouMean } from './suggest.ts'

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
  let context: FailureContext = {}
  try {
    if (command === undefined) {
      throw first.startsWith('-')
        ? new UsageError(`unknown option ${JSON.stringify(first)}${didYouMean(first.replace(/^-+/, ''), ['help', 'version'], (name) => `--${name}`)}`)
        : new UsageError(`unknown command ${JSON.stringify(first)}${didYouMean(first, COMMANDS.map((c) => c.name))}`)
    }
    const args = parseCommand(command, rest, COMMANDS)
    if (args.values.help === true) {
      io.stdout.write(commandHelp(command))
      return EXIT_OK
    }
    const store = command.store === 'first' ? args.positionals[0] : command.store === 'to' ? stringOption(args, 'to') : undefined
    context = { command: command.name, store: store === undefined ? undefined : resolve(store), whenLocked: command.whenLocked, overwriteFlag: command.overwriteFlag }
    const result = await command.run(args, { io, progress: progressFor(io) })
    out.result(result.json, result.text)
    return result.exitCode ?? EXIT_OK
  } catch (err) {
    if (err instanceof UsageError) {
      // One style for every usage error: "flowstore <command>: what is wrong", then where help is.
      const prefix = err.command === undefined ? 'flowstore:' : `flowstore ${err.command}:`
      const message = err.command === undefined ? err.message : err.message.replace(new RegExp(`^${err.command}: `), '')
      io.stderr.write(`${prefix} ${message}\n`)
      io.stderr.write(err.command === undefined ? 'Run "flowstore --help" for the commands.\n' : `Run "flowstore ${err.command} --help" for its usage.\n`)
      if (json) io.stdout.write(JSON.stringify({ ok: false, error: { code: 'USAGE', message } }) + '\n')
      return EXIT_USAGE
    }
    // LevelDB reporting damage, at open or while a command reads the store: FLOWSTORE_CORRUPT
    // naming the damaged files, with the way to repair it.
    let failure = !isFlowStoreError(err) && isLevelCorruption(err) ? levelCorruptionError(context.store, err) : err
    if (context.store !== undefined) failure = await namingDamagedFiles(context.store, failure)
    const described = describeFailure(failure, io.env.FLOWSTORE_DEBUG === '1', context)
    io.stderr.write(described.lines.join('\n') + '\n')
    if (json) io.stdout.write(JSON.stringify({ ok: false, error: { code: described.code ?? null, message: described.message } }) + '\n')
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
