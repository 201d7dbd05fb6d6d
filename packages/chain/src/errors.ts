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
  // ---- token incentives ----
  | 'SPONSORSHIP_NOT_FOUND'
  | 'OPERATOR_NOT_FOUND'
  /** Only operator contracts made by the operator factory stake, flag and review. */
  | 'NOT_AN_OPERATOR'
  | 'OPERATOR_EXISTS'
  | 'STAKE_BELOW_MINIMUM'
  | 'SPONSORSHIP_FULL'
  | 'NOT_STAKED'
  /** The operator is flagged: it can't unstake or withdraw until the vote ends. */
  | 'UNDER_REVIEW'
  /** Part of the stake backs an open flag. */
  | 'STAKE_LOCKED'
  | 'KICKED'
  | 'INSUFFICIENT_FUNDS'
  | 'SELF_DELEGATION_TOO_LOW'
  | 'UNDELEGATION_QUEUE_NOT_EMPTY'
  | 'ALREADY_FLAGGED'
  | 'NO_REVIEWERS'
  | 'FLAG_NOT_FOUND'
  | 'FLAG_CLOSED'
  | 'NOT_REVIEWER'
  | 'ALREADY_VOTED'
  | 'VOTING_ENDED'
  | 'VOTING_NOT_ENDED'
  // ---- marketplace and Data Unions ----
  | 'PRODUCT_NOT_FOUND'
  | 'PRODUCT_NOT_LISTED'
  /** The stream's owner hasn't granted the marketplace the grant permission, so it can't sell access. */
  | 'MARKETPLACE_NOT_GRANTED'
  | 'TOKEN_NOT_ACCEPTED'
  /** Zero, below the product's minimum, or above the most one purchase may add. */
  | 'INVALID_PERIOD'
  /** The price rose above the buyer's limit (front-running protection). */
  | 'PRICE_ABOVE_LIMIT'
  | 'DATA_UNION_NOT_FOUND'
  | 'NOT_MEMBER'
  | 'ALREADY_MEMBER'
  | 'INSUFFICIENT_EARNINGS'
  /** A signed withdrawal not signed by the member, or replayed (its nonce is used). */
  | 'INVALID_SIGNATURE'
  | 'SIGNATURE_EXPIRED'
  /** A write was attempted without a wallet (account) configured. */
  | 'NO_ACCOUNT'
  | 'INVALID_ARGUMENT'
  /** A write passed its simulation but reverted when mined: the state changed in between. Sending it again may do. */
  | 'TRANSACTION_REVERTED'
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
  SPONSORSHIP_NOT_FOUND: 'not-found',
  OPERATOR_NOT_FOUND: 'not-found',
  NOT_AN_OPERATOR: 'permission-denied',
  OPERATOR_EXISTS: 'conflict',
  STAKE_BELOW_MINIMUM: 'invalid-input',
  SPONSORSHIP_FULL: 'conflict',
  NOT_STAKED: 'conflict',
  UNDER_REVIEW: 'conflict',
  STAKE_LOCKED: 'conflict',
  KICKED: 'permission-denied',
  INSUFFICIENT_FUNDS: 'conflict',
  SELF_DELEGATION_TOO_LOW: 'conflict',
  UNDELEGATION_QUEUE_NOT_EMPTY: 'conflict',
  ALREADY_FLAGGED: 'conflict',
  NO_REVIEWERS: 'conflict',
  FLAG_NOT_FOUND: 'not-found',
  FLAG_CLOSED: 'conflict',
  NOT_REVIEWER: 'permission-denied',
  ALREADY_VOTED: 'conflict',
  VOTING_ENDED: 'conflict',
  VOTING_NOT_ENDED: 'conflict',
  PRODUCT_NOT_FOUND: 'not-found',
  PRODUCT_NOT_LISTED: 'conflict',
  MARKETPLACE_NOT_GRANTED: 'conflict',
  TOKEN_NOT_ACCEPTED: 'invalid-input',
  INVALID_PERIOD: 'invalid-input',
  PRICE_ABOVE_LIMIT: 'conflict',
  DATA_UNION_NOT_FOUND: 'not-found',
  NOT_MEMBER: 'not-found',
  ALREADY_MEMBER: 'conflict',
  INSUFFICIENT_EARNINGS: 'conflict',
  INVALID_SIGNATURE: 'permission-denied',
  SIGNATURE_EXPIRED: 'invalid-input',
  // A missing wallet is a setting to add, not a key to fix.
  NO_ACCOUNT: 'invalid-input',
  INVALID_ARGUMENT: 'invalid-input',
  TRANSACTION_REVERTED: 'conflict',
  RPC_ERROR: 'unavailable',
}
