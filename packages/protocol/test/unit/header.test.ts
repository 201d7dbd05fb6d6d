import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  MessageRef,
  ProtocolError,
  addressToBytes,
  decodeStreamMessage,
  encodeStreamMessage,
  readStreamMessageHeader,
} from '../../src/index.js'
import { assertProtocolError, createTestMessage } from '../fixtures.js'

describe('readStreamMessageHeader', () => {
  it('reads the same id fields as a full decode', async () => {
    const message = await createTestMessage({ prevMsgRef: new MessageRef(1, 0) })
    const bytes = encodeStreamMessage(message)
    const header = readStreamMessageHeader(bytes)
    const decoded = decodeStreamMessage(bytes)
    assert.equal(header.streamId, decoded.streamId)
    assert.equal(header.streamPartition, decoded.streamPartition)
    assert.equal(header.timestamp, decoded.timestamp)
    assert.equal(header.sequenceNumber, decoded.sequenceNumber)
    assert.deepEqual(Buffer.from(header.publisherId), Buffer.from(addressToBytes(decoded.publisherId)))
    assert.equal(header.messageChainId, decoded.messageChainId)
  })

  it('rejects empty input, other versions and a missing message id', () => {
    assertProtocolError(() => readStreamMessageHeader(new Uint8Array(0)), 'MALFORMED_BYTES')
    assertProtocolError(() => readStreamMessageHeader(Uint8Array.from([2, 0x0a, 0])), 'UNSUPPORTED_VERSION')
    assertProtocolError(() => readStreamMessageHeader(Uint8Array.from([1, 0x18, 1])), 'MALFORMED_BYTES', /missing/)
  })

  it('throws nothing but ProtocolError on 20k mutations of a valid message', async () => {
    const base = encodeStreamMessage(await createTestMessage())
    fc.assert(
      fc.property(fc.nat(base.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(base.length), (at, bits, cut) => {
        const mutated = Uint8Array.from(base)
        mutated[at]! ^= bits
        for (const input of [mutated, mutated.subarray(0, cut)]) {
          try {
            readStreamMessageHeader(input)
          } catch (err) {
            assert.ok(err instanceof ProtocolError, `threw ${String(err)}`)
          }
        }
      }),
      { numRuns: 20_000 },
    )
  })
})
