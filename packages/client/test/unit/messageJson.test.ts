import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generatePrivateKey } from '@runnel/protocol'
import { contentToJson, messageIdJson, messageToJson, type ReceivedMessage } from '../../src/index.js'
import { bytesToBase64 } from '../../src/messageJson.js'

const id = {
  streamId: '0xabc/x',
  partition: 1,
  timestamp: 1_700_000_000_000,
  sequenceNumber: 2,
  publisherId: '0xdef',
  msgChainId: 'chain',
}

function received(content: unknown): ReceivedMessage {
  return { ...id, content, streamMessage: undefined as never }
}

describe('messageToJson', () => {
  it('writes the one documented form, fields in a fixed order, so every writer prints the same bytes', () => {
    assert.equal(
      JSON.stringify(messageToJson(received({ celsius: 21 }))),
      '{"content":{"celsius":21},"metadata":{"streamId":"0xabc/x","partition":1,"timestamp":1700000000000,' +
        '"sequenceNumber":2,"publisherId":"0xdef","msgChainId":"chain","contentType":"json"}}',
    )
  })

  it('writes binary content as base64 and says so', () => {
    const json = messageToJson(received(Uint8Array.from([0xca, 0xfe])))
    assert.equal(json.content, 'yv4=')
    assert.equal(json.metadata.contentType, 'binary')
    assert.equal(contentToJson(received('text')), 'text')
  })

  it("takes a message's identity from the signed message", () => {
    const streamMessage = {
      streamId: '0xabc/x',
      streamPartition: 1,
      timestamp: 1_700_000_000_000,
      sequenceNumber: 2,
      publisherId: '0xdef',
      messageChainId: 'chain',
    }
    assert.deepEqual(messageIdJson(streamMessage as never), id)
  })
})

describe('bytesToBase64', () => {
  it("matches Node.js's base64 for every length around its chunk size, and for random bytes", () => {
    for (const length of [0, 1, 2, 3, 4, 0x7fff, 0x8000, 0x8001, 0x10002]) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 131 + 7) & 0xff)
      assert.equal(bytesToBase64(bytes), Buffer.from(bytes).toString('base64'), `${length} bytes`)
    }
    const random = Uint8Array.from(Buffer.from(generatePrivateKey().slice(2), 'hex'))
    assert.equal(bytesToBase64(random), Buffer.from(random).toString('base64'))
  })
})
