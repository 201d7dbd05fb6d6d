// The fan-out's parts on their own: frames built once are what a WebSocket
// client reads, the egress writer batches and bounds a real socket's backlog,
// and the pushback refuses publishes past its limits.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { systemClock } from '@runnel/protocol'
import * as ws from 'ws'
import { NodeError } from '../../src/errors.js'
import { EgressWriter } from '../../src/plugins/fanout/EgressWriter.js'
import { mqttPublishPacket, webSocketFrame } from '../../src/plugins/fanout/frames.js'
import { Pushback } from '../../src/plugins/fanout/Pushback.js'

/** ws's frame parser (the one its clients read with); @types/ws leaves it out. */
interface FrameReceiver {
  on(event: 'message', listener: (data: Buffer, binary: boolean) => void): void
  write(chunk: Buffer): void
}
const { Receiver } = ws as unknown as { Receiver: new (options: { isServer: boolean }) => FrameReceiver }

/** What a WebSocket client reads out of `bytes`: each message and whether it came as binary. */
function readFrames(bytes: Buffer): { data: Buffer; binary: boolean }[] {
  const receiver = new Receiver({ isServer: false })
  const messages: { data: Buffer; binary: boolean }[] = []
  receiver.on('message', (data, binary) => messages.push({ data, binary }))
  receiver.write(bytes)
  return messages
}

describe('webSocketFrame', () => {
  for (const size of [0, 125, 126, 65_535, 65_536, 300_000]) {
    it(`builds a frame a WebSocket client reads back (${size} bytes, text and binary)`, () => {
      const payload = Buffer.alloc(size, 'a')
      const [text] = readFrames(webSocketFrame(payload, false))
      assert.equal(text?.binary, false)
      assert.ok(text.data.equals(payload))
      const [binary] = readFrames(webSocketFrame(payload, true))
      assert.equal(binary?.binary, true)
      assert.ok(binary.data.equals(payload))
    })
  }
})

describe('mqttPublishPacket', () => {
  it('writes the remaining length as MQTT varints (1 to 3 bytes) before the topic and payload', () => {
    for (const [size, lengthBytes] of [
      [10, 1],
      [200, 2],
      [20_000, 3],
    ] as const) {
      const packet = mqttPublishPacket('s/t', Buffer.alloc(size, 1))
      assert.equal(packet[0], 0x30, 'PUBLISH, QoS 0, not retained')
      let remaining = 0
      for (let i = 0; i < lengthBytes; i++) remaining += (packet[1 + i]! & 0x7f) * 128 ** i
      assert.equal(remaining, 2 + 3 + size)
      assert.equal(packet.length, 1 + lengthBytes + remaining)
      assert.equal(packet.readUInt16BE(1 + lengthBytes), 3)
      assert.equal(packet.toString('utf8', 3 + lengthBytes, 6 + lengthBytes), 's/t')
    }
  })
})

