import { ProtocolError } from '../errors/index.js'
import { SignatureType, StreamMessage, type StreamMessageFields } from '../message/StreamMessage.js'
import { createSignaturePayload } from './payload.js'
import type { MessageSigner, SignatureVerifier } from './signer.js'

// Placeholder that passes the format check, so fields are validated before a
// signature is computed (signing is the expensive step).
const UNSIGNED = new Uint8Array(65)
UNSIGNED[64] = 27
const UNSIGNED_ERC1271 = new Uint8Array(1)

/** The fields of a message to sign: everything but the signature. */
export type UnsignedStreamMessageFields = Omit<StreamMessageFields, 'signature' | 'signatureType'>

/**
 * Validates the fields, signs them and returns the signed message. A signer with a `signatureType` (an ERC-1271
 * wallet's, see `createErc1271Signer`) makes a message of that type.
 *
 * @example
 * ```ts
 * const signer = createPureSigner(privateKey)
 * const message = await signStreamMessage({
 *   messageId: new MessageId(streamId, 0, Date.now(), 0, signer.address, 'chain-1'),
 *   contentType: ContentType.Json,
 *   content: encodeJsonContent({ temperature: 21.5 }),
 * }, signer)
 * ```
 * @throws {@link ProtocolError} `INVALID_MESSAGE` if a field is invalid or the signer is not the publisher
 */
export async function signStreamMessage(
  fields: UnsignedStreamMessageFields,
  signer: MessageSigner,
): Promise<StreamMessage> {
  const signatureType = signer.signatureType ?? SignatureType.Secp256k1Eip191
  const unsigned = new StreamMessage({
    ...fields,
    signatureType,
    signature: signatureType === SignatureType.Erc1271 ? UNSIGNED_ERC1271 : UNSIGNED,
  })
  if (unsigned.publisherId !== signer.address) {
    throw new ProtocolError(
      'INVALID_MESSAGE',
      `messageId.publisherId ${unsigned.publisherId} differs from the signer's address ${signer.address}`,
      { field: 'messageId.publisherId' },
    )
  }
  const signature = await signer.signPersonalMessage(createSignaturePayload(unsigned))
  return unsigned.withSignature(signature)
}

/**
 * True when the message's signature was made by its publisher over exactly
 * these fields. Always false for an ERC-1271 publisher's message
 * ({@link SignatureType.Erc1271}): only the chain can tell
 * (see `checkStreamMessageSignature`).
 *
 * @example
 * ```ts
 * if (!verifyStreamMessage(message, pureSignatureVerifier)) drop(message)
 * ```
 */
export function verifyStreamMessage(message: StreamMessage, verifier: SignatureVerifier): boolean {
  return (
    message.signatureType === SignatureType.Secp256k1Eip191 &&
    verifier.recoverPersonalMessageSigner(createSignaturePayload(message), message.signature) === message.publisherId
  )
}

/**
 * Like {@link verifyStreamMessage}, but throws a typed error that names the message.
 *
 * @throws {@link ProtocolError} `SIGNATURE_VERIFICATION_FAILED`
 */
export function assertValidSignature(message: StreamMessage, verifier: SignatureVerifier): void {
  if (!verifyStreamMessage(message, verifier)) {
    throw new ProtocolError(
      'SIGNATURE_VERIFICATION_FAILED',
      message.signatureType === SignatureType.Erc1271
        ? `message ${message.messageId.toString()} is signed by the ERC-1271 wallet ${message.publisherId}: only the chain can verify it`
        : `message ${message.messageId.toString()} is not signed by its publisher ${message.publisherId}`,
      { field: 'signature' },
    )
  }
}
