import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { create, equals } from '@bufbuild/protobuf'
import fc from 'fast-check'
import { NetworkError } from '../../src/errors.js'
import { ControlMessageSchema, NodeKind } from '../../src/generated/runnel/network/v1/network_pb.js'
import {
  FRAME_TYPE_CONTROL,
  FRAME_TYPE_DATA,
  decodeFrame,
  encodeControlFrame,
  encodeDataFrame,
  type ControlMessageInit,
} from '../../src/wire/frames.js'

function isMalformedFrame(err: unknown): boolean {
  return err instanceof NetworkError && err.code === 'MALFORMED_FRAME'
}

const NODE_ID = Uint8Array.from({ length: 20 }, (_, index) => index + 1)

const CONTROL_BODIES: readonly NonNullable<ControlMessageInit>[] = [
  { case: 'ping', value: { id: 1 } },
  { case: 'pong', value: { id: 0xffff_ffff } },
  { case: 'goodbye', value: { reason: 'shutting down ✓' } },
  {
    case: 'hello',
    value: {
      descriptor: { nodeId: NODE_ID, protocolVersion: 1, kind: NodeKind.FULL, addresses: ['ws://a:1', 'ws://b:2'] },
      nonce: new Uint8Array(32).fill(7),
    },
  },
  { case: 'helloProof', value: { signature: new Uint8Array(65).fill(9) } },
  { case: 'neighborRequest', value: { streamPartId: '0xab/sensors#0' } },
  { case: 'neighborResponse', value: { streamPartId: '0xab/sensors#0', accepted: false, reason: 'full' } },
  { case: 'neighborLeave', value: { streamPartId: '0xab/sensors#0' } },
  { case: 'proxyRequest', value: { streamPartId: '0xab/sensors#3' } },
  { case: 'proxyResponse', value: { streamPartId: '0xab/sensors#3', accepted: true } },
  { case: 'trackerRequest', value: { request: Uint8Array.of(1, 2, 3), signature: new Uint8Array(65) } },
  {
    case: 'trackerInstruction',
    value: {
      streamPartId: '0xab/sensors#0',
      peers: [{ nodeId: NODE_ID, protocolVersion: 1, kind: NodeKind.LIGHT, addresses: [] }],
    },
  },
]

/** Hand-made frames that must each be refused. */
const MALFORMED: readonly (readonly [string, Uint8Array])[] = [
  ['an empty frame', new Uint8Array(0)],
  ['frame type 0x00', Uint8Array.of(0x00, 0x01)],
  ['frame type 0x03', Uint8Array.of(0x03)],
  ['frame type 0xff', Uint8Array.of(0xff, 0x08, 0x01)],
  ['a control frame without a body', Uint8Array.of(FRAME_TYPE_CONTROL)],
  ['a control frame with a truncated length-delimited field', Uint8Array.of(FRAME_TYPE_CONTROL, 0x1a, 0x05, 0x08)],
  ['a control frame with a truncated varint', Uint8Array.of(FRAME_TYPE_CONTROL, 0x08, 0xff)],
  ['a control frame with an invalid wire type', Uint8Array.of(FRAME_TYPE_CONTROL, 0x0f)],
  ['a control frame with field number 0', Uint8Array.of(FRAME_TYPE_CONTROL, 0x00, 0x00)],
  ['a control frame with only an unknown field', Uint8Array.of(FRAME_TYPE_CONTROL, 0xf8, 0x01, 0x01)],
]

