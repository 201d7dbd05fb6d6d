// Slow and surplus clients on every listener: a client that never finishes
// its request (or its MQTT CONNECT) is cut off after the configured timeout,
// and one over a listener's connection cap is closed as it arrives, while
// normal clients of the same listener keep working throughout.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect as connectTcp, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { after, before, describe, it } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import WebSocket, { type ClientOptions, type RawData } from 'ws'
import type { RunnelNode } from '../../src/index.js'
import type { CutReason } from '../../src/metrics.js'
import { startTestNetwork, waitFor, type TestNetwork, within } from '../helpers.js'

/**
 * How long a test waits for the node to cut a slow client off: far above the
 * timeouts configured here (≤ 1.5 s), far below what a node without them
 * allows (30 s for aedes's CONNECT, 60–90 s for Node.js's headers timeout).
 */
const CUT_WITHIN_MS = 20_000

/** A raw TCP client: what it has received, and a promise of its close. */
interface RawClient {
  readonly socket: Socket
  readonly received: () => string
  readonly closed: Promise<void>
  readonly isClosed: () => boolean
}

const opened: { destroy(): void }[] = []

async function rawClient(url: string, send = ''): Promise<RawClient> {
  const { hostname, port } = new URL(url)
  const socket = connectTcp(Number(port), hostname)
  opened.push(socket)
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  // A reset as the node cuts the socket off is expected; 'close' follows it.
  socket.on('error', () => undefined)
  let isClosed = false
  const closed = once(socket, 'close').then(() => void (isClosed = true))
  await once(socket, 'connect')
  if (send !== '') socket.write(send)
  return { socket, received: () => Buffer.concat(chunks).toString('latin1'), closed, isClosed: () => isClosed }
}

const cutOff = (client: RawClient, what: string): Promise<void> => within(client.closed, CUT_WITHIN_MS, what)

const statusLines = (client: RawClient): string[] => client.received().match(/HTTP\/1\.1 \d{3}/g) ?? []

/** The status lines on a raw keep-alive socket, once `count` have arrived. */
async function responses(client: RawClient, count: number): Promise<string[]> {
  await waitFor(() => statusLines(client).length >= count, 30_000, `${count} response(s)`)
  return statusLines(client)
}

/** Connects until the node answers `request`: a place under a connection cap frees once the node has seen a close. */
async function answered(url: string, request: string): Promise<RawClient> {
  for (let attempt = 1; attempt <= 50; attempt++) {
    const client = await rawClient(url, request)
    await waitFor(() => client.isClosed() || statusLines(client).length > 0, 30_000, 'an answer or a close')
    if (!client.isClosed()) return client
  }
  throw new Error(`no connection to ${url} was answered in 50 tries`)
}

async function cuts(node: RunnelNode, api: string, reason: CutReason): Promise<number> {
  const { values } = await node.metrics.connectionsCut.get()
  return values.find((value) => value.labels.api === api && value.labels.reason === reason)?.value ?? 0
}

/** Whether a message arrived (earlier ones of the stream may come too: the network fills gaps from storage). */
function includes(received: readonly unknown[], message: unknown): boolean {
  return received.some((item) => isDeepStrictEqual(item, message))
}

function parseFrame(data: RawData): unknown {
  const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
  return JSON.parse(bytes.toString('utf8'))
}

/** The close code of a WebSocket (events.once would reject on the 'error' that comes first when the node cuts it off). */
function closeOf(socket: WebSocket): Promise<number> {
  return new Promise((resolve) => socket.once('close', (code) => resolve(code)))
}

function openWebSocket(url: string, options: ClientOptions = {}): Promise<WebSocket> {
  const socket = new WebSocket(url, options)
  opened.push({ destroy: () => socket.terminate() })
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket))
    socket.on('error', reject)
  })
}

