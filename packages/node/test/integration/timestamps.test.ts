import assert from 'node:assert/strict'
import { once } from 'node:events'
import { request as httpRequest } from 'node:http'
import { text } from 'node:stream/consumers'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ClientError, type PublishedMessage, type ReceivedMessage, type RunnelClient } from '@runnel/client'
import { createRunnelClient } from '@runnel/client/node'
import mqtt from 'mqtt'
import WebSocket from 'ws'
import type { RunnelNode } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'

/** The largest time a JavaScript Date holds: the year 275760. */
const YEAR_275760 = 8_640_000_000_000_000

describe('timestamps from API clients', () => {
  let network: TestNetwork
  let node: RunnelNode
  let directory: string
  let streamId: string
  let http: string
  let subscriber: RunnelClient
  const received: ReceivedMessage[] = []

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'runnel-timestamps-'))
    network = await startTestNetwork()
    streamId = await network.createPublicStream('/clock')
    node = await network.startNode(5, {
      plugins: {
        http: { port: 0 },
        websocket: { port: 0 },
        mqtt: { port: 0, payloadMetadata: true },
        storage: { sqlite: { path: join(directory, 'db') } },
      },
    })
    http = node.info().endpoints.http!
    await network.client(1).addStreamToStorageNode(streamId, node.client.address)
    await waitFor(() => node.storage!.storedStreams.includes(streamId), 30_000, 'the assignment')
    subscriber = network.client(4)
    await subscriber.subscribe(streamId, (message) => received.push(message))
  })

  after(async () => {
    await network.stop()
    await rm(directory, { recursive: true, force: true })
  })

  const url = (query = ''): string => `${http}/streams/${encodeURIComponent(streamId)}${query}`
  const post = async (query: string, body: string, contentType = 'application/json') => {
    const response = await fetch(url(query), { method: 'POST', headers: { 'content-type': contentType }, body })
    return { status: response.status, json: (await response.json()) as Record<string, unknown> }
  }
  /** A POST on a connection of its own (fetch would reuse a pooled one), as another client at this address. */
  const postOnNewConnection = (query: string, body: string): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const request = httpRequest(
        url(query),
        { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } },
        (response) => {
          void text(response).then((answer) => resolve(JSON.parse(answer) as Record<string, unknown>), reject)
        },
      )
      request.on('error', reject)
      request.end(body)
    })
  const errorOf = (json: Record<string, unknown>) => json.error as { code: string; message: string }
  const arrived = async (marker: string): Promise<ReceivedMessage> => {
    await waitFor(() => received.some((m) => (m.content as { marker?: string }).marker === marker), 30_000, marker)
    return received.find((m) => (m.content as { marker?: string }).marker === marker)!
  }

  it('refuses a timestamp further ahead than maxClockSkewMs on HTTP, WebSocket, MQTT and the SDK, saying the limit', async () => {
    const far = Date.now() + 10 * 60_000
    for (const [query, body] of [
      [`?timestamp=${YEAR_275760}`, '{"n":1}'],
      [`?timestamp=${far}`, '{"n":1}'],
      ['?payloadMetadata=true', JSON.stringify({ content: { n: 1 }, metadata: { timestamp: far } })],
      ['?payloadMetadata=true', JSON.stringify({ content: { n: 1 }, metadata: { timestamp: '2999-01-01T00:00:00Z' } })],
    ] as const) {
      const { status, json } = await post(query, body)
      assert.equal(status, 400, `${query} ${body}`)
      assert.equal(errorOf(json).code, 'BAD_REQUEST')
      assert.match(errorOf(json).message, /ms ahead of the clock here; at most maxClockSkewMs \(300000 ms\) ahead/)
    }
    // A batch with one such line is refused whole, before anything is sent.
    const batch = `{"content":{"marker":"batch-0"}}\n{"content":{"n":2},"metadata":{"timestamp":${far}}}\n`
    const refused = await post('?payloadMetadata=true', batch, 'application/x-ndjson')
    assert.equal(refused.status, 400)
    assert.match(errorOf(refused.json).message, /^message 2: .*maxClockSkewMs/)
    assert.equal(refused.json.published, undefined)

    const socket = new WebSocket(
      `${node.info().endpoints.websocket!}/streams/${encodeURIComponent(streamId)}/publish?payloadMetadata=true`,
    )
    await once(socket, 'open')
    socket.send(JSON.stringify({ content: { n: 3 }, metadata: { timestamp: far } }))
    const [frame] = (await once(socket, 'message')) as [Buffer]
    socket.close()
    assert.equal(errorOf(JSON.parse(frame.toString()) as Record<string, unknown>).code, 'BAD_REQUEST')

    const refusedBefore = await metric(`runnel_api_errors_total{api="mqtt",code="BAD_REQUEST"}`)
    const client = await mqtt.connectAsync(node.info().endpoints.mqtt!, { reconnectPeriod: 0 })
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
    client.publish(streamId, JSON.stringify({ content: { n: 4 }, metadata: { timestamp: far } }), { qos: 1 })
    await closed
    await client.endAsync(true)
    assert.equal(await metric(`runnel_api_errors_total{api="mqtt",code="BAD_REQUEST"}`), refusedBefore + 1)

    await assert.rejects(network.client(3).publish(streamId, { n: 5 }, { timestamp: far }), (err: unknown) => {
      assert.ok(err instanceof ClientError)
      assert.equal(err.code, 'INVALID_ARGUMENT')
      assert.match(err.message, /at most maxClockSkewMs \(300000 ms\) ahead/)
      return true
    })

    // None of them reached a subscriber; a good message after them does.
    const good = await post('', '{"marker":"after-refusals"}')
    assert.equal(good.status, 200)
    await arrived('after-refusals')
    assert.deepEqual(
      received.filter((m) => m.timestamp > Date.now() + 60_000),
      [],
    )
  })

  it("keeps one API client's explicit timestamps off every other client's messages", async () => {
    const ahead = Date.now() + 2 * 60_000 // within the skew
    const explicit = await post(`?timestamp=${ahead}`, '{"marker":"http-explicit"}')
    assert.equal(explicit.status, 200)
    assert.equal(explicit.json.timestamp, ahead)

    // Another message without a timestamp, on HTTP: stamped now, not moved up to the explicit one.
    const before = Date.now()
    const implicit = await post('', '{"marker":"http-implicit"}')
    assert.ok((implicit.json.timestamp as number) < ahead, `${String(implicit.json.timestamp)} < ${ahead}`)
    assert.ok((implicit.json.timestamp as number) >= before)
    assert.notEqual(implicit.json.msgChainId, explicit.json.msgChainId)

    // Another HTTP client at the same address (a connection of its own): its earlier timestamp stays as it gave it.
    const fromSameAddress = await postOnNewConnection(`?timestamp=${ahead - 30_000}`, '{"marker":"http-other"}')
    assert.equal(fromSameAddress.timestamp, ahead - 30_000)
    assert.notEqual(fromSameAddress.msgChainId, explicit.json.msgChainId)

    // A WebSocket client's own explicit timestamp, earlier than the HTTP client's, stays as it gave it.
    const earlier = Date.now() - 5_000
    const socket = new WebSocket(
      `${node.info().endpoints.websocket!}/streams/${encodeURIComponent(streamId)}/publish?timestamp=${earlier}`,
    )
    await once(socket, 'open')
    socket.send('{"marker":"ws-explicit"}')
    const wsMessage = await arrived('ws-explicit')
    socket.close()
    assert.equal(wsMessage.timestamp, earlier)

    // An MQTT client without a timestamp: stamped now too.
    const client = await mqtt.connectAsync(node.info().endpoints.mqtt!, { reconnectPeriod: 0 })
    await client.publishAsync(streamId, JSON.stringify({ content: { marker: 'mqtt-implicit' } }), { qos: 1 })
    await client.endAsync()
    assert.ok((await arrived('mqtt-implicit')).timestamp < ahead)
  })

  it("refuses an explicit timestamp on the node's shared chain", async () => {
    const implicit = await post('', '{"n":6}')
    const { status, json } = await post(
      `?timestamp=${Date.now() + 60_000}&msgChainId=${String(implicit.json.msgChainId)}`,
      '{"n":7}',
    )
    assert.equal(status, 400)
    assert.match(errorOf(json).message, /a message with a timestamp goes on a chain of its own/)
  })

  it('storage drops and counts a message stamped beyond the skew by a publisher elsewhere; history stays clean', async () => {
    // A publisher elsewhere whose own limit is lax (or whose clock is wrong).
    const lax = createRunnelClient({
      auth: { privateKey: network.dev.chain.accountKeys[6]! },
      chain: { rpcUrl: network.rpcUrl, contracts: network.dev.deployment },
      network: network.discovery,
      maxClockSkewMs: 365 * 24 * 3_600_000,
    })
    try {
      const countedBefore = await metric('runnel_invalid_messages_total{reason="timestamp-in-future"}')
      const future = Date.now() + 60 * 60_000
      await lax.publish(streamId, { marker: 'future' }, { timestamp: future, msgChainId: 'future' })
      const now: PublishedMessage = await lax.publish(streamId, { marker: 'now' })
      await lax.waitForStorage(now)
      await waitFor(
        () => received.some((m) => (m.content as { marker?: string }).marker === 'now'),
        30_000,
        'the good message',
      )
      assert.ok(!received.some((m) => (m.content as { marker?: string }).marker === 'future'), 'not delivered')
      // The storage node counted what it dropped.
      assert.ok((await metric('runnel_invalid_messages_total{reason="timestamp-in-future"}')) > countedBefore)
      const stored = await fetch(
        `${node.info().endpoints.storage!}/streams/${encodeURIComponent(streamId)}/data/partitions/0/range` +
          `?fromTimestamp=${future - 1}&toTimestamp=${future + 1}`,
      )
      assert.equal(stored.status, 200)
      assert.equal((await stored.text()).trim(), '', 'the future message is not stored')
    } finally {
      await lax.destroy()
    }
  })

  /** A metric's value from the node's /metrics (0 when it has no sample yet). */
  async function metric(series: string): Promise<number> {
    const text = await (await fetch(`${http}/metrics`)).text()
    const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `))
    return line === undefined ? 0 : Number(line.slice(series.length + 1))
  }
})
