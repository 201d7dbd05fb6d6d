// The DHT over real WebSocket connections on 127.0.0.1: twenty nodes join
// through one entry point, store records and find each other's; a malicious
// peer (a bare connection manager driven by hand) sends malformed DHT
// messages, looks up garbage keys, answers every lookup with itself or with
// garbage, stores and serves forged records, and floods: each is refused and
// counted, no node crashes, and honest lookups stay correct. A light node
// uses the DHT without entering anyone's routing table.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { systemClock, type MessageSigner } from '@runnel/protocol'
import { ConnectionManager } from '../../src/connection/ConnectionManager.js'
import type { PeerConnection } from '../../src/connection/PeerConnection.js'
import type { DhtNodeOptions } from '../../src/dht/DhtNode.js'
import type { DhtRefusalKey } from '../../src/dht/dhtOptions.js'
import { compareDistance, dhtKeyOfStreamPart, nodeIdToKey } from '../../src/dht/keys.js'
import { recordToProto, signRecord } from '../../src/dht/records.js'
import type { ControlMessage } from '../../src/generated/runnel/network/v1/network_pb.js'
import { descriptorToProto } from '../../src/identity.js'
import { NETWORK_PROTOCOL_VERSION, silentLogger, type NodeDescriptor, type NodeId } from '../../src/index.js'
import { WebSocketTransport } from '../../src/node/index.js'
import { newSigner, recordingLogger, startTestDhtNode, verifier, type TestDhtNode } from '../helpers.js'

const NODE_COUNT = 20
const K = 8
const TEXT = new TextEncoder()

/** A DHT node of this suite: k = 8, at most 64 connections. */
function startDhtNode(
  entryPoints: string[],
  options: Partial<DhtNodeOptions> = {},
  logger = silentLogger,
  kind: 'full' | 'light' = 'full',
): Promise<TestDhtNode> {
  return startTestDhtNode(entryPoints, { options: { k: K, ...options }, logger, kind, maxConnections: 64 })
}

function closestIds(key: Uint8Array, ids: readonly NodeId[], count: number): NodeId[] {
  return [...ids].sort((a, b) => compareDistance(key, nodeIdToKey(a), nodeIdToKey(b))).slice(0, count)
}

function randomKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(20))
}

function refusedSum(nodes: readonly TestDhtNode[], reason: DhtRefusalKey): number {
  return nodes.reduce((sum, node) => sum + (node.dht.metrics.refused[reason] ?? 0), 0)
}

/**
 * A full node with an address that speaks the DHT's wire format by hand,
 * answering find-node requests in turn with only itself, too many
 * descriptors, a malformed descriptor and a light node's, and find-records
 * requests with a record forged in an honest node's name.
 */
class MaliciousPeer {
  readonly signer: MessageSigner = newSigner()
  readonly connections: ConnectionManager
  findNodeRequests = 0
  findRecordsRequests = 0
  storeAnswers: { stored: boolean; reason: string }[] = []
  victim: NodeId | undefined
  /** What find-records answers name as seekers: no one, too many, or a light node (never a valid seeker). */
  seekers: 'none' | 'too-many' | 'light' = 'none'
  /** Set: every find-node answer is this kind, instead of each in turn. */
  findNodeAnswer: (typeof this.answers)[number] | undefined
  private readonly answers = ['self', 'too-many', 'bad-descriptor', 'light'] as const

  constructor() {
    this.connections = new ConnectionManager({
      transport: new WebSocketTransport({ port: 0 }),
      signer: this.signer,
      verifier,
      clock: systemClock,
      events: {
        onPeerReady: () => undefined,
        onControl: (peer, message) => void this.handle(peer, message),
        onData: () => undefined,
        onPeerClosed: () => undefined,
      },
    })
  }

  get nodeId(): NodeId {
    return this.signer.address
  }

  async start(): Promise<void> {
    await this.connections.start((addresses) => ({
      nodeId: this.signer.address,
      kind: 'full',
      addresses,
      protocolVersion: NETWORK_PROTOCOL_VERSION,
    }))
  }

