import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { after, before, describe, it } from 'node:test'
import mqtt from 'mqtt'
import WebSocket from 'ws'
import { ClientError, type PublishedMessage, type RunnelClient } from '@runnel/client'
import {
  MessageRef,
  MessageType,
  StreamMessage,
  encodeJsonContent,
  encodeSignedReceipt,
  encodeStreamMessage,
  frameMessage,
  receiptDigest,
  signReceipt,
  toStreamPartId,
  type StreamId,
} from '@runnel/protocol'
import { createNativeSigner } from '@runnel/protocol/native'
import type { RunnelNode } from '../../src/index.js'
import { startTestNetwork, waitFor, within, type TestNetwork } from '../helpers.js'

const collect = async <T>(iterable: AsyncIterable<T>): Promise<T[]> => {
  const items: T[] = []
  for await (const item of iterable) items.push(item)
  return items
}

/**
 * Storage receipts end to end, in one process on 127.0.0.1: SDK publishes with `ack: 'stored'`, what the publisher
 * keeps until receipts come, the re-offer when a storage node comes back, and receipts that must not count.
 */
describe('stored acknowledgements', () => {
  let network: TestNetwork
  let directory: string
  let streamId: string
  let storageNode: RunnelNode | undefined
  let publisher: RunnelClient
  let reader: RunnelClient
  // The same port on every start: the URL on chain (and in clients' caches) stays right.
  let httpPort = 0
  const storageConfig = () => ({
    plugins: {
      http: { port: httpPort },
      websocket: false as const,
      mqtt: false as const,
      storage: { sqlite: { path: join(directory, 'db') } },
    },
  })
  const startStorage = async (): Promise<RunnelNode> => {
    storageNode = await network.startNode(5, storageConfig())
    await waitFor(() => storageNode!.storage!.storedStreams.includes(streamId), 30_000, 'the assignment')
    return storageNode
  }
  const history = async (): Promise<number[]> =>
    (await collect(reader.resend({ id: streamId, partition: 0 }, { last: 1_000 }))).map(
      (message) => (message.content as { i: number }).i,
    )

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'runnel-acks-'))
    network = await startTestNetwork()
    streamId = await network.createPublicStream('/acks')
    storageNode = await network.startNode(5, storageConfig())
    httpPort = Number(new URL(storageNode.info().endpoints.storage!).port)
    await network.client(1).addStreamToStorageNode(streamId, storageNode.client.address)
    await waitFor(() => storageNode!.storage!.storedStreams.includes(streamId), 30_000, 'the assignment')
    publisher = network.client(3)
    reader = network.client(4)
  })
  after(async () => {
    await network.stop()
    await rm(directory, { recursive: true, force: true })
  })

  it("resolves a publish with ack 'stored' once the storage node's receipt covers it, and the message is in history", async () => {
    const published = await within(publisher.publish(streamId, { i: 0 }, { ack: 'stored' }), 20_000, 'the stored ack')
    assert.equal(published.sequenceNumber, 0)
    // Stored means committed: history has it at once, no waiting.
    assert.deepEqual(await history(), [0])
    await waitFor(() => publisher.retentionStats().retainedMessages === 0, 20_000, 'the publisher to forget it')
    assert.ok(publisher.retentionStats().receiptsAccepted >= 1)
  })

  it("refuses ack 'stored' before publishing when more storage nodes are asked for than the stream has", async () => {
    await assert.rejects(publisher.publish(streamId, { i: -1 }, { ack: 'stored', minStorageNodes: 2 }), {
      name: 'ClientError',
      code: 'INVALID_ARGUMENT',
      message: /ack 'stored' by 2 storage nodes asked for, but .* has 1/,
    })
    const unstored = await network.client(1).createStream('/no-storage')
    await assert.rejects(network.client(1).publish(unstored.id, { i: -1 }, { ack: 'stored' }), {
      code: 'STORAGE_UNAVAILABLE',
    })
  })

  it('is asked for over HTTP (query or header, NDJSON batches whole), WebSocket (an ack frame per message) and MQTT (PUBACK after storing)', async () => {
    const api = await network.startNode(2, {
      plugins: { http: { port: 0 }, websocket: { port: 0 }, mqtt: { port: 0, puback: 'stored' } },
    })
    const { http, websocket, mqtt: mqttUrl } = api.info().endpoints
    const path = `/streams/${encodeURIComponent(streamId)}`
    const post = (query: string, body: string, headers: Record<string, string> = {}) =>
      fetch(`${http}${path}${query}`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', ...headers },
      })
    const stored = async (i: number) => (await history()).includes(i)

    // Each answer comes after the storage node committed: history has the message at once.
    assert.equal((await post('?ack=stored', '{"i":200}')).status, 200)
    assert.ok(await stored(200))
    assert.equal((await post('', '{"i":201}', { 'Runnel-Ack': 'stored' })).status, 200)
    assert.ok(await stored(201))
    const batch = await post('?ack=stored', '{"i":202}\n{"i":203}\n{"i":204}\n', {
      'content-type': 'application/x-ndjson',
    })
    assert.equal(batch.status, 200, await batch.clone().text())
    assert.equal(((await batch.json()) as { count: number }).count, 3)
    for (const i of [202, 203, 204]) assert.ok(await stored(i), `message ${i} stored`)
    const conflicting = await post('?ack=accepted', '{"i":-1}', { 'Runnel-Ack': 'stored' })
    assert.equal(conflicting.status, 400)
    assert.match(((await conflicting.json()) as { error: { message: string } }).error.message, /disagree/)
    const bogus = await post('?ack=eventually', '{"i":-1}')
    assert.equal(bogus.status, 400)
    assert.match(
      ((await bogus.json()) as { error: { message: string } }).error.message,
      /ack must be 'accepted' or 'stored'/,
    )

    const socket = new WebSocket(`${websocket}${path}/publish?ack=stored`)
    await once(socket, 'open')
    const acks: { seq: number; level: string; message: { sequenceNumber: number } }[] = []
    socket.on('message', (data) =>
      acks.push((JSON.parse((data as Buffer).toString()) as { ack: (typeof acks)[number] }).ack),
    )
    for (const i of [210, 211, 212]) socket.send(JSON.stringify({ i }))
    await waitFor(() => acks.length === 3, 20_000, 'three ack frames')
    assert.deepEqual(acks.map((ack) => [ack.seq, ack.level]).sort(), [
      [1, 'stored'],
      [2, 'stored'],
      [3, 'stored'],
    ])
    for (const i of [210, 211, 212]) assert.ok(await stored(i), `message ${i} stored`)
    socket.close()

    const client = await mqtt.connectAsync(mqttUrl!, { reconnectPeriod: 0 })
    try {
      await within(client.publishAsync(streamId, '{"i":220}', { qos: 1 }), 20_000, 'the PUBACK')
      assert.ok(await stored(220), 'the PUBACK came after storing')
    } finally {
      await client.endAsync()
    }
    const metrics = await (await fetch(`${http}/metrics`)).text()
    const accepted = Number(/^runnel_receipts_accepted_total (\d+)$/m.exec(metrics)?.[1])
    assert.ok(accepted >= 1, `receipts accepted: ${accepted}`)
    assert.match(metrics, /^runnel_receipts_rejected_total\{reason="unknown-messages"\} 0$/m)
    assert.match(metrics, /^runnel_retained_messages \d+$/m)
    await api.stop()
  })

  it('while the storage node is down: stored acks fail with NOT_STORED; default acks are kept; all is stored when it returns', async () => {
    await storageNode!.stop()
    const acked: PublishedMessage[] = []
    for (let i = 1; i <= 20; i++) acked.push(await publisher.publish(streamId, { i }))
    await assert.rejects(publisher.publish(streamId, { i: 21 }, { ack: 'stored', ackTimeoutMs: 500 }), (err) => {
      assert.ok(err instanceof ClientError)
      assert.equal(err.code, 'NOT_STORED')
      assert.match(err.message, /not confirmed by 1 storage node within 500 ms/)
      return true
    })
    assert.equal(publisher.retentionStats().retainedMessages, 21)
    await startStorage()
    // Nobody asks: the returning storage node asks publishers to catch it up, and the publisher re-offers.
    await waitFor(() => publisher.retentionStats().retainedMessages === 0, 30_000, 'the re-offered messages stored')
    assert.deepEqual(
      (await history()).filter((i) => i < 100),
      Array.from({ length: 22 }, (_, i) => i),
    )
    assert.ok(publisher.retentionStats().reoffered >= 21)
  })

  it('never takes a forged receipt for a stored message: wrong carrier, wrong key, not a storage node, a range it never had, garbage; nor a tampered re-offer', async () => {
    const streamPartId = toStreamPartId(streamId as StreamId, 0)
    const stranger = network.client(6)
    const seen: StreamMessage[] = []
    await stranger.subscribe(streamId)
    stranger.networkNode.addMessageListener(streamPartId, (m) => {
      if (m.messageType === MessageType.Data && m.publisherId === publisher.address.toLowerCase()) seen.push(m)
    })
    await storageNode!.stop()
    let settled = false
    const pending = publisher.publish(streamId, { i: 100 }, { ack: 'stored', ackTimeoutMs: 30_000 })
    pending.then(
      () => (settled = true),
      () => (settled = true),
    )
    // Signatures travel in the clear: anyone in the stream part can compute a receipt's digest.
    const isPending = (m: StreamMessage) => new TextDecoder().decode(m.content) === '{"i":100}'
    await waitFor(() => seen.some(isPending), 20_000, 'the message')
    const kept = seen.find(isPending)!
    const before = publisher.retentionStats().receiptsRejected
    const strangerSigner = createNativeSigner(network.dev.chain.accountKeys[6]!)
    const storageSigner = createNativeSigner(network.dev.chain.accountKeys[5]!)
    const fields = {
      kind: 'stored' as const,
      streamPartId,
      publisherId: kept.publisherId,
      messageChainId: kept.messageChainId,
      from: kept.getMessageRef(),
      to: kept.getMessageRef(),
      messageCount: 1,
      digest: receiptDigest([kept.signature]),
      signedAt: Date.now(),
    }
    // A stranger's own receipt: signed right, digest right, but not a storage node of the stream.
    await stranger.publishControl(
      streamPartId,
      MessageType.StorageReceipt,
      encodeSignedReceipt(await signReceipt(fields, strangerSigner)),
    )
    // The storage node's key, carried by the stranger.
    await stranger.publishControl(
      streamPartId,
      MessageType.StorageReceipt,
      encodeSignedReceipt(await signReceipt(fields, storageSigner)),
    )
    // The storage node's receipt with the stranger's signature on it: the wrong key.
    const genuine = await signReceipt(fields, storageSigner)
    const wrongKey = await signReceipt(fields, strangerSigner)
    await stranger.publishControl(
      streamPartId,
      MessageType.StorageReceipt,
      encodeSignedReceipt({ receipt: genuine.receipt, signature: wrongKey.signature }),
    )
    // Garbage.
    await stranger.publishControl(streamPartId, MessageType.StorageReceipt, new Uint8Array([1, 2, 3, 4]))
    await waitFor(
      () => {
        const now = publisher.retentionStats().receiptsRejected
        return (
          now['not-storage-node'] > before['not-storage-node'] &&
          now['signer-mismatch'] > before['signer-mismatch'] &&
          now.malformed >= before.malformed + 2
        )
      },
      20_000,
      'the four forged receipts refused',
    )
    assert.equal(settled, false, 'no forged receipt made the publish look stored')
    // The storage node itself, naming a range the publisher never published.
    const node = await startStorage()
    const never = { ...fields, from: new MessageRef(1, 0), to: new MessageRef(2, 0), digest: new Uint8Array(32) }
    await node.client.publishControl(
      streamPartId,
      MessageType.StorageReceipt,
      encodeSignedReceipt(await signReceipt(never, storageSigner)),
    )
    await waitFor(
      () => publisher.retentionStats().receiptsRejected['unknown-messages'] > before['unknown-messages'],
      20_000,
      'the receipt for messages never published refused',
    )
    // The real receipts, after the storage node's catch-up, settle the pending publish.
    await within(pending, 20_000, 'the genuine stored ack')

    // Re-offers are checked message by message: a tampered copy and bytes that aren't framed messages are refused.
    const tampered = new StreamMessage({
      messageId: kept.messageId,
      prevMsgRef: kept.prevMsgRef,
      contentType: kept.contentType,
      content: encodeJsonContent({ i: 666 }),
      signature: kept.signature,
    })
    const framed = frameMessage(encodeStreamMessage(tampered))
    const refused = async () =>
      (await node.metrics.registry.getSingleMetric('runnel_storage_reoffered_messages_total')!.get()).values.find(
        (value) => value.labels.result === 'refused',
      )?.value ?? 0
    const refusedBefore = await refused()
    await stranger.publishControl(streamPartId, MessageType.Reoffer, framed)
    await stranger.publishControl(streamPartId, MessageType.Reoffer, new Uint8Array([0, 0, 0, 9, 1]))
    let refusedNow = refusedBefore
    for (const deadline = Date.now() + 20_000; refusedNow < refusedBefore + 2 && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 50))
      refusedNow = await refused()
    }
    assert.equal(refusedNow, refusedBefore + 2, 'the tampered message and the garbage refused')
    assert.ok(!(await history()).includes(666), 'nothing tampered stored')
  })
})