describe('frames', () => {
  describe('data frames', () => {
    it('round-trip their message bytes', () => {
      const message = Uint8Array.from({ length: 300 }, (_, index) => index % 256)
      const frame = encodeDataFrame(message)
      assert.equal(frame[0], FRAME_TYPE_DATA)
      assert.equal(frame.length, message.length + 1)
      const decoded = decodeFrame(frame)
      assert.equal(decoded.type, 'data')
      assert.ok(decoded.type === 'data')
      assert.deepEqual(decoded.message, message)
    })

    it('decode to a view of the frame, not a copy', () => {
      const frame = encodeDataFrame(Uint8Array.of(5, 6, 7))
      const decoded = decodeFrame(frame)
      assert.ok(decoded.type === 'data')
      assert.equal(decoded.message.buffer, frame.buffer)
      assert.equal(decoded.message.byteOffset, frame.byteOffset + 1)
    })

    it('carry an empty message (the protocol codec rejects it later)', () => {
      const decoded = decodeFrame(encodeDataFrame(new Uint8Array(0)))
      assert.ok(decoded.type === 'data')
      assert.equal(decoded.message.length, 0)
    })

    it('decode from a view into a larger buffer', () => {
      const backing = Uint8Array.of(0xee, FRAME_TYPE_DATA, 1, 2, 0xee)
      const decoded = decodeFrame(backing.subarray(1, 4))
      assert.ok(decoded.type === 'data')
      assert.deepEqual(decoded.message, Uint8Array.of(1, 2))
    })
  })

  describe('control frames', () => {
    for (const body of CONTROL_BODIES) {
      it(`round-trip a ${body.case} message`, () => {
        const frame = encodeControlFrame(body)
        assert.equal(frame[0], FRAME_TYPE_CONTROL)
        const decoded = decodeFrame(frame)
        assert.ok(decoded.type === 'control', `decoded as ${decoded.type}`)
        assert.equal(decoded.control.body.case, body.case)
        assert.ok(equals(ControlMessageSchema, decoded.control, create(ControlMessageSchema, { body })))
      })
    }

    it('decode from a view into a larger buffer', () => {
      const frame = encodeControlFrame({ case: 'ping', value: { id: 42 } })
      const backing = new Uint8Array(frame.length + 8).fill(0xff)
      backing.set(frame, 4)
      const decoded = decodeFrame(backing.subarray(4, 4 + frame.length))
      assert.ok(decoded.type === 'control' && decoded.control.body.case === 'ping')
      assert.equal(decoded.control.body.value.id, 42)
    })

    it('drop unknown fields next to a known body', () => {
      const frame = encodeControlFrame({ case: 'ping', value: { id: 3 } })
      const withUnknown = Uint8Array.from([...frame, 0xf8, 0x01, 0x01])
      const decoded = decodeFrame(withUnknown)
      assert.ok(decoded.type === 'control' && decoded.control.body.case === 'ping')
      assert.equal(decoded.control.body.value.id, 3)
    })
  })

  describe('malformed frames', () => {
    for (const [name, frame] of MALFORMED) {
      it(`refuses ${name} with MALFORMED_FRAME`, () => {
        assert.throws(() => decodeFrame(frame), isMalformedFrame)
      })
    }

    it('keeps the protobuf error as the cause', () => {
      assert.throws(
        () => decodeFrame(Uint8Array.of(FRAME_TYPE_CONTROL, 0x08, 0xff)),
        (err: unknown) => isMalformedFrame(err) && err instanceof Error && err.cause instanceof Error,
      )
    })

    it('never throws anything but NetworkError MALFORMED_FRAME for 20,000 random byte arrays', () => {
      const validFrames = CONTROL_BODIES.map((body) => encodeControlFrame(body))
      const anyBytes = fc.uint8Array({ maxLength: 96 })
      const controlFrames = fc
        .uint8Array({ maxLength: 96 })
        .map((bytes) => Uint8Array.from([FRAME_TYPE_CONTROL, ...bytes]))
      // Valid frames with one byte changed or cut short: close to the shapes decoders get wrong.
      const mutatedFrames = fc
        .tuple(fc.constantFrom(...validFrames), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean())
        .map(([frame, position, value, truncate]) => {
          const index = 1 + (position % (frame.length - 1))
          if (truncate) return frame.slice(0, index)
          const copy = frame.slice()
          copy[index] = value
          return copy
        })
      fc.assert(
        fc.property(fc.oneof(anyBytes, controlFrames, mutatedFrames), (frame) => {
          let decoded: ReturnType<typeof decodeFrame>
          try {
            decoded = decodeFrame(frame)
          } catch (err) {
            if (isMalformedFrame(err)) return
            throw err
          }
          if (decoded.type === 'data') {
            assert.equal(frame[0], FRAME_TYPE_DATA)
            assert.deepEqual(decoded.message, frame.subarray(1))
          } else {
            assert.equal(frame[0], FRAME_TYPE_CONTROL)
            assert.notEqual(decoded.control.body.case, undefined)
          }
        }),
        { numRuns: 20_000 },
      )
    })
  })
})
