// Trackerless overlays beyond what the both-modes tests show: a network on the
// simulator's virtual time (forming with everyone joining at once, delivery,
// records of nodes that left lapsing), and forged entry-point records over
// real WebSockets.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { ManualClock, type StreamPartId } from '@runnel/protocol'
import { nativeSignatureVerifier } from '@runnel/protocol/native'
import { dhtKeyOfStreamPart as entryPointKey } from '../../src/dht/keys.js'
import { DEFAULT_ENTRY_POINT_TIMING, encodeEntryPoint, openEntryPoint } from '../../src/discovery/entryPoints.js'
import { NetworkNode, Simulator, SeededRandom, regionLatency, type NodeId } from '../../src/index.js'
import { seededSigner } from '../scale/scenario.js'
import { ChainPublisher, startDiscovery, startWebSocketNode, waitFor } from '../helpers.js'

const RTT_FILE = new URL('../data/region-rtt-ms.json', import.meta.url)
const NODE_COUNT = 50
const MAX_DEGREE = 8

function isConnected(nodes: NetworkNode[], streamPartId: StreamPartId): boolean {
  const adjacency = new Map<NodeId, NodeId[]>(nodes.map((node) => [node.nodeId, node.getNeighbors(streamPartId)]))
  const seen = new Set<NodeId>([nodes[0]!.nodeId])
  const queue = [nodes[0]!.nodeId]
  while (queue.length > 0) {
    for (const next of adjacency.get(queue.pop()!) ?? []) {
      if (adjacency.has(next) && !seen.has(next)) {
        seen.add(next)
        queue.push(next)
      }
    }
  }
  return seen.size === nodes.length
}

