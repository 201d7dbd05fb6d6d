// Many stream parts on the simulator's virtual time: N nodes, S stream parts whose popularity follows Zipf's law
// (the stream of rank r is picked with weight 1/r^s), each node joining a few (uniform in 1..maxPerNode, drawn by
// popularity without repeats). One subscriber of each stream part publishes. Measured: delivery, and per node what
// it carried against how many stream parts it joined (a node should carry its own streams' traffic and nothing
// else), its connections and neighbours. `npm run scale -w @runnel/network -- --scenario streams`.
import { performance } from 'node:perf_hooks'
import { ManualClock, type StreamPartId } from '@runnel/protocol'
import { nativeSignatureVerifier } from '@runnel/protocol/native'
import {
  NetworkNode,
  SeededRandom,
  Simulator,
  type NetworkNodeOptions,
  type SimulatorTransport,
} from '../../src/index.js'
import { ChainPublisher } from '../helpers.js'
import { EPOCH_MS, heapAfterGc, latencyFor, seededSigner, sharedRecoveries, startSimulatedTracker } from './scenario.js'

export interface StreamsOptions {
  readonly nodes: number
  readonly seed: number
  readonly discovery?: 'tracker' | 'dht'
  /** Stream parts. Default 1,000. */
  readonly streamParts?: number
  /** Zipf exponent. Default 1. */
  readonly zipf?: number
  /** Each node joins 1..maxPerNode stream parts, uniformly. Default 5. */
  readonly maxPerNode?: number
  /** Messages each stream part's publisher sends once the overlays have formed. Default 3. */
  readonly messages?: number
  readonly minNeighbors?: number
  readonly timeoutMs?: number
}

/** Figures of the nodes that joined `streams` stream parts. */
export interface PerStreamCount {
  readonly streams: number
  readonly nodes: number
  /** Means per node: messages delivered to it, data frames it received (copies included), sent, neighbours (summed over its stream parts), connections. */
  readonly delivered: number
  readonly framesIn: number
  readonly framesOut: number
  readonly neighbors: number
  readonly connections: number
}

export interface StreamsResult {
  readonly nodes: number
  readonly discovery: 'tracker' | 'dht'
  readonly streamParts: number
  /** Stream parts with at least one subscriber (the others have no one to publish). */
  readonly usedStreamParts: number
  /** Subscribers of the most popular stream part, the median one's, and how many stream parts have only 1. */
  readonly largest: number
  readonly median: number
  readonly singletons: number
  readonly formedMs: number
  readonly deliveredMs: number
  readonly delivery: number
  /** Data frames for stream parts a node hadn't joined, summed (0: nobody carries others' traffic). */
  readonly unexpectedMessages: number
  readonly byStreamCount: readonly PerStreamCount[]
  readonly connections: { readonly mean: number; readonly max: number }
  readonly heapPerNodeBytes: number | undefined
  readonly wallMs: number
}

/** `count` picks from ranks 0..n-1 with weight 1/(rank+1)^s, without repeats. */
function zipfPicks(random: SeededRandom, cumulative: Float64Array, count: number): number[] {
  const total = cumulative[cumulative.length - 1]!
  const picked = new Set<number>()
  while (picked.size < count) {
    const target = random.nextFloat() * total
    let low = 0
    let high = cumulative.length - 1
    while (low < high) {
      const middle = (low + high) >> 1
      if (cumulative[middle]! > target) high = middle
      else low = middle + 1
    }
    picked.add(low)
  }
  return [...picked]
}

