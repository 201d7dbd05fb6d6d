// The @noble versions viem pins (see signing/pure.ts): one copy in an app's bundle.
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { ProtocolError } from '../errors/index.js'
import { parsePrivateKey, type PrivateKeyHex } from '../identity/keys.js'

/**
 * secp256k1 Diffie–Hellman with a node's Ethereum key, for sealing data to a
 * node whose address is all one knows for sure: its public key, however it was
 * obtained, is genuine when `addressFromPublicKey(publicKey)` is that address.
 * Used by threshold key custody (docs/encryption.md) to seal key shares to
 * storage nodes.
 *
 * @example
 * ```ts
 * const ephemeral = generatePrivateKey()
 * const shared = secp256k1SharedSecret(ephemeral, nodePublicKey) // 32 bytes
 * // the node: secp256k1SharedSecret(nodePrivateKey, secp256k1PublicKey(ephemeral)) is the same
 * ```
 */
export function secp256k1SharedSecret(privateKey: PrivateKeyHex | Uint8Array, publicKey: Uint8Array): Uint8Array {
  parseSecp256k1PublicKey(publicKey)
  // The x-coordinate of the shared point, as in ECIES and WebCrypto's ECDH deriveBits.
  return secp256k1.getSharedSecret(parsePrivateKey(privateKey), publicKey, true).subarray(1)
}

/** The public key of a secp256k1 private key: 33 bytes compressed (default) or 65 uncompressed (`0x04 ‖ X ‖ Y`). */
export function secp256k1PublicKey(privateKey: PrivateKeyHex | Uint8Array, compressed = true): Uint8Array {
  return secp256k1.getPublicKey(parsePrivateKey(privateKey), compressed)
}

/**
 * Checks that bytes are a secp256k1 public key (33 bytes compressed or 65
 * uncompressed) on the curve and not the point at infinity; returns it
 * compressed (33 bytes).
 *
 * @throws {@link ProtocolError} `INVALID_PUBLIC_KEY`
 */
export function parseSecp256k1PublicKey(publicKey: Uint8Array): Uint8Array {
  if (!(publicKey instanceof Uint8Array) || (publicKey.length !== 33 && publicKey.length !== 65)) {
    throw new ProtocolError('INVALID_PUBLIC_KEY', 'a secp256k1 public key is 33 (compressed) or 65 bytes')
  }
  try {
    const point = secp256k1.ProjectivePoint.fromHex(publicKey)
    point.assertValidity()
    return point.toRawBytes(true)
  } catch (err) {
    throw new ProtocolError('INVALID_PUBLIC_KEY', 'not a point on secp256k1', { cause: err })
  }
}
