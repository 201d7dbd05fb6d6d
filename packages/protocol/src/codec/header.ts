import { BinaryReader, WireType } from '@bufbuild/protobuf/wire'
import { ProtocolError } from '../errors/index.js'
import { WIRE_VERSION } from './streamMessageCodec.js'

/** The routing and deduplication fields of an encoded message, read without decoding the rest. */
export interface StreamMessageHeader {
  readonly streamId: string
  readonly streamPartition: number
  readonly timestamp: number
  readonly sequenceNumber: number
  /** The 20 raw bytes of the publisher's address. */
  readonly publisherId: Uint8Array
  readonly messageChainId: string
  /**
   * The signature type as carried (0 when absent; unchecked). Relays key ERC-1271 messages by their signature too,
   * since they can't verify them (docs/protocol.md, "ERC-1271 publishers").
   */
  readonly signatureType: number
  /** The signature's bytes as carried (a view into the input, not a copy; unchecked). */
  readonly signature: Uint8Array
}

const MESSAGE_ID_FIELD = 1
const SIGNATURE_TYPE_FIELD = 9
const SIGNATURE_FIELD = 10

/**
 * Reads only the message id of an encoded StreamMessage: what a relay needs
 * to route it and to recognise a duplicate. Much cheaper than a full decode,
 * and checks nothing beyond what it reads: a message is fully validated with
 * `decodeStreamMessage` before anyone acts on it.
 *
 * @example
 * ```ts
 * const { publisherId, messageChainId, timestamp, sequenceNumber } = readStreamMessageHeader(bytes)
 * ```
 * @throws {@link ProtocolError} `UNSUPPORTED_VERSION`, `MALFORMED_BYTES`
 */
export function readStreamMessageHeader(bytes: Uint8Array): StreamMessageHeader {
  if (bytes.length === 0 || bytes[0] !== WIRE_VERSION) {
    throw new ProtocolError(
      bytes.length === 0 ? 'MALFORMED_BYTES' : 'UNSUPPORTED_VERSION',
      bytes.length === 0 ? 'empty message' : `wire version ${bytes[0]} is not supported`,
    )
  }
  const header: Mutable<StreamMessageHeader> = {
    streamId: '',
    streamPartition: 0,
    timestamp: 0,
    sequenceNumber: 0,
    publisherId: new Uint8Array(0),
    messageChainId: '',
    signatureType: 0,
    signature: new Uint8Array(0),
  }
  let found = false
  try {
    const reader = new BinaryReader(bytes.subarray(1))
    while (reader.pos < reader.len) {
      const [fieldNo, wireType] = reader.tag()
      if (fieldNo === MESSAGE_ID_FIELD && wireType === WireType.LengthDelimited) {
        // A repeated message field merges, as in a full protobuf decode, so
        // both readings of the same bytes agree.
        readMessageId(new BinaryReader(reader.bytes()), header)
        found = true
      } else if (fieldNo === SIGNATURE_TYPE_FIELD && wireType === WireType.Varint) {
        header.signatureType = reader.int32()
      } else if (fieldNo === SIGNATURE_FIELD && wireType === WireType.LengthDelimited) {
        header.signature = reader.bytes()
      } else {
        reader.skip(wireType, fieldNo)
      }
    }
  } catch (err) {
    throw new ProtocolError('MALFORMED_BYTES', `not a valid protobuf StreamMessage: ${String(err)}`, { cause: err })
  }
  if (!found) throw new ProtocolError('MALFORMED_BYTES', 'messageId is missing', { field: 'messageId' })
  if (header.publisherId.length !== 20) {
    throw new ProtocolError(
      'MALFORMED_BYTES',
      `messageId.publisherId must be 20 bytes, got ${header.publisherId.length}`,
      { field: 'messageId.publisherId' },
    )
  }
  return header
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

function readMessageId(reader: BinaryReader, header: Mutable<StreamMessageHeader>): void {
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag()
    switch (fieldNo) {
      case 1:
        header.streamId = reader.string()
        break
      case 2:
        header.streamPartition = reader.uint32()
        break
      case 3:
        header.timestamp = Number(reader.uint64())
        break
      case 4:
        header.sequenceNumber = reader.uint32()
        break
      case 5:
        header.publisherId = reader.bytes()
        break
      case 6:
        header.messageChainId = reader.string()
        break
      default:
        reader.skip(wireType, fieldNo)
    }
  }
}
