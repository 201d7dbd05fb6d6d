import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { escapeControlCharacters } from '../../src/index.js'
import { describeValue } from '../../src/errors.js'

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
