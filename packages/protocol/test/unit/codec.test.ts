import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf'
import {
  ContentType,
  DEFAULT_MAX_MESSAGE_SIZE,
  EncryptionType,
  MessageRef,
  MessageType,
  WIRE_VERSION,
  addressToBytes,
  decodeStreamMessage,
  encodeStreamMessage,
  type StreamMessage,
} from '../../src/index.js'
import { StreamMessageSchema } from '../../src/generated/runnel/protocol/v1/stream_message_pb.js'
import { assertProtocolError, createTestMessage, testSigner } from '../fixtures.js'

function assertSameMessage(actual: StreamMessage, expected: StreamMessage): void {
  assert.deepEqual({ ...actual.messageId }, { ...expected.messageId })
  assert.deepEqual(actual.prevMsgRef, expected.prevMsgRef)
  assert.equal(actual.messageType, expected.messageType)
  assert.equal(actual.contentType, expected.contentType)
  assert.equal(actual.encryptionType, expected.encryptionType)
  assert.equal(actual.groupKeyId, expected.groupKeyId)
  assert.deepEqual(actual.newGroupKey, expected.newGroupKey)
  assert.deepEqual(actual.content, expected.content)
  assert.equal(actual.signatureType, expected.signatureType)
  assert.deepEqual(actual.signature, expected.signature)
}

type RawInit = MessageInitShape<typeof StreamMessageSchema>

/** Encodes protobuf fields directly, bypassing validation, to build hostile input. */
function encodeRaw(message: StreamMessage, change: (init: RawInit) => void): Uint8Array {
  const init: RawInit = {
    messageId: {
      streamId: message.streamId,
      streamPartition: message.streamPartition,
      timestamp: BigInt(message.timestamp),
      sequenceNumber: message.sequenceNumber,
      publisherId: addressToBytes(message.publisherId),
      messageChainId: message.messageChainId,
    },
    messageType: message.messageType as number,
    contentType: message.contentType as number,
    encryptionType: message.encryptionType as number,
    content: message.content,
    signatureType: message.signatureType as number,
    signature: message.signature,
  }
  change(init)
  const body = toBinary(StreamMessageSchema, create(StreamMessageSchema, init))
  return Uint8Array.from([WIRE_VERSION, ...body])
}

