/** Every way the node daemon refuses something. Codes are stable. */
export type NodeErrorCode =
  /** The config file or object is invalid; the message names the key. */
  | 'INVALID_CONFIG'
  /** A request to one of the APIs is malformed (bad JSON, bad partition, bad query parameter). */
  | 'BAD_REQUEST'
  /** No API key, or a wrong one, on a node that requires keys. */
  | 'UNAUTHORIZED'
  /** The node's address lacks the permission the request needs. */
  | 'PERMISSION_DENIED'
  | 'STREAM_NOT_FOUND'
  /** A payload above the configured limit. */
  | 'PAYLOAD_TOO_LARGE'
  /** Too many requests from one sender (key custody's share requests and deposits); try again in a minute. */
  | 'RATE_LIMITED'
  /** A storage backend query or commit failed (the cause is kept). */
  | 'STORAGE_FAILED'
  /** The storage database can't be opened or reached, was written by a newer version, or is closed. */
  | 'STORAGE_UNAVAILABLE'
  /**
   * A publish asked for `ack=stored`, and not enough storage nodes confirmed it in time. It was published and stays
   * queued for re-offer, so it may still be stored: retry with the same content only if duplicates are acceptable.
   */
  | 'NOT_STORED'
  /** A port could not be bound, or the node failed while starting. */
  | 'START_FAILED'
  /** Anything else: a bug, or a failure below (chain, network). The message says which. */
  | 'INTERNAL'

/**
 * Errors of `@runnel/node`.
 *
 * @example
 * ```ts
 * try {
 *   parseConfig(JSON.parse(text))
 * } catch (err) {
 *   if (err instanceof NodeError && err.code === 'INVALID_CONFIG') console.error(err.message) // names the bad key
 * }
 * ```
 */
export class NodeError extends Error {
  override readonly name = 'NodeError'
  readonly code: NodeErrorCode

  constructor(code: NodeErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
  }
}

/**
 * A batch that failed partway: `published` messages went out, the next one
 * failed with `cause`, and the rest were not tried. Its code is the cause's.
 */
export class BatchPublishError extends Error {
  override readonly name = 'BatchPublishError'

  constructor(
    readonly published: number,
    readonly total: number,
    cause: unknown,
  ) {
    // The cause's own code prefix would repeat the code the API reports.
    const reason = (cause instanceof Error ? cause.message : String(cause)).replace(/^[A-Z][A-Z_]+: /, '')
    super(`message ${published + 1} of ${total} failed (${reason}); the ${published} before it were published`, {
      cause,
    })
  }
}
