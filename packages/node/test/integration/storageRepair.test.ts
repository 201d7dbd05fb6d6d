// Repair between the storage nodes of one stream, with both nodes in this
// process: node A on SQLite, node B on PostgreSQL (SQLite when no server is
// reachable outside CI). Rows deleted from one node's database come back from
// the other in one anti-entropy round; a node stopped while publishing goes on
// catches up through hole fill alone; and a peer posing as a storage node that
// serves garbage or forged messages gets nothing stored.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import Database from 'better-sqlite3'
import pg from 'pg'
import type { RunnelClient } from '@runnel/client'
import {
  ContentType,
  MessageId,
  MessageRef,
  StreamMessage,
  encodeJsonContent,
  encodeStreamMessage,
  frameMessage,
  signStreamMessage,
  type MessageSigner,
} from '@runnel/protocol'
import { createNativeSigner } from '@runnel/protocol/native'
import type { NodeConfigInput, RunnelNode } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'
import { chainBreaks, heldMessages, idsOf } from '../support/history.js'
import { POSTGRES_URL, checkPostgres } from '../support/postgres.js'

const postgresProblem = await checkPostgres(POSTGRES_URL)
if (postgresProblem !== undefined && process.env.CI !== undefined) throw new Error(postgresProblem)

/** Repair as tests want it: no timer (rounds run on demand), short grace, the last 10 minutes compared in 1 s buckets. */
const repair = { intervalMs: 0, holeGraceMs: 100, settleMs: 0, bucketMs: 1_000, windowMs: 600_000 }

/** A counter's value in a node's metrics, summed over the labels that match. */
async function counter(node: RunnelNode, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = node.metrics.registry.getSingleMetric(name)
  if (metric === undefined) return 0
  const { values } = await metric.get()
  return values
    .filter((value) => Object.entries(labels).every(([key, wanted]) => value.labels[key] === wanted))
    .reduce((sum, value) => sum + value.value, 0)
}

