import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf'
import { NetworkError } from '../errors.js'
import { ControlMessageSchema, type ControlMessage } from '../generated/runnel/network/v1/network_pb.js'

/** Version of the network protocol spoken in handshakes; peers must match. */
export const NETWORK_PROTOCOL_VERSION = 1

export const FRAME_TYPE_DATA = 0x01
export const FRAME_TYPE_CONTROL = 0x02

export type ControlMessageInit = MessageInitShape<typeof ControlMessageSchema>['body']

export type DecodedFrame =
  | { readonly type: 'data'; readonly message: Uint8Array }
  | { readonly type: 'control'; readonly control: ControlMessage }

const readOptions = { readUnknownFields: false }

/**
 * A data frame around an encoded StreamMessage. Relays forward the received
 * frame itself, so this runs once per message at its publisher.
 */
export function encodeDataFrame(encodedMessage: Uint8Array): Uint8Array {
  const frame = new Uint8Array(encodedMessage.length + 1)
  frame[0] = FRAME_TYPE_DATA
  frame.set(encodedMessage, 1)
  return frame
}

/**
 * @example
 * ```ts
 * connection.send(encodeControlFrame({ case: 'ping', value: { id: 1 } }))
 * ```
 */
export function encodeControlFrame(body: ControlMessageInit): Uint8Array {
  const encoded = toBinary(ControlMessageSchema, create(ControlMessageSchema, { body }))
  const frame = new Uint8Array(encoded.length + 1)
  frame[0] = FRAME_TYPE_CONTROL
  frame.set(encoded, 1)
  return frame
}

/**
 * Splits a frame into its kind and body. Data bodies are returned as a view
 * (not a copy) and are validated later by the protocol codec.
 *
 * @throws {@link NetworkError} `MALFORMED_FRAME`
 */
export function decodeFrame(frame: Uint8Array): DecodedFrame {
  if (frame.length === 0) {
    throw new NetworkError('MALFORMED_FRAME', 'empty frame')
  }
  const type = frame[0]
  if (type === FRAME_TYPE_DATA) {
    return { type: 'data', message: frame.subarray(1) }
  }
  if (type === FRAME_TYPE_CONTROL) {
    let control: ControlMessage
    try {
      control = fromBinary(ControlMessageSchema, frame.subarray(1), readOptions)
    } catch (err) {
      throw new NetworkError('MALFORMED_FRAME', `control frame is not valid protobuf: ${String(err)}`, { cause: err })
    }
    if (control.body.case === undefined) {
      throw new NetworkError('MALFORMED_FRAME', 'control frame has no known body')
    }
    return { type: 'control', control }
  }
  throw new NetworkError('MALFORMED_FRAME', `unknown frame type 0x${(type ?? 0).toString(16).padStart(2, '0')}`)
}
