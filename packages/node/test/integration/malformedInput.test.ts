// Malformed stream ids and JSON bodies that are not UTF-8, on every API of one node: each is refused as
// BAD_REQUEST (never STREAM_NOT_FOUND), no error echoes a control character back, and nothing is published.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { ReceivedMessage } from '@runnel/client'
import mqtt, { type MqttClient } from 'mqtt'
import WebSocket from 'ws'
import type { RunnelNode } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'

const TIMEOUT_MS = 60_000
/** C0 and C1 control characters and DEL: none may come back in an error. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/
/** `"\xc3\x28\xff"`: a JSON string whose bytes are not UTF-8 (0xc3 needs a continuation byte; 0xff is never valid). */
const NOT_UTF8_JSON = Uint8Array.from([0x22, 0xc3, 0x28, 0xff, 0x22])

interface ErrorBody {
  error: { code: string; message: string }
}

/** Parses an error body, checking that neither its bytes nor its message carry a control character. */
function cleanError(text: string, what: string): ErrorBody['error'] {
  assert.doesNotMatch(text, CONTROL, `${what}: raw body ${JSON.stringify(text)}`)
  const { error } = JSON.parse(text) as ErrorBody
  assert.doesNotMatch(error.message, CONTROL, `${what}: message ${JSON.stringify(error.message)}`)
  return error
}

/** Resolves with the HTTP status and body text of a refused WebSocket upgrade. */
function refusal(url: string): Promise<{ status: number; body: string }> {
  const socket = new WebSocket(url)
  return new Promise((resolve, reject) => {
    socket.once('open', () => {
      socket.terminate()
      reject(new Error(`${url} was accepted`))
    })
    socket.on('error', reject)
    socket.once('unexpected-response', (_request, response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (body += chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }))
    })
  })
}

