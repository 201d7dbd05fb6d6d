import { bytesToHex, ContentType, EncryptionType, parseJsonContent, type StreamMessage } from '@runnel/protocol'
import { messageIdJson } from './messageJson.js'
import type { PublishedMessage, ReceivedMessage } from './types.js'

export function toPublished(message: StreamMessage): PublishedMessage {
  return messageIdJson(message)
}

/** Decrypted messages and the signed (encrypted) messages they came from. */
const originals = new WeakMap<StreamMessage, StreamMessage>()

/** Records that `opened` is the decrypted view of the signed message `original`. */
export function rememberOriginal(opened: StreamMessage, original: StreamMessage): void {
  originals.set(opened, original)
}

export function toReceived(message: StreamMessage): ReceivedMessage {
  return {
    ...toPublished(message),
    // A plain Uint8Array view whatever the transport handed over (Node.js gives Buffers); still-encrypted content as bytes.
    content:
      message.contentType === ContentType.Json && message.encryptionType !== EncryptionType.Aes
        ? parseJsonContent(message.content)
        : new Uint8Array(message.content.buffer, message.content.byteOffset, message.content.length),
    streamMessage: originals.get(message) ?? message,
  }
}

export function randomChainId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10))
  return bytesToHex(bytes)
}
