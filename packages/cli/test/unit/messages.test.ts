import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { ReceivedMessage } from '@runnel/client'
import { CliError, formatReceivedMessage, parseMessageLine } from '../../src/index.js'

describe('parseMessageLine', () => {
  it('parses a line as JSON, and skips blank lines', () => {
    assert.deepEqual(parseMessageLine('{"celsius":21.5}', 1), { content: { celsius: 21.5 } })
    assert.deepEqual(parseMessageLine('"text"', 1), { content: 'text' })
    assert.equal(parseMessageLine('   ', 1), undefined)
  })

  it('with raw, publishes the text itself, blank lines included', () => {
    assert.deepEqual(parseMessageLine('{"not": parsed', 1, { raw: true }), { content: '{"not": parsed' })
    assert.deepEqual(parseMessageLine('', 1, { raw: true }), { content: '' })
  })

  it('names the line that is not JSON', () => {
    assert.throws(
      () => parseMessageLine('{"celsius": }', 7),
      (err: unknown) =>
        err instanceof CliError && err.code === 'INVALID_INPUT' && /^line 7 is not valid JSON/.test(err.message),
    )
  })

  it("takes the partition key from a field, and names a line that hasn't one", () => {
    assert.deepEqual(parseMessageLine('{"room":"north"}', 1, { partitionKeyField: 'room' }), {
      content: { room: 'north' },
      partitionKey: 'north',
    })
    assert.deepEqual(parseMessageLine('{"room":3}', 1, { partitionKeyField: 'room' })?.partitionKey, 3)
    for (const line of ['{"celsius":1}', '[1]', '{"room":null}']) {
      assert.throws(
        () => parseMessageLine(line, 4, { partitionKeyField: 'room' }),
        /^CliError: line 4 has no partition key: expected an object whose "room" is a string or a number/,
      )
    }
  })
})

describe('formatReceivedMessage', () => {
  const base = {
    streamId: '0xabc/x',
    partition: 1,
    timestamp: 1_700_000_000_000,
    sequenceNumber: 0,
    publisherId: '0xdef',
    msgChainId: 'chain',
  }

  it('prints the content alone, or with its metadata', () => {
    const message = { ...base, content: { celsius: 21 } } as unknown as ReceivedMessage
    assert.deepEqual(formatReceivedMessage(message, false), { celsius: 21 })
    assert.deepEqual(formatReceivedMessage(message, true), {
      content: { celsius: 21 },
      metadata: { ...base, contentType: 'json' },
    })
  })

  it('prints binary content as base64', () => {
    const message = { ...base, content: Uint8Array.from([0xca, 0xfe]) } as unknown as ReceivedMessage
    assert.equal(formatReceivedMessage(message, false), 'yv4=')
    assert.deepEqual(formatReceivedMessage(message, true), {
      content: 'yv4=',
      metadata: { ...base, contentType: 'binary' },
    })
  })
})
