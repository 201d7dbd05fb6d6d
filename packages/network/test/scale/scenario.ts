// A whole network on the simulator's virtual time: one tracker, N full nodes
// that all join one stream part at the same instant, one publisher. Every
// random choice comes from the seed (node keys, the tracker's picks, the
// publisher's key and chain id, the latency layout), and time only moves when
// the process is idle, so one seed gives one run on any machine. Shared by the
// CI-sized test and `npm run scale -w @runnel/network`.
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { ManualClock, type MessageSigner, type StreamMessage, type StreamPartId } from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import {
  NetworkNode,
  SeededRandom,
  Simulator,
  TrackerServer,
  regionLatency,
  type LatencyModel,
  type NodeId,
  type SimulatorStats,
} from '../../src/index.js'
import { ChainPublisher } from '../helpers.js'

/** Measured round trips between cloud regions (test/data/README.md). */
const RTT_FILE = new URL('../data/region-rtt-ms.json', import.meta.url)
/** Virtual time the scenario starts at: a plausible wall-clock date, so message timestamps look real. */
const EPOCH_MS = Date.UTC(2026, 0, 1)

export interface ScenarioOptions {
  readonly nodes: number
  readonly seed: number
  /** Messages published once the overlay has formed. Default 20. */
  readonly messages?: number
  /** Every node must reach this many neighbours. Default 3. */
  readonly minNeighbors?: number
  /** Virtual time allowed for forming and for delivery, each. Default 120 s. */
  readonly timeoutMs?: number
  /** Virtual time run after delivery, to show the overlay stays up (pings, idle checks). Default 30 s. */
  readonly holdMs?: number
}

export interface ScenarioResult {
  readonly nodes: number
  readonly latencyModel: string
  /** Neighbour counts after forming: least, median, most. */
  readonly neighbors: { min: number; median: number; max: number }
  /** The same after the hold. */
  readonly neighborsAfterHold: { min: number; median: number; max: number }
  /** Virtual ms from everyone joining until every node had `minNeighbors`. */
  readonly formedMs: number
  /** Virtual ms from the first publish until every node had every message. */
  readonly deliveredMs: number
  /** Deliveries made over deliveries expected (messages × subscribers). */
  readonly delivery: number
  /** How many hops each delivery took from the publisher, over all messages: hops → count. */
  readonly hops: ReadonlyMap<number, number>
  /** Connections closed because their handshake failed (timed out or was refused). */
  readonly failedHandshakes: number
  /** Messages any node found invalid (bad signature or encoding): 0 in an honest network. */
  readonly invalidMessages: number
  /** Longest shortest path between two nodes of the overlay, after forming. */
  readonly diameter: number
  readonly simulatedMs: number
  /** Wall ms of the simulated part: from the joins to the end of the hold (keys, setup and measuring excluded). */
  readonly wallMs: number
  /** Wall ms of forming alone (the joins until every node had its neighbours), and of delivering alone. */
  readonly formedWallMs: number
  readonly deliveredWallMs: number
  readonly simulator: SimulatorStats
}

/** Link delays from the measured region round trips, with a little jitter. */
function latencyFor(seed: number): { model: LatencyModel; name: string } {
  const { rtt } = JSON.parse(readFileSync(RTT_FILE, 'utf8')) as { rtt: number[][] }
  return { model: regionLatency(rtt, { seed, jitterMs: 2 }), name: `${rtt.length} cloud regions, 2 ms jitter` }
}

/** A signer whose key comes from `random`: the same stream gives the same identities. */
export function seededSigner(random: SeededRandom): MessageSigner {
  for (;;) {
    const key = new Uint8Array(32)
    const view = new DataView(key.buffer)
    for (let offset = 0; offset < 32; offset += 4) view.setUint32(offset, random.nextUint32())
    try {
      return createNativeSigner(key)
    } catch {
      // Zero or beyond the curve order (odds ~2^-128): draw again.
    }
  }
}

function summary(counts: number[]): { min: number; median: number; max: number } {
  const sorted = [...counts].sort((a, b) => a - b)
  return { min: sorted[0] ?? 0, median: sorted[Math.floor(sorted.length / 2)] ?? 0, max: sorted.at(-1) ?? 0 }
}

