import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import type { IncomingMessage } from 'node:http'
import { text } from 'node:stream/consumers'
import { after, before, describe, it } from 'node:test'
import type { GapEvent, PublishedMessage, ReceivedMessage, RunnelClient } from '@runnel/client'
import { createRunnelClient } from '@runnel/client/node'
import { WebSocketTransport } from '@runnel/network/node'
import { MessageFrameReader, decodeStreamMessage } from '@runnel/protocol'
import mqtt from 'mqtt'
import WebSocket from 'ws'
import type { RunnelNode } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'
import { LossyTransport } from '../support/LossyTransport.js'

/** Which of the messages `{ i }` 0–99 a subscriber has not received. */
const missing = (received: readonly ReceivedMessage[]): number[] => {
  const seen = new Set(received.map((m) => (m.content as { i: number }).i))
  return Array.from({ length: 100 }, (_, i) => i).filter((i) => !seen.has(i))
}

const collect = async <T>(iterable: AsyncIterable<T>): Promise<T[]> => {
  const items: T[] = []
  for await (const item of iterable) items.push(item)
  return items
}

describe('storage node', () => {
  let network: TestNetwork
  let storageNode: RunnelNode
  let history: string
  let directory: string
  let streamId: string
  let publisher: RunnelClient
  let reader: RunnelClient
  const published: PublishedMessage[] = []
  const base = Date.now() - 60_000

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'runnel-storage-'))
    network = await startTestNetwork()
    streamId = await network.createPublicStream('/stored', 2)
    storageNode = await network.startNode(5, {
      plugins: {
        http: { port: 0 },
        websocket: false,
        mqtt: false,
        storage: { sqlite: { path: join(directory, 'db') } },
      },
    })
    history = storageNode.info().endpoints.storage!
    const owner = network.client(1)
    await owner.addStreamToStorageNode(streamId, storageNode.client.address)
    await waitFor(() => storageNode.storage!.storedStreams.includes(streamId), 30_000, 'the assignment')
    publisher = network.client(3)
    reader = network.client(4)
    for (let i = 0; i < 50; i++) {
      published.push(await publisher.publish({ id: streamId, partition: 0 }, { i }, { timestamp: base + i }))
    }
    await publisher.waitForStorage(published.at(-1)!)
  })
  after(async () => {
    await network.stop()
    await rm(directory, { recursive: true, force: true })
  })

  it('registers its history URL on chain and lists as the stream’s storage node', async () => {
    assert.deepEqual(
      (await reader.getStorageNodes(streamId)).map((address) => address.toLowerCase()),
      [storageNode.address],
    )
    assert.deepEqual(await network.dev.registryFor(0).getStorageNode(storageNode.client.address), { http: history })
  })

  it('resends the last N, from a point, and a range, validated and in order', async () => {
    const last = await collect(reader.resend({ id: streamId, partition: 0 }, { last: 10 }))
    assert.deepEqual(
      last.map((m) => (m.content as { i: number }).i),
      [40, 41, 42, 43, 44, 45, 46, 47, 48, 49],
    )
    const from = await collect(reader.resend({ id: streamId, partition: 0 }, { from: { timestamp: base + 45 } }))
    assert.deepEqual(
      from.map((m) => (m.content as { i: number }).i),
      [45, 46, 47, 48, 49],
    )
    const range = await collect(
      reader.resend(
        { id: streamId, partition: 0 },
        { from: { timestamp: base + 10 }, to: { timestamp: base + 12 }, publisherId: publisher.address },
      ),
    )
    assert.deepEqual(
      range.map((m) => (m.content as { i: number }).i),
      [10, 11, 12],
    )
    const other = await collect(
      reader.resend(
        { id: streamId, partition: 0 },
        { from: { timestamp: base }, publisherId: '0x0000000000000000000000000000000000000001' },
      ),
    )
    assert.equal(other.length, 0)
    // All partitions of the stream: partition 1 is empty.
    assert.equal((await collect(reader.resend(streamId, { last: 100 }))).length, 50)
  })

  it('fails over to another storage node when one can’t answer', async () => {
    // A second storage node, registered and assigned, whose URL answers nothing.
    const dead = network.dev.registryFor(7)
    await dead.registerStorageNode({ http: 'http://127.0.0.1:1' })
    await network.client(1).addStreamToStorageNode(streamId, dead.account)
    after(() => network.client(1).removeStreamFromStorageNode(streamId, dead.account))
    const fresh = network.client(8) // no cached storage node list
    // Nodes are tried in random order: several reads try the dead one first at least once, almost surely.
    for (let i = 0; i < 6; i++) {
      const last = await collect(fresh.resend({ id: streamId, partition: 0 }, { last: 3 }))
      assert.deepEqual(
        last.map((m) => (m.content as { i: number }).i),
        [47, 48, 49],
      )
    }
  })

  it('streams NDJSON and binary frames over plain HTTP, and answers bad requests clearly', async () => {
    const path = `${history}/streams/${encodeURIComponent(streamId)}/data/partitions/0`
    const ndjson = await fetch(`${path}/last?count=3`)
    assert.equal(ndjson.headers.get('content-type'), 'application/x-ndjson')
    const lines = (await ndjson.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
    assert.deepEqual(
      lines.map((line) => line.content),
      [{ i: 47 }, { i: 48 }, { i: 49 }],
    )
    assert.equal(lines[0]!.publisherId, publisher.address.toLowerCase())

    const binary = await fetch(`${path}/range?fromTimestamp=${base}&toTimestamp=${base + 4}&format=binary`)
    const frames = new MessageFrameReader().push(new Uint8Array(await binary.arrayBuffer()))
    assert.deepEqual(
      frames.map((frame) => decodeStreamMessage(frame).timestamp),
      [0, 1, 2, 3, 4].map((i) => base + i),
    )

    for (const [url, status, pattern] of [
      [`${path}/last?count=-1`, 400, /count must be an integer/],
      [`${path}/from`, 400, /fromTimestamp/],
      [`${path}/range?fromTimestamp=10&toTimestamp=5`, 400, /ends before it starts/],
      [`${path}/sideways`, 400, /use last, from, range or digests/],
      [`${history}/streams/${encodeURIComponent(streamId)}/data/partitions/x/last`, 400, /partition/],
      [
        `${history}/streams/${encodeURIComponent('0x0000000000000000000000000000000000000001/nope')}/data/partitions/0/last`,
        404,
        /doesn't store/,
      ],
    ] as const) {
      const response = await fetch(url)
      const body = (await response.json()) as { error: { message: string } }
      assert.equal(response.status, status, `${url}: ${body.error.message}`)
      assert.match(body.error.message, pattern)
    }
  })

  it('subscribes with history first, then live, with no duplicate and no gap at the seam', async () => {
    const received: ReceivedMessage[] = []
    const subscription = await reader.subscribe({ id: streamId, partition: 0 }, (m) => received.push(m), {
      resend: { last: 5 },
    })
    for (let i = 50; i < 55; i++)
      await publisher.publish({ id: streamId, partition: 0 }, { i }, { timestamp: base + i })
    await waitFor(() => received.length >= 10, 30_000, 'history and live messages')
    assert.deepEqual(
      received.map((m) => (m.content as { i: number }).i),
      [45, 46, 47, 48, 49, 50, 51, 52, 53, 54],
    )
    subscription.unsubscribe()
  })

  it('sends history first to a WebSocket API subscriber with resendLast, then live', async () => {
    const api = await network.startNode(9, { plugins: { websocket: { port: 0 }, http: false, mqtt: false } })
    const endpoint = api.info().endpoints.websocket!
    const subscribeUrl = (id: string, query: string): string =>
      `${endpoint}/streams/${encodeURIComponent(id)}/subscribe?${query}`
    const socket = new WebSocket(subscribeUrl(streamId, 'partition=0&resendLast=3'))
    after(() => socket.close())
    const frames: { i: number }[] = []
    socket.on('message', (data) => frames.push(JSON.parse((data as Buffer).toString('utf8')) as { i: number }))
    await once(socket, 'open')
    await waitFor(() => frames.length === 3, 30_000, 'the history')
    await publisher.publish({ id: streamId, partition: 0 }, { i: 55 }, { timestamp: base + 55 })
    await waitFor(() => frames.length === 4, 30_000, 'the live message')
    assert.deepEqual(
      frames.map((frame) => frame.i),
      [52, 53, 54, 55],
    )

    const { id: unstored } = await network.client(1).createStream('/not-stored')
    await network.client(1).grantPermissions(unstored, 'public', 'subscribe')
    const refusals: [string, number, string, RegExp][] = [
      [subscribeUrl(unstored, 'resendLast=10'), 503, 'STORAGE_UNAVAILABLE', /no storage node stores/],
      [subscribeUrl(streamId, 'resendLast=0'), 400, 'BAD_REQUEST', /resendLast must be an integer/],
      [subscribeUrl(streamId, 'resendLast=5&resendFrom=0'), 400, 'BAD_REQUEST', /not both/],
      [subscribeUrl(streamId, 'resendFrom=2026-01-02&resendTo=2026-01-01'), 400, 'BAD_REQUEST', /before resendFrom/],
    ]
    for (const [url, status, code, message] of refusals) {
      const refused = new WebSocket(url)
      const [, response] = (await once(refused, 'unexpected-response')) as [unknown, IncomingMessage]
      const body = JSON.parse(await text(response)) as { error: { code: string; message: string } }
      assert.equal(response.statusCode, status, JSON.stringify(body))
      assert.equal(body.error.code, code)
      assert.match(body.error.message, message)
    }
  })

  it('sends history first to each MQTT subscriber whose topic asks for it, then live', async () => {
    const api = await network.startNode(10, { plugins: { mqtt: { port: 0 }, http: false, websocket: false } })
    const url = api.info().endpoints.mqtt!
    const topic = `${streamId}?partition=0&resendLast=2`
    const clients = [
      await mqtt.connectAsync(url, { reconnectPeriod: 0 }),
      await mqtt.connectAsync(url, { reconnectPeriod: 0 }),
    ]
    after(() => Promise.all(clients.map((client) => client.endAsync())))
    const received = clients.map(() => [] as number[])
    for (const [index, client] of clients.entries()) {
      client.on('message', (to, payload) => {
        assert.equal(to, topic)
        received[index]!.push((JSON.parse(payload.toString()) as { i: number }).i)
      })
    }
    // One after the other: the second shares the topic but still gets the history, from its own subscription.
    await clients[0]!.subscribeAsync(topic)
    await waitFor(() => received[0]!.length === 2, 30_000, 'the first subscriber’s history')
    await clients[1]!.subscribeAsync(topic)
    await waitFor(() => received[1]!.length === 2, 30_000, 'the second subscriber’s history')
    const [last] = received[0]!.slice(-1)
    await publisher.publish({ id: streamId, partition: 0 }, { i: last! + 1 }, { timestamp: base + last! + 1 })
    await waitFor(() => received.every((list) => list.length === 3), 30_000, 'the live message')
    for (const list of received) assert.deepEqual(list, [last! - 1, last!, last! + 1])

    const { id: unstored } = await network.client(1).createStream('/not-stored-mqtt')
    await network.client(1).grantPermissions(unstored, 'public', 'subscribe')
    // mqtt.js rejects a SUBACK failure (granted 128), with the packet.
    for (const refused of [`${unstored}?resendLast=1`, `${streamId}?resendLast=1&since=yesterday`]) {
      await assert.rejects(clients[0]!.subscribeAsync(refused), (err: Error & { packet?: { granted?: number[] } }) => {
        assert.deepEqual(err.packet?.granted, [128], refused)
        return true
      })
    }
  })

  it('fills the gaps of a subscriber whose link loses messages, from storage', async () => {
    const lossyKey = network.dev.chain.accountKeys[6]!
    let start = Number.POSITIVE_INFINITY
    // Every 7th message is lost on the subscriber's link, never the first (without it there is no chain to have a
    // gap in) and never the last (a gap shows only when a later message arrives, and none would).
    const lossy = new LossyTransport(
      new WebSocketTransport({ port: 0 }),
      (header) => header.timestamp > start && header.timestamp < start + 99 && header.timestamp % 7 === 3,
    )
    const subscriber = createRunnelClient({
      auth: { privateKey: lossyKey },
      chain: { rpcUrl: network.rpcUrl, contracts: network.dev.deployment },
      network: { ...network.discovery, transport: lossy },
      gapFillDelayMs: 200,
      // Room for every storage request (200 + 400 + 800 ms and the reads) on a loaded machine.
      gapTimeoutMs: 20_000,
    })
    after(() => subscriber.destroy())
    const received: ReceivedMessage[] = []
    const gaps: GapEvent[] = []
    subscriber.on('gap', (gap) => gaps.push(gap))
    await subscriber.subscribe({ id: streamId, partition: 1 }, (m) => received.push(m))
    start = Date.now()
    for (let i = 0; i < 100; i++)
      await publisher.publish({ id: streamId, partition: 1 }, { i }, { timestamp: start + i })
    await waitFor(
      () => received.length === 100,
      60_000,
      'every message, gaps filled',
      () =>
        `every message, gaps filled (missing ${JSON.stringify(missing(received))}, dropped ${lossy.dropped}, gaps ${JSON.stringify(gaps)})`,
    )
    assert.ok(lossy.dropped > 0, 'the link lost messages')
    assert.deepEqual(
      received.map((m) => (m.content as { i: number }).i),
      Array.from({ length: 100 }, (_, i) => i),
    )
    assert.deepEqual(gaps, [])
  })

  it('deletes what the stream’s retention no longer covers', async () => {
    const owner = network.client(1)
    const { id } = await owner.createStream('/short-lived', { storageDays: 1 })
    await owner.grantPermissions(id, 'public', 'publish', 'subscribe')
    await owner.addStreamToStorageNode(id, storageNode.client.address)
    await waitFor(() => storageNode.storage!.storedStreams.includes(id), 30_000, 'the assignment')
    const now = Date.now()
    const old = await publisher.publish(id, { old: true }, { timestamp: now - 3 * 24 * 3600_000 })
    const fresh = await publisher.publish(id, { old: false }, { timestamp: now })
    await publisher.waitForStorage(old)
    await publisher.waitForStorage(fresh)
    assert.equal(await storageNode.storage!.applyRetention(now), 1)
    const left = await collect(reader.resend(id, { from: { timestamp: 0 } }))
    assert.deepEqual(
      left.map((m) => m.content),
      [{ old: false }],
    )
  })
})