export async function runStreamsScenario(options: StreamsOptions): Promise<StreamsResult> {
  const { nodes: nodeCount, seed } = options
  const discovery = options.discovery ?? 'tracker'
  const streamCount = options.streamParts ?? 1_000
  const maxPerNode = options.maxPerNode ?? 5
  const messageCount = options.messages ?? 3
  const minNeighbors = options.minNeighbors ?? 3
  const timeoutMs = options.timeoutMs ?? 180_000
  const baseline = heapAfterGc()
  const random = new SeededRandom(seed)
  const keys = random.fork('keys')
  const picks = random.fork('streams')
  const clock = new ManualClock(EPOCH_MS)
  const simulator = new Simulator({ seed, latency: latencyFor(seed).model, clock })
  const verifier = sharedRecoveries(nativeSignatureVerifier)
  const trackerRandom = random.fork('tracker')
  const started =
    discovery === 'tracker'
      ? await startSimulatedTracker(simulator.createTransport(), seededSigner(keys), verifier, clock, trackerRandom)
      : undefined
  const tracker = started?.tracker
  const trackerAddress = started?.address
  const transports: SimulatorTransport[] = Array.from({ length: nodeCount }, () => simulator.createTransport())
  const entryPoints = transports.slice(0, 3).map((transport) => transport.address)
  const nodeOptions: NetworkNodeOptions =
    discovery === 'tracker' ? { trackers: [trackerAddress!] } : { discovery: 'dht', entryPoints }
  const discoveryRandom = random.fork('discovery')
  const nodes = transports.map(
    (transport) =>
      new NetworkNode(
        { transport, signer: seededSigner(keys), verifier, clock, random: () => discoveryRandom.nextFloat() },
        nodeOptions,
      ),
  )
  const owner = seededSigner(keys)
  const publishers = Array.from(
    { length: streamCount },
    (_, index) =>
      new ChainPublisher(`/zipf/${index}`, 0, owner, {
        signer: owner,
        chainId: `chain-${index}`,
        now: () => clock.now(),
      }),
  )
  const cumulative = new Float64Array(streamCount)
  for (let rank = 0, sum = 0; rank < streamCount; rank++) {
    sum += 1 / (rank + 1) ** (options.zipf ?? 1)
    cumulative[rank] = sum
  }
  const joined: number[][] = nodes.map(() =>
    zipfPicks(picks, cumulative, Math.min(streamCount, 1 + (picks.nextUint32() % maxPerNode))),
  )
  const subscribers: number[][] = publishers.map(() => [])
  joined.forEach((streams, index) => streams.forEach((stream) => subscribers[stream]!.push(index)))
  const used = subscribers.flatMap((list, stream) => (list.length > 0 ? [stream] : []))
  /** Per node, per joined stream (in `joined` order): messages delivered. */
  const deliveredCounts = joined.map((streams) => new Uint16Array(streams.length))
  const streamPartOf = (stream: number): StreamPartId => publishers[stream]!.streamPartId

  const wallStart = performance.now()
  let failedStarts = 0
  const bringUp = async (index: number): Promise<void> => {
    const node = nodes[index]!
    try {
      await node.start()
      joined[index]!.forEach((stream, slot) => {
        node.addMessageListener(streamPartOf(stream), () => {
          deliveredCounts[index]![slot]!++
        })
      })
      await Promise.all(joined[index]!.map((stream) => node.join(streamPartOf(stream), { minNeighbors: 0 })))
    } catch {
      failedStarts++
    }
  }
  try {
    nodes.forEach((_, index) => void bringUp(index))
    const formed = (): boolean =>
      nodes.every((node, index) =>
        joined[index]!.every(
          (stream) =>
            node.getNeighbors(streamPartOf(stream)).length >= Math.min(minNeighbors, subscribers[stream]!.length - 1),
        ),
      )
    const formedMs = await simulator.runUntil(formed, {
      timeoutMs,
      pollMs: 100,
      description: 'every node to have its neighbours in each of its stream parts',
    })
    if (failedStarts > 0) throw new Error(`${failedStarts} nodes failed to start or join`)
    for (const stream of used) {
      const from = nodes[subscribers[stream]![0]!]!
      for (let message = 0; message < messageCount; message++) {
        from.broadcast(await publishers[stream]!.next({ message }))
      }
    }
    const expected = joined.reduce((sum, streams) => sum + streams.length, 0) * messageCount
    const deliveredNow = (): number =>
      deliveredCounts.reduce((sum, counts) => sum + counts.reduce((a, b) => a + b, 0), 0)
    // The publishers' own nodes deliver to their own listeners too, so every (node, stream) pair counts.
    const deliveredMs = await simulator
      .runUntil(() => deliveredNow() >= expected, { timeoutMs: 60_000, pollMs: 100, description: 'delivery' })
      .catch(() => NaN)
    verifier.forget()
    const live = heapAfterGc()
    const wallMs = performance.now() - wallStart

    const byCount = new Map<
      number,
      { nodes: number; delivered: number; framesIn: number; framesOut: number; neighbors: number; connections: number }
    >()
    let unexpected = 0
    let connectionsMax = 0
    let connectionsSum = 0
    nodes.forEach((node, index) => {
      const metrics = node.getMetrics()
      const k = joined[index]!.length
      const row = byCount.get(k) ?? { nodes: 0, delivered: 0, framesIn: 0, framesOut: 0, neighbors: 0, connections: 0 }
      row.nodes++
      row.delivered += deliveredCounts[index]!.reduce((a, b) => a + b, 0)
      row.framesIn += metrics.messagesIn
      row.framesOut += metrics.messagesOut
      row.neighbors += joined[index]!.reduce((sum, stream) => sum + node.getNeighbors(streamPartOf(stream)).length, 0)
      const connections = transports[index]!.connectionCount
      row.connections += connections
      connectionsSum += connections
      connectionsMax = Math.max(connectionsMax, connections)
      unexpected += metrics.unexpectedMessages
      byCount.set(k, row)
    })
    const sizes = used.map((stream) => subscribers[stream]!.length).sort((a, b) => a - b)
    return {
      nodes: nodeCount,
      discovery,
      streamParts: streamCount,
      usedStreamParts: used.length,
      largest: sizes.at(-1) ?? 0,
      median: sizes[Math.floor(sizes.length / 2)] ?? 0,
      singletons: sizes.filter((size) => size === 1).length,
      formedMs,
      deliveredMs,
      delivery: deliveredNow() / expected,
      unexpectedMessages: unexpected,
      byStreamCount: [...byCount.entries()]
        .sort(([a], [b]) => a - b)
        .map(([streams, row]) => ({
          streams,
          nodes: row.nodes,
          delivered: row.delivered / row.nodes,
          framesIn: row.framesIn / row.nodes,
          framesOut: row.framesOut / row.nodes,
          neighbors: row.neighbors / row.nodes,
          connections: row.connections / row.nodes,
        })),
      connections: { mean: connectionsSum / nodeCount, max: connectionsMax },
      heapPerNodeBytes:
        baseline === undefined || live === undefined ? undefined : (live.heapUsed - baseline.heapUsed) / nodeCount,
      wallMs,
    }
  } finally {
    await Promise.all(nodes.map((node) => node.stop()))
    await tracker?.stop()
    simulator.stop()
  }
}

