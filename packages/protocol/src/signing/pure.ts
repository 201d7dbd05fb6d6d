// The @noble versions viem pins: an app that has viem then installs and bundles one copy (packages/client/README.md).
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { addressFromPrivateKey, parsePrivateKey, type PrivateKeyHex } from '../identity/keys.js'
import { addressFromPublicKey, type EthereumAddress } from '../identity/address.js'
import { hashPersonalMessage } from './payload.js'
import type { MessageSigner, SignatureVerifier } from './signer.js'

/**
 * A signer backed by the pure-JS `@noble/curves` secp256k1 (RFC 6979
 * deterministic nonces). Runs anywhere, including browsers.
 *
 * @example
 * ```ts
 * const signer = createPureSigner(generatePrivateKey())
 * ```
 */
export function createPureSigner(privateKey: PrivateKeyHex | Uint8Array): MessageSigner {
  const key = parsePrivateKey(privateKey)
  const address = addressFromPrivateKey(key)
  return {
    address,
    signPersonalMessage(payload: Uint8Array): Promise<Uint8Array> {
      // The input is already the digest (no prehash); low-s and RFC 6979 nonces are the defaults. Ethereum wants
      // r‖s‖v with v = 27 + recovery id.
      const recovered = secp256k1.sign(hashPersonalMessage(payload), key, { prehash: false, lowS: true })
      const signature = new Uint8Array(65)
      signature.set(recovered.toCompactRawBytes(), 0)
      signature[64] = 27 + recovered.recovery
      return Promise.resolve(signature)
    },
  }
}

/** Pure-JS signature recovery (`@noble/curves`): ~1k verifications/s, browser-safe. */
export const pureSignatureVerifier: SignatureVerifier = {
  recoverPersonalMessageSigner(payload: Uint8Array, signature: Uint8Array): EthereumAddress | undefined {
    try {
      const publicKey = secp256k1.Signature.fromCompact(signature.subarray(0, 64))
        .addRecoveryBit(signature[64]! - 27)
        .recoverPublicKey(hashPersonalMessage(payload))
      return addressFromPublicKey(publicKey.toRawBytes(false))
    } catch {
      return undefined
    }
  },
}
