/**
 * What kind of failure an error is, whatever package threw it. Every API
 * status and CLI exit code is chosen from the category (see
 * {@link ERROR_CATEGORIES}), so one failure reads the same in the SDK, the
 * HTTP API and the CLI.
 */
export type ErrorCategory =
  /** The caller sent something malformed or out of range: fix the input. */
  | 'invalid-input'
  /** No credentials, or wrong ones. */
  | 'unauthenticated'
  /** The caller's key lacks the permission. */
  | 'permission-denied'
  /** The stream, node or record doesn't exist. */
  | 'not-found'
  /** The thing exists already, or is in a state that refuses the request. */
  | 'conflict'
  /** A payload or frame above a configured limit. */
  | 'too-large'
  /** Too many requests from one sender: retry later. */
  | 'rate-limited'
  /** Something needed (a chain endpoint, a peer, a storage node) can't be reached or failed: retry later. */
  | 'unavailable'
  /** Nothing answered in time; the outcome is unknown. */
  | 'timeout'
  /** The caller cancelled, or the component was stopped. */
  | 'cancelled'
  /** Data that should verify doesn't (a forged signature, altered ciphertext, a peer breaking the protocol). */
  | 'integrity'
  /** A bug, or a failure nothing classified. */
  | 'internal'

/** How each category is reported at the edges: the one table HTTP statuses and CLI exit codes come from. */
export interface ErrorCategoryInfo {
  /** The status the node's HTTP API answers with. */
  readonly httpStatus: number
  /** The exit code of the `runnel` CLI (0 is success; 2 is a usage error, found before anything runs). */
  readonly exitCode: number
  /** True when the same request may succeed later unchanged. */
  readonly retryable: boolean
}

/**
 * Category → HTTP status, CLI exit code and whether retrying helps.
 *
 * @example
 * ```ts
 * ERROR_CATEGORIES[err.category].httpStatus // 404 for 'not-found'
 * ```
 */
export const ERROR_CATEGORIES: Readonly<Record<ErrorCategory, ErrorCategoryInfo>> = Object.freeze({
  'invalid-input': { httpStatus: 400, exitCode: 3, retryable: false },
  unauthenticated: { httpStatus: 401, exitCode: 5, retryable: false },
  'permission-denied': { httpStatus: 403, exitCode: 5, retryable: false },
  'not-found': { httpStatus: 404, exitCode: 4, retryable: false },
  conflict: { httpStatus: 409, exitCode: 3, retryable: false },
  'too-large': { httpStatus: 413, exitCode: 3, retryable: false },
  'rate-limited': { httpStatus: 429, exitCode: 6, retryable: true },
  unavailable: { httpStatus: 503, exitCode: 6, retryable: true },
  timeout: { httpStatus: 504, exitCode: 6, retryable: true },
  cancelled: { httpStatus: 499, exitCode: 1, retryable: false },
  integrity: { httpStatus: 422, exitCode: 1, retryable: false },
  internal: { httpStatus: 500, exitCode: 1, retryable: false },
})

/** Options every error of the family takes. */
export interface RunnelErrorOptions {
  /** The error this one wraps; kept as `cause` and walked by {@link RunnelError.walk}. */
  cause?: unknown
  /** Longer, optional explanation: what to check, which setting to change. Not part of `message`'s first line. */
  details?: string
}

/**
 * The base of every error Runnel's packages throw. Each package extends it
 * with its own name and its own closed set of codes, and maps each code to
 * an {@link ErrorCategory}.
 *
 * - `code` is stable: branch on it, log it.
 * - `shortMessage` says what is wrong, without the code: show it to users.
 * - `message` is `CODE: shortMessage` (plus `details` on following lines), so
 *   a log line or a stack trace names the code too.
 * - `category` decides HTTP statuses and CLI exit codes.
 *
 * @example
 * ```ts
 * try {
 *   await client.publish(streamId, content)
 * } catch (err) {
 *   if (err instanceof RunnelError && ERROR_CATEGORIES[err.category].retryable) retryLater()
 *   else console.error(err instanceof RunnelError ? err.shortMessage : err)
 * }
 * ```
 */
export class RunnelError<Code extends string = string> extends Error {
  override name = 'RunnelError'
  readonly code: Code
  readonly shortMessage: string
  readonly category: ErrorCategory
  readonly details: string | undefined

  constructor(code: Code, shortMessage: string, category: ErrorCategory, options?: RunnelErrorOptions) {
    super(
      options?.details === undefined ? `${code}: ${shortMessage}` : `${code}: ${shortMessage}\n${options.details}`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    )
    this.code = code
    this.shortMessage = shortMessage
    this.category = category
    this.details = options?.details
  }

  /**
   * The first error in the cause chain (this one first) that `predicate`
   * accepts; without a predicate, the deepest cause. Stops after 20 links,
   * so a cyclic chain can't hang it.
   */
  walk(predicate?: (err: unknown) => boolean): unknown {
    return walkCauses(this, predicate)
  }
}

/**
 * {@link RunnelError.walk} for any thrown value: the first link of the cause
 * chain `predicate` accepts (or the deepest, without one).
 */
export function walkCauses(err: unknown, predicate?: (err: unknown) => boolean): unknown {
  let current = err
  for (let depth = 0; depth < 20; depth++) {
    if (predicate?.(current) === true) return current
    const next = current instanceof Error ? current.cause : undefined
    if (next === undefined) return predicate === undefined ? current : undefined
    current = next
  }
  return predicate === undefined ? current : undefined
}

/**
 * What is wrong, without a leading `CODE: `: a family error's `shortMessage`,
 * any other error's message, or the value as text.
 */
export function shortMessageOf(err: unknown): string {
  if (err instanceof RunnelError) return err.shortMessage
  if (err instanceof Error) return err.message
  return String(err)
}

/**
 * The category of any thrown value: a family error's own; the first
 * classified cause of one that wraps; `'unavailable'` for a system error of a
 * connection that couldn't be made (or a JSON-RPC transport's
 * `HttpRequestError`), `'timeout'` for a `TimeoutError` (an
 * `AbortSignal.timeout`, a JSON-RPC call); otherwise `'internal'`.
 */
export function errorCategoryOf(err: unknown): ErrorCategory {
  const classified = walkCauses(
    err,
    (link) => (link instanceof RunnelError && link.category !== 'internal') || foreignCategoryOf(link) !== undefined,
  )
  if (classified instanceof RunnelError) return classified.category
  if (classified !== undefined) return foreignCategoryOf(classified) ?? 'internal'
  return err instanceof RunnelError ? err.category : 'internal'
}

/** The category of an error from outside the family that is classified anyway: by system code or, for viem's, name. */
function foreignCategoryOf(link: unknown): ErrorCategory | undefined {
  if (!(link instanceof Error)) return undefined
  if (UNREACHABLE_SYSTEM_CODES.has(String((link as { code?: unknown }).code))) return 'unavailable'
  if (link.name === 'HttpRequestError') return 'unavailable'
  if (link.name === 'TimeoutError') return 'timeout'
  return undefined
}

/** System error codes of a connection that couldn't be made (fetch, sockets, DNS). */
const UNREACHABLE_SYSTEM_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
])
