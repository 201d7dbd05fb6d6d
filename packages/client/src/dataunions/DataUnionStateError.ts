import { RunnelError, type ErrorCategory, type RunnelErrorOptions } from '@runnel/protocol'

/** Every way a {@link DataUnionStateClient} query can fail. Codes are stable. */
export type DataUnionStateErrorCode =
  /** The query is malformed (an instance answered 400). */
  | 'INVALID_ARGUMENT'
  /** The union or member isn't known to the instances (404). */
  | 'NOT_FOUND'
  /** No instance that hasn't diverged answered: all unreachable, failing or not caught up. Retry later. */
  | 'NO_INSTANCE'
  /** The instances that answered don't have a majority hash for the block: nothing can be verified. Retry later. */
  | 'NO_MAJORITY'
  /** An answer doesn't verify against the hash the majority agrees on. */
  | 'INVALID_PROOF'
  /** An instance answered something that isn't the API's JSON. */
  | 'BAD_ANSWER'

/** Errors of {@link DataUnionStateClient}; part of the Runnel error family (see `ERROR_CATEGORIES`). */
export class DataUnionStateError extends RunnelError<DataUnionStateErrorCode> {
  override readonly name = 'DataUnionStateError'

  constructor(code: DataUnionStateErrorCode, message: string, options?: RunnelErrorOptions) {
    super(code, message, CATEGORIES[code], options)
  }
}

const CATEGORIES: Record<DataUnionStateErrorCode, ErrorCategory> = {
  INVALID_ARGUMENT: 'invalid-input',
  NOT_FOUND: 'not-found',
  NO_INSTANCE: 'unavailable',
  NO_MAJORITY: 'unavailable',
  INVALID_PROOF: 'integrity',
  BAD_ANSWER: 'integrity',
}