describe('repair between the storage nodes of a stream', () => {
  let network: TestNetwork
  let directory: string
  let streamId: string
  let publisher: RunnelClient
  let nodeA: RunnelNode
  let nodeB: RunnelNode
  let configA: NodeConfigInput
  let sqlitePath: string
  const schema = `runnel_repair_${process.pid}_${randomBytes(4).toString('hex')}`
  let admin: pg.Pool | undefined
  const historyOf = (node: RunnelNode) => node.info().endpoints.storage!

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'runnel-repair-'))
    network = await startTestNetwork()
    streamId = await network.createPublicStream('/repaired')
    sqlitePath = join(directory, 'a.db')
    configA = {
      plugins: { http: { port: 0 }, websocket: false, mqtt: false, storage: { sqlite: { path: sqlitePath }, repair } },
    }
    nodeA = await network.startNode(5, configA)
    const storageB =
      postgresProblem === undefined
        ? { backend: 'postgres' as const, postgres: { url: POSTGRES_URL, schema }, repair }
        : { sqlite: { path: join(directory, 'b.db') }, repair }
    if (postgresProblem === undefined) admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 })
    nodeB = await network.startNode(6, {
      plugins: { http: { port: 0 }, websocket: false, mqtt: false, storage: storageB },
    })
    const owner = network.client(1)
    await owner.addStreamToStorageNode(streamId, nodeA.client.address)
    await owner.addStreamToStorageNode(streamId, nodeB.client.address)
    await waitFor(
      () => nodeA.storage!.storedStreams.includes(streamId) && nodeB.storage!.storedStreams.includes(streamId),
      30_000,
      'both assignments',
    )
    // The publisher side keeps one message to re-offer: what a storage node misses comes from the other one.
    publisher = network.clientWith(3, { retention: { maxMessages: 1 } })
    const base = Date.now() - 120_000
    for (let i = 0; i < 300; i++) await publisher.publish(streamId, { i }, { timestamp: base + i * 10 })
    for (const node of [nodeA, nodeB]) await waitForHeld(node, 300)
  })

  after(async () => {
    await publisher?.destroy()
    await network?.stop()
    await admin?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await admin?.end()
    if (directory !== undefined) await rm(directory, { recursive: true, force: true })
  })

  async function waitForHeld(node: RunnelNode, count: number): Promise<void> {
    const deadline = Date.now() + 30_000
    for (;;) {
      const held = (await heldMessages(historyOf(node), streamId)).length
      if (held >= count) return
      if (Date.now() > deadline) throw new Error(`${node.address} holds ${held} of ${count} messages`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  /** Both nodes hold the same messages, byte for byte, with no break in the publisher chain. */
  async function assertConverged(expected: number): Promise<void> {
    const [a, b] = await Promise.all([
      heldMessages(historyOf(nodeA), streamId),
      heldMessages(historyOf(nodeB), streamId),
    ])
    assert.equal(a.length, expected)
    assert.deepEqual(idsOf(a), idsOf(b))
    assert.deepEqual(
      a.map((message) => Buffer.from(encodeStreamMessage(message)).toString('base64')),
      b.map((message) => Buffer.from(encodeStreamMessage(message)).toString('base64')),
    )
    assert.deepEqual(chainBreaks(a), [])
  }

  it('repairs rows deleted from either node’s database from the other, in one round each', async () => {
    // Holes the live messages' arrival order made the nodes check are settled first: a check still due would repair
    // some deleted rows by hole fill, before the round.
    await waitFor(
      () => nodeA.storage!.repair!.pendingHoles === 0 && nodeB.storage!.repair!.pendingHoles === 0,
      10_000,
      'no hole to be pending',
    )
    const held = await heldMessages(historyOf(nodeA), streamId)
    // 40 rows out of A's SQLite file, another 25 out of B's database.
    const fromA = held.slice(100, 140)
    const fromB = held.slice(200, 225)
    const sqlite = new Database(sqlitePath)
    sqlite
      .prepare('DELETE FROM messages WHERE stream_id = ? AND timestamp BETWEEN ? AND ?')
      .run(streamId, fromA[0]!.timestamp, fromA.at(-1)!.timestamp)
    sqlite.close()
    if (admin !== undefined) {
      await admin.query(`DELETE FROM "${schema}".messages WHERE stream_id = $1 AND timestamp BETWEEN $2 AND $3`, [
        streamId,
        fromB[0]!.timestamp,
        fromB.at(-1)!.timestamp,
      ])
    } else {
      const other = new Database(join(directory, 'b.db'))
      other
        .prepare('DELETE FROM messages WHERE stream_id = ? AND timestamp BETWEEN ? AND ?')
        .run(streamId, fromB[0]!.timestamp, fromB.at(-1)!.timestamp)
      other.close()
    }
    assert.equal((await heldMessages(historyOf(nodeA), streamId)).length, 260)

    const roundA = await nodeA.storage!.repair!.runRound()
    const roundB = await nodeB.storage!.repair!.runRound()
    assert.equal(roundA.repaired, 40)
    assert.equal(roundB.repaired, 25)
    assert.equal(roundA.refused + roundB.refused, 0)
    // Only the buckets that differ are fetched, not the whole history.
    assert.ok(roundA.fetched < 300, `A fetched ${roundA.fetched}`)
    await assertConverged(300)
    assert.equal(await counter(nodeA, 'runnel_storage_repair_messages_total', { source: 'anti-entropy' }), 40)

    const again = await nodeA.storage!.repair!.runRound()
    assert.equal(again.bucketsDiffering, 0)
    assert.equal(again.fetched, 0)
  })

  it('catches a node up that was stopped while publishing went on, through hole fill alone', async () => {
    await nodeA.stop()
    // More than the publisher's network node keeps to re-offer a returning peer (256 per stream part): the rest
    // can only come from the other storage node.
    const whileDown = 400
    for (let i = 0; i < whileDown; i++) await publisher.publish(streamId, { down: i })
    await waitForHeld(nodeB, 300 + whileDown)
    nodeA = await network.startNode(5, configA)
    await waitFor(() => nodeA.storage!.storedStreams.includes(streamId), 30_000, 'the assignment after the restart')
    for (let i = 0; i < 5; i++) await publisher.publish(streamId, { after: i })
    const total = 300 + whileDown + 5
    await waitForHeld(nodeA, total)
    await waitForHeld(nodeB, total)
    await assertConverged(total)
    // No round ran (the timer is off): what the network didn't re-offer came through hole fill.
    const viaHoles = await counter(nodeA, 'runnel_storage_repair_messages_total', { source: 'hole' })
    assert.ok(viaHoles >= whileDown - 256 - 1, `${viaHoles} messages came through hole fill`)
    assert.equal(await counter(nodeA, 'runnel_storage_repair_rounds_total'), 0)
  })

  it('answers digests per bucket, and refuses a bad digests request with 400 naming the parameter', async () => {
    const base = `${historyOf(nodeA)}/streams/${encodeURIComponent(streamId)}/data/partitions/0/digests`
    const now = Date.now()
    const body = (await (await fetch(`${base}?fromTimestamp=0&toTimestamp=${now}&bucketMs=${now}`)).json()) as {
      bucketMs: number
      buckets: [number, number, number][]
    }
    assert.equal(body.bucketMs, now)
    assert.equal(body.buckets.length, 1)
    assert.equal(body.buckets[0]![1], (await heldMessages(historyOf(nodeA), streamId)).length)
    for (const [query, named] of [
      [`fromTimestamp=0&toTimestamp=${now}&bucketMs=0`, 'bucketMs'],
      [`fromTimestamp=0&toTimestamp=${now}&bucketMs=1`, 'buckets'],
      [`fromTimestamp=10&toTimestamp=5`, 'ends before it starts'],
      [`toTimestamp=5`, 'fromTimestamp'],
    ] as const) {
      const response = await fetch(`${base}?${query}`)
      assert.equal(response.status, 400, query)
      assert.match(await response.text(), new RegExp(named), query)
    }
  })

  describe('a peer that serves garbage or forged messages', () => {
    let fake: Server
    let fakeUrl: string
    let forgedStream: string
    let frames: Uint8Array[] = []
    /** Sent as is instead of `frames` when set. */
    let rawBody: Uint8Array | undefined
    let forgedAt: number
    const fakeAccount = 7

    before(async () => {
      // A stream only account 3 may publish to; its storage nodes are A and the fake.
      const owner = network.client(1)
      const stream = await owner.createStream('/forged')
      forgedStream = stream.id
      await owner.grantPermissions(forgedStream, 'public', 'subscribe')
      await owner.grantPermissions(forgedStream, publisher.address, 'publish')
      forgedAt = Date.now() - 60_000
      const keys = network.dev.chain.accountKeys
      const allowed = createNativeSigner(keys[3]!)
      const stranger = createNativeSigner(keys[9]!)
      const message = (signer: MessageSigner, timestamp: number, stream = forgedStream) =>
        signStreamMessage(
          {
            messageId: new MessageId(stream, 0, timestamp, 0, signer.address, 'forged'),
            contentType: ContentType.Json,
            content: encodeJsonContent({ forged: timestamp }),
          },
          signer,
        )
      const valid = await message(allowed, forgedAt)
      const tampered = new StreamMessage({ ...valid, content: encodeJsonContent({ forged: 'tampered' }) })
      const resigned = new StreamMessage({
        ...(await message(allowed, forgedAt + 1)),
        prevMsgRef: new MessageRef(forgedAt, 0),
      })
      frames = [
        randomBytes(40), // not a message
        encodeStreamMessage(tampered), // content changed after signing
        encodeStreamMessage(resigned), // prevMsgRef added after signing
        encodeStreamMessage(await message(stranger, forgedAt + 2)), // signed, by a publisher without permission
        encodeStreamMessage(await message(allowed, forgedAt + 3, streamId)), // another stream
        encodeStreamMessage(await message(allowed, forgedAt - 10 * 60_000)), // outside the range asked for
      ]
      fake = createServer((request, response) => {
        const url = new URL(request.url!, 'http://fake')
        if (url.pathname.endsWith('/digests')) {
          const from = Number(url.searchParams.get('fromTimestamp'))
          const bucketMs = Number(url.searchParams.get('bucketMs'))
          const start = from + Math.floor((forgedAt - from) / bucketMs) * bucketMs
          response.setHeader('content-type', 'application/json')
          response.end(JSON.stringify({ bucketMs, buckets: [[start, frames.length, 12345]] }))
          return
        }
        response.setHeader('content-type', 'application/vnd.runnel.messages')
        response.end(rawBody ?? Buffer.concat(frames.map((frame) => frameMessage(frame))))
      })
      await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve))
      fakeUrl = `http://127.0.0.1:${(fake.address() as { port: number }).port}`
      const registry = network.dev.registryFor(fakeAccount)
      await registry.registerStorageNode({ http: fakeUrl })
      await owner.addStreamToStorageNode(forgedStream, registry.account)
      await owner.addStreamToStorageNode(forgedStream, nodeA.client.address)
      await waitFor(() => nodeA.storage!.storedStreams.includes(forgedStream), 30_000, 'the assignment')
    })

    after(() => new Promise<void>((resolve) => fake.close(() => resolve())))

    it('refuses and counts every bad message, stores none, and counts a peer that sends a broken frame', async () => {
      const refusedBefore = await counter(nodeA, 'runnel_storage_repair_refused_total')
      const round = await nodeA.storage!.repair!.runRound()
      assert.equal(round.repaired, 0)
      assert.deepEqual(await heldMessages(historyOf(nodeA), forgedStream), [])
      const reasons = ['malformed', 'invalid-signature', 'no-publish-permission', 'wrong-stream-part', 'out-of-range']
      const counts: Record<string, number> = {}
      for (const reason of reasons) {
        counts[reason] = await counter(nodeA, 'runnel_storage_repair_refused_total', { reason })
      }
      assert.deepEqual(counts, {
        malformed: 1,
        'invalid-signature': 2,
        'no-publish-permission': 1,
        'wrong-stream-part': 1,
        'out-of-range': 1,
      })
      assert.equal((await counter(nodeA, 'runnel_storage_repair_refused_total')) - refusedBefore, 6)

      // A frame that claims more bytes than a message may have: the peer is cut off and counted, nothing stored.
      const failuresBefore = await counter(nodeA, 'runnel_storage_repair_peer_failures_total')
      rawBody = new Uint8Array(8)
      new DataView(rawBody.buffer).setUint32(0, 0xffffffff)
      const broken = await nodeA.storage!.repair!.runRound()
      assert.equal(broken.repaired, 0)
      assert.ok(broken.peerFailures >= 1)
      assert.ok((await counter(nodeA, 'runnel_storage_repair_peer_failures_total')) > failuresBefore)
      assert.deepEqual(await heldMessages(historyOf(nodeA), forgedStream), [])
    })
  })
})
