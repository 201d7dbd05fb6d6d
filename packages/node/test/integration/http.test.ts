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
    node = await network.startNode(2, { plugins: { http: { port: 0 }, websocket: false, mqtt: false } })
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

  it('serves health, info, metrics and an OpenAPI description', async () => {
    assert.deepEqual(await (await fetch(`${base}/health`)).json(), { status: 'ok' })
    const info = (await (await fetch(`${base}/info`)).json()) as { address: string }
    assert.equal(info.address, node.address)
    const metrics = await (await fetch(`${base}/metrics`)).text()
    assert.match(metrics, /runnel_api_messages_published_total\{api="http"\} [1-9]/)
    assert.match(metrics, /runnel_api_errors_total\{api="http",code="BAD_REQUEST"\} [1-9]/)
    assert.match(metrics, /runnel_network_neighbors /)
    const openapi = (await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string; paths: object }
    assert.equal(openapi.openapi, '3.1.0')
    assert.ok('/streams/{streamId}' in openapi.paths)
  })
})