  private async handle(peer: PeerConnection, message: ControlMessage): Promise<void> {
    const self = descriptorToProto(this.connections.localDescriptor)
    const body = message.body
    if (body.case === 'dhtFindNodeRequest') {
      const kind = this.findNodeAnswer ?? this.answers[this.findNodeRequests++ % this.answers.length]!
      const closest =
        kind === 'self'
          ? [self]
          : kind === 'too-many'
            ? Array.from({ length: K + 4 }, () => self)
            : kind === 'bad-descriptor'
              ? [{ ...self, nodeId: new Uint8Array(3) }]
              : [descriptorToProto({ ...this.connections.localDescriptor, kind: 'light' })]
      peer.sendControl({ case: 'dhtFindNodeResponse', value: { requestId: body.value.requestId, closest } })
    } else if (body.case === 'dhtFindRecordsRequest') {
      this.findRecordsRequests++
      const forged = await this.forge(body.value.key, this.victim ?? peer.peerId)
      const seekers =
        this.seekers === 'too-many'
          ? Array.from({ length: 5 }, () => self)
          : this.seekers === 'light'
            ? [descriptorToProto({ ...this.connections.localDescriptor, kind: 'light' })]
            : []
      peer.sendControl({
        case: 'dhtFindRecordsResponse',
        value: { requestId: body.value.requestId, records: [forged], closest: [self], seekers },
      })
    } else if (body.case === 'dhtStoreResponse') {
      this.storeAnswers.push({ stored: body.value.stored, reason: body.value.reason })
    }
  }

  /** A record signed by this peer's key that claims `owner` owns it. */
  async forge(key: Uint8Array, owner: NodeId, value = TEXT.encode('forged')) {
    const record = await signRecord(this.signer, { key, value, expiresAt: Date.now() + 60_000, sequence: 1n })
    return { ...recordToProto(record), owner: nodeIdToKey(owner) }
  }
}

