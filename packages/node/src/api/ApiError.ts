import { ERROR_CATEGORIES, escapeControlCharacters, shortMessageOf } from '@runnel/protocol'
import { nodeErrorCategory, nodeErrorCodeOf, type NodeErrorCode } from '../errors.js'
import { QuotaError } from './QuotaError.js'

/** An error as every API reports it: an HTTP status, a stable code and a message that says what to fix. */
export interface ApiError {
  readonly status: number
  readonly code: NodeErrorCode
  readonly message: string
  /** Over a quota: whole seconds until a retry would pass (HTTP `Retry-After`). */
  readonly retryAfterSeconds?: number
}

/** Longest error message an API sends: messages quote requests (a path, a topic, a parameter), whose length is the client's choice. */
export const MAX_ERROR_MESSAGE_LENGTH = 1_000

/**
 * Maps any error from below (client, chain, protocol, network) onto the API's
 * codes. Every API's error goes out through here, so this is where what a
 * message echoes of the request is made safe: control characters escaped (a
 * NUL or an ANSI escape sent in a path never comes back as one) and the length capped.
 */
export function toApiError(err: unknown): ApiError {
  const code = nodeErrorCodeOf(err)
  // The code goes in its own field; the message says what is wrong without repeating it.
  const message = capLength(escapeControlCharacters(shortMessageOf(err)))
  const status = ERROR_CATEGORIES[nodeErrorCategory(code)].httpStatus
  if (err instanceof QuotaError && err.retryAfterSeconds !== undefined) {
    return { status, code, message, retryAfterSeconds: err.retryAfterSeconds }
  }
  return { status, code, message }
}

function capLength(text: string): string {
  if (text.length <= MAX_ERROR_MESSAGE_LENGTH) return text
  let end = MAX_ERROR_MESSAGE_LENGTH - 1
  // Never cut a surrogate pair in two.
  if (/[\ud800-\udbff]/.test(text[end - 1]!)) end--
  return `${text.slice(0, end)}…`
}
