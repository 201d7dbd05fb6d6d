import { ProtocolError, describeValue } from '../errors/index.js'
import { checkErc1271SignatureFormat, checkSignatureFormat } from '../signing/signatureFormat.js'
import type { EthereumAddress } from '../identity/address.js'
import type { StreamId, StreamPartId } from '../ids/stream.js'
import { MessageId } from './MessageId.js'
import { MessageRef } from './MessageRef.js'

/** Numeric values match the wire enums in `stream_message.proto`. */
export enum MessageType {
  Data = 1,
  GroupKeyRequest = 2,
  GroupKeyResponse = 3,
  /** A storage node's signed receipt for messages it committed (content: an encoded `SignedReceipt`). */
  StorageReceipt = 4,
  /** A storage node (re)joined the stream part: publishers re-offer what no receipt covers yet. */
  CatchUpRequest = 5,
  /** A publisher's re-offer of original signed messages that no receipt covers yet. */
  Reoffer = 6,
  /** Reserved: threshold custody deposits key shares with storage nodes over HTTP, never through a stream part. */
  GroupKeyShares = 7,
}

export enum ContentType {
  Json = 1,
  Binary = 2,
}

export enum EncryptionType {
  None = 1,
  Aes = 2,
}

export enum SignatureType {
  /** 65-byte r‖s‖v over the EIP-191 personal-message hash of the canonical payload. */
  Secp256k1Eip191 = 1,
  /**
   * Whatever the publisher's ERC-1271 smart-contract wallet accepts (1..1024 bytes) for the same EIP-191 hash; the
   * publisher id is the wallet's address. Only the chain can tell whether it is valid (`isValidSignature`), so
   * relays forward it unverified and subscribers and storage nodes ask the wallet (docs/protocol.md).
   */
  Erc1271 = 2,
}

/** A group key for rotation, itself encrypted under the current group key. */
export interface EncryptedGroupKey {
  readonly id: string
  readonly data: Uint8Array
}

/** Longest group key id. */
export const MAX_GROUP_KEY_ID_LENGTH = 128
const GROUP_KEY_ID_PATTERN = /^[\x21-\x7e]{1,128}$/

/** Everything a StreamMessage holds. Optional fields may be omitted. */
export interface StreamMessageFields {
  readonly messageId: MessageId
  readonly prevMsgRef?: MessageRef | undefined
  readonly messageType?: MessageType | undefined
  readonly contentType: ContentType
  readonly encryptionType?: EncryptionType | undefined
  readonly groupKeyId?: string | undefined
  readonly newGroupKey?: EncryptedGroupKey | undefined
  readonly content: Uint8Array
  readonly signatureType?: SignatureType | undefined
  readonly signature: Uint8Array
}

/**
 * One signed message on a stream part. Immutable and validated on
 * construction: an instance that exists obeys every rule of docs/protocol.md
 * except the signature check itself, which needs a verifier
 * (see `verifyStreamMessage`).
 *
 * @example
 * ```ts
 * const message = await signStreamMessage({ messageId, contentType: ContentType.Json,
 *   content: encodeJsonContent({ temperature: 21.5 }) }, signer)
 * ```
 */
export class StreamMessage {
  readonly messageId: MessageId
  readonly prevMsgRef: MessageRef | undefined
  readonly messageType: MessageType
  readonly contentType: ContentType
  readonly encryptionType: EncryptionType
  readonly groupKeyId: string | undefined
  readonly newGroupKey: EncryptedGroupKey | undefined
  readonly content: Uint8Array
  readonly signatureType: SignatureType
  readonly signature: Uint8Array

