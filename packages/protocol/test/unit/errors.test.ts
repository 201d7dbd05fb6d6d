import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ERROR_CATEGORIES,
  ProtocolError,
  RunnelError,
  errorCategoryOf,
  escapeControlCharacters,
  shortMessageOf,
  walkCauses,
} from '../../src/index.js'
import { describeValue } from '../../src/errors/index.js'

describe('escapeControlCharacters', () => {
  it('escapes NUL, ANSI escapes, DEL, C1 controls, line separators and bidi overrides', () => {
    assert.equal(
      escapeControlCharacters('a\u0000b\u001b[2J\r\n\u007f\u009b31m\u2028\u202eevil'),
      'a\\u0000b\\u001b[2J\\u000d\\u000a\\u007f\\u009b31m\\u2028\\u202eevil',
    )
  })

  it('leaves printable text, non-ASCII letters and emoji as they are', () => {
    const text = 'dé€mo 0xab/sensors "quoted" \\ 🙂'
    assert.equal(escapeControlCharacters(text), text)
  })
})

describe('describeValue', () => {
  it('quotes a string cut to 80 characters with no control character left', () => {
    const described = describeValue(`\u009b${'x'.repeat(1_000)}`)
    assert.equal(described.length, 2 + 6 + 76 + 3)
    assert.ok(described.startsWith('"\\u009bxxx'))
    assert.ok(described.endsWith('x..."'))
  })
})

describe('the error family', () => {
  it('keeps the code, a message without it, the category and the cause', () => {
    const cause = new Error('boom')
    const err = new ProtocolError('MESSAGE_TOO_LARGE', 'content is 2 MiB, above 1 MiB', { cause })
    assert.ok(err instanceof RunnelError)
    assert.equal(err.code, 'MESSAGE_TOO_LARGE')
    assert.equal(err.shortMessage, 'content is 2 MiB, above 1 MiB')
    assert.equal(err.message, 'MESSAGE_TOO_LARGE: content is 2 MiB, above 1 MiB')
    assert.equal(err.category, 'too-large')
    assert.equal(ERROR_CATEGORIES[err.category].httpStatus, 413)
    assert.equal(err.cause, cause)
    assert.equal(err.walk(), cause)
    assert.equal(shortMessageOf(err), 'content is 2 MiB, above 1 MiB')
    assert.equal(shortMessageOf(cause), 'boom')
  })

  it('classifies a wrapper by its first classified cause, and a refused connection as unavailable', () => {
    const inner = new ProtocolError('SIGNATURE_VERIFICATION_FAILED', 'not signed by 0xabc')
    const wrapper = new RunnelError('INTERNAL', 'relay failed', 'internal', { cause: inner })
    assert.equal(errorCategoryOf(wrapper), 'integrity')
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })
    assert.equal(errorCategoryOf(new Error('fetch failed', { cause: refused })), 'unavailable')
    const rpc = Object.assign(new Error('HTTP request failed'), { name: 'HttpRequestError' })
    assert.equal(errorCategoryOf(new Error('call failed', { cause: rpc })), 'unavailable')
    assert.equal(errorCategoryOf(new DOMException('The operation timed out', 'TimeoutError')), 'timeout')
    assert.equal(errorCategoryOf(new Error('plain')), 'internal')
    assert.equal(errorCategoryOf('not even an error'), 'internal')
  })

  it('puts details after the first line and walks a cyclic cause chain without hanging', () => {
    const err = new RunnelError('X', 'short', 'invalid-input', { details: 'check the config key `port`' })
    assert.equal(err.message, 'X: short\ncheck the config key `port`')
    const a = new Error('a')
    const b = new Error('b', { cause: a })
    Object.assign(a, { cause: b })
    assert.equal(
      walkCauses(a, (link) => link === b),
      b,
    )
    assert.equal(
      walkCauses(a, () => false),
      undefined,
    )
  })
})
