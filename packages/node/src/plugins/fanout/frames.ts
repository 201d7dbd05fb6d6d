/**
 * Wire bytes built once per message and shared by every subscriber that
 * takes that format: a server's WebSocket frames are unmasked and this node
 * never compresses them, and a QoS 0 MQTT PUBLISH has no packet id, so the
 * bytes are the same for every connection.
 */

const WS_FIN_TEXT = 0x81
const WS_FIN_BINARY = 0x82
const MQTT_PUBLISH_QOS0 = 0x30
/** MQTT's remaining length is a varint of at most 4 bytes. */
const MQTT_MAX_REMAINING_LENGTH = 268_435_455

/** Where a frame's bytes come from: the egress writer's shared blocks (`EgressWriter.allocate`), or their own. */
export type FrameAllocator = (length: number) => Buffer

/** A frame's own allocation (from Node.js's pool when small). */
export const ownAllocation: FrameAllocator = (length) => Buffer.allocUnsafe(length)

/**
 * A complete, final, unmasked WebSocket data frame (RFC 6455 §5.2) carrying `payload`.
 *
 * @example
 * ```ts
 * socket.write(webSocketFrame(Buffer.from('{"celsius":21.5}'), false))
 * ```
 */
export function webSocketFrame(payload: Uint8Array, binary: boolean, allocate: FrameAllocator = ownAllocation): Buffer {
  const length = payload.byteLength
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10
  const frame = allocate(headerLength + length)
  frame[0] = binary ? WS_FIN_BINARY : WS_FIN_TEXT
  if (length < 126) {
    frame[1] = length
  } else if (length < 65_536) {
    frame[1] = 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 127
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2)
    frame.writeUInt32BE(length >>> 0, 6)
  }
  frame.set(payload, headerLength)
  return frame
}

/**
 * A QoS 0 MQTT 3.1.1 PUBLISH packet (§3.3), not retained, not a duplicate.
 *
 * @throws RangeError when topic and payload are larger than an MQTT packet can carry (256 MiB)
 */
export function mqttPublishPacket(
  topic: string,
  payload: Uint8Array,
  allocate: FrameAllocator = ownAllocation,
): Buffer {
  const topicLength = Buffer.byteLength(topic)
  const remaining = 2 + topicLength + payload.byteLength
  if (remaining > MQTT_MAX_REMAINING_LENGTH || topicLength > 65_535) {
    throw new RangeError(`an MQTT PUBLISH of ${remaining} bytes is larger than MQTT allows`)
  }
  const lengthBytes = remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4
  const packet = allocate(1 + lengthBytes + remaining)
  packet[0] = MQTT_PUBLISH_QOS0
  let offset = 1
  let rest = remaining
  do {
    const digit = rest % 128
    rest = Math.floor(rest / 128)
    packet[offset++] = rest > 0 ? digit | 0x80 : digit
  } while (rest > 0)
  packet.writeUInt16BE(topicLength, offset)
  offset += 2
  offset += packet.write(topic, offset, 'utf8')
  packet.set(payload, offset)
  return packet
}
