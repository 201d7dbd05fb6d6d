import type { ReceivedMessage } from '@runnel/client'
import { formatMessage } from '../../api/requests.js'
import { mqttPublishPacket, ownAllocation, webSocketFrame, type FrameAllocator } from './frames.js'

/**
 * One network message and its encodings for the APIs, each made on first
 * use and then shared: the node serializes a message once per output format,
 * not once per subscriber. Lives as long as the message's fan-out (one turn
 * of the event loop, plus whatever still waits for a slow subscriber).
 *
 * @example
 * ```ts
 * const encoded = new EncodedMessage(message, egress.allocate)
 * for (const queue of subscribers) queue.write(encoded.webSocketFrame(false))
 * ```
 */
export class EncodedMessage {
  private payloads: [Buffer | undefined, Buffer | undefined] = [undefined, undefined]
  private frames: [Buffer | undefined, Buffer | undefined] = [undefined, undefined]
  private packets: Map<string, Buffer> | undefined

  constructor(
    readonly message: ReceivedMessage,
    /** Where the frames and packets are built (the payloads, which aedes keeps for QoS 1, get their own). */
    private readonly allocate: FrameAllocator = ownAllocation,
  ) {}

  /** Binary content, unwrapped, goes out as bytes; everything else is JSON text. */
  isBinary(wrapped: boolean): boolean {
    return !wrapped && this.message.content instanceof Uint8Array
  }

  /** The content (or `{ content, metadata }` when `wrapped`) as the bytes a client receives. */
  payload(wrapped: boolean): Buffer {
    const index = wrapped ? 1 : 0
    let payload = this.payloads[index]
    if (payload === undefined) {
      const formatted = formatMessage(this.message, wrapped)
      payload =
        typeof formatted === 'string'
          ? Buffer.from(formatted)
          : Buffer.from(formatted.buffer, formatted.byteOffset, formatted.byteLength)
      this.payloads[index] = payload
    }
    return payload
  }

  /** The whole WebSocket frame: text for JSON, binary for binary content. */
  webSocketFrame(wrapped: boolean): Buffer {
    const index = wrapped ? 1 : 0
    let frame = this.frames[index]
    if (frame === undefined)
      this.frames[index] = frame = webSocketFrame(this.payload(wrapped), this.isBinary(wrapped), this.allocate)
    return frame
  }

  /** The whole QoS 0 PUBLISH packet on `topic` (the topic the client subscribed with). */
  mqttPacket(topic: string, wrapped: boolean): Buffer {
    const key = wrapped ? `w${topic}` : `p${topic}`
    this.packets ??= new Map()
    let packet = this.packets.get(key)
    if (packet === undefined)
      this.packets.set(key, (packet = mqttPublishPacket(topic, this.payload(wrapped), this.allocate)))
    return packet
  }
}
