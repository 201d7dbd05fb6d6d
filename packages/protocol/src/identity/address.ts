import { keccak256 } from '../crypto/keccak.js'
import { hexToBytes } from '@noble/hashes/utils.js'
import { ProtocolError, describeValue } from '../errors/index.js'
import { hexWithPrefix } from '../encoding/hex.js'

declare const addressBrand: unique symbol

/**
 * A 20-byte Ethereum address in its normalized form: `0x` and 40 lowercase hex
 * digits. Only {@link parseEthereumAddress} and {@link addressFromBytes} make one,
 * so holding an `EthereumAddress` means it has been validated.
 */
export type EthereumAddress = string & { readonly [addressBrand]: true }

/** A user's identity in Runnel is the Ethereum address of their key. */
export type UserId = EthereumAddress

const ADDRESS_PATTERN = /^0x[0-9a-fA-F]{40}$/
const LOWERCASE_ADDRESS = /^0x[0-9a-f]{40}$/
const LOWERCASE_BODY = /^[0-9a-f]{40}$/
const textEncoder = new TextEncoder()

/** The all-zero address; in permissions it stands for "everyone". */
export const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000' as EthereumAddress

/**
 * Validates an address and returns it in lowercase form. Accepts all-lowercase
 * hex and correctly EIP-55-checksummed hex; rejects mixed case with a wrong
 * checksum, since that is almost always a typo.
 *
 * @example
 * ```ts
 * parseEthereumAddress('0x52908400098527886E0F7030069857D2E4169EE7')
 * // '0x52908400098527886e0f7030069857d2e4169ee7'
 * ```
 * @throws {@link ProtocolError} `INVALID_ADDRESS`
 */
export function parseEthereumAddress(input: string): EthereumAddress {
  // Fast path: the normalized form, which is what decode and most callers pass.
  if (typeof input === 'string' && input.length === 42 && LOWERCASE_ADDRESS.test(input)) {
    return input as EthereumAddress
  }
  if (typeof input !== 'string' || !ADDRESS_PATTERN.test(input)) {
    throw new ProtocolError('INVALID_ADDRESS', `expected 0x followed by 40 hex digits, got ${describeValue(input)}`)
  }
  const body = input.slice(2)
  if (!LOWERCASE_BODY.test(body) && toChecksumBody(body.toLowerCase()) !== body) {
    throw new ProtocolError(
      'INVALID_ADDRESS',
      `${input} has mixed case but an invalid EIP-55 checksum (did you mean ${toChecksumAddress(
        ('0x' + body.toLowerCase()) as EthereumAddress,
      )}?)`,
    )
  }
  return ('0x' + body.toLowerCase()) as EthereumAddress
}

/** True when {@link parseEthereumAddress} would accept the input. */
export function isEthereumAddress(input: string): boolean {
  try {
    parseEthereumAddress(input)
    return true
  } catch {
    return false
  }
}

/**
 * Formats an address with its EIP-55 checksum, for display to people.
 *
 * @example
 * ```ts
 * toChecksumAddress(parseEthereumAddress('0x52908400098527886e0f7030069857d2e4169ee7'))
 * // '0x52908400098527886E0F7030069857D2E4169EE7'
 * ```
 */
export function toChecksumAddress(address: EthereumAddress): string {
  return '0x' + toChecksumBody(address.slice(2))
}

function toChecksumBody(lowercaseBody: string): string {
  const hash = keccak256(textEncoder.encode(lowercaseBody))
  let out = ''
  for (let i = 0; i < 40; i++) {
    const char = lowercaseBody[i]!
    // Each hex digit of the address takes one nibble of the hash, high nibble first.
    const hashByte = hash[i >> 1]!
    const nibble = i % 2 === 0 ? hashByte >> 4 : hashByte & 0x0f
    out += nibble >= 8 ? char.toUpperCase() : char
  }
  return out
}

/** Converts 20 raw bytes (as carried on the wire) to an address. */
export function addressFromBytes(bytes: Uint8Array): EthereumAddress {
  if (bytes.length !== 20) {
    throw new ProtocolError('INVALID_ADDRESS', `expected 20 bytes, got ${bytes.length}`)
  }
  // One flat string: built with `+=` (as hex helpers do) it is a chain of ~20 cons strings and their pieces, about
  // 1 KiB where the flat string takes 56 bytes, held for as long as the address is (every descriptor and contact).
  return hexWithPrefix('0x', [bytes]) as EthereumAddress
}

/** The 20 raw bytes of an address, as carried on the wire. */
export function addressToBytes(address: EthereumAddress): Uint8Array {
  return hexToBytes(address.slice(2))
}

/**
 * The address of an uncompressed secp256k1 public key (65 bytes, leading 0x04):
 * the last 20 bytes of keccak256 over the 64-byte point.
 */
export function addressFromPublicKey(uncompressedPublicKey: Uint8Array): EthereumAddress {
  if (uncompressedPublicKey.length !== 65 || uncompressedPublicKey[0] !== 0x04) {
    throw new ProtocolError('INVALID_ADDRESS', 'expected a 65-byte uncompressed public key')
  }
  return addressFromBytes(keccak256(uncompressedPublicKey.subarray(1)).subarray(12))
}
