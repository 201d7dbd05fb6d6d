import type { EthereumAddress } from '../identity/address.js'
import { SignatureType, type StreamMessage } from '../message/StreamMessage.js'
import { createSignaturePayload, hashPersonalMessage } from './payload.js'
import type { MessageSigner, SignatureVerifier } from './signer.js'
import { verifyStreamMessage } from './streamMessageSigning.js'

/**
 * What a message's signature check can tell without the chain: `valid` or `invalid` for a key-signed message,
 * `needs-chain` for an ERC-1271 publisher's (only its wallet's `isValidSignature` can tell).
 */
export type SignatureCheck = 'valid' | 'invalid' | 'needs-chain'

/**
 * Checks a message's signature as far as it can be checked without the chain.
 *
 * @example
 * ```ts
 * const check = checkStreamMessageSignature(message, pureSignatureVerifier)
 * if (check === 'needs-chain') accept = await erc1271.isValidSignature(message.publisherId, erc1271Digest(message), message.signature)
 * ```
 */
export function checkStreamMessageSignature(message: StreamMessage, verifier: SignatureVerifier): SignatureCheck {
  if (message.signatureType === SignatureType.Erc1271) return 'needs-chain'
  return verifyStreamMessage(message, verifier) ? 'valid' : 'invalid'
}

/**
 * The 32-byte hash an ERC-1271 publisher's wallet is asked about (`isValidSignature(hash, signature)`): the same
 * EIP-191 hash of the canonical payload that a key-signed message's signature covers. The payload ends with the
 * signature type, so a relay can't pass a wallet's signature off as a key's or the other way round.
 *
 * @example
 * ```ts
 * const ok = await erc1271Verifier.isValidSignature(message.publisherId, erc1271Digest(message), message.signature)
 * ```
 */
export function erc1271Digest(message: StreamMessage): Uint8Array {
  return hashPersonalMessage(createSignaturePayload(message))
}

/**
 * A signer for an ERC-1271 wallet whose owner's `personal_sign` signature of the payload is what the wallet accepts
 * for its hash (as `ExampleErc1271Wallet` and other single-owner wallets do): its address is the wallet's, its
 * signatures are the owner's. Wallets with other rules (several owners, wrapped signatures) need a signer of their own
 * with the same shape. `signStreamMessage` with it makes messages of type 2 published by the wallet.
 *
 * @example
 * ```ts
 * const signer = createErc1271Signer(walletAddress, createPureSigner(ownerPrivateKey))
 * const message = await signStreamMessage(fields, signer) // signatureType 2, publisherId the wallet
 * ```
 */
export function createErc1271Signer(wallet: EthereumAddress, owner: MessageSigner): MessageSigner {
  return {
    address: wallet,
    signatureType: SignatureType.Erc1271,
    signPersonalMessage: (payload) => owner.signPersonalMessage(payload),
  }
}
