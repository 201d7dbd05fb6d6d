/**
 * `@runnel/protocol/native`: secp256k1 signing and verification through
 * libsecp256k1 (the `secp256k1` package's native binding), for Node.js nodes
 * where verification speed matters. Same results as the pure-JS versions.
 *
 * @example
 * ```ts
 * import { nativeSignatureVerifier } from '@runnel/protocol/native'
 * verifyStreamMessage(message, nativeSignatureVerifier)
 * ```
 * @packageDocumentation
 */
import { createRequire } from 'node:module'
import {
  addressFromPrivateKey,
  addressFromPublicKey,
  hashPersonalMessage,
  parsePrivateKey,
  type EthereumAddress,
  type MessageSigner,
  type PrivateKeyHex,
  type SignatureVerifier,
} from '../index.js'

interface Secp256k1Binding {
  ecdsaSign(message32: Uint8Array, privateKey: Uint8Array): { signature: Uint8Array; recid: number }
  ecdsaRecover(
    signature64: Uint8Array,
    recid: number,
    message32: Uint8Array,
    compressed: boolean,
    output: Uint8Array,
  ): Uint8Array
}

// The package's main entry silently falls back to pure-JS `elliptic` when the
// binding fails to load; loading the binding directly fails loudly instead.
const binding = createRequire(import.meta.url)('secp256k1/bindings') as Secp256k1Binding

/**
 * A signer backed by libsecp256k1 (RFC 6979 deterministic nonces, low s).
 *
 * @example
 * ```ts
 * const signer = createNativeSigner(process.env.RUNNEL_PRIVATE_KEY!)
 * ```
 */
export function createNativeSigner(privateKey: PrivateKeyHex | Uint8Array): MessageSigner {
  const key = parsePrivateKey(privateKey)
  const address = addressFromPrivateKey(key)
  return {
    address,
    signPersonalMessage(payload: Uint8Array): Promise<Uint8Array> {
      const { signature, recid } = binding.ecdsaSign(hashPersonalMessage(payload), key)
      const out = new Uint8Array(65)
      out.set(signature, 0)
      out[64] = 27 + recid
      return Promise.resolve(out)
    },
  }
}

// Reused for every recovery: verification is synchronous, so no two calls overlap.
const recoveredPublicKey = new Uint8Array(65)

/** Signature recovery through libsecp256k1: ~25× the pure-JS rate. */
export const nativeSignatureVerifier: SignatureVerifier = {
  recoverPersonalMessageSigner(payload: Uint8Array, signature: Uint8Array): EthereumAddress | undefined {
    try {
      binding.ecdsaRecover(
        signature.subarray(0, 64),
        signature[64]! - 27,
        hashPersonalMessage(payload),
        false,
        recoveredPublicKey,
      )
      return addressFromPublicKey(recoveredPublicKey)
    } catch {
      return undefined
    }
  },
}