describe('EgressWriter', () => {
  let server: Server
  let port: number
  const accepted: Socket[] = []
  before(async () => {
    server = createServer((socket) => accepted.push(socket))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    port = (server.address() as AddressInfo).port
  })
  after(() => {
    for (const socket of accepted) socket.destroy()
    server.close()
  })

  async function pair(): Promise<{ client: Socket; served: Socket }> {
    const client = connect(port, '127.0.0.1')
    await once(client, 'connect')
    while (accepted.length === 0) await new Promise((resolve) => setImmediate(resolve))
    return { client, served: accepted.pop()! }
  }

  it('sends what one turn wrote to a socket, in order, in one batch, and reports the bytes as it hands them over', async () => {
    const { client, served } = await pair()
    const handedOver: number[] = []
    const writer = new EgressWriter({ maxSubscriberBytes: 1024 * 1024 }, systemClock, (bytes) => handedOver.push(bytes))
    const queue = writer.open(served)
    // Node.js hands a corked socket's chunks to _writev at once when it is uncorked: one syscall.
    const batches: number[] = []
    const writev = served._writev!.bind(served)
    served._writev = (chunks, callback) => {
      batches.push(chunks.length)
      writev(chunks, callback)
    }
    const received: Buffer[] = []
    client.on('data', (chunk: Buffer) => received.push(chunk))
    for (let i = 0; i < 100; i++) assert.equal(queue.write(Buffer.from(`${i},`)), true)
    assert.equal(served.writableLength, 0, 'held until the turn ends')
    assert.deepEqual(handedOver, [])
    const expected = Array.from({ length: 100 }, (_, i) => `${i},`).join('')
    while (Buffer.concat(received).toString() !== expected) await once(client, 'data')
    assert.deepEqual(batches, [100])
    assert.deepEqual(handedOver, [expected.length])
    client.destroy()
  })

  it('hands a socket no more than its buffer takes, and the rest, in order, as it drains', async () => {
    const { client, served } = await pair()
    client.pause()
    const writer = new EgressWriter({ maxSubscriberBytes: 64 * 1024 * 1024 }, systemClock)
    const queue = writer.open(served)
    const frames: Buffer[] = []
    // Past the kernel's buffers (some megabytes), the socket's own holds one hand-over at a time; the node the rest.
    while (!served.writableNeedDrain) {
      assert.ok(frames.length < 64 * 1024, 'the socket never filled')
      for (let i = 0; i < 100; i++) {
        const frame = Buffer.from(`${String(frames.length).padStart(1_000, '.')};`)
        frames.push(frame)
        assert.equal(queue.write(frame), true)
      }
      await new Promise((resolve) => setImmediate(resolve))
    }
    // More than one hand-over, written while the socket can't take any.
    for (let i = 0; i < 100; i++) {
      const frame = Buffer.from(`${String(frames.length).padStart(1_000, '.')};`)
      frames.push(frame)
      queue.write(frame)
    }
    await new Promise((resolve) => setImmediate(resolve))
    const total = frames.reduce((sum, frame) => sum + frame.length, 0)
    assert.ok(served.writableLength < served.writableHighWaterMark + 1_002, `socket holds ${served.writableLength}`)
    assert.ok(queue.unsentBytes > served.writableLength, 'the rest waits in the queue')
    assert.ok(queue.unsentBytes <= total)
    const received: Buffer[] = []
    client.on('data', (chunk: Buffer) => received.push(chunk))
    client.resume()
    let length = 0
    while (length < total) {
      await once(client, 'data')
      length = received.reduce((sum, chunk) => sum + chunk.length, 0)
    }
    assert.ok(Buffer.concat(received).equals(Buffer.concat(frames)))
    assert.equal(queue.unsentBytes, 0)
    client.destroy()
  })

  it('drops what a discarded queue holds, and what a queue whose socket stopped taking frames holds', async () => {
    const { client, served } = await pair()
    const writer = new EgressWriter({ maxSubscriberBytes: 1024 * 1024 }, systemClock)
    const discarded = writer.open(served)
    discarded.write(Buffer.from('dropped'))
    discarded.discard()
    assert.equal(discarded.unsentBytes, 0)
    assert.equal(discarded.write(Buffer.from('refused')), false)
    let open = true
    const closing = writer.open(served, () => open)
    closing.write(Buffer.from('also dropped'))
    open = false
    const kept = writer.open(served)
    kept.write(Buffer.from('kept'))
    const received: Buffer[] = []
    client.on('data', (chunk: Buffer) => received.push(chunk))
    while (Buffer.concat(received).toString() !== 'kept') await once(client, 'data')
    assert.equal(closing.unsentBytes, 0)
    client.destroy()
  })

  it('shares blocks between small frames and gives a large one its own allocation', () => {
    const writer = new EgressWriter({ maxSubscriberBytes: 1024 }, systemClock)
    const first = writer.allocate(100)
    const second = writer.allocate(200)
    assert.equal(first.buffer, second.buffer)
    assert.equal(second.byteOffset, first.byteOffset + 100)
    const large = writer.allocate(100_000)
    assert.equal(large.byteLength, 100_000)
    assert.notEqual(large.buffer, first.buffer)
  })

  it('refuses a subscriber whose reader stopped once its unsent bytes pass the bound, and counts the backlog', async () => {
    const { client, served } = await pair()
    client.pause()
    const bound = 256 * 1024
    // The writer sums the backlog at most every 20 ms: the test moves its clock on instead of waiting.
    let now = 0
    const writer = new EgressWriter({ maxSubscriberBytes: bound }, { now: () => now })
    const queue = writer.open(served)
    const chunk = Buffer.alloc(64 * 1024)
    let written = 0
    // The kernel's buffers take some megabytes first; then the socket's buffer fills, then the queue past the bound.
    while (queue.write(chunk)) {
      written += chunk.length
      assert.ok(written < 256 * 1024 * 1024, 'the writer never refused the stalled socket')
      await new Promise((resolve) => setImmediate(resolve))
    }
    assert.ok(queue.unsentBytes > bound)
    now += 100
    assert.ok(writer.queuedBytes() > bound, `queued ${writer.queuedBytes()}`)
    client.destroy()
    served.destroy()
    await once(served, 'close')
    now += 100
    assert.equal(writer.queuedBytes(), 0)
  })
})

describe('Pushback', () => {
  const limits = { maxPendingPublishes: 3, maxQueuedDeliveryBytes: 1000, retryAfterMs: 1500 }

  it('refuses publishes over maxPendingPublishes with OVERLOADED until some are given back', () => {
    const pushback = new Pushback(limits)
    const releases = [pushback.admit(), pushback.admit(2)]
    assert.throws(
      () => pushback.admit(),
      (err: unknown) => err instanceof NodeError && err.code === 'OVERLOADED' && /retry in 1500 ms/.test(err.message),
    )
    assert.equal(pushback.refused, 1)
    releases[0]!()
    releases[0]!() // a second call gives nothing back
    assert.equal(pushback.pendingPublishes, 2)
    pushback.admit()
    assert.throws(() => pushback.admit(), NodeError)
  })

  it('refuses every publish while more than maxQueuedDeliveryBytes wait for subscribers', () => {
    const pushback = new Pushback(limits)
    let queued = 1001
    pushback.watch({ queuedBytes: () => queued })
    assert.throws(() => pushback.admit(), /1001 bytes unsent to subscribers/)
    queued = 1000
    pushback.admit()
  })
})
