import { ProtocolError } from '../errors/index.js'

const textEncoder = new TextEncoder()
// fatal: invalid UTF-8 is an error, not silently replaced with U+FFFD.
const textDecoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Serializes a value as UTF-8 JSON message content: the UTF-8 bytes of
 * `JSON.stringify(value)`. The signature covers these bytes as they are, so
 * verify over received content, never over a re-serialization of it
 * (docs/protocol.md, "Which content bytes are signed").
 *
 * @example
 * ```ts
 * const content = encodeJsonContent({ temperature: 21.5 })
 * ```
 * @throws {@link ProtocolError} `INVALID_JSON` for values JSON can't represent
 * (undefined, functions, symbols, BigInt, circular structures)
 */
export function encodeJsonContent(value: unknown): Uint8Array {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (err) {
    throw new ProtocolError('INVALID_JSON', `content can't be serialized as JSON: ${(err as Error).message}`, {
      field: 'content',
      cause: err,
    })
  }
  if (text === undefined) {
    throw new ProtocolError('INVALID_JSON', `content of type ${typeof value} has no JSON representation`, {
      field: 'content',
    })
  }
  return textEncoder.encode(text)
}

/**
 * Parses JSON message content.
 *
 * @example
 * ```ts
 * const { temperature } = parseJsonContent(message.content) as { temperature: number }
 * ```
 * @throws {@link ProtocolError} `INVALID_JSON` for invalid UTF-8 or JSON, saying where it broke
 */
export function parseJsonContent(content: Uint8Array): unknown {
  let text: string
  try {
    text = textDecoder.decode(content)
  } catch (err) {
    throw new ProtocolError('INVALID_JSON', 'content is not valid UTF-8', { field: 'content', cause: err })
  }
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw new ProtocolError('INVALID_JSON', `content is not valid JSON: ${(err as Error).message}`, {
      field: 'content',
      cause: err,
    })
  }
}
