import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { ProtocolError } from '../errors/index.js'
import { addressFromBytes, addressToBytes } from '../identity/address.js'
import { MessageId } from '../message/MessageId.js'
import { MessageRef } from '../message/MessageRef.js'
import { StreamMessage } from '../message/StreamMessage.js'
import {
  MessageIdSchema,
  MessageRefSchema,
  StreamMessageSchema,
  type StreamMessage as StreamMessageProto,
} from '../generated/runnel/protocol/v1/stream_message_pb.js'

/** First byte of every encoded StreamMessage. Bumped only for incompatible changes. */
export const WIRE_VERSION = 1
/** Default upper bound for an encoded message: 1 MiB. */
export const DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024

export interface CodecOptions {
  /** Largest encoded message accepted or produced, in bytes. Default {@link DEFAULT_MAX_MESSAGE_SIZE}. */
  readonly maxMessageSize?: number
}

const MAX_SAFE_BIGINT = BigInt(Number.MAX_SAFE_INTEGER)
const binaryReadOptions = { readUnknownFields: false }

/**
 * Encodes a message for the wire: the version byte, then its protobuf encoding.
 *
 * @example
 * ```ts
 * const bytes = encodeStreamMessage(message)
 * socket.send(bytes)
 * ```
 * @throws {@link ProtocolError} `MESSAGE_TOO_LARGE`
 */
export function encodeStreamMessage(message: StreamMessage, options?: CodecOptions): Uint8Array {
  const id = message.messageId
  const proto = create(StreamMessageSchema, {
    messageId: create(MessageIdSchema, {
      streamId: id.streamId,
      streamPartition: id.streamPartition,
      timestamp: BigInt(id.timestamp),
      sequenceNumber: id.sequenceNumber,
      publisherId: addressToBytes(id.publisherId),
      messageChainId: id.messageChainId,
    }),
    previousRef:
      message.prevMsgRef === undefined
        ? undefined
        : create(MessageRefSchema, {
            timestamp: BigInt(message.prevMsgRef.timestamp),
            sequenceNumber: message.prevMsgRef.sequenceNumber,
          }),
    messageType: message.messageType as number,
    contentType: message.contentType as number,
    encryptionType: message.encryptionType as number,
    groupKeyId: message.groupKeyId ?? '',
    newGroupKey: message.newGroupKey === undefined ? undefined : { ...message.newGroupKey },
    content: message.content,
    signatureType: message.signatureType as number,
    signature: message.signature,
  })
  const body = toBinary(StreamMessageSchema, proto)
  const maxMessageSize = options?.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE
  if (body.length + 1 > maxMessageSize) {
    throw new ProtocolError(
      'MESSAGE_TOO_LARGE',
      `encoded message is ${body.length + 1} bytes; the limit is ${maxMessageSize}`,
    )
  }
  const out = new Uint8Array(body.length + 1)
  out[0] = WIRE_VERSION
  out.set(body, 1)
  return out
}

/**
 * Decodes and fully validates a message from untrusted bytes. Returns a valid
 * {@link StreamMessage} or throws {@link ProtocolError}; never anything else.
 * The signature is checked for form here, and for authenticity by
 * `verifyStreamMessage`.
 *
 * @example
 * ```ts
 * try {
 *   const message = decodeStreamMessage(bytes, { maxMessageSize: 64 * 1024 })
 * } catch (err) {
 *   // err is a ProtocolError: err.code tells what was wrong
 * }
 * ```
 * @throws {@link ProtocolError} `MESSAGE_TOO_LARGE`, `UNSUPPORTED_VERSION`, `MALFORMED_BYTES`,
 * `INVALID_MESSAGE`, `INVALID_SIGNATURE_FORMAT`
 */
export function decodeStreamMessage(bytes: Uint8Array, options?: CodecOptions): StreamMessage {
  const maxMessageSize = options?.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE
  if (!(bytes instanceof Uint8Array)) {
    throw new ProtocolError('MALFORMED_BYTES', 'expected a Uint8Array')
  }
  if (bytes.length > maxMessageSize) {
    throw new ProtocolError('MESSAGE_TOO_LARGE', `message is ${bytes.length} bytes; the limit is ${maxMessageSize}`)
  }
  if (bytes.length === 0) {
    throw new ProtocolError('MALFORMED_BYTES', 'empty message')
  }
  if (bytes[0] !== WIRE_VERSION) {
    throw new ProtocolError(
      'UNSUPPORTED_VERSION',
      `wire version ${bytes[0]} is not supported (this implementation speaks version ${WIRE_VERSION})`,
    )
  }
  let proto: StreamMessageProto
  try {
    proto = fromBinary(StreamMessageSchema, bytes.subarray(1), binaryReadOptions)
  } catch (err) {
    throw new ProtocolError('MALFORMED_BYTES', `not a valid protobuf StreamMessage: ${errorText(err)}`, { cause: err })
  }
  try {
    return fromProto(proto)
  } catch (err) {
    if (err instanceof ProtocolError) {
      throw err
    }
    throw new ProtocolError('INVALID_MESSAGE', errorText(err), { cause: err })
  }
}

function fromProto(proto: StreamMessageProto): StreamMessage {
  const id = proto.messageId
  if (id === undefined) {
    throw new ProtocolError('INVALID_MESSAGE', 'messageId is missing', { field: 'messageId' })
  }
  if (id.publisherId.length !== 20) {
    throw new ProtocolError('INVALID_MESSAGE', `messageId.publisherId must be 20 bytes, got ${id.publisherId.length}`, {
      field: 'messageId.publisherId',
    })
  }
  const previous = proto.previousRef
  return new StreamMessage({
    messageId: new MessageId(
      id.streamId,
      id.streamPartition,
      toSafeNumber(id.timestamp, 'messageId.timestamp'),
      id.sequenceNumber,
      addressFromBytes(id.publisherId),
      id.messageChainId,
    ),
    prevMsgRef:
      previous === undefined
        ? undefined
        : new MessageRef(toSafeNumber(previous.timestamp, 'prevMsgRef.timestamp'), previous.sequenceNumber),
    messageType: proto.messageType as number,
    contentType: proto.contentType as number,
    encryptionType: proto.encryptionType as number,
    groupKeyId: proto.groupKeyId,
    newGroupKey:
      proto.newGroupKey === undefined ? undefined : { id: proto.newGroupKey.id, data: proto.newGroupKey.data },
    content: proto.content,
    signatureType: proto.signatureType as number,
    signature: proto.signature,
  })
}

function toSafeNumber(value: bigint, field: string): number {
  if (value > MAX_SAFE_BIGINT) {
    throw new ProtocolError('INVALID_MESSAGE', `${field} ${value} exceeds the largest safe integer`, { field })
  }
  return Number(value)
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
