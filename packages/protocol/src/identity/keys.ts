import { secp256k1 } from '@noble/curves/secp256k1.js'
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js'
import { ProtocolError } from '../errors/index.js'
import { addressFromPublicKey, type EthereumAddress } from './address.js'

/** A secp256k1 private key: 32 bytes, as `0x`-prefixed lowercase hex. */
export type PrivateKeyHex = string

/**
 * Generates a fresh private key from the platform's CSPRNG (`crypto.getRandomValues`).
 *
 * @example
 * ```ts
 * const key = generatePrivateKey()
 * const address = addressFromPrivateKey(key)
 * ```
 */
export function generatePrivateKey(): PrivateKeyHex {
  return '0x' + bytesToHex(secp256k1.utils.randomPrivateKey())
}

/**
 * Parses a private key given as hex (with or without `0x`) or 32 bytes.
 *
 * @throws {@link ProtocolError} `INVALID_PRIVATE_KEY`
 */
export function parsePrivateKey(key: PrivateKeyHex | Uint8Array): Uint8Array {
  let bytes: Uint8Array
  if (typeof key === 'string') {
    const hex = key.startsWith('0x') ? key.slice(2) : key
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
      throw new ProtocolError('INVALID_PRIVATE_KEY', 'expected 64 hex digits (32 bytes), optionally 0x-prefixed')
    }
    bytes = hexToBytes(hex.toLowerCase())
  } else {
    bytes = key
  }
  if (bytes.length !== 32 || !secp256k1.utils.isValidPrivateKey(bytes)) {
    throw new ProtocolError('INVALID_PRIVATE_KEY', 'not a valid secp256k1 private key (must be 32 bytes, 0 < key < n)')
  }
  return bytes
}

/** The Ethereum address (user id) that a private key controls. */
export function addressFromPrivateKey(key: PrivateKeyHex | Uint8Array): EthereumAddress {
  return addressFromPublicKey(secp256k1.getPublicKey(parsePrivateKey(key), false))
}
