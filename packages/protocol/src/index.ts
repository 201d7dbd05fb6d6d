/**
 * `@runnel/protocol`: the pure, browser-safe core of Runnel. Identities,
 * stream ids, the message model, the wire codec and signatures.
 *
 * @example
 * ```ts
 * import { generatePrivateKey, createPureSigner, toStreamId, MessageId, ContentType,
 *   encodeJsonContent, signStreamMessage, encodeStreamMessage, decodeStreamMessage,
 *   verifyStreamMessage, pureSignatureVerifier } from '@runnel/protocol'
 *
 * const signer = createPureSigner(generatePrivateKey())
 * const streamId = toStreamId(signer.address, '/sensors/temperature')
 * const message = await signStreamMessage({
 *   messageId: new MessageId(streamId, 0, Date.now(), 0, signer.address, 'chain-1'),
 *   contentType: ContentType.Json,
 *   content: encodeJsonContent({ celsius: 21.5 }),
 * }, signer)
 * const received = decodeStreamMessage(encodeStreamMessage(message))
 * verifyStreamMessage(received, pureSignatureVerifier) // true
 * ```
 * @packageDocumentation
 */
export {
  ERROR_CATEGORIES,
  ProtocolError,
  RunnelError,
  describeValue,
  errorCategoryOf,
  escapeControlCharacters,
  shortMessageOf,
  walkCauses,
  type ErrorCategory,
  type ErrorCategoryInfo,
  type ProtocolErrorCode,
  type RunnelErrorOptions,
} from './errors/index.js'
export { ManualClock, sleep, systemClock, type Clock, type Timer, type TimerOptions } from './time/index.js'
export {
  ZERO_ADDRESS,
  addressFromBytes,
  addressFromPublicKey,
  addressToBytes,
  isEthereumAddress,
  parseEthereumAddress,
  toChecksumAddress,
  type EthereumAddress,
  type UserId,
} from './identity/address.js'
export { addressFromPrivateKey, generatePrivateKey, parsePrivateKey, type PrivateKeyHex } from './identity/keys.js'
export {
  MAX_PARTITION_COUNT,
  MAX_STREAM_ID_LENGTH,
  MAX_STREAM_PATH_LENGTH,
  parsePartition,
  parseStreamId,
  parseStreamPartId,
  splitStreamId,
  splitStreamPartId,
  toStreamId,
  toStreamPartId,
  type StreamId,
  type StreamPartId,
} from './ids/stream.js'
export { partitionFromKey } from './ids/partition.js'
export { MAX_SEQUENCE_NUMBER, MessageRef } from './message/MessageRef.js'
export { MAX_MESSAGE_CHAIN_ID_LENGTH, MessageId } from './message/MessageId.js'
export {
  ContentType,
  EncryptionType,
  MAX_GROUP_KEY_ID_LENGTH,
  MessageType,
  SignatureType,
  StreamMessage,
  type EncryptedGroupKey,
  type StreamMessageFields,
} from './message/StreamMessage.js'
export {
  DEFAULT_MAX_MESSAGE_SIZE,
  WIRE_VERSION,
  decodeStreamMessage,
  encodeStreamMessage,
  type CodecOptions,
} from './codec/streamMessageCodec.js'
export { bytesToHex } from './encoding/hex.js'
export { MESSAGE_FRAMES_CONTENT_TYPE, MessageFrameReader, frameMessage } from './codec/messageFrames.js'
export { readStreamMessageHeader, type StreamMessageHeader } from './codec/header.js'
export {
  MAX_ERC1271_SIGNATURE_LENGTH,
  SIGNATURE_LENGTH,
  checkErc1271SignatureFormat,
  checkSignatureFormat,
} from './signing/signatureFormat.js'
export { createSignaturePayload, createTaggedPayload, hashPersonalMessage } from './signing/payload.js'
export type { MessageSigner, SignatureVerifier } from './signing/signer.js'
export { createPureSigner, pureSignatureVerifier } from './signing/pure.js'
export {
  assertValidSignature,
  signStreamMessage,
  verifyStreamMessage,
  type UnsignedStreamMessageFields,
} from './signing/streamMessageSigning.js'
export {
  checkStreamMessageSignature,
  createErc1271Signer,
  erc1271Digest,
  type SignatureCheck,
} from './signing/erc1271.js'
export { encodeJsonContent, parseJsonContent } from './content/json.js'
export {
  describeLocation,
  describePlacement,
  isLocationAllowed,
  parseCountryCode,
  parseNodeLocation,
  parsePlacement,
  parseRegion,
  restrictsLocation,
  type NodeLocation,
  type PlacementConstraint,
} from './placement/placement.js'
export { COUNTRY_CODES, COUNTRY_GROUPS } from './placement/countries.js'
export { keccak256, whenHashingReady } from './crypto/keccak.js'
export { parseSecp256k1PublicKey, secp256k1PublicKey, secp256k1SharedSecret } from './crypto/ecdh.js'
export {
  decodeSignedReceipt,
  encodeSignedReceipt,
  openReceipt,
  readReceipt,
  receiptDigest,
  signReceipt,
  type Receipt,
  type ReceiptDigestEntry,
  type ReceiptKind,
  type SignedReceipt,
} from './receipts/receipts.js'
