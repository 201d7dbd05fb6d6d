import { keccak256 } from '../crypto/keccak.js'
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
  // Every string field is validated ASCII, so characters are bytes: writing
  // char codes directly avoids an encoder allocation per field.
  const id = message.messageId
  const groupKeyId = message.groupKeyId ?? ''
  const newKey = message.newGroupKey
  const length =
    PAYLOAD_TAG.length +
    (2 + id.streamId.length) +
    (1 + 8 + 4 + 20) +
    (1 + id.messageChainId.length) +
    (1 + (message.prevMsgRef === undefined ? 0 : 12)) +
    3 +
    (1 + groupKeyId.length) +
    (1 + (newKey === undefined ? 0 : 1 + newKey.id.length + 4 + newKey.data.length)) +
    (4 + message.content.length) +
    1
  const out = new Uint8Array(length)
  const view = new DataView(out.buffer)
  out.set(PAYLOAD_TAG, 0)
  let at = PAYLOAD_TAG.length
  view.setUint16(at, id.streamId.length)
  at = writeAscii(out, at + 2, id.streamId)
  out[at] = id.streamPartition
  at = writeUint64(view, at + 1, id.timestamp)
  view.setUint32(at, id.sequenceNumber)
  at = writeHex(out, at + 4, id.publisherId, 2)
  out[at] = id.messageChainId.length
  at = writeAscii(out, at + 1, id.messageChainId)
  if (message.prevMsgRef === undefined) {
    out[at++] = 0
  } else {
    out[at] = 1
    at = writeUint64(view, at + 1, message.prevMsgRef.timestamp)
    view.setUint32(at, message.prevMsgRef.sequenceNumber)
    at += 4
  }
  out[at++] = message.messageType
  out[at++] = message.contentType
  out[at++] = message.encryptionType
  out[at] = groupKeyId.length
  at = writeAscii(out, at + 1, groupKeyId)
  if (newKey === undefined) {
    out[at++] = 0
  } else {
    out[at] = 1
    out[at + 1] = newKey.id.length
    at = writeAscii(out, at + 2, newKey.id)
    view.setUint32(at, newKey.data.length)
    out.set(newKey.data, at + 4)
    at += 4 + newKey.data.length
  }
  view.setUint32(at, message.content.length)
  out.set(message.content, at + 4)
  at += 4 + message.content.length
  out[at] = message.signatureType
  return out
}

function writeAscii(out: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) out[at + i] = text.charCodeAt(i)
  return at + text.length
}

/** Writes lowercase hex digits from `text[from..]` as bytes until `out` position `at + 20`. */
function writeHex(out: Uint8Array, at: number, text: string, from: number): number {
  for (let i = 0; i < 20; i++) {
    out[at + i] = (hexValue(text.charCodeAt(from + 2 * i)) << 4) | hexValue(text.charCodeAt(from + 2 * i + 1))
  }
  return at + 20
}

function hexValue(charCode: number): number {
  // '0'..'9' → 0..9, 'a'..'f' → 10..15 (addresses are normalized lowercase).
  return charCode <= 57 ? charCode - 48 : charCode - 87
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
  return keccak256(EIP191_PREFIX, textEncoder.encode(String(payload.length)), payload)
}

/**
 * What a signature over a protocol record other than a message covers: its
 * domain tag (`runnel/v1/<kind>` and a 0x00 byte, so a signature made for one
 * kind of record can't pass for another) and then the record's bytes as
 * carried (docs/protocol.md: tracker requests, receipts).
 *
 * @example
 * ```ts
 * const signature = await signer.signPersonalMessage(createTaggedPayload('receipt', receiptBytes))
 * ```
 */
export function createTaggedPayload(kind: string, bytes: Uint8Array): Uint8Array {
  const tag = textEncoder.encode(`runnel/v1/${kind}\0`)
  const payload = new Uint8Array(tag.length + bytes.length)
  payload.set(tag)
  payload.set(bytes, tag.length)
  return payload
}
