// What a command is: its usage, options (declared once, for util.parseArgs and for --help),
// examples and run function; plus the parsing and help text every command shares.

import { parseArgs } from 'node:util'
import { UsageError } from './errors.ts'
import { ProgressLine } from './progress.ts'
import { didYouMean } from './suggest.ts'
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
  /** Where the store the command opens is named: its first argument, or --to. */
  readonly store?: 'first' | 'to'
  /** One line of advice, fitted to the command, when that store is locked by another process. */
  readonly whenLocked?: string
  /** The command's flag for the library's `{ overwrite: true }`, named in messages instead of it. */
  readonly overwriteFlag?: string
  /** Checks the positionals (throws UsageError) and does the work. */
  run (args: ParsedCommand, context: CommandContext): Promise<CommandResult>
}

/**
 * Parses a command's arguments strictly: an unknown option (with a "did you mean" when one is
 * close), a string option without its value, or a value given to a boolean option is a usage
 * error, worded the same way as flowstore's other usage errors.
 */
export function parseCommand (command: Command, argv: readonly string[], others: readonly Command[] = []): ParsedCommand {
  const specs: Record<string, OptionSpec> = { ...command.options, ...COMMON_OPTIONS }
  const options: Record<string, { type: 'string' | 'boolean', short?: string }> = {}
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = spec.short === undefined ? { type: spec.type } : { type: spec.type, short: spec.short }
  }
  const { tokens } = parseArgs({ args: [...argv], options, allowPositionals: true, strict: false, tokens: true })
  const values: Record<string, string | boolean | undefined> = {}
  const positionals: string[] = []
  for (const token of tokens) {
    if (token.kind === 'positional') {
      positionals.push(token.value)
      continue
    }
    if (token.kind !== 'option') continue
    const spec = specs[token.name]
    if (spec === undefined) throw unknownOption(command, token.rawName, token.name, Object.keys(specs), others)
    if (spec.type === 'boolean') {
      if (token.value !== undefined) throw new UsageError(`${token.rawName} takes no value, got ${JSON.stringify(token.value)}`, command.name)
      values[token.name] = true
    } else {
      // "--to --json": Node would take "--json" as the value; a forgotten value is likelier.
      const value = token.value
      if (value === undefined || (!token.inlineValue && /^-[-a-zA-Z]/.test(value))) {
        throw new UsageError(`${token.rawName} needs a value: ${token.rawName} ${spec.value ?? '<value>'}`, command.name)
      }
      values[token.name] = value
    }
  }
  return { values, positionals }
}

function unknownOption (command: Command, rawName: string, name: string, known: readonly string[], others: readonly Command[]): UsageError {
  let hint = didYouMean(name, known, (option) => `--${option}`)
  if (hint === '') {
    const owners = others.filter((other) => other !== command && Object.hasOwn(other.options, name)).map((other) => other.name)
    if (owners.length > 0) hint = ` (an option of ${owners.length === 1 ? owners[0]! : `${owners.slice(0, -1).join(', ')} and ${owners.at(-1)!}`}, not of ${command.name})`
  }
  return new UsageError(`unknown option ${JSON.stringify(rawName)}${hint}`, command.name)
}

/** Checks the number of positionals; `names` are used in the message. */
export function expectPositionals (command: Command, args: ParsedCommand, min: number, max: number, names: string): readonly string[] {
  const { positionals } = args
  if (positionals.length < min) {
    throw new UsageError(`missing argument${min - positionals.length > 1 ? 's' : ''}: expected ${names}`, command.name)
  }
  if (positionals.length > max) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[max])}: expected ${names}`, command.name)
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
    throw new UsageError(`--${name} takes a whole number >= ${min}, got ${JSON.stringify(text)}`, command.name)
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
  return (label) => new ProgressLine(io.stderr, label, io.progress)
}
