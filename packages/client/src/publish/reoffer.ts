import { encodeStreamMessage, frameMessage, type StreamMessage } from '@runnel/protocol'

/** A re-offer carries at most this much: well under the largest message (1 MiB) a node accepts. */
export const MAX_REOFFER_BYTES = 512 * 1024

/**
 * Packs messages to offer again into re-offer contents of at most `maxBytes` each: the protocol's message frames
 * back to back, as binary history is. A message whose frame alone exceeds `maxBytes` is left out: the storage nodes'
 * repair among themselves covers it.
 *
 * @example
 * ```ts
 * for (const { content } of packReoffers(messages)) await send(streamPartId, MessageType.Reoffer, content)
 * ```
 */
export function* packReoffers(
  messages: Iterable<StreamMessage>,
  maxBytes = MAX_REOFFER_BYTES,
): Generator<{ readonly content: Uint8Array; readonly count: number }> {
  let frames: Uint8Array[] = []
  let bytes = 0
  const pack = (): { content: Uint8Array; count: number } => {
    const content = new Uint8Array(bytes)
    let offset = 0
    for (const frame of frames) {
      content.set(frame, offset)
      offset += frame.length
    }
    const packed = { content, count: frames.length }
    frames = []
    bytes = 0
    return packed
  }
  for (const message of messages) {
    const frame = frameMessage(encodeStreamMessage(message))
    if (frame.length > maxBytes) continue
    if (bytes + frame.length > maxBytes) yield pack()
    frames.push(frame)
    bytes += frame.length
  }
  if (frames.length > 0) yield pack()
}
