/** Every way a chain call can be refused. Codes are stable. */
export type ChainErrorCode =
  | 'PERMISSION_DENIED'
  | 'STREAM_NOT_FOUND'
  | 'STREAM_ALREADY_EXISTS'
  | 'INVALID_PATH'
  | 'INVALID_METADATA'
  /** Only publish and subscribe can be granted to everyone. */
  | 'INVALID_PUBLIC_PERMISSION'
  | 'NODE_NOT_REGISTERED'
  | 'INVALID_NODE_METADATA'
  | 'ALREADY_ASSIGNED'
  | 'NOT_ASSIGNED'
  /** A write was attempted without a wallet (account) configured. */
  | 'NO_ACCOUNT'
  | 'INVALID_ARGUMENT'
  /** The JSON-RPC endpoint failed or answered something unexpected. */
  | 'RPC_ERROR'

/**
 * The one error type thrown by `@runnel/chain`. Contract reverts are decoded
 * into their own codes, with a message that says what was refused.
 *
 * @example
 * ```ts
 * try {
 *   await registry.grantPermission(streamId, user, 'publish')
 * } catch (err) {
 *   if (err instanceof ChainError && err.code === 'PERMISSION_DENIED') console.log(err.message)
 *   // PERMISSION_DENIED: 0xabc… may not grant on 0xdef…/sensors
 * }
 * ```
 */
export class ChainError extends Error {
  override readonly name = 'ChainError'
  readonly code: ChainErrorCode

  constructor(code: ChainErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
  }
}