describe('DHT over WebSocket with a malicious peer', () => {
  const nodes: TestDhtNode[] = []
  const malicious = new MaliciousPeer()
  const { logger, entries } = recordingLogger()

  before(async () => {
    const first = await startDhtNode([], {}, logger)
    nodes.push(first)
    const entry = first.connections.localDescriptor.addresses[0]!
    await malicious.start()
    // The rest join through the first node (each also lists its own address, skipped), a few at a time.
    for (let index = 1; index < NODE_COUNT; index += 5) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(5, NODE_COUNT - index) }, () => startDhtNode([entry], {}, logger)),
      )
      nodes.push(...batch)
    }
    // The malicious peer connects to everyone: a handshake-proven full node, so it enters their routing tables.
    for (const node of nodes) {
      await malicious.connections.connect(node.connections.localDescriptor.addresses[0]!, node.nodeId)
    }
  })

  after(async () => {
    for (const node of nodes) {
      node.dht.stop()
      await node.connections.stop()
    }
    await malicious.connections.stop()
  })

  it('every node finds every other node’s record', async () => {
    const keys = nodes.map((_, index) => dhtKeyOfStreamPart(`0xabc/stream-${index}#0`))
    const stored = await Promise.all(
      nodes.map((node, index) => node.dht.storeRecord(keys[index]!, TEXT.encode(node.nodeId), 60_000)),
    )
    assert.ok(
      stored.every((count) => count >= K - 1),
      `stored at ${stored.join(', ')} nodes`,
    )
    await Promise.all(
      nodes.map(async (node, index) => {
        const other = (index + 7) % nodes.length
        const records = await node.dht.findRecords(keys[other]!)
        const honest = records.filter((record) => record.owner === nodes[other]!.nodeId)
        assert.equal(honest.length, 1, `node ${index} finds node ${other}'s record`)
        assert.equal(new TextDecoder().decode(honest[0]!.value), nodes[other]!.nodeId)
      }),
    )
  })

  it('refuses malformed requests, garbage keys and floods from a peer, counting each', async () => {
    const target = nodes[3]!
    const peer = malicious.connections.get(target.nodeId)!
    const before = target.dht.metrics.refused
    peer.sendControl({ case: 'dhtFindNodeRequest', value: { requestId: 1, key: new Uint8Array(5) } })
    peer.sendControl({ case: 'dhtFindRecordsRequest', value: { requestId: 2, key: new Uint8Array(33) } })
    peer.sendControl({ case: 'dhtFindRecordsRequest', value: { requestId: 3, key: new Uint8Array(0) } })
    peer.sendControl({ case: 'dhtStoreRequest', value: { requestId: 4 } })
    peer.sendControl({ case: 'dhtFindNodeResponse', value: { requestId: 987_654, closest: [] } })
    peer.sendControl({ case: 'dhtStoreResponse', value: { requestId: 987_655, stored: true, reason: '' } })
    await waitFor(() => (target.dht.metrics.refused['unknown-request'] ?? 0) >= (before['unknown-request'] ?? 0) + 2)
    const after = target.dht.metrics.refused
    assert.equal((after['bad-key'] ?? 0) - (before['bad-key'] ?? 0), 3, 'three garbage keys')
    assert.equal((after['record-bad-key'] ?? 0) - (before['record-bad-key'] ?? 0), 1, 'a store without a record')
    // A flood of lookups: past the per-peer rate, requests are refused, not served.
    for (let index = 0; index < 300; index++) {
      peer.sendControl({ case: 'dhtFindNodeRequest', value: { requestId: 10 + index, key: randomKey() } })
    }
    await waitFor(() => (target.dht.metrics.refused['rate-limited'] ?? 0) > 0)
    assert.ok(target.connections.get(malicious.nodeId)?.isReady, 'refused, not disconnected: nothing crashed')
    assert.ok(entries.some((entry) => entry.level === 'debug' && entry.message === 'refused a DHT message'))
  })

  it('refuses forged, oversized and expired records on store', async () => {
    const target = nodes[5]!
    const victim = nodes[6]!
    const peer = malicious.connections.get(target.nodeId)!
    const key = dhtKeyOfStreamPart('0xabc/forged#0')
    const forged = await malicious.forge(key, victim.nodeId)
    const garbled = { ...(await malicious.forge(key, malicious.nodeId)), signature: new Uint8Array(65).fill(1) }
    const oversized = await malicious.forge(key, malicious.nodeId, new Uint8Array(1025))
    const expired = { ...(await malicious.forge(key, malicious.nodeId)), expiresAt: 1n }
    const answered = malicious.storeAnswers.length
    const mismatchesBefore = target.dht.metrics.refused['record-owner-mismatch'] ?? 0
    for (const [index, record] of [forged, garbled, oversized, expired].entries()) {
      peer.sendControl({ case: 'dhtStoreRequest', value: { requestId: 100 + index, record } })
    }
    await waitFor(() => malicious.storeAnswers.length === answered + 4)
    const answers = malicious.storeAnswers.slice(answered)
    assert.ok(answers.every((answer) => !answer.stored))
    assert.deepEqual(answers.map((answer) => answer.reason).sort(), [
      'bad-signature',
      'expired',
      'oversized',
      'owner-mismatch',
    ])
    assert.equal(target.dht.metrics.refused['record-owner-mismatch'], mismatchesBefore + 1)
    assert.deepEqual(await target.dht.findRecords(key), [], 'nothing forged is found')
  })

  it('keeps honest lookups exact while the peer answers with itself, garbage and forged records', async () => {
    const honestIds = nodes.map((node) => node.nodeId)
    let checked = 0
    // Keys near the malicious peer's id make honest nodes ask it; random keys the rest.
    const maliciousKey = nodeIdToKey(malicious.nodeId)
    const keys = [
      ...Array.from({ length: 6 }, (_, index) => {
        const key = maliciousKey.slice()
        key[19] = (key[19]! + index + 1) & 0xff
        return key
      }),
      ...Array.from({ length: 14 }, () => randomKey()),
    ]
    for (const [index, key] of keys.entries()) {
      const node = nodes[index % nodes.length]!
      const found = (await node.dht.findClosest(key)).map((descriptor: NodeDescriptor) => descriptor.nodeId)
      const honestFound = found.filter((id) => id !== malicious.nodeId)
      // The peer is a real node: it may be among the closest. Every honest node closest to the key is found.
      assert.deepEqual(honestFound, closestIds(key, honestIds, honestFound.length), `lookup ${index}`)
      assert.ok(honestFound.length >= K - 1, `lookup ${index} found ${honestFound.length}`)
      checked++
    }
    assert.equal(checked, keys.length)
    assert.ok(malicious.findNodeRequests > 0, 'honest lookups asked the malicious peer')
    for (const reason of ['too-many-descriptors', 'bad-descriptor'] as const) {
      assert.ok(refusedSum(nodes, reason) > 0, `${reason} counted`)
    }
    // Finding records near it: its forged record is refused, the honest one still found.
    malicious.victim = nodes[0]!.nodeId
    const key = maliciousKey.slice()
    key[19] = key[19]! ^ 1
    assert.ok((await nodes[1]!.dht.storeRecord(key, TEXT.encode('honest'), 60_000)) >= K - 1)
    const records = await nodes[2]!.dht.findRecords(key)
    assert.deepEqual(
      records.map((record) => record.owner),
      [nodes[1]!.nodeId],
    )
    assert.ok(malicious.findRecordsRequests > 0)
    assert.ok(refusedSum(nodes, 'record-owner-mismatch') > 0)
  })

  it('names a key’s earlier seekers to later askers, never a light node or a lookup that did not seek', async () => {
    const key = randomKey()
    const seeking = async (node: TestDhtNode): Promise<Set<NodeId>> => {
      const named = new Set<NodeId>()
      await node.dht.findRecords(key, undefined, {
        onSeekers: (seekers) => seekers.forEach((s) => named.add(s.nodeId)),
      })
      return named
    }
    const light = await startDhtNode([nodes[0]!.connections.localDescriptor.addresses[0]!], {}, silentLogger, 'light')
    try {
      assert.deepEqual([...(await seeking(nodes[7]!))], [], 'the first to seek finds no one')
      await seeking(light)
      await nodes[12]!.dht.findRecords(key) // not seeking
      const named = await seeking(nodes[11]!)
      assert.ok(named.has(nodes[7]!.nodeId), 'the earlier seeker is named')
      for (const absent of [light.nodeId, nodes[12]!.nodeId, nodes[11]!.nodeId]) {
        assert.ok(!named.has(absent), `${absent} is not named`)
      }
      assert.deepEqual(
        [...(await seeking(light))].sort(),
        [nodes[7]!.nodeId, nodes[11]!.nodeId].sort(),
        'a light node is told',
      )
    } finally {
      light.dht.stop()
      await light.connections.stop()
    }
  })

  it('refuses an answer naming too many seekers or a light node as one, counting it', async () => {
    // For each, a new node whose only contact is the malicious peer (answering find-node with itself, so it stays
    // one) asks it: a refused answer drops it from the table.
    malicious.findNodeAnswer = 'self'
    try {
      for (const [mode, reason] of [
        ['too-many', 'too-many-descriptors'],
        ['light', 'bad-descriptor'],
      ] as const) {
        malicious.seekers = mode
        const asker = await startDhtNode([malicious.connections.localDescriptor.addresses[0]!])
        try {
          const named: NodeId[] = []
          await asker.dht.findRecords(randomKey(), undefined, {
            onSeekers: (seekers) => named.push(...seekers.map((seeker) => seeker.nodeId)),
          })
          assert.equal(asker.dht.metrics.refused[reason], 1, `${mode}: counted as ${reason}`)
          assert.deepEqual(named, [], `${mode}: nothing the refused answer named is used`)
        } finally {
          asker.dht.stop()
          await asker.connections.stop()
        }
      }
    } finally {
      malicious.seekers = 'none'
      malicious.findNodeAnswer = undefined
    }
  })

  it('lets a light node look up and find records, but never into a routing table, and it stores nothing', async () => {
    const light = await startDhtNode([nodes[0]!.connections.localDescriptor.addresses[0]!], {}, silentLogger, 'light')
    try {
      assert.ok(light.dht.joined)
      const key = randomKey()
      const found = (await light.dht.findClosest(key)).map((descriptor) => descriptor.nodeId)
      const honestFound = found.filter((id) => id !== malicious.nodeId)
      assert.deepEqual(
        honestFound,
        closestIds(
          key,
          nodes.map((node) => node.nodeId),
          honestFound.length,
        ),
      )
      assert.ok(!found.includes(light.nodeId), 'a light node is never among the closest, not even to itself')
      assert.ok((await light.dht.storeRecord(key, TEXT.encode('from a light node'), 60_000)) >= K - 1)
      assert.equal((await nodes[4]!.dht.findRecords(key)).filter((r) => r.owner === light.nodeId).length, 1)
      assert.equal(light.dht.metrics.records, 0)
      for (const node of nodes) {
        assert.ok(!node.dht.contacts().some((contact) => contact.nodeId === light.nodeId), 'in no routing table')
      }
    } finally {
      light.dht.stop()
      await light.connections.stop()
    }
  })

  it('caps contacts per subnet per bucket when loopback is not exempt', async () => {
    const capped = await startDhtNode([nodes[0]!.connections.localDescriptor.addresses[0]!], {
      exemptLoopback: false,
      maxPerSubnetPerBucket: 1,
    })
    try {
      for (const node of nodes) {
        await capped.connections.connect(node.connections.localDescriptor.addresses[0]!, node.nodeId)
      }
      assert.ok(
        capped.dht.bucketSizes().every((size) => size <= 1),
        'one 127.0.0.0/24 contact per bucket',
      )
      assert.ok(capped.dht.metrics.subnetCapped > 0)
      assert.ok(capped.dht.metrics.routingTableSize < nodes.length)
    } finally {
      capped.dht.stop()
      await capped.connections.stop()
    }
  })
})

