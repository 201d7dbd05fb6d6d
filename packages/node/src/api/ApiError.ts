import { ChainError } from '@runnel/chain'
import { ClientError } from '@runnel/client'
import { NetworkError } from '@runnel/network'
import { ProtocolError, escapeControlCharacters } from '@runnel/protocol'
import { BatchPublishError, NodeError, type NodeErrorCode } from '../errors.js'

/** An error as every API reports it: an HTTP status, a stable code and a message that says what to fix. */
export interface ApiError {
  readonly status: number
  readonly code: NodeErrorCode
  readonly message: string
}

const STATUS: Record<NodeErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  PERMISSION_DENIED: 403,
  STREAM_NOT_FOUND: 404,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  INVALID_CONFIG: 500,
  START_FAILED: 500,
  STORAGE_FAILED: 500,
  STORAGE_UNAVAILABLE: 503,
  NOT_STORED: 504,
  INTERNAL: 500,
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
  const code = classify(err instanceof BatchPublishError ? err.cause : err)
  const text = err instanceof Error ? err.message : String(err)
  // Typed errors start with their own family's code; the API's code replaces it.
  const message = capLength(escapeControlCharacters(text.replace(/^[A-Z][A-Z_]+: /, '')))
  return { status: STATUS[code], code, message }
}

function capLength(text: string): string {
  if (text.length <= MAX_ERROR_MESSAGE_LENGTH) return text
  let end = MAX_ERROR_MESSAGE_LENGTH - 1
  // Never cut a surrogate pair in two.
  if (/[\ud800-\udbff]/.test(text[end - 1]!)) end--
  return `${text.slice(0, end)}…`
}

function classify(err: unknown): NodeErrorCode {
  if (err instanceof NodeError) return err.code
  if (err instanceof ClientError) {
    switch (err.code) {
      case 'PERMISSION_DENIED':
        return 'PERMISSION_DENIED'
      case 'STREAM_NOT_FOUND':
        return 'STREAM_NOT_FOUND'
      case 'INVALID_ARGUMENT':
        return 'BAD_REQUEST'
      case 'NOT_STORED':
        return 'NOT_STORED'
      case 'STORAGE_UNAVAILABLE':
        return 'STORAGE_UNAVAILABLE'
      default:
        return 'INTERNAL'
    }
  }
  if (err instanceof ChainError) {
    switch (err.code) {
      case 'STREAM_NOT_FOUND':
        return 'STREAM_NOT_FOUND'
      case 'PERMISSION_DENIED':
        return 'PERMISSION_DENIED'
      case 'INVALID_ARGUMENT':
      case 'INVALID_PATH':
        return 'BAD_REQUEST'
      default:
        return 'INTERNAL'
    }
  }
  if (err instanceof ProtocolError) {
    switch (err.code) {
      case 'MESSAGE_TOO_LARGE':
        return 'PAYLOAD_TOO_LARGE'
      case 'INVALID_STREAM_ID':
      case 'INVALID_PARTITION':
      case 'INVALID_STREAM_PART_ID':
      case 'INVALID_ADDRESS':
      case 'INVALID_JSON':
      case 'INVALID_MESSAGE':
        return 'BAD_REQUEST'
      default:
        return 'INTERNAL'
    }
  }
  if (err instanceof NetworkError) return 'INTERNAL'
  return 'INTERNAL'
}