describe(`trackerless: ${NODE_COUNT} nodes joining at once on the simulator`, () => {
  it('form a connected overlay of bounded degree, deliver every message, and let records of leavers lapse', async () => {
    const random = new SeededRandom(15)
    const keys = random.fork('keys')
    const { rtt } = JSON.parse(readFileSync(RTT_FILE, 'utf8')) as { rtt: number[][] }
    const clock = new ManualClock(Date.UTC(2026, 0, 1))
    const simulator = new Simulator({ seed: 15, latency: regionLatency(rtt, { seed: 15, jitterMs: 2 }), clock })
    const transports = Array.from({ length: NODE_COUNT }, () => simulator.createTransport())
    // Three entry points to the DHT; each lists its own address too.
    const entryPoints = transports.slice(0, 3).map((transport) => transport.address)
    const nodeRandom = random.fork('nodes')
    const nodes = transports.map(
      (transport) =>
        new NetworkNode(
          {
            transport,
            signer: seededSigner(keys),
            verifier: nativeSignatureVerifier,
            clock,
            random: () => nodeRandom.nextFloat(),
          },
          { entryPoints, maxDegree: MAX_DEGREE },
        ),
    )
    const publisher = new ChainPublisher('/trackerless/sim', 0, seededSigner(keys), {
      now: () => Math.floor(clock.now()),
    })
    const streamPartId = publisher.streamPartId
    try {
      // Starting joins the DHT, which takes (virtual) round trips.
      let started = false
      const starting = Promise.all(nodes.map((node) => node.start())).then(() => (started = true))
      await simulator.runUntil(() => started, { timeoutMs: 30_000, description: 'every node started' })
      await starting
      await Promise.all(nodes.map((node) => node.join(streamPartId)))
      const formedMs = await simulator.runUntil(
        () => nodes.every((node) => node.getNeighbors(streamPartId).length >= 3) && isConnected(nodes, streamPartId),
        { timeoutMs: 60_000, pollMs: 10, description: 'a connected overlay, 3+ neighbours each' },
      )
      const degrees = nodes.map((node) => node.getNeighbors(streamPartId).length).sort((a, b) => a - b)
      console.log(`formed in ${Math.round(formedMs)} ms simulated; degrees ${degrees[0]}..${degrees.at(-1)}`)
      assert.ok(degrees.at(-1)! <= MAX_DEGREE)

      const received = nodes.map(() => new Set<number>())
      nodes.forEach((node, index) =>
        node.addMessageListener(streamPartId, (message) => {
          received[index]!.add(message.sequenceNumber + message.timestamp)
        }),
      )
      const sent: number[] = []
      for (let i = 0; i < 20; i++) {
        const message = await publisher.next({ i })
        sent.push(message.sequenceNumber + message.timestamp)
        nodes[i % NODE_COUNT]!.broadcast(message)
      }
      await simulator.runUntil(() => received.every((set) => set.size === sent.length), {
        timeoutMs: 30_000,
        pollMs: 10,
        description: 'every message at every node',
      })

      // Everyone joined at once, so everyone stored a record; within a refresh the surplus steps down, and
      // within a lifetime its records lapse.
      await simulator.runFor(DEFAULT_ENTRY_POINT_TIMING.ttlMs + DEFAULT_ENTRY_POINT_TIMING.refreshMs)
      const key = entryPointKey(streamPartId)
      const owners = async (node: NetworkNode): Promise<NodeId[]> => {
        let found: NodeId[] | undefined
        void node.dht!.findRecords(key).then((records) => (found = records.map((record) => record.owner)))
        await simulator.runUntil(() => found !== undefined, { timeoutMs: 30_000, description: 'a record lookup' })
        return found!
      }
      const before = await owners(nodes[NODE_COUNT - 1]!)
      assert.ok(
        before.length >= 1 && before.length <= DEFAULT_ENTRY_POINT_TIMING.target,
        `entry points: ${before.length}`,
      )

      // The holders leave (stop); after a record lifetime no record names them.
      const leavers = nodes.filter((node) => before.includes(node.nodeId) && node !== nodes.at(-1))
      for (const node of leavers) node.leave(streamPartId)
      await simulator.runFor(DEFAULT_ENTRY_POINT_TIMING.ttlMs + DEFAULT_ENTRY_POINT_TIMING.refreshMs)
      const after = await owners(nodes[NODE_COUNT - 1]!)
      assert.ok(
        after.every((owner) => !leavers.some((node) => node.nodeId === owner)),
        'no record of a node that left',
      )
      assert.ok(after.length >= 1, 'others took their place')
    } finally {
      await Promise.all(nodes.map((node) => node.stop()))
      simulator.stop()
    }
  })
})

describe('trackerless: forged entry-point records over WebSocket', () => {
  it('a record naming another node than its signer is refused, counted, and its node never asked', async () => {
    const discovery = await startDiscovery('dht')
    const publisher = new ChainPublisher('/trackerless/forged')
    const streamPartId = publisher.streamPartId
    const victim = await startWebSocketNode(discovery)
    const forger = await startWebSocketNode(discovery)
    const honest = await startWebSocketNode(discovery)
    const joiner = await startWebSocketNode(discovery)
    try {
      await honest.join(streamPartId, { orWhenSettled: true, minNeighbors: 1 })
      // The forger signs a record whose value is the victim's descriptor: "the victim is an entry point".
      const forged = encodeEntryPoint(victim.descriptor)
      assert.equal(openEntryPoint({ owner: forger.nodeId, value: forged, expiresAt: 0 }).refusal, 'owner-mismatch')
      assert.ok((await forger.dht!.storeRecord(entryPointKey(streamPartId), forged, 60_000)) >= 1)
      await joiner.join(streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(20_000) })
      assert.deepEqual(joiner.getNeighbors(streamPartId), [honest.nodeId])
      await waitFor(
        () => (joiner.getMetrics().discovery?.recordsRefused['owner-mismatch'] ?? 0) >= 1,
        10_000,
        'the forged record counted',
      )
      assert.deepEqual(victim.getNeighbors(streamPartId), [])
    } finally {
      await Promise.all([victim, forger, honest, joiner].map((node) => node.stop()))
      await discovery.stop()
    }
  })
})
