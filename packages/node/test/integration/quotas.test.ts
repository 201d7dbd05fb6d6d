// Per-client quotas on every API, with real clients: HTTP (fetch and raw TCP), WebSocket (ws) and MQTT (mqtt.js).
// A client is its API key; on a node without keys, its IP address. Rates are set so low (one token every 5 s) that
// the assertions don't depend on how fast the machine sends.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { IncomingMessage } from 'node:http'
import { connect as connectTcp, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import WebSocket, { type RawData } from 'ws'
import type { RunnelNode } from '../../src/index.js'
import { startTestNetwork, within, type TestNetwork } from '../helpers.js'

/** A burst of 5 messages, then one every 5 s. */
const QUOTAS = {
  messagesPerSecond: 0.2,
  bytesPerSecond: 200,
  burstSeconds: 25,
  maxConnections: 2,
  closeAfterRefusals: 3,
}
const BURST_MESSAGES = 5
/** 200 B/s × 25 s. */
const BURST_BYTES = 5_000
const keys = Object.fromEntries(
  [
    'httpMessages',
    'httpBytes',
    'httpConnections',
    'other',
    'wsMessages',
    'wsConnections',
    'mqttMessages',
    'mqttConnections',
  ].map((name) => [name, `${name}-key-0123456789abcdef`]),
) as Record<string, string>

const opened: { destroy(): void }[] = []

function parseFrame(data: RawData): { error?: { code: string; retryAfterSeconds?: number } } {
  const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
  return JSON.parse(bytes.toString('utf8')) as { error?: { code: string; retryAfterSeconds?: number } }
}

async function quotaRefusals(node: RunnelNode, api: string, quota: string): Promise<number> {
  const metric = node.metrics.registry.getSingleMetric('runnel_api_quota_refusals_total')
  const { values } = await metric!.get()
  return values.find((value) => value.labels.api === api && value.labels.quota === quota)?.value ?? 0
}

describe('API quotas', () => {
  let network: TestNetwork
  let node: RunnelNode
  let streamId: string
  let path: string
  let http: string
  let websocket: string
  let mqttUrl: string
  const mqttClients: MqttClient[] = []

  before(async () => {
    network = await startTestNetwork()
    streamId = await network.createPublicStream('/quotas')
    path = `/streams/${encodeURIComponent(streamId)}`
    node = await network.startNode(2, { apiKeys: Object.values(keys), quotas: QUOTAS, maxPayloadBytes: 4_096 })
    ;({ http, websocket, mqtt: mqttUrl } = node.info().endpoints as { http: string; websocket: string; mqtt: string })
  })
  after(async () => {
    for (const socket of opened) socket.destroy()
    await Promise.all(mqttClients.map((client) => client.endAsync(true)))
    await network.stop()
  })

  const publish = (key: string, content: unknown, base = http): Promise<Response> =>
    fetch(`${base}${path}`, {
      method: 'POST',
      body: JSON.stringify(content),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    })

  it("HTTP: answers 429 with Retry-After once a key's messages per second are spent; other keys go on", async () => {
    const statuses: number[] = []
    let refused: Response | undefined
    for (let i = 0; i < BURST_MESSAGES + 2; i++) {
      const response = await publish(keys.httpMessages!, { i })
      statuses.push(response.status)
      if (response.status === 429) refused ??= response
      else await response.arrayBuffer()
    }
    assert.deepEqual(statuses.slice(0, BURST_MESSAGES), Array(BURST_MESSAGES).fill(200))
    assert.equal(statuses.at(-1), 429)
    assert.ok(Number(refused!.headers.get('retry-after')) >= 1, 'Retry-After names whole seconds')
    const body = (await refused!.json()) as { error: { code: string; message: string } }
    assert.equal(body.error.code, 'RATE_LIMITED')
    assert.match(body.error.message, /quota of 0\.2 messages\/s/)
    assert.equal((await publish(keys.other!, { other: true })).status, 200)
    assert.ok((await quotaRefusals(node, 'http', 'messages')) >= 1)
  })

  it("HTTP: answers 429 once a key's bytes per second are spent", async () => {
    const big = 'x'.repeat(3_000)
    assert.equal((await publish(keys.httpBytes!, { big })).status, 200)
    const refused = await publish(keys.httpBytes!, { big })
    assert.equal(refused.status, 429, `two messages of 3 kB are more than the ${BURST_BYTES} B burst`)
    assert.ok(refused.headers.get('retry-after') !== null)
    assert.ok((await quotaRefusals(node, 'http', 'bytes')) >= 1)
  })

  it('HTTP: refuses a request over the connections a key may have under way at once', async () => {
    // Two requests whose bodies never finish hold both of the key's places.
    const stalled: Socket[] = []
    for (let i = 0; i < 2; i++) {
      const { hostname, port } = new URL(http)
      const socket = connectTcp(Number(port), hostname)
      opened.push(socket)
      socket.on('error', () => undefined)
      await once(socket, 'connect')
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: node\r\nAuthorization: Bearer ${keys.httpConnections}\r\n` +
          'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"t":',
      )
      stalled.push(socket)
    }
    let refused: Response | undefined
    for (let attempt = 0; attempt < 50 && refused?.status !== 429; attempt++) {
      refused = await publish(keys.httpConnections!, { third: true })
    }
    assert.equal(refused?.status, 429)
    assert.equal(refused.headers.get('retry-after'), '1')
    assert.equal((await publish(keys.other!, { meanwhile: true })).status, 200)
    for (const socket of stalled) socket.destroy()
    // The places free as the stalled requests end.
    let after: Response | undefined
    for (let attempt = 0; attempt < 50 && after?.status !== 200; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 100))
      after = await publish(keys.httpConnections!, { after: true })
    }
    assert.equal(after?.status, 200)
  })

  it('WebSocket: answers frames over the quota with RATE_LIMITED error frames, then closes (1008) if they go on', async () => {
    const socket = new WebSocket(`${websocket}${path}/publish`, {
      headers: { authorization: `Bearer ${keys.wsMessages}` },
    })
    opened.push({ destroy: () => socket.terminate() })
    const frames: ReturnType<typeof parseFrame>[] = []
    socket.on('message', (data) => frames.push(parseFrame(data)))
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)))
    await once(socket, 'open')
    for (let i = 0; i < BURST_MESSAGES + QUOTAS.closeAfterRefusals; i++) socket.send(JSON.stringify({ i }))
    assert.equal(await within(closed, 20_000, 'the node to close the socket'), 1008)
    const errors = frames.filter((frame) => frame.error !== undefined)
    assert.equal(errors.length, QUOTAS.closeAfterRefusals)
    for (const { error } of errors) {
      assert.equal(error!.code, 'RATE_LIMITED')
      assert.ok(error!.retryAfterSeconds! >= 1)
    }
  })

  it('WebSocket: refuses an upgrade over the connections a key may have open (429, Retry-After)', async () => {
    const url = `${websocket}${path}/subscribe`
    const headers = { authorization: `Bearer ${keys.wsConnections}` }
    for (let i = 0; i < 2; i++) {
      const socket = new WebSocket(url, { headers })
      opened.push({ destroy: () => socket.terminate() })
      await once(socket, 'open')
    }
    const third = new WebSocket(url, { headers })
    third.on('error', () => undefined)
    const [, response] = (await once(third, 'unexpected-response')) as [unknown, IncomingMessage]
    assert.equal(response.statusCode, 429)
    assert.equal(response.headers['retry-after'], '1')
    response.resume()
  })

  it('MQTT: closes a client that publishes over its quota (no PUBACK: MQTT 3.1.1 has no per-publish refusal)', async () => {
    const client = await mqtt.connectAsync(mqttUrl, {
      reconnectPeriod: 0,
      username: 'any',
      password: keys.mqttMessages!,
    })
    mqttClients.push(client)
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
    // Within the quota each publish is acknowledged; the next one closes the connection.
    const topic = streamId
    for (let i = 0; i < BURST_MESSAGES; i++) await client.publishAsync(topic, JSON.stringify({ i }), { qos: 1 })
    client.publish(topic, JSON.stringify({ over: true }), { qos: 1 }, () => undefined)
    await within(closed, 20_000, 'the node to close the MQTT connection')
    assert.ok((await quotaRefusals(node, 'mqtt', 'messages')) >= 1)
  })

  it('MQTT: refuses a CONNECT over the connections a key may have open (CONNACK 3, server unavailable)', async () => {
    const options = { reconnectPeriod: 0, username: 'any', password: keys.mqttConnections! }
    for (let i = 0; i < 2; i++) mqttClients.push(await mqtt.connectAsync(mqttUrl, options))
    await assert.rejects(mqtt.connectAsync(mqttUrl, options), (err: Error & { code?: number }) => err.code === 3)
    assert.ok((await quotaRefusals(node, 'mqtt', 'connections')) >= 1)
  })

  describe('on a node without API keys', () => {
    let open: RunnelNode

    before(async () => {
      open = await network.startNode(3, { quotas: { messagesPerSecond: 0.2, burstSeconds: 10 } })
    })

    it('charges each client IP address', async () => {
      const base = open.info().endpoints.http!
      const statuses: number[] = []
      for (let i = 0; i < 3; i++) {
        const response = await fetch(`${base}${path}`, {
          method: 'POST',
          body: JSON.stringify({ i }),
          headers: { 'content-type': 'application/json' },
        })
        statuses.push(response.status)
        await response.arrayBuffer()
      }
      // A burst of 2 (0.2/s × 10 s); the key a client sends on a node without keys doesn't make it another client.
      assert.deepEqual(statuses, [200, 200, 429])
      const withKey = await publish('some-key-the-node-does-not-know', { i: 3 }, base)
      assert.equal(withKey.status, 429)
    })
  })
})
