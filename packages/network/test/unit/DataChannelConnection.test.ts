import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DataChannelConnection, type DataChannelLike } from '../../src/transport/webrtc/DataChannelConnection.js'
import { ConnectionRecorder } from '../compliance/transportCompliance.js'

/** Two ends of a data channel in memory: what one sends, the other receives at once, as ArrayBuffers. */
class FakeChannel implements DataChannelLike {
  binaryType: BinaryType = 'blob'
  readyState: RTCDataChannelState = 'open'
  bufferedAmount = 0
  onmessage: DataChannelLike['onmessage'] = null
  onclose: DataChannelLike['onclose'] = null
  onerror: DataChannelLike['onerror'] = null
  other: FakeChannel | undefined
  readonly messageSizes: number[] = []
  closeCalls = 0

  send(data: string | Blob | ArrayBuffer | ArrayBufferView): void {
    const bytes = data as Uint8Array
    this.messageSizes.push(bytes.length)
    const copy = bytes.slice().buffer
    this.other?.onmessage?.call(this.other as unknown as RTCDataChannel, { data: copy } as MessageEvent)
  }

  close(): void {
    this.closeCalls++
  }

  /** Delivers something the far end would never send through a DataChannelConnection. */
  inject(data: unknown): void {
    this.onmessage?.call(this as unknown as RTCDataChannel, { data } as MessageEvent)
  }
}

function pair(
  maxFrameSize = 1024 * 1024,
  channelMessageSize: number | undefined = 16 * 1024,
): { a: DataChannelConnection; b: DataChannelConnection; channelA: FakeChannel; channelB: FakeChannel } {
  const channelA = new FakeChannel()
  const channelB = new FakeChannel()
  channelA.other = channelB
  channelB.other = channelA
  const options = { maxFrameSize, channelMessageSize }
  const a = new DataChannelConnection(channelA, 'a', options, () => {})
  const b = new DataChannelConnection(channelB, 'b', options, () => {})
  return { a, b, channelA, channelB }
}

describe('DataChannelConnection', () => {
  it('cuts frames above the channel message size into fragments and reassembles them whole', () => {
    const { a, b, channelA } = pair()
    const recorder = new ConnectionRecorder()
    b.setHandlers(recorder)
    const frame = Uint8Array.from({ length: 40_000 }, (_, index) => index % 251)
    a.send(frame)
    a.send(new Uint8Array(0))
    // 16 KiB messages carry 16,383 bytes of frame after the header byte.
    assert.deepEqual(channelA.messageSizes, [16 * 1024, 16 * 1024, 40_000 - 2 * 16_383 + 1, 1])
    assert.equal(recorder.frames.length, 2)
    assert.deepEqual(recorder.frames[0], frame)
    assert.equal(recorder.frames[1]!.length, 0)
  })

  it('uses 64 KiB messages when the channel reports no limit, and never more than 256 KiB', () => {
    for (const [limit, expected] of [
      [undefined, 64 * 1024],
      [Number.POSITIVE_INFINITY, 64 * 1024],
      [1024 * 1024 * 1024, 256 * 1024],
    ] as const) {
      const channelA = new FakeChannel()
      const a = new DataChannelConnection(channelA, 'a', { maxFrameSize: 2 ** 21, channelMessageSize: limit }, () => {})
      a.send(new Uint8Array(1024 * 1024))
      assert.equal(Math.max(...channelA.messageSizes), expected, `limit ${String(limit)}`)
    }
  })

  it('closes with FRAME_TOO_LARGE once the fragments exceed the frame limit, and tells the sender why', () => {
    const { a, b } = pair(20_000)
    const [atA, atB] = [new ConnectionRecorder(), new ConnectionRecorder()]
    a.setHandlers(atA)
    b.setHandlers(atB)
    a.send(new Uint8Array(20_000))
    a.send(new Uint8Array(20_001))
    assert.equal(atB.frames.length, 1)
    assert.match(atB.closeReasons[0] ?? '', /^FRAME_TOO_LARGE/)
    assert.match(atA.closeReasons[0] ?? '', /^closed by peer: FRAME_TOO_LARGE/)
  })

  it('closes on text, empty and unknown-type messages instead of passing them on', () => {
    for (const data of ['text', new ArrayBuffer(0), Uint8Array.of(0x07, 1, 2).buffer]) {
      const { b, channelB } = pair()
      const recorder = new ConnectionRecorder()
      b.setHandlers(recorder)
      channelB.inject(data)
      assert.deepEqual(recorder.frames, [])
      assert.match(recorder.closeReasons[0] ?? '', /protocol violation/)
    }
  })

  it('holds frames until handlers are set, and reports one close however often it is closed', () => {
    const { a, b, channelB } = pair()
    a.send(Uint8Array.of(1))
    a.send(Uint8Array.of(2))
    a.close('done')
    a.close('again')
    const recorder = new ConnectionRecorder()
    b.setHandlers(recorder)
    assert.deepEqual(
      recorder.frames.map((frame) => frame[0]),
      [1, 2],
    )
    assert.deepEqual(recorder.closeReasons, ['closed by peer: done'])
    assert.equal(channelB.closeCalls, 1, 'the end that read the notice closes the channel')
    a.send(Uint8Array.of(3))
    assert.equal(recorder.frames.length, 2, 'nothing is sent after close')
  })
})
