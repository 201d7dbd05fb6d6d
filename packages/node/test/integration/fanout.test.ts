// Fan-out like a broker, on real sockets: many WebSocket and MQTT subscribers
// of one stream each get every message exactly once from one shared network
// subscription; a subscriber that stops reading is shed with the documented
// signal (WebSocket close 1008, MQTT disconnect) while the others keep
// receiving; a publisher of a saturated node is pushed back (WebSocket error
// frame OVERLOADED with retryAfterMs, HTTP 503 with Retry-After, MQTT
// disconnect). Low `delivery` limits make shedding and pushback deterministic.
import assert from 'node:assert/strict'
import { Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import WebSocket, { type RawData } from 'ws'
import type { RunnelNode } from '../../src/index.js'
import type { ApiName, CutReason } from '../../src/metrics.js'
import { startTestNetwork, waitFor, within, type TestNetwork } from '../helpers.js'

const TIMEOUT_MS = 30_000

const sockets: WebSocket[] = []
const mqttClients: MqttClient[] = []

function text(data: RawData): string {
  const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
  return bytes.toString('utf8')
}

function connect(url: string): Promise<WebSocket> {
  const socket = new WebSocket(url)
  sockets.push(socket)
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket))
    // Kept on: a reset as the node cuts a socket off must not go unhandled.
    socket.on('error', reject)
  })
}

async function connectMqtt(url: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 })
  mqttClients.push(client)
  return client
}

/** The `i` of each message a subscriber got, in arrival order. */
interface Received {
  readonly indexes: number[]
}

function watchWebSocket(socket: WebSocket, wrapped = false): Received {
  const received: Received = { indexes: [] }
  socket.on('message', (data) => {
    const parsed = JSON.parse(text(data)) as { i: number } | { content: { i: number } }
    received.indexes.push(wrapped ? (parsed as { content: { i: number } }).content.i : (parsed as { i: number }).i)
  })
  return received
}

function watchMqtt(client: MqttClient): Received {
  const received: Received = { indexes: [] }
  client.on('message', (_topic, payload) => received.indexes.push((JSON.parse(payload.toString()) as { i: number }).i))
  return received
}

async function cuts(node: RunnelNode, api: ApiName, reason: CutReason): Promise<number> {
  const { values } = await node.metrics.connectionsCut.get()
  return values.find((value) => value.labels.api === api && value.labels.reason === reason)?.value ?? 0
}

async function gauge(node: RunnelNode, api: ApiName): Promise<number> {
  const { values } = await node.metrics.subscriptions.get()
  return values.find((value) => value.labels.api === api)?.value ?? 0
}

async function errors(node: RunnelNode, api: ApiName, code: string): Promise<number> {
  const { values } = await node.metrics.errors.get()
  return values.find((value) => value.labels.api === api && value.labels.code === code)?.value ?? 0
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i)