  constructor(fields: StreamMessageFields) {
    if (!(fields.messageId instanceof MessageId)) {
      throw invalid('messageId', 'is required')
    }
    this.messageId = fields.messageId
    this.prevMsgRef = fields.prevMsgRef
    if (this.prevMsgRef !== undefined) {
      if (!(this.prevMsgRef instanceof MessageRef)) {
        throw invalid('prevMsgRef', 'must be a MessageRef')
      }
      const { timestamp, sequenceNumber } = this.messageId
      const previous = this.prevMsgRef
      if (
        previous.timestamp > timestamp ||
        (previous.timestamp === timestamp && previous.sequenceNumber >= sequenceNumber)
      ) {
        throw invalid(
          'prevMsgRef',
          `${this.prevMsgRef.toString()} must come before the message's own ref ${this.messageId
            .toMessageRef()
            .toString()}`,
        )
      }
    }
    this.messageType = checkEnum(MessageType, fields.messageType ?? MessageType.Data, 'messageType')
    this.contentType = checkEnum(ContentType, fields.contentType, 'contentType')
    this.encryptionType = checkEnum(EncryptionType, fields.encryptionType ?? EncryptionType.None, 'encryptionType')
    this.groupKeyId = fields.groupKeyId === '' ? undefined : fields.groupKeyId
    this.newGroupKey = fields.newGroupKey
    if (this.encryptionType === EncryptionType.Aes) {
      if (this.groupKeyId === undefined) {
        throw invalid('groupKeyId', 'is required when encryptionType is AES')
      }
      checkGroupKeyId(this.groupKeyId, 'groupKeyId')
      if (this.newGroupKey !== undefined) {
        checkGroupKeyId(this.newGroupKey.id, 'newGroupKey.id')
        if (!(this.newGroupKey.data instanceof Uint8Array) || this.newGroupKey.data.length === 0) {
          throw invalid('newGroupKey.data', 'must be non-empty bytes')
        }
      }
    } else {
      if (this.groupKeyId !== undefined) {
        throw invalid('groupKeyId', 'must be empty when the message is not encrypted')
      }
      if (this.newGroupKey !== undefined) {
        throw invalid('newGroupKey', 'must be absent when the message is not encrypted')
      }
    }
    if (!(fields.content instanceof Uint8Array)) {
      throw invalid('content', 'must be a Uint8Array')
    }
    this.content = fields.content
    this.signatureType = checkEnum(
      SignatureType,
      fields.signatureType ?? SignatureType.Secp256k1Eip191,
      'signatureType',
    )
    this.signature =
      this.signatureType === SignatureType.Erc1271
        ? checkErc1271SignatureFormat(fields.signature)
        : checkSignatureFormat(fields.signature)
  }

  /**
   * A copy of this message with another signature. Used by signing, which
   * validates the fields once before spending time on the signature.
   */
  withSignature(signature: Uint8Array): StreamMessage {
    return new StreamMessage({ ...this, signature })
  }

  get streamId(): StreamId {
    return this.messageId.streamId
  }

  get streamPartition(): number {
    return this.messageId.streamPartition
  }

  get streamPartId(): StreamPartId {
    return this.messageId.streamPartId
  }

  get publisherId(): EthereumAddress {
    return this.messageId.publisherId
  }

  get messageChainId(): string {
    return this.messageId.messageChainId
  }

  get timestamp(): number {
    return this.messageId.timestamp
  }

  get sequenceNumber(): number {
    return this.messageId.sequenceNumber
  }

  getMessageRef(): MessageRef {
    return this.messageId.toMessageRef()
  }
}

function invalid(field: string, reason: string): ProtocolError {
  return new ProtocolError('INVALID_MESSAGE', `${field} ${reason}`, { field })
}

function checkEnum<E extends number>(enumObject: Record<string, string | number>, value: E, field: string): E {
  if (typeof value !== 'number' || typeof enumObject[value] !== 'string') {
    throw invalid(field, `has unknown value ${describeValue(value)}`)
  }
  return value
}

function checkGroupKeyId(id: string, field: string): void {
  if (typeof id !== 'string' || !GROUP_KEY_ID_PATTERN.test(id)) {
    throw invalid(field, `must be 1..${MAX_GROUP_KEY_ID_LENGTH} printable ASCII characters, got ${describeValue(id)}`)
  }
}
