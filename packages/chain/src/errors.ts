import { RunnelError, type ErrorCategory, type RunnelErrorOptions } from '@runnel/protocol'

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
export class ChainError extends RunnelError<ChainErrorCode> {
  override readonly name = 'ChainError'

  constructor(code: ChainErrorCode, message: string, options?: RunnelErrorOptions) {
    super(code, message, CHAIN_CATEGORIES[code], options)
  }
}

/** Typed complete, so a new code fails to compile until it is classified. */
const CHAIN_CATEGORIES: Record<ChainErrorCode, ErrorCategory> = {
  PERMISSION_DENIED: 'permission-denied',
  STREAM_NOT_FOUND: 'not-found',
  STREAM_ALREADY_EXISTS: 'conflict',
  INVALID_PATH: 'invalid-input',
  INVALID_METADATA: 'invalid-input',
  INVALID_PUBLIC_PERMISSION: 'invalid-input',
  NODE_NOT_REGISTERED: 'not-found',
  INVALID_NODE_METADATA: 'invalid-input',
  ALREADY_ASSIGNED: 'conflict',
  NOT_ASSIGNED: 'conflict',
  // A missing wallet is a setting to add, not a key to fix.
  NO_ACCOUNT: 'invalid-input',
  INVALID_ARGUMENT: 'invalid-input',
  RPC_ERROR: 'unavailable',
}
