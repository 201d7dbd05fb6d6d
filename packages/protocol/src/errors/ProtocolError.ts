import { RunnelError, type ErrorCategory, type RunnelErrorOptions } from './RunnelError.js'

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
  /** A node location or a stream's placement constraint that is malformed (e.g. a country code that isn't ISO 3166-1). */
  | 'INVALID_PLACEMENT'

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
export class ProtocolError extends RunnelError<ProtocolErrorCode> {
  override readonly name = 'ProtocolError'
  /** Dotted path of the offending field, e.g. `messageId.streamId`, when one field is to blame. */
  readonly field: string | undefined

  constructor(code: ProtocolErrorCode, message: string, options?: RunnelErrorOptions & { field?: string }) {
    super(code, message, PROTOCOL_CATEGORIES[code], options)
    this.field = options?.field
  }
}

/** Input from a caller is 'invalid-input'; bytes from a peer that don't decode or verify are 'integrity'. */
const PROTOCOL_CATEGORIES: Record<ProtocolErrorCode, ErrorCategory> = {
  INVALID_ADDRESS: 'invalid-input',
  INVALID_PRIVATE_KEY: 'invalid-input',
  INVALID_STREAM_ID: 'invalid-input',
  INVALID_PARTITION: 'invalid-input',
  INVALID_STREAM_PART_ID: 'invalid-input',
  INVALID_MESSAGE: 'invalid-input',
  MALFORMED_BYTES: 'integrity',
  UNSUPPORTED_VERSION: 'integrity',
  MESSAGE_TOO_LARGE: 'too-large',
  INVALID_SIGNATURE_FORMAT: 'integrity',
  SIGNATURE_VERIFICATION_FAILED: 'integrity',
  INVALID_JSON: 'invalid-input',
  INVALID_RECEIPT: 'invalid-input',
  INVALID_PUBLIC_KEY: 'invalid-input',
  INVALID_PLACEMENT: 'invalid-input',
}
