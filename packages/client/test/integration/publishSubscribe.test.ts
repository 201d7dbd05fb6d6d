import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { NetworkNode } from '@runnel/network'
import { WebSocketTransport } from '@runnel/network/node'
import {
  ContentType,
  MessageId,
  ProtocolError,
  StreamMessage,
  encodeJsonContent,
  generatePrivateKey,
  signStreamMessage,
} from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import { ClientError, type InvalidMessageEvent, type ReceivedMessage, type RunnelClient } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'

describe('RunnelClient publish and subscribe', () => {
  let network: TestNetwork
  let owner: RunnelClient
  let publisher: RunnelClient
  let subscriber: RunnelClient
  let streamId: string

  before(async () => {
    network = await startTestNetwork()
    owner = network.client(1)
    publisher = network.client(2)
    subscriber = network.client(3)
    ;({ id: streamId } = await owner.createStream('/client/test', { partitions: 2 }))
    await owner.grantPermissions(streamId, publisher.address, 'publish')
    await owner.grantPermissions(streamId, 'public', 'subscribe')
  })

  after(() => network.stop())

  it('delivers every published message to a subscriber, in order, with content and metadata', async () => {
    const received: ReceivedMessage[] = []
    const subscription = await subscriber.subscribe({ id: streamId, partition: 0 }, (message) => received.push(message))
    const COUNT = 500
    const published = []
    // Publishing starts once the subscriber's node has a neighbour path to the publisher.
    for (let i = 0; i < COUNT; i++) published.push(await publisher.publish({ id: streamId, partition: 0 }, { i }))
    await waitFor(() => received.length === COUNT, 30_000, 'all messages')
    assert.deepEqual(
      received.map((m) => (m.content as { i: number }).i),
      Array.from({ length: COUNT }, (_, i) => i),
    )
    assert.equal(received[0]!.publisherId, publisher.address.toLowerCase())
    assert.equal(received[0]!.streamId, streamId)
    assert.deepEqual(
      received.map(({ timestamp, sequenceNumber }) => ({ timestamp, sequenceNumber })),
      published.map(({ timestamp, sequenceNumber }) => ({ timestamp, sequenceNumber })),
    )
    subscription.unsubscribe()
  })

  // A join that waited for a neighbour would hold this subscribe for joinTimeoutMs (10 min) and time the test out.
  it(
    "resolves a subscribe to a stream part no one is in once the tracker says so, and gets what's published after",
    {
      timeout: 120_000,
    },
    async () => {
      const { id } = await owner.createStream('/client/first-node')
      await owner.grantPermissions(id, 'public', 'subscribe')
      const first = network.client(4, { joinTimeoutMs: 600_000 })
      const received: ReceivedMessage[] = []
      await first.subscribe(id, (message) => received.push(message))
      await owner.publish(id, { hello: 'first node' })
      await waitFor(() => received.length === 1, 30_000, 'the message')
      assert.deepEqual(received[0]!.content, { hello: 'first node' })
    },
  )

  it(
    'gets out what a publisher sent before its first neighbour connected, when it is destroyed right after',
    { timeout: 120_000 },
    async () => {
      const { id } = await owner.createStream('/client/short-lived')
      await owner.grantPermissions(id, 'public', 'subscribe')
      // Its first publish goes out without waiting for a neighbour: the message waits in the node's buffer.
      const shortLived = network.client(5, { joinTimeoutMs: 1 })
      await owner.grantPermissions(id, shortLived.address, 'publish')
      const received: ReceivedMessage[] = []
      await subscriber.subscribe(id, (message) => received.push(message))
      await shortLived.publish(id, { n: 1 })
      await shortLived.destroy()
      await waitFor(() => received.length === 1, 30_000, 'the message published just before destroy()')
      assert.deepEqual(received[0]!.content, { n: 1 })

      // Nobody in the stream part: flush says how many messages reached no one, without waiting out its timeout.
      const { id: lonely } = await owner.createStream('/client/lonely')
      await owner.publish(lonely, { n: 1 })
      await owner.publish(lonely, { n: 2 })
      assert.equal(await owner.flush({ timeoutMs: 120_000 }), 2)
      await assert.rejects(
        owner.flush({ timeoutMs: -1 }),
        (err: unknown) => err instanceof ClientError && err.code === 'INVALID_ARGUMENT',
      )
    },
  )

  it('sends binary content as bytes and routes by partition key', async () => {
    const received: ReceivedMessage[] = []
    const subscription = await subscriber.subscribe(streamId, (message) => received.push(message))
    const first = await publisher.publish(streamId, Uint8Array.from([1, 2, 3]), { partitionKey: 'device-7' })
    const second = await publisher.publish(streamId, { json: true }, { partitionKey: 'device-7' })
    assert.equal(first.partition, second.partition, 'one key, one partition')
    await waitFor(() => received.length === 2, 10_000, 'both messages')
    assert.deepEqual(received[0]!.content, Uint8Array.from([1, 2, 3]))
    assert.deepEqual(received[1]!.content, { json: true })
    subscription.unsubscribe()
  })

  it(
    'leaves no hole in the chain when a publish fails, and ends the subscription when the loop breaks',
    { timeout: 120_000 },
    async () => {
      const gaps: unknown[] = []
      subscriber.on('gap', (gap) => gaps.push(gap))
      const subscription = await subscriber.subscribe({ id: streamId, partition: 0 })
      // The subscriber left the stream part after the first test: it publishes once it is back in the overlay (a slow
      // dht-mode rejoin under load outlasted the publisher's propagation buffer).
      const part = `${streamId}#0` as Parameters<NetworkNode['join']>[0]
      await waitFor(
        () => subscriber.networkNode.getNeighbors(part).length > 0,
        60_000,
        "the subscriber's first neighbour",
      )
      await publisher.publish({ id: streamId, partition: 0 }, { n: 1 })
      const circular: Record<string, unknown> = {}
      circular.self = circular
      await assert.rejects(publisher.publish({ id: streamId, partition: 0 }, circular), /INVALID_JSON/)
      await publisher.publish({ id: streamId, partition: 0 }, { n: 2 })
      const seen: unknown[] = []
      for await (const message of subscription) {
        seen.push(message.content)
        if (seen.length === 2) break
      }
      assert.deepEqual(seen, [{ n: 1 }, { n: 2 }])
      assert.equal(subscription.isActive, false, 'breaking out of the loop unsubscribed')
      assert.ok(
        !subscriber.networkNode.getStreamParts().includes(`${streamId}#0` as never),
        'the node left the stream part no subscription needs',
      )
      assert.deepEqual(gaps, [])
    },
  )

  it('fails fast, sending nothing, when the publisher lacks permission', async () => {
    const outsider = network.client(4)
    await assert.rejects(outsider.publish(streamId, { no: 'access' }), (err: unknown) => {
      assert.ok(err instanceof ClientError)
      assert.equal(err.code, 'PERMISSION_DENIED')
      assert.match(err.message, new RegExp(`may not publish to ${streamId}`))
      return true
    })
    assert.equal(outsider.networkNode.getMetrics().messagesOut, 0)
  })

  it('drops and reports messages from publishers without permission and with forged signatures', async () => {
    // The forgery is dropped by whichever client's node receives it first; every client reports what it drops.
    const invalid: InvalidMessageEvent[] = []
    for (const client of [owner, publisher, subscriber]) client.on('invalidMessage', (event) => invalid.push(event))
    const received: ReceivedMessage[] = []
    const subscription = await subscriber.subscribe({ id: streamId, partition: 1 }, (message) => received.push(message))
    // A raw network node, outside any client, injects messages.
    const rogueSigner = createNativeSigner(generatePrivateKey())
    const rogue = new NetworkNode(
      { transport: new WebSocketTransport({ port: 0 }), signer: rogueSigner, verifier: nativeSignatureVerifier },
      { ...network.discovery, verifySignatures: false },
    )
    await rogue.start()
    try {
      const streamPartId = `${streamId}#1` as Parameters<NetworkNode['join']>[0]
      await rogue.join(streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(10_000) })
      const unauthorized = await signStreamMessage(
        {
          messageId: new MessageId(streamId, 1, Date.now(), 0, rogueSigner.address, 'rogue'),
          contentType: ContentType.Json,
          content: encodeJsonContent({ evil: true }),
        },
        rogueSigner,
      )
      rogue.broadcast(unauthorized)
      const genuine = await publisher.publish({ id: streamId, partition: 1 }, { amount: 10 })
      await waitFor(() => received.length === 1, 10_000, 'the genuine message')
      // A copy of a genuine message with altered content and the original signature.
      const [original] = received
      const forged = new StreamMessage({
        ...original!.streamMessage,
        messageId: new MessageId(streamId, 1, genuine.timestamp + 1, 0, publisher.address, genuine.msgChainId),
        content: encodeJsonContent({ amount: 1_000_000 }),
      })
      rogue.broadcast(forged)
      await waitFor(
        () =>
          invalid.some((e) => e.reason === 'invalid-signature') &&
          invalid.some((e) => e.reason === 'no-publish-permission'),
        10_000,
        'both rejections',
      )
      // Each of the rogue's neighbours drops the forgery itself; only the subscriber checks permissions.
      assert.equal(invalid.filter((event) => event.reason === 'no-publish-permission').length, 1)
      assert.ok(invalid.every((event) => event.streamPartId === `${streamId}#1`))
      assert.deepEqual(
        received.map((m) => m.content),
        [{ amount: 10 }],
        'only the genuine message reaches the app',
      )
    } finally {
      subscription.unsubscribe()
      await rogue.stop()
    }
  })

  it('refuses a malformed stream id as INVALID_STREAM_ID, not as a stream not found', async () => {
    const address = owner.address.toLowerCase()
    for (const id of ['abc', '%00', `${address}/../..`, `${address}/dé€mo`, `${address}/a\u0000b`, '/a/']) {
      const invalid = (err: unknown): boolean =>
        // eslint-disable-next-line no-control-regex -- finding control characters is the point
        err instanceof ProtocolError && err.code === 'INVALID_STREAM_ID' && !/[\u0000-\u001f]/.test(err.message)
      await assert.rejects(owner.getStream(id), invalid, id)
      await assert.rejects(publisher.publish(id, {}), invalid, id)
      await assert.rejects(
        subscriber.subscribe(id, () => {}),
        invalid,
        id,
      )
    }
    // A checksummed owner names the same stream as the lowercase one.
    assert.equal((await owner.getStream(streamId.replace(address, owner.address))).id, streamId)
  })
})

describe('Stream objects', () => {
  let network: TestNetwork

  before(async () => {
    network = await startTestNetwork()
  })

  after(() => network.stop())

  it('carry the client’s verbs for their stream', async () => {
    const owner = network.client(1)
    const reader = network.client(2)
    const stream = await owner.getOrCreateStream('/objects', { partitions: 2, description: 'demo' })
    assert.equal(stream.partitions, 2)
    assert.equal((await owner.getOrCreateStream('/objects')).id, stream.id, 'the second call finds it')
    await stream.grantPermissions(reader.address, 'subscribe')
    assert.equal(await stream.hasPermission('subscribe', reader.address), true)
    const received: ReceivedMessage[] = []
    const readerStream = await reader.getStream(stream.id)
    await readerStream.subscribe((message) => received.push(message), 1)
    await stream.publish({ hello: 'object' }, { partition: 1 })
    await waitFor(() => received.length === 1, 10_000, 'the message')
    const updated = await stream.update({ partitions: 3 })
    assert.equal(updated.partitions, 3)
    assert.deepEqual([...(await stream.getPermissions()).keys()].length, 2)
    await stream.delete()
    await assert.rejects(owner.getStream(stream.id), /STREAM_NOT_FOUND/)
  })
})
