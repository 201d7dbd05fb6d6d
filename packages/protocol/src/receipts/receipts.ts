import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { keccak256 } from '../crypto/keccak.js'
import { ProtocolError, describeValue } from '../errors/index.js'
import { addressFromBytes, addressToBytes, type EthereumAddress } from '../identity/address.js'
import { parseStreamPartId, type StreamPartId } from '../ids/stream.js'
import { MESSAGE_CHAIN_ID_PATTERN } from '../message/MessageId.js'
import { MessageRef } from '../message/MessageRef.js'
import { SignatureType } from '../message/StreamMessage.js'
import { MessageRefSchema } from '../generated/runnel/protocol/v1/stream_message_pb.js'
import {
  ReceiptKind as ReceiptKindProto,
  ReceiptSchema,
  SignedReceiptSchema,
  type Receipt as ReceiptProto,
} from '../generated/runnel/protocol/v1/receipt_pb.js'
import { createTaggedPayload } from '../signing/payload.js'
import { SIGNATURE_LENGTH, checkErc1271SignatureFormat, checkSignatureFormat } from '../signing/signatureFormat.js'
import type { MessageSigner, SignatureVerifier } from '../signing/signer.js'

/** What a receipt attests: `stored`, the signer committed every covered message durably. */
export type ReceiptKind = 'stored'

/**
 * A node's signed statement about a range of one publisher chain's messages
 * in one stream part: storage acknowledgements first, later delivery
 * accounting and storage proofs.
 */
export interface Receipt {
  readonly kind: ReceiptKind
  /** Who signed it; the signature recovers to this address. */
  readonly signerId: EthereumAddress
  readonly streamPartId: StreamPartId
  readonly publisherId: EthereumAddress
  readonly messageChainId: string
  /** First covered message, included. */
  readonly from: MessageRef
  /** Last covered message, included. */
  readonly to: MessageRef
  /** How many messages of the chain the signer holds in the range. */
  readonly messageCount: number
  /** {@link receiptDigest} of the covered messages' signatures, 32 bytes. */
  readonly digest: Uint8Array
  /** When it was signed, ms since the Unix epoch. */
  readonly signedAt: number
}

/** A receipt as it travels: the encoded receipt, verified as carried, and its 65-byte signature. */
export interface SignedReceipt {
  readonly receipt: Uint8Array
  readonly signature: Uint8Array
}

/** A receipt's encoding is small; anything far larger is no receipt. */
const MAX_RECEIPT_BYTES = 1024

const KINDS: Record<ReceiptKind, ReceiptKindProto> = { stored: ReceiptKindProto.STORED }

function signedPayload(receipt: Uint8Array): Uint8Array {
  return createTaggedPayload('receipt', receipt)
}

/** A covered message's signature with its type; a bare `Uint8Array` is a key's 65-byte signature (type 1). */
export interface ReceiptDigestEntry {
  readonly signatureType: SignatureType
  readonly signature: Uint8Array
}

/**
 * The digest a receipt carries: keccak256 over one 65-byte entry per covered
 * message, concatenated in ref order. A key-signed message's entry is its
 * signature; an ERC-1271 publisher's (variable length, up to 1 KiB) is
 * keccak256(signature) ‖ 32 zero bytes ‖ 0x00, so entries stay fixed-length
 * (the concatenation is unambiguous) and its last byte, never 27 or 28, can't
 * pass for a key's signature. Who holds the messages can check exactly which
 * ones a receipt is about; a signature names its message, since it covers
 * every field.
 *
 * @example
 * ```ts
 * const digest = receiptDigest(messages) // or messages.map((message) => message.signature) when all are key-signed
 * ```
 * @throws {@link ProtocolError} `INVALID_SIGNATURE_FORMAT` for a key's signature that isn't 65 bytes
 */
