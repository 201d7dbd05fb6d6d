import { parseJsonMessage, parseJsonText, type PublishMetadata } from '../../api/requests.js'
import { NodeError } from '../../errors.js'

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Reads the payload of an MQTT PUBLISH. MQTT payloads are untyped bytes, so
 * valid UTF-8 JSON is published as JSON and anything else as binary. With
 * `wrapped` (the `payloadMetadata` setting) the payload must be JSON
 * `{ content, metadata? }`.
 *
 * @throws {@link NodeError} `BAD_REQUEST` for a wrapped payload that isn't such JSON
 */
export function parsePayload(payload: Uint8Array, wrapped: boolean): { content: unknown; metadata: PublishMetadata } {
  const text = decodeUtf8(payload)
  if (wrapped) {
    if (text === undefined) {
      throw new NodeError(
        'BAD_REQUEST',
        'payloadMetadata is on: send { "content": …, "metadata": { … } } as UTF-8 JSON',
      )
    }
    return parseJsonMessage(text, true)
  }
  if (text !== undefined) {
    try {
      return { content: parseJsonText(text), metadata: {} }
    } catch {
      // Plain text, not JSON (or JSON whose numbers a double can't hold): it goes out as the bytes it is.
    }
  }
  // A copy: the packet's payload may be a view into a larger socket read buffer.
  return { content: new Uint8Array(payload), metadata: {} }
}

function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes)
  } catch {
    return undefined
  }
}
