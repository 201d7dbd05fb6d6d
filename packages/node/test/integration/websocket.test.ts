import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, before, describe, it } from 'node:test'
import { isDeepStrictEqual } from 'node:util'
import type { ReceivedMessage } from '@runnel/client'
import { partitionFromKey } from '@runnel/protocol'
import WebSocket, { type ClientOptions, type RawData } from 'ws'
import type { RunnelNode } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'

const TIMEOUT_MS = 30_000
const API_KEY = 'a-test-key-of-16-chars+'

type Frame = string | Uint8Array
interface Refusal {
  status: number
  error: { code: string; message: string }
}

const sockets: WebSocket[] = []

function toBytes(data: RawData): Uint8Array {
  if (Buffer.isBuffer(data)) return new Uint8Array(data)
  return new Uint8Array(Array.isArray(data) ? Buffer.concat(data) : data)
}

function toText(data: RawData): string {
  return Buffer.from(toBytes(data)).toString('utf8')
}

/** Opens a WebSocket, rejecting when the node refuses the upgrade. */
function connect(url: string, options: ClientOptions = {}): Promise<WebSocket> {
  const socket = new WebSocket(url, options)
  sockets.push(socket)
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket))
    // Kept on: a later error (a reset after the node closed the socket) must not go unhandled.
    socket.on('error', reject)
    socket.once('unexpected-response', (request, response) => {
      request.destroy()
      reject(new Error(`${url} was refused with ${response.statusCode}`))
    })
  })
}

/** Resolves with the HTTP status and JSON error of a refused upgrade. */
function refusal(url: string, options: ClientOptions = {}): Promise<Refusal> {
  const socket = new WebSocket(url, options)
  sockets.push(socket)
  return new Promise((resolve, reject) => {
    socket.once('open', () => reject(new Error(`${url} was accepted`)))
    socket.on('error', reject)
    socket.once('unexpected-response', (_request, response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (body += chunk))
      response.on('end', () => {
        const { error } = JSON.parse(body) as Pick<Refusal, 'error'>
        resolve({ status: response.statusCode ?? 0, error })
      })
    })
  })
}

/** Every frame the socket receives: text as a string, binary as bytes. */
function record(socket: WebSocket): Frame[] {
  const frames: Frame[] = []
  socket.on('message', (data, isBinary) => frames.push(isBinary ? toBytes(data) : toText(data)))
  return frames
}

async function nextError(socket: WebSocket): Promise<{ code: string; message: string }> {
  const [data] = (await once(socket, 'message', { signal: AbortSignal.timeout(TIMEOUT_MS) })) as [RawData]
  return (JSON.parse(toText(data)) as Pick<Refusal, 'error'>).error
}

async function closeEvent(socket: WebSocket): Promise<{ code: number; reason: string }> {
  if (socket.readyState === WebSocket.CLOSED) throw new Error('the socket was already closed')
  const [code, reason] = (await once(socket, 'close', { signal: AbortSignal.timeout(TIMEOUT_MS) })) as [number, Buffer]
  return { code, reason: reason.toString() }
}

/** A partition key that routes to `partition` of a stream with `count` partitions. */
function keyFor(partition: number, count: number): string {
  for (let i = 0; ; i++) if (partitionFromKey(`key-${i}`, count) === partition) return `key-${i}`
}