export function receiptDigest(signatures: readonly (Uint8Array | ReceiptDigestEntry)[]): Uint8Array {
  const bytes = new Uint8Array(signatures.length * SIGNATURE_LENGTH)
  signatures.forEach((entry, index) => {
    if (entry instanceof Uint8Array || entry.signatureType !== SignatureType.Erc1271) {
      const signature = entry instanceof Uint8Array ? entry : entry.signature
      checkSignatureFormat(signature)
      bytes.set(signature, index * SIGNATURE_LENGTH)
    } else {
      bytes.set(keccak256(checkErc1271SignatureFormat(entry.signature)), index * SIGNATURE_LENGTH)
    }
  })
  return keccak256(bytes)
}

/**
 * Encodes and signs a receipt as `signer`.
 *
 * @example
 * ```ts
 * const signed = await signReceipt(
 *   { kind: 'stored', streamPartId, publisherId, messageChainId, from, to, messageCount: 2, digest, signedAt: Date.now() },
 *   storageNodeSigner,
 * )
 * ```
 * @throws {@link ProtocolError} `INVALID_RECEIPT` for fields no receipt may have (checked as {@link openReceipt} does)
 */
export async function signReceipt(fields: Omit<Receipt, 'signerId'>, signer: MessageSigner): Promise<SignedReceipt> {
  const receipt: Receipt = { ...fields, signerId: signer.address }
  validate(receipt)
  const encoded = toBinary(
    ReceiptSchema,
    create(ReceiptSchema, {
      kind: KINDS[receipt.kind],
      signerId: addressToBytes(receipt.signerId),
      streamPartId: receipt.streamPartId,
      publisherId: addressToBytes(receipt.publisherId),
      messageChainId: receipt.messageChainId,
      from: refToProto(receipt.from),
      to: refToProto(receipt.to),
      messageCount: receipt.messageCount,
      digest: receipt.digest,
      signedAt: BigInt(receipt.signedAt),
    }),
  )
  return { receipt: encoded, signature: await signer.signPersonalMessage(signedPayload(encoded)) }
}

/**
 * Decodes a signed receipt and checks it: every field well-formed, and the
 * signature made by the signer it names. Whether that signer may vouch for
 * the stream part (a storage node of the stream, say) is for the caller.
 *
 * @throws {@link ProtocolError} `INVALID_RECEIPT` naming what is wrong
 */
export function openReceipt(signed: SignedReceipt, verifier: SignatureVerifier): Receipt {
  const receipt = readReceipt(signed)
  const recovered = verifier.recoverPersonalMessageSigner(signedPayload(signed.receipt), signed.signature)
  if (recovered !== receipt.signerId) {
    throw invalid(`the signature is not ${receipt.signerId}'s (it recovers to ${recovered ?? 'no address'})`)
  }
  return receipt
}

/**
 * Decodes a signed receipt and checks its fields and the signature's format,
 * but not whose signature it is: for a receiver that first looks at what a
 * receipt is about (most are about others' messages) before paying for
 * {@link openReceipt}'s signature check. Never act on what it returns alone.
 *
 * @example
 * ```ts
 * if (readReceipt(signed).publisherId === myAddress) take(openReceipt(signed, verifier))
 * ```
 * @throws {@link ProtocolError} `INVALID_RECEIPT` naming what is wrong
 */
export function readReceipt(signed: SignedReceipt): Receipt {
  if (!(signed.receipt instanceof Uint8Array) || signed.receipt.length > MAX_RECEIPT_BYTES) {
    throw invalid(`the receipt must be at most ${MAX_RECEIPT_BYTES} bytes`)
  }
  try {
    checkSignatureFormat(signed.signature)
  } catch (err) {
    throw invalid(`signature: ${(err as Error).message}`, err)
  }
  let proto: ReceiptProto
  try {
    proto = fromBinary(ReceiptSchema, signed.receipt, { readUnknownFields: false })
  } catch (err) {
    throw invalid('the receipt is not a protobuf Receipt', err)
  }
  const receipt = fromProto(proto)
  validate(receipt)
  return receipt
}

/** Wire bytes of a signed receipt (a protobuf `SignedReceipt`). */
export function encodeSignedReceipt(signed: SignedReceipt): Uint8Array {
  return toBinary(SignedReceiptSchema, create(SignedReceiptSchema, signed))
}

