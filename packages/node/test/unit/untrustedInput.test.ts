import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { MAX_ERROR_MESSAGE_LENGTH, toApiError } from '../../src/api/ApiError.js'
import { decodeJsonText, parseJsonMessage, parseRequestStreamId, parseTimestamp } from '../../src/api/requests.js'
import { parsePayload } from '../../src/plugins/mqtt/payload.js'
import { NodeError } from '../../src/errors.js'

const OWNER = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed'
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

describe('stream ids from requests', () => {
  it('returns a valid id normalized', () => {
    assert.equal(parseRequestStreamId(`${OWNER}/a/b`), `${OWNER.toLowerCase()}/a/b`)
  })

  it('refuses a malformed id as BAD_REQUEST saying what is wrong', () => {
    const cases: [string, RegExp][] = [
      ['%', /invalid stream id: "%" has no path/],
      ['abc', /has no path/],
      [`${OWNER}/../..`, /path of .* is invalid/],
      [`${OWNER}/dé€mo`, /path of .* is invalid/],
      ['0x12/a', /invalid owner address/],
    ]
    for (const [input, reason] of cases) {
      assert.throws(
        () => parseRequestStreamId(input),
        (err: unknown) => err instanceof NodeError && err.code === 'BAD_REQUEST' && reason.test(err.message),
        input,
      )
    }
  })
})

describe('JSON text from requests', () => {
  it('decodes UTF-8', () => {
    assert.equal(decodeJsonText(new TextEncoder().encode('"dé€mo"')), '"dé€mo"')
  })

  it('refuses bytes that are not UTF-8 rather than replacing them', () => {
    assert.throws(
      () => decodeJsonText(Uint8Array.from([0x22, 0xc3, 0x28, 0xff, 0x22])),
      (err: unknown) => err instanceof NodeError && err.code === 'BAD_REQUEST' && /not valid UTF-8/.test(err.message),
    )
  })
})

describe('API error messages', () => {
  it('escape control characters, whoever built the message', () => {
    const error = toApiError(new NodeError('BAD_REQUEST', 'no such endpoint: /a\u0000b\u001b[2J\u009b1m\u202e'))
    assert.equal(error.message, 'no such endpoint: /a\\u0000b\\u001b[2J\\u009b1m\\u202e')
    assert.doesNotMatch(error.message, CONTROL)
  })

  it('are capped in length, without splitting a character', () => {
    const long = toApiError(new NodeError('BAD_REQUEST', '🙂'.repeat(5_000)))
    assert.equal(long.message.length <= MAX_ERROR_MESSAGE_LENGTH, true)
    assert.ok(long.message.endsWith('🙂…'))
    assert.equal(toApiError(new Error('short')).message, 'short')
  })
})

describe('JSON numbers a double cannot hold', () => {
  it('are refused as BAD_REQUEST naming where, not published as null', () => {
    const cases: [string, RegExp][] = [
      ['{"x":1e400}', /the message\.x is a number too large/],
      ['[1,2,-1e999]', /the message\[2\] is a number too large/],
      ['{"a":{"b":[{"c":1E+309}]}}', /the message\.a\.b\[0\]\.c is a number too large/],
      [`{"digits":${'9'.repeat(400)}}`, /the message\.digits is a number too large/],
      ['1e400', /the message is a number too large/],
    ]
    for (const [text, reason] of cases) {
      assert.throws(
        () => parseJsonMessage(text, false),
        (err: unknown) => err instanceof NodeError && err.code === 'BAD_REQUEST' && reason.test(err.message),
        text,
      )
    }
    assert.throws(() => parseJsonMessage('{"content":{"x":1e400}}', true), /the message\.content\.x is a number/)
  })

  it('leaves every number a double holds, and look-alikes in strings, as they are', () => {
    assert.deepEqual(parseJsonMessage('{"x":1e308,"y":-1.5e-400,"s":"1e400","t":"e100"}', false).content, {
      x: 1e308,
      y: -0,
      s: '1e400',
      t: 'e100',
    })
  })

  it('over MQTT, without payloadMetadata, go out as the bytes they are', () => {
    const payload = new TextEncoder().encode('{"x":1e400}')
    assert.deepEqual(parsePayload(payload, false).content, payload)
  })
})

describe('timestamps from requests', () => {
  it('are milliseconds since 1970 or an ISO-8601 date, nothing Date.parse reads its own way', () => {
    assert.equal(parseTimestamp('1748779200000'), 1748779200000)
    assert.equal(parseTimestamp('2025-06-01T12:00:00Z'), 1748779200000)
    assert.equal(parseTimestamp('2025-06-01'), Date.UTC(2025, 5, 1))
    for (const text of ['-1', '1e3', 'Dec 3 2026', '2025-02-30', '2025-06-01 12:00', ' 1', '']) {
      assert.throws(
        () => parseTimestamp(text),
        (err: unknown) => err instanceof NodeError && err.code === 'BAD_REQUEST' && /ISO-8601/.test(err.message),
        text,
      )
    }
  })
})

describe('deeply nested JSON', () => {
  it('is walked for huge numbers without overflowing the stack', () => {
    const depth = 100_000
    const text = `${'['.repeat(depth)}1e999${']'.repeat(depth)}`
    assert.throws(
      () => parseJsonMessage(text, false),
      (err: unknown) => err instanceof NodeError && err.code === 'BAD_REQUEST' && /too large/.test(err.message),
    )
  })
})
