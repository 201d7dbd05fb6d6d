import { ProtocolError, describeValue } from '../errors/index.js'

export const SIGNATURE_LENGTH = 65
/**
 * Longest ERC-1271 signature a message may carry: bounds what a stranger can make every relay forward and every
 * verifier send to the chain and cache (`Erc1271Verifier` in @runnel/chain has the same bound).
 */
export const MAX_ERC1271_SIGNATURE_LENGTH = 1024

// n/2 for secp256k1, big-endian: Ethereum (EIP-2) only accepts s ≤ n/2, which
// makes signatures non-malleable, so one message has exactly one valid signature.
const HALF_CURVE_ORDER = Uint8Array.from([
  0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x5d, 0x57, 0x6e,
  0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
])

/**
 * Checks that a signature is 65 bytes r‖s‖v with v ∈ {27, 28} and a low s,
 * and returns it. Says nothing about who made it.
 *
 * @throws {@link ProtocolError} `INVALID_SIGNATURE_FORMAT`
 */
export function checkSignatureFormat(signature: Uint8Array): Uint8Array {
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_LENGTH) {
    throw formatError(`must be ${SIGNATURE_LENGTH} bytes (r‖s‖v), got ${describeValue(signature)}`)
  }
  const v = signature[64]!
  if (v !== 27 && v !== 28) {
    throw formatError(`recovery byte v must be 27 or 28, got ${v}`)
  }
  for (let i = 0; i < 32; i++) {
    const s = signature[32 + i]!
    const limit = HALF_CURVE_ORDER[i]!
    if (s < limit) {
      return signature
    }
    if (s > limit) {
      throw formatError('s is in the upper half of the curve order (a malleable signature; Ethereum requires low s)')
    }
  }
  return signature
}

/**
 * Checks that an ERC-1271 signature is 1..{@link MAX_ERC1271_SIGNATURE_LENGTH} bytes, and returns it. Its form is
 * otherwise the wallet's business.
 *
 * @throws {@link ProtocolError} `INVALID_SIGNATURE_FORMAT`
 */
export function checkErc1271SignatureFormat(signature: Uint8Array): Uint8Array {
  if (!(signature instanceof Uint8Array) || signature.length === 0 || signature.length > MAX_ERC1271_SIGNATURE_LENGTH) {
    throw formatError(
      `of an ERC-1271 publisher must be 1..${MAX_ERC1271_SIGNATURE_LENGTH} bytes, got ${describeValue(signature)}`,
    )
  }
  return signature
}

function formatError(reason: string): ProtocolError {
  return new ProtocolError('INVALID_SIGNATURE_FORMAT', `signature ${reason}`, { field: 'signature' })
}