describe('API fan-out', () => {
  let network: TestNetwork
  let streamId: string
  let path: string

  before(async () => {
    network = await startTestNetwork()
    streamId = await network.createPublicStream('/fanout')
    path = `/streams/${encodeURIComponent(streamId)}`
  })
  after(async () => {
    for (const socket of sockets) socket.terminate()
    await Promise.all(mqttClients.map((client) => client.endAsync(true)))
    await network.stop()
  })

  describe('delivery and shedding', () => {
    let node: RunnelNode
    let websocket: string
    let mqttUrl: string
    let publisher: WebSocket
    let next = 0

    before(async () => {
      node = await network.startNode(2, { delivery: { maxSubscriberBufferBytes: 1024 * 1024 } })
      websocket = node.info().endpoints.websocket!
      mqttUrl = node.info().endpoints.mqtt!
      publisher = await connect(`${websocket}${path}/publish`)
    })

    /** Publishes `count` messages of about `size` bytes (JSON `{ i, pad }`); returns their indexes. */
    function publish(count: number, size: number): number[] {
      const indexes = range(next, next + count)
      for (const i of indexes) publisher.send(JSON.stringify({ i, pad: 'x'.repeat(size) }))
      next += count
      return indexes
    }

    it('gives each of 30 WebSocket and 20 MQTT subscribers every message once, in order, from one subscription per API', async () => {
      const plain = await Promise.all(range(0, 15).map(() => connect(`${websocket}${path}/subscribe`)))
      const wrapped = await Promise.all(
        range(0, 15).map(() => connect(`${websocket}${path}/subscribe?payloadMetadata=true`)),
      )
      const mqttSubscribers = await Promise.all(range(0, 20).map(() => connectMqtt(mqttUrl)))
      await Promise.all(
        mqttSubscribers.map((client, index) => client.subscribeAsync(streamId, { qos: index % 2 === 0 ? 0 : 1 })),
      )
      const received = [
        ...plain.map((socket) => watchWebSocket(socket)),
        ...wrapped.map((socket) => watchWebSocket(socket, true)),
        ...mqttSubscribers.map(watchMqtt),
      ]
      const before = { websocket: await gauge(node, 'websocket'), mqtt: await gauge(node, 'mqtt') }
      assert.deepEqual(before, { websocket: 1, mqtt: 1 }, 'one network subscription per API serves all its subscribers')

      // Small messages, and every tenth large enough for the long length forms of both wire formats.
      const sent: number[] = []
      for (let batch = 0; batch < 6; batch++) sent.push(...publish(9, 50), ...publish(1, 70_000))
      await waitFor(
        () => received.every(({ indexes }) => indexes.length >= sent.length),
        TIMEOUT_MS,
        'every subscriber to receive every message',
        () => `counts ${received.map(({ indexes }) => indexes.length).join(',')} of ${sent.length}`,
      )
      for (const { indexes } of received) assert.deepEqual(indexes, sent)
      const { values } = await node.metrics.delivered.get()
      const delivered = (api: ApiName): number => values.find((value) => value.labels.api === api)?.value ?? 0
      assert.equal(delivered('websocket'), 30 * sent.length)
      assert.equal(delivered('mqtt'), 20 * sent.length)
      for (const socket of [...plain, ...wrapped]) socket.terminate()
      await Promise.all(mqttSubscribers.map((client) => client.endAsync(true)))
      for (const deadline = Date.now() + TIMEOUT_MS; (await gauge(node, 'websocket')) !== 0;) {
        assert.ok(Date.now() < deadline, 'the shared subscription closed with its last subscriber')
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    })

    it('sheds a WebSocket and an MQTT subscriber that stopped reading, while the others keep receiving', async () => {
      const slowSocket = await connect(`${websocket}${path}/subscribe`)
      const slowMqtt = await connectMqtt(mqttUrl)
      await slowMqtt.subscribeAsync(streamId, { qos: 0 })
      const healthy = [
        watchWebSocket(await connect(`${websocket}${path}/subscribe`)),
        watchMqtt(await connectMqtt(mqttUrl)),
      ]
      await mqttClients.at(-1)!.subscribeAsync(streamId, { qos: 0 })
      const slowClosed = new Promise<{ code: number; reason: string }>((resolve) =>
        slowSocket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
      )
      const mqttClosed = new Promise<void>((resolve) => slowMqtt.once('close', () => resolve()))
      // Neither reads its socket any more: the kernel's buffers fill, then the node's for that subscriber.
      slowSocket.pause()
      assert.ok(slowMqtt.stream instanceof Socket)
      slowMqtt.stream.pause()

      const sent: number[] = []
      const shed = async (): Promise<boolean> =>
        (await cuts(node, 'websocket', 'slow_subscriber')) === 1 && (await cuts(node, 'mqtt', 'slow_subscriber')) === 1
      while (!(await shed())) {
        assert.ok(sent.length < 4_000, 'published 64 MB without shedding the stalled subscribers')
        sent.push(...publish(10, 16 * 1024))
        // The healthy subscribers keep up with every batch (and so are never over the bound themselves).
        await waitFor(() => healthy.every(({ indexes }) => indexes.at(-1) === sent.at(-1)), TIMEOUT_MS, 'a batch')
      }
      // A client that resumes reading gets what was queued before the shedding, then the close frame and its reason.
      slowSocket.resume()
      const closed = await within(slowClosed, TIMEOUT_MS, 'the shed WebSocket to close')
      assert.equal(closed.code, 1008)
      assert.match(closed.reason, /^slow subscriber: more than 1048576 bytes unsent$/)
      slowMqtt.stream.resume()
      await within(mqttClosed, TIMEOUT_MS, 'the shed MQTT client to be disconnected')

      sent.push(...publish(5, 100))
      await waitFor(() => healthy.every(({ indexes }) => indexes.length === sent.length), TIMEOUT_MS, 'the last batch')
      for (const { indexes } of healthy) assert.deepEqual(indexes, sent)
      assert.equal(await cuts(node, 'websocket', 'slow_subscriber'), 1)
      assert.equal(await cuts(node, 'mqtt', 'slow_subscriber'), 1)
    })
  })

  describe('publisher pushback', () => {
    let node: RunnelNode
    let websocket: string
    // A stream of its own: messages of the shedding tests above, still crossing a loaded
    // network, must not count as this publisher's.
    let streamId: string
    let path: string

    before(async () => {
      streamId = await network.createPublicStream('/fanout-pushback')
      path = `/streams/${encodeURIComponent(streamId)}`
      node = await network.startNode(3, { delivery: { maxPendingPublishes: 4, retryAfterMs: 1_500 } })
      websocket = node.info().endpoints.websocket!
    })

    it('WebSocket: refuses the frames past the limit with OVERLOADED error frames naming their seq, and publishes the rest', async () => {
      const subscriber = watchWebSocket(await connect(`${websocket}${path}/subscribe`))
      const publisher = await connect(`${websocket}${path}/publish`)
      const refused: { seq: number; error: { code: string; message: string; retryAfterMs: number } }[] = []
      publisher.on('message', (data) => refused.push(JSON.parse(text(data)) as (typeof refused)[number]))
      // Sent in one go: the node reads the 50 frames at once, faster than it publishes them.
      for (const i of range(0, 50)) publisher.send(JSON.stringify({ i }))

      const refusedIndexes = (): number[] => refused.map(({ seq }) => seq - 1)
      await waitFor(
        () => refused.length > 0 && subscriber.indexes.length + refused.length === 50,
        TIMEOUT_MS,
        'every frame published or refused',
        () => `${subscriber.indexes.length} published, ${refused.length} refused`,
      )
      for (const { error } of refused) {
        assert.equal(error.code, 'OVERLOADED')
        assert.equal(error.retryAfterMs, 1_500)
        assert.match(error.message, /saturated .*publishes waiting, at most 4/)
      }
      // Frame seq N is message N - 1.
      const published = range(0, 50).filter((i) => !refusedIndexes().includes(i))
      assert.deepEqual(subscriber.indexes, published)
      assert.ok(published.length >= 4, 'the first frames were taken')
      assert.equal(node.gateway.pushback.pendingPublishes, 0)
    })

    it('HTTP: answers a batch past the limit with 503, Retry-After and OVERLOADED; a single message still goes', async () => {
      const http = node.info().endpoints.http!
      const batch = range(0, 10)
        .map((i) => JSON.stringify({ i }))
        .join('\n')
      const response = await fetch(`${http}${path}`, {
        method: 'POST',
        body: batch,
        headers: { 'content-type': 'application/x-ndjson' },
      })
      assert.equal(response.status, 503)
      assert.equal(response.headers.get('retry-after'), '2')
      const { error } = (await response.json()) as { error: { code: string } }
      assert.equal(error.code, 'OVERLOADED')
      const single = await fetch(`${http}${path}`, {
        method: 'POST',
        body: JSON.stringify({ single: true }),
        headers: { 'content-type': 'application/json' },
      })
      assert.equal(single.status, 200)
    })

    it('MQTT: disconnects a client whose publishes arrive past the limit', async () => {
      const client = await connectMqtt(node.info().endpoints.mqtt!)
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
      client.on('error', () => undefined)
      for (const i of range(0, 50)) client.publish(streamId, JSON.stringify({ i }), { qos: 1 }, () => undefined)
      await within(closed, TIMEOUT_MS, 'the flooding MQTT client to be disconnected')
      assert.ok((await errors(node, 'mqtt', 'OVERLOADED')) >= 1)
      // Every publish taken in was given back, refused ones and those queued behind the refusal alike: not saturated.
      await waitFor(() => node.gateway.pushback.pendingPublishes === 0, TIMEOUT_MS, 'the pending publishes to drain')
      const after = await connectMqtt(node.info().endpoints.mqtt!)
      await after.publishAsync(streamId, JSON.stringify({ after: true }), { qos: 1 })
    })
  })
})
