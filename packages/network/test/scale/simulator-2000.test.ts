// 2,000 nodes in one process on the simulator transport, with inter-region
// link latencies measured between cloud regions. Prints the hop-count
// distribution and the overlay's diameter.
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import type { StreamPartId } from '@runnel/protocol'
import { NetworkNode, Simulator, TrackerServer, constantLatency, regionLatency, type NodeId } from '../../src/index.js'
import { SeededRandom } from '../../src/transport/simulator/random.js'
import { ChainPublisher, newSigner, verifier, waitFor } from '../helpers.js'

const NODE_COUNT = Number(process.env.RUNNEL_SIM_NODES ?? 2_000)
const MESSAGES = 20
const RTT_FILE = new URL('../../../../../shared/data/region-rtt-ms.json', import.meta.url)

function latencyModel(): ReturnType<typeof constantLatency> {
  if (!existsSync(RTT_FILE)) return constantLatency(20)
  const { rtt } = JSON.parse(readFileSync(RTT_FILE, 'utf8')) as { rtt: number[][] }
  return regionLatency(rtt, { seed: 7, jitterMs: 2 })
}

describe(`${NODE_COUNT} nodes on the simulator`, () => {
  const simulator = new Simulator({ seed: 42, latency: latencyModel() })
  const random = new SeededRandom(42)
  let tracker: TrackerServer
  const nodes: NetworkNode[] = []
  const publisher = new ChainPublisher('/simulated')
  const streamPartId: StreamPartId = publisher.streamPartId

  before(async () => {
    tracker = new TrackerServer(
      { transport: simulator.createTransport(), signer: newSigner(), verifier, random: () => random.nextFloat() },
      {},
    )
    const [trackerAddress] = await tracker.start()
    for (let i = 0; i < NODE_COUNT; i++) {
      const node = new NetworkNode(
        { transport: simulator.createTransport(), signer: newSigner(), verifier },
        { trackers: [trackerAddress!] },
      )
      await node.start()
      nodes.push(node)
    }
    await Promise.all(nodes.map((node) => node.join(streamPartId)))
    const started = Date.now()
    const progress = setInterval(() => {
      const degrees = nodes.map((node) => node.getNeighbors(streamPartId).length)
      const low = degrees.filter((d) => d < 3).length
      console.log(
        `formation ${Date.now() - started} ms: ${low} nodes below 3 neighbours; histogram ${JSON.stringify(degrees.reduce<Record<number, number>>((h, d) => ((h[d] = (h[d] ?? 0) + 1), h), {}))}`,
      )
    }, 10_000)
    await waitFor(
      () => nodes.every((node) => node.getNeighbors(streamPartId).length >= 3),
      240_000,
      'every node to have 3+ neighbours',
    ).finally(() => clearInterval(progress))
  })

  after(async () => {
    await Promise.all(nodes.map((node) => node.stop()))
    await tracker.stop()
    simulator.stop()
  })

  it('delivers every message to every node and reports hop counts', async () => {
    const firstSender = nodes.map(() => new Map<string, NodeId | undefined>())
    nodes.forEach((node, i) =>
      node.addMessageListener(streamPartId, (message, { senderId }) => {
        firstSender[i]!.set(`${message.timestamp}/${message.sequenceNumber}`, senderId)
      }),
    )
    const origin = nodes[0]!
    const keys: string[] = []
    for (let i = 0; i < MESSAGES; i++) {
      const message = await publisher.next({ i })
      keys.push(`${message.timestamp}/${message.sequenceNumber}`)
      origin.broadcast(message)
    }
    await waitFor(() => firstSender.every((map) => map.size === MESSAGES), 240_000, 'delivery to every node')

    // Hops of each delivery: follow the first-arrival senders back to the publisher.
    const indexOf = new Map(nodes.map((node, i) => [node.nodeId, i]))
    const histogram = new Map<number, number>()
    for (const key of keys) {
      const hops = new Map<number, number>([[0, 0]])
      const hopsOf = (i: number): number => {
        const known = hops.get(i)
        if (known !== undefined) return known
        const sender = firstSender[i]!.get(key)
        const value = hopsOf(indexOf.get(sender!)!) + 1
        hops.set(i, value)
        return value
      }
      for (let i = 1; i < nodes.length; i++) {
        const h = hopsOf(i)
        histogram.set(h, (histogram.get(h) ?? 0) + 1)
      }
    }
    const diameter = overlayDiameter(nodes, streamPartId)
    const lines = [...histogram.entries()].sort(([a], [b]) => a - b).map(([h, n]) => `  ${h} hops: ${n}`)
    console.log(
      `hop-count distribution over ${MESSAGES} messages × ${NODE_COUNT - 1} subscribers:\n${lines.join('\n')}`,
    )
    console.log(`overlay diameter: ${diameter} hops; mean degree ${meanDegree(nodes, streamPartId).toFixed(2)}`)
    console.log(`simulator: ${JSON.stringify(simulator.stats)}`)
    const total = [...histogram.values()].reduce((a, b) => a + b, 0)
    assert.equal(total, MESSAGES * (NODE_COUNT - 1), '100% delivery')
    assert.ok(diameter <= 2 * Math.ceil(Math.log(NODE_COUNT) / Math.log(3)), `diameter ${diameter} near log(N)`)
    const metrics = nodes.map((node) => node.getMetrics())
    assert.equal(
      metrics.reduce((sum, m) => sum + m.invalidSignatures + m.invalidMessages, 0),
      0,
    )
  })
})

function meanDegree(nodes: NetworkNode[], streamPartId: StreamPartId): number {
  return nodes.reduce((sum, node) => sum + node.getNeighbors(streamPartId).length, 0) / nodes.length
}

/** Longest shortest path between two nodes of the overlay (BFS from every node). */
function overlayDiameter(nodes: NetworkNode[], streamPartId: StreamPartId): number {
  const adjacency = new Map(nodes.map((node) => [node.nodeId, node.getNeighbors(streamPartId)]))
  let diameter = 0
  for (const start of adjacency.keys()) {
    const distance = new Map<NodeId, number>([[start, 0]])
    const queue = [start]
    for (let head = 0; head < queue.length; head++) {
      const id = queue[head]!
      for (const next of adjacency.get(id) ?? []) {
        if (!distance.has(next)) {
          distance.set(next, distance.get(id)! + 1)
          queue.push(next)
        }
      }
    }
    for (const d of distance.values()) diameter = Math.max(diameter, d)
  }
  return diameter
}