describe('a DHT node restarted while its entry point is down', () => {
  it('rejoins through the peers it knew and finds records; knowing none, it stays alone', async () => {
    const entry = await startDhtNode([])
    const entryAddress = entry.connections.localDescriptor.addresses[0]!
    const others = await Promise.all(Array.from({ length: 5 }, () => startDhtNode([entryAddress])))
    const running: TestDhtNode[] = [entry, ...others]
    const stop = async (node: TestDhtNode): Promise<void> => {
      node.dht.stop()
      await node.connections.stop()
    }
    try {
      const key = dhtKeyOfStreamPart('0xabc/known-peers#0')
      assert.ok((await others[0]!.dht.storeRecord(key, TEXT.encode('still here'), 60_000)) > 0)
      const leaving = others[4]!
      const known = leaving.dht.knownPeers()
      const addressesOf = (nodes: TestDhtNode[]): string[] =>
        nodes.map((node) => node.connections.localDescriptor.addresses[0]!)
      assert.deepEqual([...known].sort(), addressesOf([entry, ...others.slice(0, 4)]).sort(), 'every contact, once')
      assert.equal(leaving.dht.knownPeers(2).length, 2)
      running.splice(running.indexOf(leaving), 1)
      await stop(leaving)
      running.splice(running.indexOf(entry), 1)
      await stop(entry)

      const alone = await startDhtNode([entryAddress])
      running.push(alone)
      assert.equal(alone.dht.joined, false)
      assert.equal(alone.dht.metrics.routingTableSize, 0)

      const restarted = await startDhtNode([entryAddress], { knownPeers: known })
      running.push(restarted)
      assert.equal(restarted.dht.joined, true, 'joined through a known peer')
      const records = await restarted.dht.findRecords(key)
      assert.deepEqual(
        records.map((record) => [record.owner, new TextDecoder().decode(record.value)]),
        [[others[0]!.nodeId, 'still here']],
      )
    } finally {
      await Promise.all(running.map(stop))
    }
  })

  it('refuses known peers that are not a list of addresses', async () => {
    await assert.rejects(
      startDhtNode([], { knownPeers: 'ws://127.0.0.1:1' as unknown as string[] }),
      /knownPeers must be a list of transport addresses/,
    )
  })
})

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
