/** Structured context of a log line: ids, counts, the error. Never interpolated into the message. */
export type LogMetadata = Readonly<Record<string, unknown>>

/**
 * Where the client says what it would otherwise swallow: a key request it couldn't answer, a storage node list it
 * couldn't read, a re-offer that failed. Narrow on purpose: any logger (console, pino, winston) fits with a line of
 * glue. The default says nothing.
 *
 * @example
 * ```ts
 * const logger: ClientLogger = {
 *   debug: (message, metadata) => console.debug(message, metadata),
 *   warn: (message, metadata) => console.warn(message, metadata),
 * }
 * const client = new RunnelClient(options, { logger })
 * ```
 */
export interface ClientLogger {
  /** Expected misses the client recovers from by itself (a retry, a later ask). */
  debug(message: string, metadata?: LogMetadata): void
  /** Something went wrong that the client can't make good; nobody else is told. */
  warn(message: string, metadata?: LogMetadata): void
}

/** Says nothing: the default. */
export const quietLogger: ClientLogger = Object.freeze({
  debug: () => undefined,
  warn: () => undefined,
})

/** An error as log metadata: its message and code, never the object (loggers serialise it badly). */
export function errorMetadata(err: unknown): { error: string; code?: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return typeof code === 'string' ? { error: err.message, code } : { error: err.message }
  }
  return { error: String(err) }
}
