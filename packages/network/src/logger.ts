/** Structured context of a log line: ids, counts, the error. Never interpolated into the message. */
export type LogFields = Readonly<Record<string, unknown>>

/**
 * Where the network layer reports what it otherwise swallows: a tracker report
 * that failed, a listener that threw, a peer dropped for sending garbage. A
 * narrow interface so any logger fits behind it (pino, the console, a test's
 * array).
 *
 * @example
 * ```ts
 * import pino from 'pino'
 * const log = pino()
 * const logger: Logger = {
 *   debug: (message, fields) => log.debug(fields ?? {}, message),
 *   info: (message, fields) => log.info(fields ?? {}, message),
 *   warn: (message, fields) => log.warn(fields ?? {}, message),
 *   error: (message, fields) => log.error(fields ?? {}, message),
 * }
 * new NetworkNode({ transport, signer, verifier, logger }, { trackers })
 * ```
 */
export interface Logger {
  debug(message: string, fields?: LogFields): void
  info(message: string, fields?: LogFields): void
  warn(message: string, fields?: LogFields): void
  error(message: string, fields?: LogFields): void
}

export type LogLevel = keyof Logger

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error']

const ignore = (): void => undefined

/** Drops everything: the default, so a library never writes to its host's console uninvited. */
export const silentLogger: Logger = Object.freeze({ debug: ignore, info: ignore, warn: ignore, error: ignore })

/**
 * Writes lines at `level` and above to the console (`console.debug` …
 * `console.error`), fields as a second argument. Browser-safe.
 *
 * @example
 * ```ts
 * new NetworkNode({ transport, signer, verifier, logger: consoleLogger('info') }, { trackers })
 * ```
 */
export function consoleLogger(level: LogLevel = 'warn', prefix = '[runnel/network]'): Logger {
  const threshold = LEVELS.indexOf(level)
  const write =
    (at: LogLevel) =>
    (message: string, fields?: LogFields): void => {
      if (fields === undefined) console[at](`${prefix} ${message}`)
      else console[at](`${prefix} ${message}`, fields)
    }
  return Object.freeze({
    debug: threshold <= 0 ? write('debug') : ignore,
    info: threshold <= 1 ? write('info') : ignore,
    warn: threshold <= 2 ? write('warn') : ignore,
    error: write('error'),
  })
}

/** The error's message (or the thrown value as text), for log fields. */
export function errorField(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
