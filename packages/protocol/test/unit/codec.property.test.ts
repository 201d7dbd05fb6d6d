import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  ContentType,
  EncryptionType,
  MAX_SEQUENCE_NUMBER,
  MessageId,
  MessageRef,
  MessageType,
  ProtocolError,
  StreamMessage,
  createSignaturePayload,
  decodeStreamMessage,
  encodeStreamMessage,
  verifyStreamMessage,
} from '../../src/index.js'
import { nativeSignatureVerifier } from '../../src/native/index.js'
import { createTestMessage } from '../fixtures.js'

const hexAddress = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => '0x' + Buffer.from(b).toString('hex'))
const pathSegment = fc.stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,15}$/)
const streamId = fc
  .tuple(hexAddress, fc.array(pathSegment, { minLength: 1, maxLength: 5 }))
  .map(([owner, segments]) => `${owner}/${segments.join('/')}`)
const timestamp = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })
const sequenceNumber = fc.integer({ min: 0, max: MAX_SEQUENCE_NUMBER })
const groupKeyId = fc.stringMatching(/^[\x21-\x7e]{1,40}$/)
// Well-formed but not genuine: decode checks form, not authenticity.
const signature = fc.uint8Array({ minLength: 65, maxLength: 65 }).chain((bytes) =>
  fc.constantFrom(27, 28).map((v) => {
    bytes[32] = bytes[32]! & 0x7f // s < 2^255 / 2 ≤ n/2 after the next line
    bytes[32] = Math.min(bytes[32], 0x7e)
    bytes[64] = v
    return bytes
  }),
)

const streamMessage = fc
  .record({
    streamId,
    partition: fc.integer({ min: 0, max: 99 }),
    timestamp,
    sequenceNumber,
    publisher: hexAddress,
    chainId: fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/),
    hasPrev: fc.boolean(),
    messageType: fc.constantFrom(MessageType.Data, MessageType.GroupKeyRequest, MessageType.GroupKeyResponse),
    contentType: fc.constantFrom(ContentType.Json, ContentType.Binary),
    encryption: fc.option(
      fc.record({
        groupKeyId,
        newGroupKey: fc.option(fc.record({ id: groupKeyId, data: fc.uint8Array({ minLength: 1, maxLength: 64 }) })),
      }),
    ),
    content: fc.uint8Array({ maxLength: 512 }),
    signature,
  })
  .map((r) => {
    const messageId = new MessageId(r.streamId, r.partition, r.timestamp, r.sequenceNumber, r.publisher, r.chainId)
    return new StreamMessage({
      messageId,
      prevMsgRef: r.hasPrev ? new MessageRef(r.timestamp - 1, r.sequenceNumber) : undefined,
      messageType: r.messageType,
      contentType: r.contentType,
      encryptionType: r.encryption === null ? EncryptionType.None : EncryptionType.Aes,
      groupKeyId: r.encryption?.groupKeyId,
      newGroupKey: r.encryption?.newGroupKey ?? undefined,
      content: r.content,
      signature: r.signature,
    })
  })

function decodeOrProtocolError(bytes: Uint8Array): StreamMessage | undefined {
  try {
    return decodeStreamMessage(bytes)
  } catch (err) {
    if (!(err instanceof ProtocolError)) {
      assert.fail(`decode threw ${String(err)} instead of a ProtocolError`)
    }
    return undefined
  }
}

const mutation = (base: Uint8Array) =>
  fc.oneof(
    fc.record({
      kind: fc.constant('flip' as const),
      at: fc.nat(base.length - 1),
      bits: fc.integer({ min: 1, max: 255 }),
    }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(base.length - 1) }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(base.length),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
    fc.record({
      kind: fc.constant('delete' as const),
      at: fc.nat(base.length - 1),
      count: fc.integer({ min: 1, max: 8 }),
    }),
  )

type Mutation =
  | { kind: 'flip'; at: number; bits: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number }

function mutate(base: Uint8Array, change: Mutation): Uint8Array {
  switch (change.kind) {
    case 'flip': {
      const out = Uint8Array.from(base)
      out[change.at]! ^= change.bits
      return out
    }
    case 'truncate':
      return base.subarray(0, change.at)
    case 'insert':
      return Uint8Array.from([...base.subarray(0, change.at), ...change.bytes, ...base.subarray(change.at)])
    case 'delete':
      return Uint8Array.from([...base.subarray(0, change.at), ...base.subarray(change.at + change.count)])
  }
}

describe('codec properties', () => {
  it('round-trips random valid messages', () => {
    fc.assert(
      fc.property(streamMessage, (message) => {
        const bytes = encodeStreamMessage(message)
        const decoded = decodeStreamMessage(bytes)
        assert.deepEqual(createSignaturePayload(decoded), createSignaturePayload(message))
        assert.deepEqual(decoded.signature, message.signature)
        assert.deepEqual(encodeStreamMessage(decoded), bytes)
      }),
      { numRuns: 2000 },
    )
  })

  it('never throws anything but ProtocolError on 50k random byte strings', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (bytes, versioned) => {
        if (versioned && bytes.length > 0) bytes[0] = 1
        decodeOrProtocolError(bytes)
      }),
      { numRuns: 50_000 },
    )
  })

  it('never throws anything but ProtocolError on 50k mutations of valid messages', async () => {
    const base = encodeStreamMessage(await createTestMessage({ prevMsgRef: new MessageRef(1, 0) }))
    fc.assert(
      fc.property(mutation(base), (change) => {
        decodeOrProtocolError(mutate(base, change))
      }),
      { numRuns: 50_000 },
    )
  })

  it('a mutated message that still decodes fails verification unless it signs the same bytes', async () => {
    const original = await createTestMessage({ prevMsgRef: new MessageRef(1, 0) })
    const base = encodeStreamMessage(original)
    const originalPayload = createSignaturePayload(original)
    let decodedCount = 0
    fc.assert(
      fc.property(mutation(base), (change) => {
        const decoded = decodeOrProtocolError(mutate(base, change))
        if (decoded === undefined) return
        decodedCount++
        const unchanged =
          Buffer.from(createSignaturePayload(decoded)).equals(Buffer.from(originalPayload)) &&
          Buffer.from(decoded.signature).equals(Buffer.from(original.signature))
        assert.equal(verifyStreamMessage(decoded, nativeSignatureVerifier), unchanged)
      }),
      { numRuns: 5000 },
    )
    assert.ok(decodedCount > 100, `too few mutations decoded (${decodedCount}) for the property to mean anything`)
  })
})
