/**
 * Every way the protocol layer can refuse input. Codes are stable: callers
 * branch on them, log them and may show them to users, so a code is never
 * renamed or reused for a different failure.
 */
export type ProtocolErrorCode =
  /** Not a lowercase or EIP-55 checksummed 0x-prefixed 20-byte hex address. */
  | 'INVALID_ADDRESS'
  /** Not 32 bytes, or outside the secp256k1 scalar range. */
  | 'INVALID_PRIVATE_KEY'
  | 'INVALID_STREAM_ID'
  | 'INVALID_PARTITION'
  | 'INVALID_STREAM_PART_ID'
  /** A message field holds a value the protocol does not allow. */
  | 'INVALID_MESSAGE'
  /** Bytes that are not a well-formed framed protobuf StreamMessage. */
  | 'MALFORMED_BYTES'
  /** The frame's version byte names a protocol version this code does not speak. */
  | 'UNSUPPORTED_VERSION'
  | 'MESSAGE_TOO_LARGE'
  /** The signature is not 65 bytes of r‖s‖v with v ∈ {27, 28} and a low s. */
  | 'INVALID_SIGNATURE_FORMAT'
  /** The signature is well-formed but was not made by the publisher over this message. */
  | 'SIGNATURE_VERIFICATION_FAILED'
  | 'INVALID_JSON'
  /** A receipt that is malformed, or whose signature isn't its signer's. */
  | 'INVALID_RECEIPT'
  /** Bytes that are not a secp256k1 public key (wrong length, or not on the curve). */
  | 'INVALID_PUBLIC_KEY'

/**
 * The one error type thrown by `@runnel/protocol`.
 *
 * @example
 * ```ts
 * try {
 *   decodeStreamMessage(bytes)
 * } catch (err) {
 *   if (err instanceof ProtocolError && err.code === 'MESSAGE_TOO_LARGE') dropPeer()
 * }
 * ```
 */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError'
  readonly code: ProtocolErrorCode
  /** Dotted path of the offending field, e.g. `messageId.streamId`, when one field is to blame. */
  readonly field: string | undefined

  constructor(code: ProtocolErrorCode, message: string, options?: { field?: string; cause?: unknown }) {
    super(`${code}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.field = options?.field
  }
}

// C0 controls, DEL and the C1 controls (U+009B is a one-character ANSI escape), line and paragraph separators, and
// the bidirectional marks and overrides that reorder text on a terminal or in a log viewer.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

/**
 * Replaces every control character with its `\uXXXX` escape, so that text
 * built from untrusted input can be shown, logged or sent back to a client
 * without acting on whoever reads it (a NUL, an ANSI escape sequence, a
 * right-to-left override).
 *
 * @example
 * ```ts
 * escapeControlCharacters('a\u0000b\u001b[2J') // 'a\\u0000b\\u001b[2J'
 * ```
 */
export function escapeControlCharacters(text: string): string {
  return text.replace(CONTROL_CHARACTERS, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/**
 * Short, log-safe rendering of an untrusted value for error messages: a string
 * is quoted, cut to 80 characters, and its control characters escaped (see
 * {@link escapeControlCharacters}).
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    return escapeControlCharacters(JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value))
  }
  if (value instanceof Uint8Array) {
    return `${value.length} bytes`
  }
  return String(value)
}
