import assert from 'node:assert/strict'
import {
  ContentType,
  MessageId,
  ProtocolError,
  type ProtocolErrorCode,
  createPureSigner,
  encodeJsonContent,
  signStreamMessage,
  toStreamId,
  type MessageSigner,
  type StreamMessage,
  type UnsignedStreamMessageFields,
} from '../src/index.js'

// A fixed key keeps failures reproducible; it guards nothing.
export const TEST_PRIVATE_KEY = '0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318'
export const testSigner: MessageSigner = createPureSigner(TEST_PRIVATE_KEY)

export function testMessageFields(overrides: Partial<UnsignedStreamMessageFields> = {}): UnsignedStreamMessageFields {
  return {
    messageId: new MessageId(
      toStreamId(testSigner.address, '/sensors/temperature'),
      3,
      1_700_000_000_000,
      7,
      testSigner.address,
      'chain-1',
    ),
    contentType: ContentType.Json,
    content: encodeJsonContent({ celsius: 21.5, sensor: 'greenhouse-1' }),
    ...overrides,
  }
}

export function createTestMessage(
  overrides: Partial<UnsignedStreamMessageFields> = {},
  signer: MessageSigner = testSigner,
): Promise<StreamMessage> {
  return signStreamMessage(testMessageFields(overrides), signer)
}

/** Asserts that `fn` throws a ProtocolError with `code` (and a message matching `messagePart`). */
export function assertProtocolError(fn: () => unknown, code: ProtocolErrorCode, messagePart?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ProtocolError, `expected ProtocolError, got ${String(err)}`)
    assert.equal(err.code, code)
    if (messagePart !== undefined) assert.match(err.message, messagePart)
    return true
  })
}