describe('StreamMessage codec', () => {
  it('round-trips a minimal message', async () => {
    const message = await createTestMessage()
    assertSameMessage(decodeStreamMessage(encodeStreamMessage(message)), message)
  })

  it('round-trips every optional field', async () => {
    const message = await createTestMessage({
      prevMsgRef: new MessageRef(1_699_999_999_000, 3),
      messageType: MessageType.GroupKeyResponse,
      contentType: ContentType.Binary,
      encryptionType: EncryptionType.Aes,
      groupKeyId: 'key-2026-11',
      newGroupKey: { id: 'key-2026-12', data: Uint8Array.from([1, 2, 3, 4]) },
      content: Uint8Array.from({ length: 300 }, (_, i) => i % 256),
    })
    const decoded = decodeStreamMessage(encodeStreamMessage(message))
    assertSameMessage(decoded, message)
    assert.equal(decoded.publisherId, testSigner.address)
  })

  it('starts every frame with the wire version byte', async () => {
    assert.equal(encodeStreamMessage(await createTestMessage())[0], WIRE_VERSION)
  })

  it('rejects an unknown wire version', async () => {
    const bytes = encodeStreamMessage(await createTestMessage())
    bytes[0] = 2
    assertProtocolError(() => decodeStreamMessage(bytes), 'UNSUPPORTED_VERSION', /version 2/)
  })

  it('rejects empty input, non-bytes and truncated protobuf', async () => {
    assertProtocolError(() => decodeStreamMessage(new Uint8Array(0)), 'MALFORMED_BYTES')
    assertProtocolError(() => decodeStreamMessage('hello' as unknown as Uint8Array), 'MALFORMED_BYTES')
    const bytes = encodeStreamMessage(await createTestMessage())
    assertProtocolError(() => decodeStreamMessage(bytes.subarray(0, bytes.length - 10)), 'MALFORMED_BYTES')
  })

  it('enforces the maximum message size on both encode and decode', async () => {
    const big = await createTestMessage({ contentType: ContentType.Binary, content: new Uint8Array(2000) })
    assertProtocolError(() => encodeStreamMessage(big, { maxMessageSize: 1000 }), 'MESSAGE_TOO_LARGE', /limit is 1000/)
    const bytes = encodeStreamMessage(big)
    assertProtocolError(() => decodeStreamMessage(bytes, { maxMessageSize: 1000 }), 'MESSAGE_TOO_LARGE')
    assertSameMessage(decodeStreamMessage(bytes, { maxMessageSize: bytes.length }), big)
  })

  it('applies a 1 MiB limit by default', async () => {
    const huge = await createTestMessage({
      contentType: ContentType.Binary,
      content: new Uint8Array(DEFAULT_MAX_MESSAGE_SIZE),
    })
    assertProtocolError(() => encodeStreamMessage(huge), 'MESSAGE_TOO_LARGE')
    assertProtocolError(() => decodeStreamMessage(new Uint8Array(DEFAULT_MAX_MESSAGE_SIZE + 1)), 'MESSAGE_TOO_LARGE')
  })

  describe('names the invalid field in decoded messages', () => {
    const cases: Array<[string, (init: RawInit) => void, string, RegExp]> = [
      [
        'missing message id',
        (m) => {
          m.messageId = undefined
        },
        'INVALID_MESSAGE',
        /messageId is missing/,
      ],
      [
        'bad stream id',
        (m) => {
          m.messageId!.streamId = 'not-a-stream'
        },
        'INVALID_MESSAGE',
        /messageId\.streamId/,
      ],
      [
        'partition 100',
        (m) => {
          m.messageId!.streamPartition = 100
        },
        'INVALID_MESSAGE',
        /messageId\.streamPartition/,
      ],
      [
        'timestamp beyond 2^53',
        (m) => {
          m.messageId!.timestamp = 2n ** 60n
        },
        'INVALID_MESSAGE',
        /messageId\.timestamp/,
      ],
      [
        '19-byte publisher',
        (m) => {
          m.messageId!.publisherId = new Uint8Array(19)
        },
        'INVALID_MESSAGE',
        /publisherId must be 20 bytes/,
      ],
      [
        'empty chain id',
        (m) => {
          m.messageId!.messageChainId = ''
        },
        'INVALID_MESSAGE',
        /messageChainId/,
      ],
      [
        'chain id with spaces',
        (m) => {
          m.messageId!.messageChainId = 'a b'
        },
        'INVALID_MESSAGE',
        /messageChainId/,
      ],
      [
        'unspecified message type',
        (m) => {
          m.messageType = 0
        },
        'INVALID_MESSAGE',
        /messageType/,
      ],
      [
        'unknown content type',
        (m) => {
          m.contentType = 9 as number
        },
        'INVALID_MESSAGE',
        /contentType/,
      ],
      [
        'unknown encryption type',
        (m) => {
          m.encryptionType = 7 as number
        },
        'INVALID_MESSAGE',
        /encryptionType/,
      ],
      [
        'AES without group key id',
        (m) => {
          m.encryptionType = EncryptionType.Aes as number
        },
        'INVALID_MESSAGE',
        /groupKeyId is required/,
      ],
      [
        'group key id on plaintext',
        (m) => {
          m.groupKeyId = 'k1'
        },
        'INVALID_MESSAGE',
        /groupKeyId must be empty/,
      ],
      [
        'new group key on plaintext',
        (m) => {
          m.newGroupKey = { id: 'k', data: new Uint8Array(1) }
        },
        'INVALID_MESSAGE',
        /newGroupKey/,
      ],
      [
        'previous ref after own ref',
        (m) => {
          m.previousRef = { timestamp: 2n ** 50n, sequenceNumber: 0 }
        },
        'INVALID_MESSAGE',
        /prevMsgRef/,
      ],
      [
        'unknown signature type',
        (m) => {
          m.signatureType = 5 as never
        },
        'INVALID_MESSAGE',
        /signatureType/,
      ],
      [
        '64-byte signature',
        (m) => {
          m.signature = new Uint8Array(64)
        },
        'INVALID_SIGNATURE_FORMAT',
        /65 bytes/,
      ],
      [
        'recovery byte 29',
        (m) => {
          ;(m.signature as Uint8Array)[64] = 29
        },
        'INVALID_SIGNATURE_FORMAT',
        /27 or 28/,
      ],
      [
        'high s',
        (m) => {
          ;(m.signature as Uint8Array).fill(0xff, 32, 64)
        },
        'INVALID_SIGNATURE_FORMAT',
        /low s/,
      ],
    ]
    for (const [name, change, code, pattern] of cases) {
      it(name, async () => {
        const message = await createTestMessage()
        const signature = Uint8Array.from(message.signature)
        const bytes = encodeRaw(message, (init) => {
          init.signature = signature
          change(init)
        })
        assertProtocolError(() => decodeStreamMessage(bytes), code as never, pattern)
      })
    }
  })
})
