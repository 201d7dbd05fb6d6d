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
      // 'recovered' format is rec‖r‖s; Ethereum wants r‖s‖v with v = 27 + rec.
      const recovered = secp256k1.sign(hashPersonalMessage(payload), key, { prehash: false, format: 'recovered' })
      const signature = new Uint8Array(65)
      signature.set(recovered.subarray(1), 0)
      signature[64] = 27 + recovered[0]!
      return Promise.resolve(signature)
    },
  }
}

/** Pure-JS signature recovery (`@noble/curves`): ~1k verifications/s, browser-safe. */
export const pureSignatureVerifier: SignatureVerifier = {
  recoverPersonalMessageSigner(payload: Uint8Array, signature: Uint8Array): EthereumAddress | undefined {
    const recovered = new Uint8Array(65)
    recovered[0] = signature[64]! - 27
    recovered.set(signature.subarray(0, 64), 1)
    try {
      const publicKey = secp256k1.recoverPublicKey(recovered, hashPersonalMessage(payload), { prehash: false })
      return addressFromPublicKey(secp256k1.Point.fromBytes(publicKey).toBytes(false))
    } catch {
      return undefined
    }
  },
}
