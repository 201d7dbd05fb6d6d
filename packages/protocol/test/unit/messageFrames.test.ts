import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { MessageFrameReader, ProtocolError, frameMessage } from '../../src/index.js'

describe('message frames', () => {
  it('reassembles frames from any split of the byte stream', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.nat(400), { maxLength: 30 }),
        (messages, cuts) => {
          const stream = Buffer.concat(messages.map(frameMessage))
          const points = [...new Set(cuts.map((cut) => cut % (stream.length + 1)))].sort((a, b) => a - b)
          const reader = new MessageFrameReader()
          const out: Uint8Array[] = []
          let start = 0
          for (const point of [...points, stream.length]) {
            out.push(...reader.push(stream.subarray(start, point)))
            start = point
          }
          reader.end()
          assert.deepEqual(
            out.map((frame) => Buffer.from(frame)),
            messages.map((message) => Buffer.from(message)),
          )
        },
      ),
    )
  })

  it('refuses a frame longer than the limit, and a stream that stops inside a frame', () => {
    assert.throws(
      () => new MessageFrameReader(10).push(frameMessage(new Uint8Array(11))),
      (err: unknown) => {
        return err instanceof ProtocolError && err.code === 'MESSAGE_TOO_LARGE'
      },
    )
    const reader = new MessageFrameReader()
    reader.push(frameMessage(new Uint8Array(5)).subarray(0, 6))
    assert.throws(
      () => reader.end(),
      (err: unknown) => err instanceof ProtocolError && err.code === 'MALFORMED_BYTES',
    )
  })
})
