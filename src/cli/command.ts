// What a command is: its usage, options (declared once, for util.parseArgs and for --help),
// examples and run function; plus the parsing and help text every command shares.

import { parseArgs } from 'node:util'
import { isParseArgsError, UsageError } from './errors.ts'
import { ProgressLine } from './progress.ts'
import type { Io } from './output.ts'

export interface OptionSpec {
  readonly type: 'string' | 'boolean'
  readonly short?: string
  /** The value's placeholder in help, e.g. `<n>`. */
  readonly value?: string
  readonly help: string
}

/** Options every command takes. */
export const COMMON_OPTIONS = {
  json: { type: 'boolean', help: 'print the result as one JSON object on stdout (for scripts)' },
  help: { type: 'boolean', short: 'h', help: 'show this help' }
} as const satisfies Record<string, OptionSpec>

export interface CommandContext {
  readonly io: Io
  /** A progress line on stderr (drawn only on a terminal, and only for long work). */
  progress (label: string): ProgressLine
}

export interface CommandResult {
  /** The result for --json (printed as one object). */
  readonly json: object
  /** The result for people (printed as lines). */
  readonly text: readonly string[]
  /** 0 unless the command found a problem (e.g. verify). */
  readonly exitCode?: number
}

export interface ParsedCommand {
  readonly positionals: readonly string[]
  readonly values: Readonly<Record<string, string | boolean | undefined>>
}

export interface Command {
  readonly name: string
  /** One line for the command list. */
  readonly summary: string
  /** Argument synopsis after the command name, e.g. `<db> <file|dir> [options]`. */
  readonly synopsis: string
  /** A few sentences: what it does, what it needs. */
  readonly description: readonly string[]
  readonly options: Readonly<Record<string, OptionSpec>>
  readonly examples: readonly string[]
  /** Checks the positionals (throws UsageError) and does the work. */
  run (args: ParsedCommand, context: CommandContext): Promise<CommandResult>
}

/** Parses a command's arguments strictly (unknown options are usage errors). */
export function parseCommand (command: Command, argv: readonly string[]): ParsedCommand {
  const options: Record<string, { type: 'string' | 'boolean', short?: string }> = {}
  for (const [name, spec] of Object.entries<OptionSpec>({ ...command.options, ...COMMON_OPTIONS })) {
    options[name] = spec.short === undefined ? { type: spec.type } : { type: spec.type, short: spec.short }
  }
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true })
    return { values: values as Record<string, string | boolean | undefined>, positionals }
  } catch (err) {
    if (isParseArgsError(err)) throw new UsageError(err.message.replace(/\. To specify a positional.*$/s, ''), command.name)
    throw err
  }
}

/** Checks the number of positionals; `names` are used in the message. */
export function expectPositionals (command: Command, args: ParsedCommand, min: number, max: number, names: string): readonly string[] {
  const { positionals } = args
  if (positionals.length < min) {
    throw new UsageError(`${command.name}: missing argument${min - positionals.length > 1 ? 's' : ''}: expected ${names}`, command.name)
  }
  if (positionals.length > max) {
    throw new UsageError(`${command.name}: unexpected argument ${JSON.stringify(positionals[max])}: expected ${names}`, command.name)
  }
  return positionals
}

/** A string option's value (undefined when absent). */
export function stringOption (args: ParsedCommand, name: string): string | undefined {
  const value = args.values[name]
  return typeof value === 'string' ? value : undefined
}

/** A whole-number option's value; a usage error when it is not one. */
export function integerOption (command: Command, args: ParsedCommand, name: string, min: number): number | undefined {
  const text = stringOption(args, name)
  if (text === undefined) return undefined
  if (!/^\d+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`${command.name}: --${name} takes a whole number >= ${min}, got ${JSON.stringify(text)}`, command.name)
  }
  return Number(text)
}

export function commandHelp (command: Command): string {
  const lines = [`Usage: flowstore ${command.name} ${command.synopsis}`, '', ...command.description, '', 'Options:']
  const entries = Object.entries<OptionSpec>({ ...command.options, ...COMMON_OPTIONS }).map(([name, spec]) => {
    const flag = `${spec.short !== undefined ? `-${spec.short}, ` : '    '}--${name}${spec.value !== undefined ? ` ${spec.value}` : ''}`
    return [flag, spec.help] as const
  })
  const width = Math.max(...entries.map(([flag]) => flag.length))
  for (const [flag, help] of entries) lines.push(`  ${flag.padEnd(width)}  ${help}`)
  lines.push('', 'Examples:', ...command.examples.map((example) => `  ${example}`))
  lines.push('', EXIT_CODES_HELP)
  return lines.join('\n') + '\n'
}

export const EXIT_CODES_HELP = 'Exit codes: 0 ok, 1 failure (including problems found by verify or check), 2 usage error.'

export function progressFor (io: Io): (label: string) => ProgressLine {
  return (label) => new ProgressLine(io.stderr, label)
}
