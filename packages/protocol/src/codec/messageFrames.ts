import { ProtocolError } from '../errors/index.js'
import { DEFAULT_MAX_MESSAGE_SIZE } from './streamMessageCodec.js'

/**
 * Length-prefixed framing for a sequence of encoded messages (the binary
 * format of history responses): each frame is a 4-byte big-endian length
 * followed by that many bytes of one encoded `StreamMessage`.
 */
export const MESSAGE_FRAMES_CONTENT_TYPE = 'application/vnd.runnel.messages'

/** Prefixes one encoded message with its length. */
export function frameMessage(encoded: Uint8Array): Uint8Array {
  const frame = new Uint8Array(4 + encoded.length)
  new DataView(frame.buffer).setUint32(0, encoded.length)
  frame.set(encoded, 4)
  return frame
}

/**
 * Splits a byte stream arriving in arbitrary chunks back into frames.
 *
 * @example
 * ```ts
 * const reader = new MessageFrameReader()
 * for await (const chunk of response.body) {
 *   for (const encoded of reader.push(chunk)) handle(decodeStreamMessage(encoded))
 * }
 * reader.end() // throws if the stream stopped inside a frame
 * ```
 */
export class MessageFrameReader {
  private pending: Uint8Array = new Uint8Array(0)

  constructor(private readonly maxFrameSize = DEFAULT_MAX_MESSAGE_SIZE) {}

  /** Returns the frames completed by `chunk` (possibly none). @throws ProtocolError `MESSAGE_TOO_LARGE` */
  push(chunk: Uint8Array): Uint8Array[] {
    let bytes = chunk
    if (this.pending.length > 0) {
      bytes = new Uint8Array(this.pending.length + chunk.length)
      bytes.set(this.pending)
      bytes.set(chunk, this.pending.length)
    }
    const frames: Uint8Array[] = []
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    let offset = 0
    while (bytes.length - offset >= 4) {
      const length = view.getUint32(offset)
      if (length > this.maxFrameSize) {
        throw new ProtocolError('MESSAGE_TOO_LARGE', `a frame of ${length} bytes exceeds ${this.maxFrameSize}`)
      }
      if (bytes.length - offset - 4 < length) break
      frames.push(bytes.subarray(offset + 4, offset + 4 + length))
      offset += 4 + length
    }
    // Copy the remainder: it must not pin the whole chunk it came from.
    this.pending = bytes.slice(offset)
    return frames
  }

  /** @throws ProtocolError `MALFORMED_BYTES` when the stream ended inside a frame. */
  end(): void {
    if (this.pending.length > 0) {
      throw new ProtocolError('MALFORMED_BYTES', `the stream ended ${this.pending.length} bytes into a frame`)
    }
  }
}
