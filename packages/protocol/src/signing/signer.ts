import type { EthereumAddress } from '../identity/address.js'
import type { SignatureType } from '../message/StreamMessage.js'

/**
 * Makes Ethereum `personal_sign` (EIP-191) signatures for one address. Async,
 * so a browser wallet or a remote key service can stand behind it.
 *
 * @example
 * ```ts
 * const signer = createPureSigner(privateKey)
 * const signature = await signer.signPersonalMessage(payload) // 65 bytes r‖s‖v
 * ```
 */
export interface MessageSigner {
  readonly address: EthereumAddress
  /**
   * The signature type of what it signs: `SignatureType.Erc1271` for a smart-contract wallet's signer
   * (`createErc1271Signer`, whose `address` is the wallet's); absent for a key's.
   */
  readonly signatureType?: SignatureType
  /** Signs `payload` as an EIP-191 personal message; returns 65 bytes r‖s‖v, v ∈ {27, 28}, low s. */
  signPersonalMessage(payload: Uint8Array): Promise<Uint8Array>
}

/**
 * Recovers who made a `personal_sign` signature. Synchronous because it sits on
 * the hot path of every relay and subscriber. Implementations: the pure-JS
 * {@link pureSignatureVerifier} (browsers) and the native one in
 * `@runnel/protocol/native` (Node.js, ~25× faster).
 */
export interface SignatureVerifier {
  /**
   * The address whose key made `signature` over `payload`, or `undefined` if
   * no key could have (the signature is not a valid point).
   * Callers have already checked the signature's format.
   */
  recoverPersonalMessageSigner(payload: Uint8Array, signature: Uint8Array): EthereumAddress | undefined
}
