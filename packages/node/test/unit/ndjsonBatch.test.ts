import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isNdjson, parseNdjsonBatch } from '../../src/api/requests.js'
import { NodeError } from '../../src/errors.js'

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

describe('NDJSON batch bodies', () => {
  it('knows the NDJSON content types, with or without parameters', () => {
    assert.ok(isNdjson('application/x-ndjson'))
    assert.ok(isNdjson('Application/NDJSON; charset=utf-8'))
    assert.ok(isNdjson('application/jsonl'))
    assert.ok(!isNdjson('application/json'))
    assert.ok(!isNdjson(undefined))
  })

  it('gives one message per non-blank line with its size in bytes', () => {
    const batch = parseNdjsonBatch(bytes('{"a":"é"}\r\n\n  \n[1,2]\n"x"'), false, 10)
    assert.deepEqual(
      batch.map(({ content, sizeBytes }) => ({ content, sizeBytes })),
      [
        { content: { a: 'é' }, sizeBytes: 10 },
        { content: [1, 2], sizeBytes: 5 },
        { content: 'x', sizeBytes: 3 },
      ],
    )
  })

  it('reads each line’s metadata when wrapped', () => {
    const [message] = parseNdjsonBatch(bytes('{"content":1,"metadata":{"timestamp":"1970-01-01T00:00:01Z"}}'), true, 1)
    assert.deepEqual(message!.metadata, { timestamp: 1000 })
  })

  it('names the line that is wrong', () => {
    const refuse = (body: Uint8Array, wrapped: boolean, pattern: RegExp, code = 'BAD_REQUEST'): void =>
      assert.throws(
        () => parseNdjsonBatch(body, wrapped, 2),
        (err) => err instanceof NodeError && err.code === code && pattern.test(err.message),
      )
    refuse(bytes('1\n\n{'), false, /line 3: the message is not valid JSON/)
    refuse(new Uint8Array([0x31, 0x0a, 0x22, 0xff, 0x22]), false, /line 2 is not valid UTF-8/)
    refuse(bytes('{"content":1}\n{"no":"content"}'), true, /line 2: payloadMetadata is on/)
    refuse(bytes('1\n2\n3'), false, /more than 2 messages/, 'PAYLOAD_TOO_LARGE')
    refuse(bytes(''), false, /no messages/)
  })
})
