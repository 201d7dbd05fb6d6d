import { homedir } from 'node:os'

/** What a command reads and writes besides the network: the process's streams and environment. */
export interface CliContext {
  readonly stdout: NodeJS.WritableStream
  readonly stderr: NodeJS.WritableStream
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean }
  readonly env: Readonly<Record<string, string | undefined>>
  /** The user's home directory, for the default `$RUNNEL_HOME` (`~/.runnel`). */
  readonly homedir: string
}

/** The running process's streams and environment. */
export function processContext(): CliContext {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, homedir: homedir() }
}

/** Writes one line to stdout. */
export function printLine(context: CliContext, line: string): void {
  context.stdout.write(line + '\n')
}

/** Writes a value as one line of JSON to stdout (bigints as decimal strings). */
export function printJson(context: CliContext, value: unknown): void {
  printLine(context, toJson(value))
}

/** Writes a note for humans to stderr: stdout stays clean for scripts. */
export function note(context: CliContext, line: string): void {
  context.stderr.write(line + '\n')
}

export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item))
}