describe('WebSocket API', () => {
  let network: TestNetwork
  let node: RunnelNode
  let wsBase: string
  let httpBase: string
  let subscribeStream: string
  let publishStream: string
  const streamPath = (streamId: string, action: 'publish' | 'subscribe', query = '') =>
    `${wsBase}/streams/${encodeURIComponent(streamId)}/${action}${query}`

  before(async () => {
    network = await startTestNetwork()
    subscribeStream = await network.createPublicStream('/ws/subscribe')
    publishStream = await network.createPublicStream('/ws/publish', 2)
    node = await network.startNode(2, {
      maxPayloadBytes: 1000,
      plugins: { websocket: { port: 0 }, http: { port: 0 }, mqtt: false },
    })
    wsBase = node.info().endpoints.websocket!
    httpBase = node.info().endpoints.http!
  })
  after(async () => {
    for (const socket of sockets) socket.terminate()
    await network.stop()
  })

  it('sends a subscriber messages from SDK and HTTP publishers in order, optionally with metadata', async () => {
    const plain = await connect(streamPath(subscribeStream, 'subscribe'))
    const wrapped = await connect(streamPath(subscribeStream, 'subscribe', '?partition=0&payloadMetadata=true'))
    const plainFrames = record(plain)
    const wrappedFrames = record(wrapped)
    const connections = await node.metrics.connections.get()
    assert.equal(connections.values.find((value) => value.labels.api === 'websocket')?.value, 2)

    const publisher = network.client(3)
    await publisher.publish(subscribeStream, { n: 1 })
    await publisher.publish(subscribeStream, { n: 2 })
    await publisher.publish(subscribeStream, new Uint8Array([1, 2, 3]))
    await waitFor(() => plainFrames.length === 3 && wrappedFrames.length === 3, TIMEOUT_MS, 'the SDK messages')
    for (const n of [3, 4]) {
      const response = await fetch(`${httpBase}/streams/${encodeURIComponent(subscribeStream)}`, {
        method: 'POST',
        body: JSON.stringify({ n }),
        headers: { 'content-type': 'application/json' },
      })
      assert.equal(response.status, 200)
    }
    await waitFor(() => plainFrames.length === 5 && wrappedFrames.length === 5, TIMEOUT_MS, 'the HTTP messages')

    assert.deepEqual(plainFrames, ['{"n":1}', '{"n":2}', new Uint8Array([1, 2, 3]), '{"n":3}', '{"n":4}'])
    const messages = wrappedFrames.map(
      (frame) => JSON.parse(frame as string) as { content: unknown; metadata: Record<string, unknown> },
    )
    assert.deepEqual(
      messages.map((message) => message.content),
      [{ n: 1 }, { n: 2 }, Buffer.from([1, 2, 3]).toString('base64'), { n: 3 }, { n: 4 }],
    )
    const sdkAddress = publisher.address.toLowerCase()
    assert.deepEqual(
      messages.map(({ metadata }) => [metadata.publisherId, metadata.contentType]),
      [
        [sdkAddress, 'json'],
        [sdkAddress, 'json'],
        [sdkAddress, 'binary'],
        [node.address, 'json'],
        [node.address, 'json'],
      ],
    )
    assert.equal(messages[0]!.metadata.streamId, subscribeStream)
    assert.equal(messages[0]!.metadata.partition, 0)
    assert.equal(typeof messages[0]!.metadata.timestamp, 'number')
  })

  it('publishes text and binary frames in order, to the partition the query chooses', async () => {
    const received: ReceivedMessage[] = []
    await network.client(4).subscribe(publishStream, (message) => received.push(message))
    const toOne = await connect(streamPath(publishStream, 'publish', '?partition=1'))
    toOne.send(JSON.stringify({ n: 1 }))
    toOne.send(new Uint8Array([9, 8, 7]))
    toOne.send(JSON.stringify({ n: 2 }))
    const byKey = await connect(streamPath(publishStream, 'publish', `?partitionKey=${keyFor(0, 2)}`))
    byKey.send(JSON.stringify({ key: 0 }))
    const byField = await connect(streamPath(publishStream, 'publish', '?partitionKeyField=device'))
    byField.send(JSON.stringify({ device: keyFor(1, 2) }))
    byField.send(JSON.stringify({ device: keyFor(0, 2) }))
    const wrapped = await connect(streamPath(publishStream, 'publish', '?payloadMetadata=true'))
    wrapped.send(JSON.stringify({ content: { wrapped: true }, metadata: { partitionKey: keyFor(1, 2) } }))
    await waitFor(() => received.length >= 7, TIMEOUT_MS, 'seven messages')
    assert.equal(received.length, 7)

    const onPartition = (partition: number) =>
      received
        .filter((message) => message.partition === partition)
        .map(({ content }) => (content instanceof Uint8Array ? new Uint8Array(content) : content))
    // Frames of one socket stay in order; the sockets themselves run side by side.
    const fromFirstSocket = (content: unknown) =>
      content instanceof Uint8Array || (typeof content === 'object' && content !== null && 'n' in content)
    const one = onPartition(1)
    assert.deepEqual(one.filter(fromFirstSocket), [{ n: 1 }, new Uint8Array([9, 8, 7]), { n: 2 }])
    assert.deepEqual(
      new Set(one.filter((content) => !fromFirstSocket(content))),
      new Set([{ device: keyFor(1, 2) }, { wrapped: true }]),
    )
    assert.deepEqual(new Set(onPartition(0)), new Set([{ key: 0 }, { device: keyFor(0, 2) }]))
    assert.ok(received.every((message) => message.publisherId === node.address))
  })

  it('refuses a connection it cannot serve with an HTTP status and a JSON error', async () => {
    const missing = '0x0000000000000000000000000000000000000001/none'
    const hidden = (await network.client(1).createStream('/ws/hidden')).id
    const cases: [string, number, string, RegExp][] = [
      [streamPath(missing, 'subscribe'), 404, 'STREAM_NOT_FOUND', /./],
      [streamPath(missing, 'publish'), 404, 'STREAM_NOT_FOUND', /./],
      [streamPath(subscribeStream, 'subscribe', '?partition=7'), 400, 'BAD_REQUEST', /partition 7 is out of range/],
      [streamPath(subscribeStream, 'subscribe', '?partition=x'), 400, 'BAD_REQUEST', /partition must be an integer/],
      [streamPath(publishStream, 'publish', '?partition=2'), 400, 'BAD_REQUEST', /partition 2 is out of range/],
      [streamPath(publishStream, 'publish', '?payloadMetadata=maybe'), 400, 'BAD_REQUEST', /payloadMetadata/],
      [streamPath(hidden, 'subscribe'), 403, 'PERMISSION_DENIED', /may not subscribe/],
      [streamPath(hidden, 'publish'), 403, 'PERMISSION_DENIED', /may not publish/],
      [`${wsBase}/streams/nope`, 400, 'BAD_REQUEST', /no such endpoint/],
    ]
    for (const [url, status, code, message] of cases) {
      const refused = await refusal(url)
      assert.equal(refused.status, status, `${url}: ${JSON.stringify(refused.error)}`)
      assert.equal(refused.error.code, code)
      assert.match(refused.error.message, message)
    }
    const plainHttp = await fetch(wsBase.replace(/^ws/, 'http'))
    assert.equal(plainHttp.status, 426)
    assert.match(((await plainHttp.json()) as Pick<Refusal, 'error'>).error.message, /WebSocket/)
  })

  it('accepts a stream id whose slashes are not URL-encoded', async () => {
    const socket = await connect(`${wsBase}/streams/${subscribeStream}/subscribe`)
    const closed = closeEvent(socket)
    socket.close()
    assert.equal((await closed).code, 1005)
  })

  it('answers a bad frame with an error frame and keeps publishing', async () => {
    const received: ReceivedMessage[] = []
    // Another account than the earlier subscriber's: two network nodes with one identity don't both get neighbours.
    // Another account than the earlier subscriber's: two network nodes with one identity don't both get neighbours.
    await network.client(6).subscribe({ id: publishStream, partition: 0 }, (message) => received.push(message))
    const socket = await connect(streamPath(publishStream, 'publish', '?partition=0'))
    socket.send('{not json')
    const badJson = await nextError(socket)
    assert.equal(badJson.code, 'BAD_REQUEST')
    assert.match(badJson.message, /not valid JSON/)
    socket.send(JSON.stringify({ big: 'x'.repeat(1500) }))
    const tooLarge = await nextError(socket)
    assert.equal(tooLarge.code, 'PAYLOAD_TOO_LARGE')
    socket.send(JSON.stringify({ after: 'errors' }))
    // The subscriber may also get messages test 2 published here; what matters is that this one arrives, last.
    await waitFor(
      () => received.some((message) => isDeepStrictEqual(message.content, { after: 'errors' })),
      TIMEOUT_MS,
      'the valid message',
    )
    assert.deepEqual(received.at(-1)!.content, { after: 'errors' })
    assert.equal(socket.readyState, WebSocket.OPEN)

    // Far past the limit the frame isn't even read: the socket closes with 1009 (message too big).
    const closed = closeEvent(socket)
    socket.send(new Uint8Array(200 * 1024))
    assert.equal((await closed).code, 1009)
  })

  describe('with API keys', () => {
    let keyed: RunnelNode
    let keyedBase: string
    const url = (query = '') => `${keyedBase}/streams/${encodeURIComponent(subscribeStream)}/subscribe${query}`

    before(async () => {
      keyed = await network.startNode(5, {
        apiKeys: [API_KEY],
        plugins: { websocket: { port: 0, pingIntervalMs: 1_000 }, http: false, mqtt: false },
      })
      keyedBase = keyed.info().endpoints.websocket!
    })

    it('refuses a missing or wrong key with 401 and accepts a bearer header or ?apiKey=', async () => {
      const missing = await refusal(url())
      assert.equal(missing.status, 401)
      assert.equal(missing.error.code, 'UNAUTHORIZED')
      assert.match(missing.error.message, /requires an API key/)
      const wrong = await refusal(url(), { headers: { authorization: 'Bearer not-the-key-at-all' } })
      assert.equal(wrong.status, 401)
      assert.match(wrong.error.message, /not valid/)
      assert.equal((await refusal(url('?apiKey=not-the-key-at-all'))).status, 401)

      const byHeader = await connect(url(), { headers: { authorization: `Bearer ${API_KEY}` } })
      const byQuery = await connect(url(`?apiKey=${encodeURIComponent(API_KEY)}`))
      assert.equal(byHeader.readyState, WebSocket.OPEN)
      assert.equal(byQuery.readyState, WebSocket.OPEN)
    })

    it('cuts off a client that stops answering pings', async () => {
      const auth = { headers: { authorization: `Bearer ${API_KEY}` } }
      const silent = await connect(url(), { ...auth, autoPong: false })
      const answering = await connect(url(), auth)
      const { code } = await closeEvent(silent)
      assert.equal(code, 1006, 'terminated without a close frame')
      assert.equal(answering.readyState, WebSocket.OPEN)
    })

    it('closes every client socket when the node stops', async () => {
      const auth = { headers: { authorization: `Bearer ${API_KEY}` } }
      const subscriber = await connect(url(), auth)
      const publisher = await connect(`${keyedBase}/streams/${encodeURIComponent(subscribeStream)}/publish`, auth)
      const closes = [closeEvent(subscriber), closeEvent(publisher)]
      await keyed.stop()
      for (const closed of await Promise.all(closes)) assert.deepEqual(closed, { code: 1001, reason: 'node stopping' })
    })
  })
})
