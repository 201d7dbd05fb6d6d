import { RunnelError, type ErrorCategory, type RunnelErrorOptions } from '@runnel/protocol'

/** Every way a client call can be refused. Codes are stable. */
export type ClientErrorCode =
  /** The client's address lacks the permission the call needs (checked before anything is sent). */
  | 'PERMISSION_DENIED'
  /** The client's subscribe permission had an end (bought on the marketplace, or granted until a time) that has passed. */
  | 'PERMISSION_EXPIRED'
  | 'STREAM_NOT_FOUND'
  | 'INVALID_ARGUMENT'
  /** The client was destroyed. */
  | 'DESTROYED'
  /** No storage node stores the stream, or none could answer a history request. */
  | 'STORAGE_UNAVAILABLE'
  /** `waitForStorage` gave up before a storage node had the message. */
  | 'TIMEOUT'
  /**
   * A publish with `ack: 'stored'` wasn't confirmed by enough storage nodes in time. The message was published and
   * stays queued for re-offer to the storage nodes, so it may still be stored: the outcome is unknown, not a failure.
   */
  | 'NOT_STORED'
  /** Content couldn't be encrypted (no Web Crypto, a bad key). */
  | 'ENCRYPTION_FAILED'
  /** Content or a key didn't open with the key at hand: wrong key, or altered data. */
  | 'DECRYPTION_FAILED'
  /** A subscriber couldn't obtain the key for a message: refused (no permission) or no answer. */
  | 'KEY_UNAVAILABLE'
  /** The caller's `AbortSignal` fired before the call was done; what it had started is cleaned up. */
  | 'ABORTED'
  // ---- Data Union state servers (DataUnionStateClient) ----
  /** The union or member isn't known to the state servers (404). */
  | 'NOT_FOUND'
  /** No state server that hasn't diverged answered: all unreachable, failing or not caught up. Retry later. */
  | 'NO_INSTANCE'
  /** The state servers that answered hold no majority hash for the block: nothing can be verified. Retry later. */
  | 'NO_MAJORITY'
  /** A state server's answer doesn't verify against the hash the majority agrees on. */
  | 'INVALID_PROOF'
  /** A state server answered something that isn't its API's JSON. */
  | 'BAD_ANSWER'

/**
 * Errors of `@runnel/client`. Chain, network and protocol errors pass through
 * as their own typed errors (`ChainError`, `NetworkError`, `ProtocolError`).
 *
 * @example
 * ```ts
 * try {
 *   await client.publish(streamId, { hello: 'world' })
 * } catch (err) {
 *   if (err instanceof ClientError && err.code === 'PERMISSION_DENIED') askOwnerForAccess()
 * }
 * ```
 */
export class ClientError extends RunnelError<ClientErrorCode> {
  override readonly name = 'ClientError'

  constructor(code: ClientErrorCode, message: string, options?: RunnelErrorOptions) {
    super(code, message, CLIENT_CATEGORIES[code], options)
  }
}

/** Typed complete, so a new code fails to compile until it is classified. */
const CLIENT_CATEGORIES: Record<ClientErrorCode, ErrorCategory> = {
  PERMISSION_DENIED: 'permission-denied',
  PERMISSION_EXPIRED: 'permission-denied',
  STREAM_NOT_FOUND: 'not-found',
  INVALID_ARGUMENT: 'invalid-input',
  DESTROYED: 'cancelled',
  STORAGE_UNAVAILABLE: 'unavailable',
  TIMEOUT: 'timeout',
  // Published, but not confirmed stored in time: the outcome is unknown.
  NOT_STORED: 'timeout',
  // No Web Crypto, or a key that doesn't fit: nothing the caller's input or a retry changes.
  ENCRYPTION_FAILED: 'internal',
  // Wrong key or altered data: like a signature that doesn't verify.
  DECRYPTION_FAILED: 'integrity',
  // The publisher didn't answer the key request (or refused it): it may later.
  KEY_UNAVAILABLE: 'unavailable',
  // Given up by the caller's own signal.
  ABORTED: 'cancelled',
  NOT_FOUND: 'not-found',
  NO_INSTANCE: 'unavailable',
  NO_MAJORITY: 'unavailable',
  INVALID_PROOF: 'integrity',
  BAD_ANSWER: 'integrity',
}

/** Which messages a key that couldn't be obtained kept from the app: a run of one publisher chain. */
export interface UndecryptableRange {
  readonly streamPartId: string
  readonly publisherId: string
  readonly msgChainId: string
  /** The key the messages are encrypted with. */
  readonly groupKeyId: string
  /** First and last message not delivered ("timestamp:sequence"), and how many. */
  readonly first: string
  readonly last: string
  readonly count: number
}

/**
 * `KEY_UNAVAILABLE` for a run of messages: a subscriber reports a key it couldn't obtain once, with the range of
 * messages of the chain it kept from the app, rather than once per message. The messages are not delivered (unless
 * the subscription asked for them undecrypted, see `deliverUndecryptable`).
 *
 * @example
 * ```ts
 * client.on('error', (err) => {
 *   if (err instanceof KeyUnavailableError) log.warn({ key: err.range.groupKeyId, lost: err.range.count }, err.message)
 * })
 * ```
 */
export class KeyUnavailableError extends ClientError {
  readonly range: UndecryptableRange

  constructor(range: UndecryptableRange, reason: ClientError) {
    const what =
      range.count === 1 ? `message ${range.first}` : `${range.count} messages from ${range.first} to ${range.last}`
    super(
      'KEY_UNAVAILABLE',
      `${reason.shortMessage}; ${what} of ${range.streamPartId} by ${range.publisherId} (chain ${range.msgChainId}, group key ${range.groupKeyId}) not delivered`,
      { cause: reason },
    )
    this.range = range
  }
}
