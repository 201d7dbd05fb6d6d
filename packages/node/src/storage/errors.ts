import { NodeError } from '../errors.js'

/** A backend operation failed; `cause` is the driver's error. */
export function storageFailed(operation: string, cause: unknown): NodeError {
  const reason = cause instanceof Error ? cause.message : String(cause)
  return new NodeError('STORAGE_FAILED', `storage: ${operation} failed: ${reason}`, { cause })
}

/** The store (or the batch writer) was closed before or during the call. */
export function storageClosed(what: string): NodeError {
  return new NodeError('STORAGE_UNAVAILABLE', `storage: ${what} is closed`)
}

/** A query argument or a message the store cannot take. */
export function invalidArgument(message: string, cause?: unknown): NodeError {
  return new NodeError('BAD_REQUEST', `storage: ${message}`, { cause })
}