describe('slow and surplus clients', () => {
  let network: TestNetwork
  let streamId: string
  let path: string
  const mqttClients: MqttClient[] = []

  before(async () => {
    network = await startTestNetwork()
    streamId = await network.createPublicStream('/slow-clients')
    path = `/streams/${encodeURIComponent(streamId)}`
  })
  after(async () => {
    for (const socket of opened) socket.destroy()
    await Promise.all(mqttClients.map((client) => client.endAsync(true)))
    await network.stop()
  })

  const publish = (base: string, content: unknown): Promise<Response> =>
    fetch(`${base}${path}`, {
      method: 'POST',
      body: JSON.stringify(content),
      headers: { 'content-type': 'application/json' },
    })

  const connectMqtt = async (url: string): Promise<MqttClient> => {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 })
    mqttClients.push(client)
    return client
  }

  describe('timeouts', () => {
    let node: RunnelNode
    let http: string
    let websocket: string
    let mqttUrl: string

    before(async () => {
      node = await network.startNode(2, {
        plugins: {
          http: { port: 0, headersTimeoutMs: 500, requestTimeoutMs: 1_000, keepAliveTimeoutMs: 500 },
          websocket: { port: 0, headersTimeoutMs: 500, pingIntervalMs: 1_000 },
          mqtt: { port: 0, connectTimeoutMs: 500 },
        },
      })
      const { endpoints } = node.info()
      http = endpoints.http!
      websocket = endpoints.websocket!
      mqttUrl = endpoints.mqtt!
    })

    it('HTTP: cuts off clients whose headers or body never finish (408), while another client publishes', async () => {
      const stalledHeaders = await Promise.all(
        Array.from({ length: 20 }, () => rawClient(http, `POST ${path} HTTP/1.1\r\nHost: node\r\nContent-Type: app`)),
      )
      const stalledBodies = await Promise.all(
        Array.from({ length: 20 }, () =>
          rawClient(
            http,
            `POST ${path} HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"t":`,
          ),
        ),
      )
      const meanwhile = await publish(http, { during: true })
      assert.equal(meanwhile.status, 200)

      for (const client of [...stalledHeaders, ...stalledBodies])
        await cutOff(client, 'a stalled request to be cut off')
      for (const client of [...stalledHeaders, ...stalledBodies]) assert.match(client.received(), /^HTTP\/1\.1 408 /)
      assert.equal((await publish(http, { after: true })).status, 200)
      assert.equal(await cuts(node, 'http', 'headers_timeout'), 20)
      assert.equal(await cuts(node, 'http', 'request_timeout'), 20)
    })

    it('HTTP: closes a keep-alive connection idle after its response', async () => {
      const client = await rawClient(http, 'GET /health HTTP/1.1\r\nHost: node\r\n\r\n')
      assert.deepEqual(await responses(client, 1), ['HTTP/1.1 200'])
      await cutOff(client, 'the keep-alive connection to be closed')
      // Closing an idle keep-alive connection is routine, not a cut.
      assert.equal(await cuts(node, 'http', 'idle_timeout'), 0)
    })

    it('WebSocket: cuts off a partial upgrade request, while another client subscribes and receives', async () => {
      const stalled = await rawClient(
        websocket,
        `GET ${path}/subscribe HTTP/1.1\r\nHost: node\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`,
      )
      const subscriber = await openWebSocket(`${websocket}${path}/subscribe`)
      const received: unknown[] = []
      subscriber.on('message', (data) => received.push(parseFrame(data)))
      assert.equal((await publish(http, { to: 'websocket' })).status, 200)
      await waitFor(() => includes(received, { to: 'websocket' }), 30_000, 'the message on the WebSocket')

      await cutOff(stalled, 'the partial upgrade to be cut off')
      assert.match(stalled.received(), /^HTTP\/1\.1 408 /)
      assert.equal(subscriber.readyState, WebSocket.OPEN)
      assert.equal(await cuts(node, 'websocket', 'headers_timeout'), 1)
    })

    it('WebSocket: cuts off an established client that never answers pings, while another stays', async () => {
      const silent = await openWebSocket(`${websocket}${path}/subscribe`, { autoPong: false })
      const answering = await openWebSocket(`${websocket}${path}/subscribe`)
      const received: unknown[] = []
      answering.on('message', (data) => received.push(parseFrame(data)))
      const code = await within(closeOf(silent), CUT_WITHIN_MS, 'the silent WebSocket to be cut off')
      assert.equal(code, 1006, 'terminated without a close frame')
      assert.equal((await publish(http, { after: 'ping' })).status, 200)
      await waitFor(() => includes(received, { after: 'ping' }), 30_000, 'the message on the answering WebSocket')
      assert.equal(answering.readyState, WebSocket.OPEN)
      assert.ok((await cuts(node, 'websocket', 'ping_timeout')) >= 1)
    })

    it('MQTT: cuts off connections that never send (or never finish) CONNECT, while a client publishes and receives', async () => {
      const silent = await rawClient(mqttUrl)
      // The first bytes of a CONNECT packet: its type, and a remaining length of 30.
      const partial = await rawClient(mqttUrl, '\x10\x1e\x00\x04MQTT')
      const client = await connectMqtt(mqttUrl)
      const received: unknown[] = []
      client.on('message', (_topic, payload) => received.push(JSON.parse(payload.toString())))
      await client.subscribeAsync(streamId, { qos: 1 })
      await client.publishAsync(streamId, JSON.stringify({ over: 'mqtt' }), { qos: 1 })
      await waitFor(() => includes(received, { over: 'mqtt' }), 30_000, 'the MQTT message')

      await cutOff(silent, 'the silent MQTT connection to be cut off')
      await cutOff(partial, 'the partial CONNECT to be cut off')
      assert.equal(client.connected, true)
      await client.publishAsync(streamId, JSON.stringify({ still: 'connected' }), { qos: 1 })
      await waitFor(() => includes(received, { still: 'connected' }), 30_000, 'the second MQTT message')
      assert.equal(await cuts(node, 'mqtt', 'connect_timeout'), 2)
    })
  })

  describe('history server', () => {
    let storageNode: RunnelNode
    let history: string
    let directory: string

    before(async () => {
      directory = await mkdtemp(join(tmpdir(), 'runnel-slow-'))
      storageNode = await network.startNode(5, {
        plugins: {
          http: { port: 0, headersTimeoutMs: 400, requestTimeoutMs: 60_000, idleTimeoutMs: 1_500 },
          websocket: false,
          mqtt: false,
          storage: { sqlite: { path: join(directory, 'db') } },
        },
      })
      history = storageNode.info().endpoints.storage!
      await network.client(1).addStreamToStorageNode(streamId, storageNode.client.address)
      await waitFor(() => storageNode.storage!.storedStreams.includes(streamId), 30_000, 'the assignment')
    })
    after(() => rm(directory, { recursive: true, force: true }))

    it('cuts off a history request whose headers never finish, while another client reads history', async () => {
      const historyPath = `${path}/data/partitions/0/last?count=1`
      const stalled = await rawClient(history, `GET ${historyPath} HTTP/1.1\r\nHost: node\r\nAccept: appl`)
      const response = await fetch(`${history}${historyPath}`)
      assert.equal(response.status, 200)
      assert.equal(response.headers.get('content-type'), 'application/x-ndjson')
      await response.text()
      await cutOff(stalled, 'the stalled history request to be cut off')
      assert.match(stalled.received(), /^HTTP\/1\.1 408 /)
      assert.equal(await cuts(storageNode, 'http', 'headers_timeout'), 1)
    })

    it('cuts off a request that stops sending mid-body (idle timeout)', async () => {
      const stalled = await rawClient(
        history,
        `POST ${path} HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"t":`,
      )
      await cutOff(stalled, 'the idle request to be cut off')
      assert.equal(await cuts(storageNode, 'http', 'idle_timeout'), 1)
      assert.equal(await cuts(storageNode, 'http', 'request_timeout'), 0)
    })
  })

  describe('connection caps', () => {
    let node: RunnelNode
    let http: string
    let websocket: string
    let mqttUrl: string

    before(async () => {
      node = await network.startNode(3, {
        plugins: {
          http: { port: 0, maxConnections: 2, keepAliveTimeoutMs: 60_000 },
          websocket: { port: 0, maxConnections: 2 },
          mqtt: { port: 0, maxConnections: 2 },
        },
      })
      const { endpoints } = node.info()
      http = endpoints.http!
      websocket = endpoints.websocket!
      mqttUrl = endpoints.mqtt!
    })

    it('HTTP: closes the connection over the cap as it arrives; the others keep working', async () => {
      const request = 'GET /health HTTP/1.1\r\nHost: node\r\n\r\n'
      const first = await rawClient(http, request)
      const second = await rawClient(http, request)
      assert.deepEqual(await responses(first, 1), ['HTTP/1.1 200'])
      assert.deepEqual(await responses(second, 1), ['HTTP/1.1 200'])

      const third = await rawClient(http, request)
      await cutOff(third, 'the connection over the cap to be closed')
      assert.equal(third.received(), '', 'closed unanswered')

      first.socket.write(request)
      second.socket.write(request)
      assert.deepEqual(await responses(first, 2), ['HTTP/1.1 200', 'HTTP/1.1 200'])
      assert.deepEqual(await responses(second, 2), ['HTTP/1.1 200', 'HTTP/1.1 200'])
      assert.equal(await cuts(node, 'http', 'max_connections'), 1)

      // A closed connection frees its place.
      first.socket.destroy()
      const fourth = await answered(http, request)
      assert.deepEqual(statusLines(fourth), ['HTTP/1.1 200'])
      second.socket.destroy()
      fourth.socket.destroy()
    })

    it('WebSocket: closes the connection over the cap; the open ones keep receiving', async () => {
      const subscribe = `${websocket}${path}/subscribe`
      const subscribers = [await openWebSocket(subscribe), await openWebSocket(subscribe)]
      const received: unknown[][] = [[], []]
      subscribers.forEach((socket, i) => socket.on('message', (data) => received[i]!.push(parseFrame(data))))

      const third = new WebSocket(subscribe)
      opened.push({ destroy: () => third.terminate() })
      third.on('error', () => undefined)
      await within(closeOf(third), CUT_WITHIN_MS, 'the WebSocket over the cap to be closed')

      // Through the network: this node's HTTP API is at its cap too, until it has seen the test above close its sockets.
      await network.client(6).publish(streamId, { capped: true })
      await waitFor(
        () => received.every((messages) => includes(messages, { capped: true })),
        30_000,
        'the message on both',
      )
      for (const socket of subscribers) assert.equal(socket.readyState, WebSocket.OPEN)
      assert.equal(await cuts(node, 'websocket', 'max_connections'), 1)
      for (const socket of subscribers) socket.terminate()
    })

    it('MQTT: closes the connection over the cap; the connected clients keep publishing and receiving', async () => {
      const subscriber = await connectMqtt(mqttUrl)
      const publisher = await connectMqtt(mqttUrl)
      const received: unknown[] = []
      subscriber.on('message', (_topic, payload) => received.push(JSON.parse(payload.toString())))
      await subscriber.subscribeAsync(streamId, { qos: 1 })

      const third = await rawClient(mqttUrl)
      await cutOff(third, 'the MQTT connection over the cap to be closed')

      await publisher.publishAsync(streamId, JSON.stringify({ capped: 'mqtt' }), { qos: 1 })
      await waitFor(() => includes(received, { capped: 'mqtt' }), 30_000, 'the MQTT message')
      assert.equal(subscriber.connected && publisher.connected, true)
      assert.equal(await cuts(node, 'mqtt', 'max_connections'), 1)
    })
  })
})
