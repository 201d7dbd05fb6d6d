import type { StreamMessage } from '@runnel/protocol'
import type { PublishedMessage, ReceivedMessage } from './types.js'

/** A message's metadata as the CLI prints it and the node's APIs send it (with `payloadMetadata`). */
export interface MessageMetadataJson extends PublishedMessage {
  /** `'binary'` when the content is bytes, sent as base64. */
  readonly contentType: 'json' | 'binary'
}

/** A received message as JSON: its content (binary content as base64) and its metadata. */
export interface MessageJson {
  readonly content: unknown
  readonly metadata: MessageMetadataJson
}

/**
 * A message's identity, as `publish` returns it and every JSON form of a
 * message starts: stream, partition, timestamp, sequence number, publisher and
 * chain, in that order.
 *
 * @example
 * ```ts
 * messageIdJson(received.streamMessage) // { streamId, partition, timestamp, sequenceNumber, publisherId, msgChainId }
 * ```
 */
export function messageIdJson(message: StreamMessage): PublishedMessage {
  return {
    streamId: message.streamId,
    partition: message.streamPartition,
    timestamp: message.timestamp,
    sequenceNumber: message.sequenceNumber,
    publisherId: message.publisherId,
    msgChainId: message.messageChainId,
  }
}

/**
 * The one JSON form of a received message, written by the CLI (`subscribe`
 * and `resend` with `--metadata`) and the node's APIs (`payloadMetadata`):
 * `{ content, metadata }`, binary content as base64.
 *
 * @example
 * ```ts
 * sub.on('message', (message) => console.log(JSON.stringify(messageToJson(message))))
 * // {"content":{"celsius":21},"metadata":{"streamId":"0x…/greenhouse","partition":0,…,"contentType":"json"}}
 * ```
 */
export function messageToJson(message: ReceivedMessage): MessageJson {
  const binary = message.content instanceof Uint8Array
  return {
    content: contentToJson(message),
    metadata: {
      streamId: message.streamId,
      partition: message.partition,
      timestamp: message.timestamp,
      sequenceNumber: message.sequenceNumber,
      publisherId: message.publisherId,
      msgChainId: message.msgChainId,
      contentType: binary ? 'binary' : 'json',
    },
  }
}

/** A received message's content as JSON: as it is, or binary content as a base64 string. */
export function contentToJson(message: ReceivedMessage): unknown {
  return message.content instanceof Uint8Array ? bytesToBase64(message.content) : message.content
}

/** `String.fromCharCode` takes its bytes as arguments; this many stay well under every engine's argument limit. */
const CHUNK = 0x8000

/** Standard base64 (with padding), without Node.js's Buffer, so the client stays browser-safe. */
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = ''
  for (let start = 0; start < bytes.length; start += CHUNK) {
    binary += String.fromCharCode(...bytes.subarray(start, start + CHUNK))
  }
  return btoa(binary)
}