describe('malformed stream ids and non-UTF-8 JSON', () => {
  let network: TestNetwork
  let node: RunnelNode
  let directory: string
  let streamId: string
  let owner: string
  let http: string
  let ws: string
  let mqttUrl: string
  let history: string
  const mqttClients: MqttClient[] = []

  /** The bad ids: a label, the id as a URL path segment, and as an MQTT topic. */
  const badIds = (): [label: string, segment: string, topic: string][] => {
    const id = (text: string): [string, string, string] => [JSON.stringify(text), encodeURIComponent(text), text]
    return [
      ['%', '%', '%'],
      ['%00', '%00', '%00'],
      id('abc'),
      id(`${owner}/../..`),
      id(`${owner}/dé€mo`),
      id(`${owner}/a\u0000b`),
      id(`${owner}/\u001b[2J\u001b[31mred`),
      id(`${owner}/${'a'.repeat(300)}`),
      id(`${'f'.repeat(2_000)}/x`),
    ]
  }

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'runnel-malformed-'))
    network = await startTestNetwork()
    streamId = await network.createPublicStream('/malformed')
    owner = streamId.split('/')[0]!
    node = await network.startNode(2, {
      plugins: {
        http: { port: 0 },
        websocket: { port: 0 },
        mqtt: { port: 0 },
        storage: { sqlite: { path: join(directory, 'db') } },
      },
    })
    const endpoints = node.info().endpoints
    http = endpoints.http!
    ws = endpoints.websocket!
    mqttUrl = endpoints.mqtt!
    history = endpoints.storage!
    await network.client(1).addStreamToStorageNode(streamId, node.client.address)
    await waitFor(() => node.storage!.storedStreams.includes(streamId), TIMEOUT_MS, 'the storage assignment')
  })
  after(async () => {
    await Promise.all(mqttClients.map((client) => client.endAsync(true)))
    await network.stop()
    await rm(directory, { recursive: true, force: true })
  })

  const errorCount = async (code: string): Promise<number> =>
    (await node.metrics.errors.get()).values.find((v) => v.labels.api === 'mqtt' && v.labels.code === code)?.value ?? 0

  /**
   * Messages the node publishes from now on, as an SDK client (dev account `index`) receives them: a new subscriber
   * may also be sent recent messages of the tests before, which are older.
   */
  const subscribeFromNow = async (index: number): Promise<ReceivedMessage[]> => {
    const from = Date.now()
    const received: ReceivedMessage[] = []
    await network.client(index).subscribe(streamId, (message) => {
      if (message.timestamp >= from) received.push(message)
    })
    return received
  }

  it('answers a malformed stream id on HTTP publish with 400 BAD_REQUEST', async () => {
    for (const [label, segment] of badIds()) {
      const response = await fetch(`${http}/streams/${segment}`, { method: 'POST', body: '{}' })
      const error = cleanError(await response.text(), label)
      assert.equal(response.status, 400, `${label}: ${error.message}`)
      assert.equal(error.code, 'BAD_REQUEST', label)
      assert.match(error.message, /stream id/, label)
    }
  })

  it('answers a malformed stream id on the history API with 400 BAD_REQUEST', async () => {
    for (const [label, segment] of badIds()) {
      const response = await fetch(`${history}/streams/${segment}/data/partitions/0/last?count=1`)
      const error = cleanError(await response.text(), label)
      assert.equal(response.status, 400, `${label}: ${error.message}`)
      assert.equal(error.code, 'BAD_REQUEST', label)
    }
  })

  it('refuses a WebSocket publisher or subscriber with a malformed stream id with 400 BAD_REQUEST', async () => {
    for (const [label, segment] of badIds()) {
      for (const action of ['publish', 'subscribe']) {
        const { status, body } = await refusal(`${ws}/streams/${segment}/${action}`)
        const error = cleanError(body, `${label} ${action}`)
        assert.equal(status, 400, `${label} ${action}: ${error.message}`)
        assert.equal(error.code, 'BAD_REQUEST', `${label} ${action}`)
      }
    }
  })

  it('refuses an MQTT subscription or publish to a malformed stream id as BAD_REQUEST', async () => {
    const client = await mqtt.connectAsync(mqttUrl, { reconnectPeriod: 0 })
    mqttClients.push(client)
    const notFound = await errorCount('STREAM_NOT_FOUND')
    for (const [label, , topic] of badIds()) {
      const before = await errorCount('BAD_REQUEST')
      await assert.rejects(
        client.subscribeAsync(topic, { qos: 1 }),
        (err: Error & { packet?: { granted?: unknown } }) => {
          assert.deepEqual(err.packet?.granted, [128], label)
          return true
        },
      )
      assert.equal(await errorCount('BAD_REQUEST'), before + 1, `${label}: counted as BAD_REQUEST`)
    }
    for (const [label, , topic] of badIds()) {
      const before = await errorCount('BAD_REQUEST')
      const publisher = await mqtt.connectAsync(mqttUrl, { reconnectPeriod: 0 })
      mqttClients.push(publisher)
      const closed = new Promise<void>((resolve) => publisher.once('close', () => resolve()))
      // MQTT 3.1.1 can't refuse a PUBLISH: the node closes the connection without a PUBACK.
      publisher.publishAsync(topic, '{}', { qos: 1 }).catch(() => undefined)
      await closed
      assert.equal(await errorCount('BAD_REQUEST'), before + 1, `${label}: counted as BAD_REQUEST`)
    }
    assert.equal(await errorCount('STREAM_NOT_FOUND'), notFound)
  })

  it('refuses an HTTP JSON body that is not UTF-8 with 400, and publishes nothing', async () => {
    const received = await subscribeFromNow(3)
    const path = `${http}/streams/${encodeURIComponent(streamId)}`
    const response = await fetch(path, {
      method: 'POST',
      body: NOT_UTF8_JSON,
      headers: { 'content-type': 'application/json' },
    })
    const error = cleanError(await response.text(), 'non-UTF-8 body')
    assert.equal(response.status, 400, error.message)
    assert.equal(error.code, 'BAD_REQUEST')
    assert.match(error.message, /UTF-8/)
    const ok = await fetch(path, { method: 'POST', body: '{"after":"http"}' })
    assert.equal(ok.status, 200)
    // Messages of one publisher arrive in order: once the later one is here, the refused one would have been too.
    await waitFor(() => received.length > 0, TIMEOUT_MS, 'the valid message')
    assert.deepEqual(
      received.map((message) => message.content),
      [{ after: 'http' }],
    )
  })

  it('closes a WebSocket whose text frame is not UTF-8 (1007), and publishes nothing', async () => {
    const received = await subscribeFromNow(4)
    const url = `${ws}/streams/${encodeURIComponent(streamId)}/publish`
    const bad = new WebSocket(url)
    await once(bad, 'open')
    const closed = once(bad, 'close')
    bad.send(Buffer.from(NOT_UTF8_JSON), { binary: false })
    const [code] = (await closed) as [number]
    assert.equal(code, 1007)
    const good = new WebSocket(url)
    await once(good, 'open')
    good.send('{"after":"ws"}')
    await waitFor(() => received.length > 0, TIMEOUT_MS, 'the valid message')
    good.close()
    assert.deepEqual(
      received.map((message) => message.content),
      [{ after: 'ws' }],
    )
  })

  it('publishes an MQTT payload that is not UTF-8 as binary content, byte for byte', async () => {
    const received = await subscribeFromNow(5)
    const publisher = await mqtt.connectAsync(mqttUrl, { reconnectPeriod: 0 })
    mqttClients.push(publisher)
    await publisher.publishAsync(streamId, Buffer.from(NOT_UTF8_JSON), { qos: 1 })
    await waitFor(() => received.length > 0, TIMEOUT_MS, 'the binary message')
    const [message] = received
    assert.ok(message!.content instanceof Uint8Array)
    assert.deepEqual([...message!.content], [...NOT_UTF8_JSON])
  })
})
