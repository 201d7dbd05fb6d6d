import { messageIdJson } from '@runnel/client'
import {
  ContentType,
  EncryptionType,
  MessageType,
  SignatureType,
  decodeStreamMessage,
  type StreamMessage,
} from '@runnel/protocol'

// Enum values by the protocol enums' member names in lower camel case; the node README maps each to its wire value.
const MESSAGE_TYPES: Record<MessageType, string> = {
  [MessageType.Data]: 'data',
  [MessageType.GroupKeyRequest]: 'groupKeyRequest',
  [MessageType.GroupKeyResponse]: 'groupKeyResponse',
  [MessageType.StorageReceipt]: 'storageReceipt',
  [MessageType.CatchUpRequest]: 'catchUpRequest',
  [MessageType.Reoffer]: 'reoffer',
  [MessageType.GroupKeyShares]: 'groupKeyShares',
}
const CONTENT_TYPES: Record<ContentType, string> = { [ContentType.Json]: 'json', [ContentType.Binary]: 'binary' }
const ENCRYPTION_TYPES: Record<EncryptionType, string> = {
  [EncryptionType.None]: 'none',
  [EncryptionType.Aes]: 'aes',
}
const SIGNATURE_TYPES: Record<SignatureType, string> = {
  [SignatureType.Secp256k1Eip191]: 'secp256k1Eip191',
  [SignatureType.Erc1271]: 'erc1271',
}

const textDecoder = new TextDecoder()

const base64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64')

/**
 * A stored message as one line of history NDJSON. Besides a readable view
 * (`content` as parsed JSON), the line holds every field the signature
 * covers, content as the exact bytes signed (`contentBase64`), so a verifier
 * can rebuild the signature payload from the line alone; `message` is the
 * whole signed message in its wire encoding.
 */
export function toHistoryJsonLine(bytes: Uint8Array): string {
  const message = decodeStreamMessage(bytes)
  const encrypted = message.encryptionType === EncryptionType.Aes
  // Encrypted content is ciphertext whatever its type: base64, like binary.
  const binary = encrypted || message.contentType !== ContentType.Json
  const contentBase64 = base64(message.content)
  return `${JSON.stringify({
    ...messageIdJson(message),
    prevMsgRef:
      message.prevMsgRef === undefined
        ? null
        : { timestamp: message.prevMsgRef.timestamp, sequenceNumber: message.prevMsgRef.sequenceNumber },
    messageType: MESSAGE_TYPES[message.messageType],
    contentType: CONTENT_TYPES[message.contentType],
    encryptionType: ENCRYPTION_TYPES[message.encryptionType],
    encrypted,
    groupKeyId: message.groupKeyId ?? null,
    newGroupKey: newGroupKeyOf(message),
    content: binary ? contentBase64 : (JSON.parse(textDecoder.decode(message.content)) as unknown),
    contentBase64,
    signatureType: SIGNATURE_TYPES[message.signatureType],
    signature: `0x${Buffer.from(message.signature).toString('hex')}`,
    message: base64(bytes),
  })}\n`
}

function newGroupKeyOf(message: StreamMessage): { id: string; data: string } | null {
  const key = message.newGroupKey
  return key === undefined ? null : { id: key.id, data: base64(key.data) }
}
