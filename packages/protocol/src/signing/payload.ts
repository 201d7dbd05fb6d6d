import { keccak_256 } from '@noble/hashes/sha3.js'
import { addressToBytes } from '../identity/address.js'
import type { StreamMessage } from '../message/StreamMessage.js'

const textEncoder = new TextEncoder()
/** Domain tag, so a signature over a Runnel message can't pass for any other signed text. */
const PAYLOAD_TAG = textEncoder.encode('runnel/v1/message\0')
const EIP191_PREFIX = textEncoder.encode('\x19Ethereum Signed Message:\n')
const TWO_POW_32 = 2 ** 32

/**
 * The canonical bytes a message's signature covers: every field except the
 * signature, in a fixed length-prefixed layout (docs/protocol.md, "Signing").
 * Protobuf bytes are not signed because protobuf encoding is not canonical.
 */
export function createSignaturePayload(message: StreamMessage): Uint8Array {
  const id = message.messageId
  const streamId = textEncoder.encode(id.streamId)
  const chainId = textEncoder.encode(id.messageChainId)
  const groupKeyId = textEncoder.encode(message.groupKeyId ?? '')
  const newKey = message.newGroupKey
  const newKeyId = newKey === undefined ? undefined : textEncoder.encode(newKey.id)
  const length =
    PAYLOAD_TAG.length +
    2 + streamId.length +
    1 + 8 + 4 + 20 +
    1 + chainId.length +
    1 + (message.prevMsgRef === undefined ? 0 : 12) +
    3 +
    1 + groupKeyId.length +
    1 + (newKey === undefined ? 0 : 1 + newKeyId!.length + 4 + newKey.data.length) +
    4 + message.content.length +
    1
  const out = new Uint8Array(length)
  const view = new DataView(out.buffer)
  let at = 0
  out.set(PAYLOAD_TAG, at)
  at += PAYLOAD_TAG.length
  view.setUint16(at, streamId.length)
  out.set(streamId, at + 2)
  at += 2 + streamId.length
  view.setUint8(at, id.streamPartition)
  at = writeUint64(view, at + 1, id.timestamp)
  view.setUint32(at, id.sequenceNumber)
  out.set(addressToBytes(id.publisherId), at + 4)
  at += 24
  view.setUint8(at, chainId.length)
  out.set(chainId, at + 1)
  at += 1 + chainId.length
  if (message.prevMsgRef === undefined) {
    view.setUint8(at++, 0)
  } else {
    view.setUint8(at, 1)
    at = writeUint64(view, at + 1, message.prevMsgRef.timestamp)
    view.setUint32(at, message.prevMsgRef.sequenceNumber)
    at += 4
  }
  view.setUint8(at++, message.messageType)
  view.setUint8(at++, message.contentType)
  view.setUint8(at++, message.encryptionType)
  view.setUint8(at, groupKeyId.length)
  out.set(groupKeyId, at + 1)
  at += 1 + groupKeyId.length
  if (newKey === undefined) {
    view.setUint8(at++, 0)
  } else {
    view.setUint8(at, 1)
    view.setUint8(at + 1, newKeyId!.length)
    out.set(newKeyId!, at + 2)
    at += 2 + newKeyId!.length
    view.setUint32(at, newKey.data.length)
    out.set(newKey.data, at + 4)
    at += 4 + newKey.data.length
  }
  view.setUint32(at, message.content.length)
  out.set(message.content, at + 4)
  at += 4 + message.content.length
  view.setUint8(at, message.signatureType)
  return out
}

function writeUint64(view: DataView, at: number, value: number): number {
  view.setUint32(at, Math.floor(value / TWO_POW_32))
  view.setUint32(at + 4, value >>> 0)
  return at + 8
}

/**
 * The EIP-191 (`personal_sign`) hash of a payload:
 * keccak256("\x19Ethereum Signed Message:\n" ‖ decimal length ‖ payload).
 * Wallets, ethers' `hashMessage` and viem's `hashMessage` compute the same.
 */
export function hashPersonalMessage(payload: Uint8Array): Uint8Array {
  return keccak_256
    .create()
    .update(EIP191_PREFIX)
    .update(textEncoder.encode(String(payload.length)))
    .update(payload)
    .digest()
}