/**
 * Reads a signed receipt's wire bytes; {@link openReceipt} then checks it.
 *
 * @throws {@link ProtocolError} `INVALID_RECEIPT` for bytes that aren't a SignedReceipt
 */
export function decodeSignedReceipt(bytes: Uint8Array): SignedReceipt {
  if (bytes.length > MAX_RECEIPT_BYTES + SIGNATURE_LENGTH + 16) throw invalid('the signed receipt is too large')
  try {
    const { receipt, signature } = fromBinary(SignedReceiptSchema, bytes, { readUnknownFields: false })
    return { receipt, signature }
  } catch (err) {
    throw invalid('the bytes are not a protobuf SignedReceipt', err)
  }
}

function fromProto(proto: ReceiptProto): Receipt {
  const kind = (Object.keys(KINDS) as ReceiptKind[]).find((name) => KINDS[name] === proto.kind)
  if (kind === undefined) throw invalid(`unknown kind ${proto.kind}`)
  if (proto.signerId.length !== 20) throw invalid('signerId must be 20 bytes')
  if (proto.publisherId.length !== 20) throw invalid('publisherId must be 20 bytes')
  if (proto.from === undefined || proto.to === undefined) throw invalid('from and to are required')
  return {
    kind,
    signerId: addressFromBytes(proto.signerId),
    streamPartId: proto.streamPartId as StreamPartId,
    publisherId: addressFromBytes(proto.publisherId),
    messageChainId: proto.messageChainId,
    from: refFromProto(proto.from, 'from'),
    to: refFromProto(proto.to, 'to'),
    messageCount: proto.messageCount,
    digest: proto.digest,
    signedAt: safeNumber(proto.signedAt, 'signedAt'),
  }
}

function validate(receipt: Receipt): void {
  if (!(receipt.kind in KINDS)) throw invalid(`unknown kind ${describeValue(receipt.kind)}`)
  try {
    parseStreamPartId(receipt.streamPartId)
  } catch (err) {
    throw invalid(`streamPartId: ${(err as Error).message}`, err)
  }
  if (typeof receipt.messageChainId !== 'string' || !MESSAGE_CHAIN_ID_PATTERN.test(receipt.messageChainId)) {
    throw invalid(
      `messageChainId must be 1..64 characters of [A-Za-z0-9._-], got ${describeValue(receipt.messageChainId)}`,
    )
  }
  if (!(receipt.from instanceof MessageRef) || !(receipt.to instanceof MessageRef)) {
    throw invalid('from and to must be MessageRefs')
  }
  if (receipt.from.compareTo(receipt.to) > 0) throw invalid('from is after to')
  if (!Number.isInteger(receipt.messageCount) || receipt.messageCount < 1 || receipt.messageCount > 0xffff_ffff) {
    throw invalid(`messageCount must be 1..4294967295, got ${describeValue(receipt.messageCount)}`)
  }
  if (!(receipt.digest instanceof Uint8Array) || receipt.digest.length !== 32) throw invalid('digest must be 32 bytes')
  if (!Number.isSafeInteger(receipt.signedAt) || receipt.signedAt < 0) {
    throw invalid(`signedAt must be ms since 1970, got ${describeValue(receipt.signedAt)}`)
  }
}

function refToProto(ref: MessageRef) {
  return create(MessageRefSchema, { timestamp: BigInt(ref.timestamp), sequenceNumber: ref.sequenceNumber })
}

function refFromProto(proto: { timestamp: bigint; sequenceNumber: number }, field: string): MessageRef {
  try {
    return new MessageRef(safeNumber(proto.timestamp, `${field}.timestamp`), proto.sequenceNumber)
  } catch (err) {
    throw invalid(`${field}: ${(err as Error).message}`, err)
  }
}

function safeNumber(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`${field} is beyond 2^53 − 1`)
  return Number(value)
}

function invalid(reason: string, cause?: unknown): ProtocolError {
  return new ProtocolError('INVALID_RECEIPT', `invalid receipt: ${reason}`, cause === undefined ? {} : { cause })
}