/** The result as the lines the scale run prints. */
export function describeStreams(result: StreamsResult): string[] {
  return [
    `nodes ${result.nodes}, discovery ${result.discovery}, ${result.streamParts} stream parts (Zipf), ${result.usedStreamParts} with subscribers: ` +
      `largest ${result.largest}, median ${result.median}, ${result.singletons} with one`,
    `formed in ${(result.formedMs / 1000).toFixed(2)} s simulated; delivery ${(result.delivery * 100).toFixed(2)}% in ${(result.deliveredMs / 1000).toFixed(2)} s; ` +
      `frames for stream parts not joined: ${result.unexpectedMessages}`,
    `connections per node mean ${result.connections.mean.toFixed(1)}, max ${result.connections.max}` +
      (result.heapPerNodeBytes === undefined
        ? ''
        : `; heap per node ${(result.heapPerNodeBytes / 1024).toFixed(1)} KiB`),
    'stream parts joined | nodes | delivered/node | data frames in/node | out/node | neighbours/node | connections/node',
    ...result.byStreamCount.map(
      (row) =>
        `${row.streams} | ${row.nodes} | ${row.delivered.toFixed(1)} | ${row.framesIn.toFixed(1)} | ${row.framesOut.toFixed(1)} | ${row.neighbors.toFixed(1)} | ${row.connections.toFixed(1)}`,
    ),
    `wall ${(result.wallMs / 1000).toFixed(1)} s`,
  ]
}
