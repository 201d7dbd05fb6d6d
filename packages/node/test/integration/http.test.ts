import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { ReceivedMessage } from '@runnel/client'
import type { RunnelNode } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'

describe('HTTP API', () => {
  let network: TestNetwork
  let node: RunnelNode
  let base: string
  let streamId: string

  before(async () => {
    network = await startTestNetwork()
    streamId = await network.createPublicStream('/http/test', 2)
    node = await network.startNode(2, {
      plugins: { http: { port: 0, maxBatchMessages: 1_000 }, websocket: false, mqtt: false },
    })
    base = node.info().endpoints.http!
  })
  after(() => network.stop())

  const post = (path: string, body: BodyInit, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { method: 'POST', body, headers })

  it('publishes a JSON body that an SDK subscriber receives', async () => {
    const subscriber = network.client(3)
    const received: ReceivedMessage[] = []
    await subscriber.subscribe({ id: streamId, partition: 1 }, (message) => received.push(message))
    const response = await post(`/streams/${encodeURIComponent(streamId)}?partition=1`, JSON.stringify({ t: 21.5 }), {
      'content-type': 'application/json',
    })
    assert.equal(response.status, 200)
    const published = (await response.json()) as { partition: number; publisherId: string }
    assert.equal(published.partition, 1)
    assert.equal(published.publisherId, node.address)
    await waitFor(() => received.length === 1, 30_000, 'the message')
    assert.deepEqual(received[0]!.content, { t: 21.5 })
  })

  it('publishes an octet-stream body as binary content, byte for byte', async () => {
    const subscriber = network.client(7)
    const received: ReceivedMessage[] = []
    await subscriber.subscribe({ id: streamId, partition: 1 }, (message) => received.push(message))
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) % 256)
    const response = await post(`/streams/${encodeURIComponent(streamId)}?partition=1`, bytes, {
      'content-type': 'application/octet-stream',
    })
    assert.equal(response.status, 200)
    const { timestamp } = (await response.json()) as { timestamp: number }
    await waitFor(() => received.some((m) => m.timestamp === timestamp), 30_000, 'the binary message')
    const message = received.find((m) => m.timestamp === timestamp)!
    assert.ok(message.content instanceof Uint8Array)
    assert.deepEqual([...message.content], [...bytes])
  })

  it('answers bad input with the right status and a JSON error naming the problem', async () => {
    const path = `/streams/${encodeURIComponent(streamId)}`
    const cases: [Promise<Response>, number, string, RegExp][] = [
      [post(path, '{not json'), 400, 'BAD_REQUEST', /not valid JSON/],
      [post(`${path}?partition=7`, '{}'), 400, 'BAD_REQUEST', /partition 7 is out of range/],
      [post(`${path}?partition=x`, '{}'), 400, 'BAD_REQUEST', /partition must be an integer/],
      [
        post(`/streams/${encodeURIComponent('0x0000000000000000000000000000000000000001/none')}`, '{}'),
        404,
        'STREAM_NOT_FOUND',
        /./,
      ],
      [post(path, 'x'.repeat(600_000)), 413, 'PAYLOAD_TOO_LARGE', /at most|larger/],
      // Chunked, so no Content-Length tells the size up front: refused while it is read.
      [
        fetch(`${base}${path}`, {
          method: 'POST',
          body: new Blob(['x'.repeat(600_000)]).stream(),
          duplex: 'half',
        } as RequestInit),
        413,
        'PAYLOAD_TOO_LARGE',
        /larger than this node accepts/,
      ],
      [fetch(`${base}/nope`), 400, 'BAD_REQUEST', /no such endpoint/],
    ]
    for (const [request, status, code, message] of cases) {
      const response = await request
      const body = (await response.json()) as { error: { code: string; message: string } }
      assert.equal(response.status, status, JSON.stringify(body))
      assert.equal(body.error.code, code)
      assert.match(body.error.message, message)
    }
    // The node carries on.
    assert.equal((await post(path, '{"ok":true}')).status, 200)
  })

  describe('NDJSON batches', () => {
    const ndjson = { 'content-type': 'application/x-ndjson' }
    const path = () => `/streams/${encodeURIComponent(streamId)}?partition=0`
    type Batch = { count: number; messages: { timestamp: number; sequenceNumber: number; msgChainId: string }[] }
    type Failure = { error: { code: string; message: string }; published?: number }

    it('publishes every line, in order, as one chain that a subscriber receives whole', async () => {
      const subscriber = network.client(4)
      const received: ReceivedMessage[] = []
      await subscriber.subscribe({ id: streamId, partition: 0 }, (message) => received.push(message))
      const lines = Array.from({ length: 1_000 }, (_, i) => JSON.stringify({ i }))
      // A new neighbour may also be sent recent messages of the tests before.
      const batchOnly = (): ReceivedMessage[] =>
        received.filter((m) => typeof (m.content as { i?: number }).i === 'number')
      // CRLF line ends and blank lines are fine.
      const response = await post(
        path(),
        `${lines.slice(0, 500).join('\r\n')}\n\n${lines.slice(500).join('\n')}\n`,
        ndjson,
      )
      const batch = (await response.json()) as Batch
      assert.equal(response.status, 200, JSON.stringify(batch))
      assert.equal(batch.count, 1_000)
      assert.equal(new Set(batch.messages.map((m) => m.msgChainId)).size, 1)
      for (let i = 1; i < batch.messages.length; i++) {
        const [a, b] = [batch.messages[i - 1]!, batch.messages[i]!]
        assert.ok(b.timestamp > a.timestamp || (b.timestamp === a.timestamp && b.sequenceNumber > a.sequenceNumber))
      }
      await waitFor(
        () => batchOnly().length === 1_000,
        60_000,
        'the batch',
        () => `the batch (got ${batchOnly().length})`,
      )
      assert.deepEqual(
        batchOnly().map((m) => (m.content as { i: number }).i),
        Array.from({ length: 1_000 }, (_, i) => i),
      )
    })

    it('takes each line’s own timestamp, partition key and chain with payloadMetadata', async () => {
      const subscriber = network.client(5)
      const received: ReceivedMessage[] = []
      await subscriber.subscribe(streamId, (message) => received.push(message))
      const base = Date.now() - 60_000
      const lines = [0, 1, 2].map((i) =>
        JSON.stringify({
          content: { reading: i },
          metadata: { timestamp: base + i * 1000, partitionKey: 'sensor-7', msgChainId: 'backfill' },
        }),
      )
      const response = await post(
        `/streams/${encodeURIComponent(streamId)}?payloadMetadata=true`,
        lines.join('\n'),
        ndjson,
      )
      const batch = (await response.json()) as Batch
      assert.equal(response.status, 200, JSON.stringify(batch))
      assert.deepEqual(
        batch.messages.map((m) => m.timestamp),
        [base, base + 1000, base + 2000],
      )
      await waitFor(() => received.filter((m) => m.timestamp >= base && m.timestamp <= base + 2000).length === 3)
      const readings = received.filter((m) => m.timestamp >= base && m.timestamp <= base + 2000)
      assert.deepEqual(
        readings.map((m) => m.content),
        [{ reading: 0 }, { reading: 1 }, { reading: 2 }],
      )
      assert.equal(new Set(readings.map((m) => m.partition)).size, 1)
      // Its own chain: in the node's main chain, older timestamps would be moved up to keep the chain's order.
      assert.deepEqual(new Set(readings.map((m) => m.msgChainId)), new Set(['backfill']))
    })

    it('refuses a batch with a bad line before publishing any of it', async () => {
      const subscriber = network.client(6)
      const received: ReceivedMessage[] = []
      await subscriber.subscribe({ id: streamId, partition: 0 }, (message) => received.push(message))
      const tooBig = JSON.stringify({ x: 'x'.repeat(600_000) })
      const cases: [string, number, string, RegExp][] = [
        [
          '{"refused":1}\n{"refused":2}\n{oops\n{"refused":4}',
          400,
          'BAD_REQUEST',
          /^line 3: the message is not valid JSON/,
        ],
        [`{"refused":1}\n${tooBig}`, 413, 'PAYLOAD_TOO_LARGE', /^message 2: the message is \d+ bytes/],
        [
          Array.from({ length: 1_001 }, () => '{"refused":0}').join('\n'),
          413,
          'PAYLOAD_TOO_LARGE',
          /more than 1000 messages/,
        ],
        ['\n \n', 400, 'BAD_REQUEST', /no messages/],
      ]
      for (const [body, status, code, message] of cases) {
        const response = await post(path(), body, ndjson)
        const failure = (await response.json()) as Failure
        assert.equal(response.status, status, JSON.stringify(failure))
        assert.equal(failure.error.code, code)
        assert.match(failure.error.message, message)
      }
      // Nothing of the refused batches went out: the node's chain goes on from its last message before them.
      const response = await post(path(), '{"after":true}', ndjson)
      assert.equal(response.status, 200)
      const [after] = ((await response.json()) as Batch).messages
      await waitFor(() => received.some((m) => m.timestamp === after!.timestamp && m.publisherId === node.address))
      const fromRefused = received.filter((m) => {
        const content = m.content as Record<string, unknown>
        return (
          'ok' in content || 'x' in content || (Object.keys(content).length === 0 && m.publisherId === node.address)
        )
      })
      assert.deepEqual(fromRefused, [])
    })

    it('says how many were published when a publish fails', async () => {
      const unknown = `/streams/${encodeURIComponent('0x0000000000000000000000000000000000000001/none')}`
      const response = await post(unknown, '{"a":1}\n{"a":2}', ndjson)
      const failure = (await response.json()) as Failure
      assert.equal(response.status, 404, JSON.stringify(failure))
      assert.equal(failure.error.code, 'STREAM_NOT_FOUND')
      assert.equal(failure.published, 0)
      assert.match(failure.error.message, /^message 1 of 2 failed .*; the 0 before it were published$/)
    })
  })

  it('serves health, info, metrics and an OpenAPI description', async () => {
    assert.deepEqual(await (await fetch(`${base}/health`)).json(), { status: 'ok' })
    const info = (await (await fetch(`${base}/info`)).json()) as { address: string }
    assert.equal(info.address, node.address)
    const metrics = await (await fetch(`${base}/metrics`)).text()
    assert.match(metrics, /runnel_api_messages_published_total\{api="http"\} [1-9]/)
    // One publish-time observation per message, batches included (they ran before this test).
    const published = /runnel_api_messages_published_total\{api="http"\} (\d+)/.exec(metrics)?.[1]
    const timed = /runnel_api_publish_seconds_count\{api="http"\} (\d+)/.exec(metrics)?.[1]
    assert.ok(Number(published) > 1_000, `published ${published}`)
    assert.equal(timed, published)
    assert.match(metrics, /runnel_api_errors_total\{api="http",code="BAD_REQUEST"\} [1-9]/)
    assert.match(metrics, /runnel_network_neighbors /)
    const openapi = (await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string; paths: object }
    assert.equal(openapi.openapi, '3.1.0')
    assert.ok('/streams/{streamId}' in openapi.paths)
  })
})
