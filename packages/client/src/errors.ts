/** Every way a client call can be refused. Codes are stable. */
export type ClientErrorCode =
  /** The client's address lacks the permission the call needs (checked before anything is sent). */
  | 'PERMISSION_DENIED'
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
export class ClientError extends Error {
  override readonly name = 'ClientError'
  readonly code: ClientErrorCode

  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
  }
}