/** Runs the scenario; throws (NetworkError TIMEOUT) if the overlay doesn't form or deliver in time. */
export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const { nodes: nodeCount, seed } = options
  const messageCount = options.messages ?? 20
  const minNeighbors = options.minNeighbors ?? 3
  const timeoutMs = options.timeoutMs ?? 120_000
  const holdMs = options.holdMs ?? 30_000
  const random = new SeededRandom(seed)
  const keys = random.fork('keys')
  const trackerRandom = random.fork('tracker')
  const latency = latencyFor(seed)
  const clock = new ManualClock(EPOCH_MS)
  const simulator = new Simulator({ seed, latency: latency.model, clock })
  const verifier = nativeSignatureVerifier
  const tracker = new TrackerServer(
    {
      transport: simulator.createTransport(),
      signer: seededSigner(keys),
      verifier,
      clock,
      random: () => trackerRandom.nextFloat(),
    },
    {},
  )
  const [trackerAddress] = await tracker.start()
  const nodes = Array.from(
    { length: nodeCount },
    () =>
      new NetworkNode(
        { transport: simulator.createTransport(), signer: seededSigner(keys), verifier, clock },
        { trackers: [trackerAddress!] },
      ),
  )
  const publisher = new ChainPublisher('/simulated', 0, undefined, {
    signer: seededSigner(keys),
    chainId: `chain-${random.fork('chain').nextUint32().toString(36)}`,
    now: () => clock.now(),
  })
  const streamPartId = publisher.streamPartId
  const degrees = (): number[] => nodes.map((node) => node.getNeighbors(streamPartId).length)
  const wallStart = performance.now()
  try {
    // All at once: every node starts and joins at the same virtual instant.
    await Promise.all(nodes.map((node) => node.start()))
    await Promise.all(nodes.map((node) => node.join(streamPartId)))
    const formedMs = await simulator.runUntil(() => degrees().every((degree) => degree >= minNeighbors), {
      timeoutMs,
      pollMs: 10,
      description: `every node to have ${minNeighbors} neighbours`,
    })
    const formedWallMs = performance.now() - wallStart
    const neighbors = summary(degrees())
    const measuring = performance.now()
    const diameter = overlayDiameter(nodes, streamPartId)
    const measuredMs = performance.now() - measuring

    const firstSender = nodes.map(() => new Map<string, NodeId | undefined>())
    nodes.forEach((node, index) =>
      node.addMessageListener(streamPartId, (message, { senderId }) => {
        firstSender[index]!.set(keyOf(message), senderId)
      }),
    )
    const messageKeys: string[] = []
    const publishing = performance.now()
    for (let index = 0; index < messageCount; index++) {
      const message = await publisher.next({ index })
      messageKeys.push(keyOf(message))
      nodes[0]!.broadcast(message)
    }
    const deliveredMs = await simulator.runUntil(() => firstSender.every((seen) => seen.size === messageCount), {
      timeoutMs,
      pollMs: 10,
      description: 'every message at every node',
    })
    const deliveredWallMs = performance.now() - publishing
    await simulator.runFor(holdMs)
    const neighborsAfterHold = summary(degrees())
    const wallEnd = performance.now()

    const hops = hopHistogram(nodes, firstSender, messageKeys)
    const delivered = [...hops.values()].reduce((sum, count) => sum + count, 0)
    const failedHandshakes = nodes.reduce(
      (sum, node) => sum + (node.getMetrics().disconnects['handshake-failed'] ?? 0),
      0,
    )
    const invalidMessages = nodes.reduce(
      (sum, node) => sum + node.getMetrics().invalidSignatures + node.getMetrics().invalidMessages,
      0,
    )
    return {
      nodes: nodeCount,
      invalidMessages,
      diameter,
      latencyModel: latency.name,
      neighbors,
      neighborsAfterHold,
      formedMs,
      deliveredMs,
      delivery: delivered / (messageCount * (nodeCount - 1)),
      hops,
      failedHandshakes,
      simulatedMs: clock.now() - EPOCH_MS,
      wallMs: wallEnd - wallStart - measuredMs,
      formedWallMs,
      deliveredWallMs,
      simulator: simulator.stats,
    }
  } finally {
    await Promise.all(nodes.map((node) => node.stop()))
    await tracker.stop()
    simulator.stop()
  }
}

function keyOf(message: StreamMessage): string {
  return `${message.timestamp}/${message.sequenceNumber}`
}

/** Hops of each delivery: follow the first-arrival senders back to the publisher (node 0). */
function hopHistogram(
  nodes: NetworkNode[],
  firstSender: Map<string, NodeId | undefined>[],
  messageKeys: string[],
): Map<number, number> {
  const indexOf = new Map(nodes.map((node, index) => [node.nodeId, index]))
  const histogram = new Map<number, number>()
  for (const key of messageKeys) {
    const hops = new Map<number, number>([[0, 0]])
    const hopsOf = (index: number): number => {
      const known = hops.get(index)
      if (known !== undefined) return known
      const sender = firstSender[index]!.get(key)
      const senderIndex = sender === undefined ? undefined : indexOf.get(sender)
      // Not delivered, or from outside the simulation: counted apart as -1, never as a hop count.
      const value = senderIndex === undefined ? -1 : hopsOf(senderIndex) + 1
      hops.set(index, value === 0 ? -1 : value)
      return hops.get(index)!
    }
    for (let index = 1; index < nodes.length; index++) {
      const count = hopsOf(index)
      if (count > 0) histogram.set(count, (histogram.get(count) ?? 0) + 1)
    }
  }
  return new Map([...histogram.entries()].sort(([a], [b]) => a - b))
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

/** The result as the lines the scale run prints. */
export function describeResult(result: ScenarioResult): string[] {
  const hops = [...result.hops.entries()].map(([hops, count]) => `${hops}:${count}`).join(' ')
  const fmt = ({ min, median, max }: { min: number; median: number; max: number }): string =>
    `min ${min}, median ${median}, max ${max}`
  return [
    `nodes ${result.nodes} (all joining at once), latency: ${result.latencyModel}`,
    `neighbours after forming: ${fmt(result.neighbors)}; after the hold: ${fmt(result.neighborsAfterHold)}`,
    `formed in ${seconds(result.formedMs)} s simulated (${seconds(result.formedWallMs)} s wall); delivered in ${seconds(result.deliveredMs)} s simulated (${seconds(result.deliveredWallMs)} s wall)`,
    `delivery ${(result.delivery * 100).toFixed(2)}%; failed handshakes ${result.failedHandshakes}; invalid messages ${result.invalidMessages}; overlay diameter ${result.diameter} hops`,
    `hop histogram (hops:deliveries) ${hops}`,
    `whole run (forming, delivering, ${seconds(result.simulatedMs - result.formedMs - result.deliveredMs)} s more): simulated ${seconds(result.simulatedMs)} s in ${seconds(result.wallMs)} s wall (${(result.simulatedMs / result.wallMs).toFixed(2)}× real time)`,
    `frames ${result.simulator.framesSent}, bytes ${result.simulator.bytesSent}`,
  ]
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(2)
}
