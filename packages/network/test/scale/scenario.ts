// A whole network on the simulator's virtual time: one tracker, N full nodes
// that all join one stream part at the same instant, one publisher. Every
// random choice comes from the seed (node keys, the tracker's picks, the
// publisher's key and chain id, the latency layout), and time only moves when
// the process is idle, so one seed gives one run on any machine. Shared by the
// CI-sized test and `npm run scale -w @runnel/network`.
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import {
  ManualClock,
  type EthereumAddress,
  type MessageSigner,
  type SignatureVerifier,
  type StreamMessage,
  type StreamPartId,
} from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import {
  NetworkNode,
  SeededRandom,
  Simulator,
  TrackerServer,
  regionLatency,
  type RegionLatencyModel,
  type NetworkNodeOptions,
  type NodeId,
  type SimulatorStats,
  type TrackerServerOptions,
} from '../../src/index.js'
import type { Transport } from '../../src/transport/Transport.js'
import { keyToHex } from '../../src/dht/keys.js'
import { ChainPublisher } from '../helpers.js'

/** Measured round trips between cloud regions (test/data/README.md). */
const RTT_FILE = new URL('../data/region-rtt-ms.json', import.meta.url)
/** Virtual time the scenario starts at: a plausible wall-clock date, so message timestamps look real. */
export const EPOCH_MS = Date.UTC(2026, 0, 1)

export interface ScenarioOptions {
  readonly nodes: number
  readonly seed: number
  /**
   * How nodes find each other: 'tracker' (one tracker builds the overlay) or 'dht' (trackerless: the stream part's
   * members are found through the DHT, starting from the entry points). Default 'tracker'.
   */
  readonly discovery?: 'tracker' | 'dht'
  /** 'dht' mode: nodes 1..entryPoints are the entry points every node is given; they start at time 0. Default 3. */
  readonly entryPoints?: number
  /**
   * The other nodes start (and join) evenly spread over this much virtual time, in index order; 0 starts every
   * node at the same instant. Node 0 (the publisher) starts at time 0 either way. Default 0.
   */
  readonly joinSpreadMs?: number
  /** While nodes join, node 0 publishes one message every this many virtual ms: what time to first message waits for. Default 100. */
  readonly publishIntervalMs?: number
  /** Messages published at once once the overlay has formed: delivery and propagation are measured on these. Default 20. */
  readonly messages?: number
  /** Every node must reach this many neighbours. Default 3. */
  readonly minNeighbors?: number
  /** Virtual time allowed for forming (after the last node started) and for delivery, each. Default 120 s. */
  readonly timeoutMs?: number
  /** Virtual time run after delivery, to show the overlay stays up (pings, idle checks). Default 30 s. */
  readonly holdMs?: number
  /** Nodes tell their region (the latency model's, as `r<index>`), which the tracker uses for nearby links. Default false. */
  readonly regions?: boolean
  /** Ready connections a dht node keeps (`maxConnections`). Default the node's own default. */
  readonly maxConnections?: number
  /** Called once the network has formed and delivered, while every node is live (memory is measured there). */
  readonly onLive?: () => void
  /** Called after the hold, every node still live (memory is measured again there). */
  readonly onSettled?: () => void
  /** Called with a line about the joining phase every simulated second (long runs show where they are). */
  readonly progress?: (line: string) => void
}

/** Least, median, most. */
export interface Spread {
  readonly min: number
  readonly median: number
  readonly max: number
}

/** A distribution of virtual milliseconds. */
export interface Distribution {
  readonly count: number
  readonly mean: number
  readonly median: number
  readonly p90: number
  readonly p99: number
  readonly max: number
}

export interface ScenarioResult {
  readonly nodes: number
  readonly discovery: 'tracker' | 'dht'
  readonly joinSpreadMs: number
  readonly latencyModel: string
  /** Neighbour counts after forming: least, median, most. */
  readonly neighbors: Spread
  /** The same after the hold. */
  readonly neighborsAfterHold: Spread
  /** Virtual ms from the first start until every node had started and had `minNeighbors`. */
  readonly formedMs: number
  /**
   * Time to first message, per node but the publisher: virtual ms from calling its `start()` (it joins the stream
   * part as soon as it has started) until its first message arrives, while node 0 publishes every
   * `publishIntervalMs`. `startToJoin` is the part spent in `start()` (DHT mode: joining the DHT).
   */
  readonly timeToFirstMessage: Distribution
  readonly startToJoin: Distribution
  /** From `start()` until the node's first neighbour. */
  readonly startToNeighbor: Distribution
  /** Messages published while nodes joined, and how many a node missed after its first one (summed over nodes). */
  readonly warmupMessages: number
  readonly missedAfterFirst: number
  /** Virtual ms from the measured publish until every node had every message. */
  readonly deliveredMs: number
  /** Deliveries made over deliveries expected (measured messages × subscribers). */
  readonly delivery: number
  /** Publish → first arrival of each measured message at each subscriber. */
  readonly propagation: Distribution
  /**
   * The physical bound of each subscriber: the shortest path from the publisher over every simulated link (Dijkstra
   * over the latency model, any node may relay), one value per subscriber. `direct` is the publisher's own link to
   * each, `overlay` the shortest path over the overlay's links as formed.
   */
  readonly bound: { readonly shortestPath: Distribution; readonly direct: Distribution; readonly overlay: Distribution }
  /** Propagation over the shortest-path bound, per delivery (bound 0 counted as 1 ms). */
  readonly stretch: Distribution
  /** How many hops each delivery took from the publisher, over all messages: hops → count. */
  readonly hops: ReadonlyMap<number, number>
  /** Connections closed because their handshake failed (timed out or was refused). */
  readonly failedHandshakes: number
  /** Messages any node found invalid (bad signature or encoding): 0 in an honest network. */
  readonly invalidMessages: number
  /** Connections closed, by cause, summed over the nodes (eviction by the connection cap shows here). */
  readonly disconnects: Readonly<Record<string, number>>
  /** DHT mode: the DHT's counters summed over the nodes (lookups, requests, timeouts, failures, refusals). */
  readonly dht:
    | {
        lookups: number
        lookupQueries: number
        lookupHops: number
        requestsSent: number
        timeouts: number
        failures: number
        refused: number
      }
    | undefined
  /** Nodes whose start() or join() failed. */
  readonly failedStarts: number
  /** Longest shortest path between two nodes of the overlay, after forming. */
  readonly diameter: number
  readonly simulatedMs: number
  /** Wall ms of the simulated part: from the joins to the end of the hold (keys, setup and measuring excluded). */
  readonly wallMs: number
  /** Wall ms of forming alone (the joins until every node had its neighbours and a first message), and of delivering alone. */
  readonly formedWallMs: number
  readonly deliveredWallMs: number
  readonly simulator: SimulatorStats
  /**
   * Heap after a forced GC once the overlay had formed and delivered (every node, tracker and connection live),
   * and before the nodes were created; undefined unless the process runs with --expose-gc.
   */
  readonly memory: MemoryFigures | undefined
  /** The same after the hold: the network at rest, its join's lookups and connections over. */
  readonly memoryAfterHold: MemoryFigures | undefined
}

/** Heap figures of a run, from `process.memoryUsage()` after `gc()`. */
export interface MemoryFigures {
  /** Heap used before the nodes were created (keys, latency model, the process itself). */
  readonly baselineHeapBytes: number
  /** Heap used with the whole network live. */
  readonly heapBytes: number
  /** `heapBytes / nodes` and `(heapBytes - baselineHeapBytes) / nodes`. */
  readonly perNodeBytes: number
  readonly perNodeAboveBaselineBytes: number
  /** Resident set and array buffers (frames in flight, key material) at the same moment. */
  readonly rssBytes: number
  readonly arrayBuffersBytes: number
}

function memoryFigures(
  baseline: NodeJS.MemoryUsage | undefined,
  live: NodeJS.MemoryUsage | undefined,
  nodeCount: number,
): MemoryFigures | undefined {
  if (baseline === undefined || live === undefined) return undefined
  return {
    baselineHeapBytes: baseline.heapUsed,
    heapBytes: live.heapUsed,
    perNodeBytes: live.heapUsed / nodeCount,
    perNodeAboveBaselineBytes: (live.heapUsed - baseline.heapUsed) / nodeCount,
    rssBytes: live.rss,
    arrayBuffersBytes: live.arrayBuffers,
  }
}

/** Heap used after a full collection, or undefined without --expose-gc. */
export function heapAfterGc(): NodeJS.MemoryUsage | undefined {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) return undefined
  gc()
  gc()
  return process.memoryUsage()
}

/** Link delays from the measured region round trips, with a little jitter. */
export function latencyFor(seed: number): { model: RegionLatencyModel; name: string } {
  const { rtt } = JSON.parse(readFileSync(RTT_FILE, 'utf8')) as { rtt: number[][] }
  return { model: regionLatency(rtt, { seed, jitterMs: 2 }), name: `${rtt.length} cloud regions, 2 ms jitter` }
}

/**
 * `verifier`, with one cache of recoveries shared by every node of the run: a pure function of its inputs, so
 * results are the same, but 2,000 nodes checking one message's (or one record's) signature cost one recovery
 * instead of 2,000. The simulation measures the protocol in virtual time, where that CPU cost never showed;
 * handshake proofs (a fresh nonce each) miss it. Bounded: the oldest half goes at `limit` entries. `forget()` empties
 * it: memory per node is measured without it, as no node holds it (tens of KiB per node at a few hundred nodes).
 */
export function sharedRecoveries(verifier: SignatureVerifier, limit = 200_000): SignatureVerifier & { forget(): void } {
  const recovered = new Map<string, { payload: Uint8Array; signer: EthereumAddress | undefined }>()
  const samePayload = (a: Uint8Array, b: Uint8Array): boolean => {
    if (a.length !== b.length) return false
    for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false
    return true
  }
  return {
    recoverPersonalMessageSigner(payload, signature) {
      const key = keyToHex(signature)
      const known = recovered.get(key)
      if (known !== undefined && samePayload(known.payload, payload)) return known.signer
      const signer = verifier.recoverPersonalMessageSigner(payload, signature)
      if (recovered.size >= limit) {
        let drop = limit / 2
        for (const old of recovered.keys()) {
          recovered.delete(old)
          if (--drop === 0) break
        }
      }
      recovered.set(key, { payload: payload.slice(), signer })
      return signer
    },
    forget() {
      recovered.clear()
    },
  }
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

function summary(counts: number[]): Spread {
  const sorted = [...counts].sort((a, b) => a - b)
  return { min: sorted[0] ?? 0, median: sorted[Math.floor(sorted.length / 2)] ?? 0, max: sorted.at(-1) ?? 0 }
}

function distribution(values: readonly number[]): Distribution {
  const sorted = Float64Array.from(values).sort()
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN
  const sum = sorted.reduce((total, value) => total + value, 0)
  return {
    count: sorted.length,
    mean: sorted.length === 0 ? NaN : sum / sorted.length,
    median: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: sorted.at(-1) ?? NaN,
  }
}

/** What a node saw of one message: when it first arrived, and from which node (its index; -1: none in the run). */
interface Arrival {
  readonly at: number
  readonly senderIndex: number
}

/**
 * When each message (by key) first reached each node, and from which node: per node a row in two typed arrays, one
 * column per message. The run's own records count in its memory per node; a Map of objects per node was ~11 KiB of
 * each node's figure at 1,000 nodes, these are ~3 KiB.
 */
class ArrivalLog {
  private readonly columns = new Map<string, number>()
  private capacity = 64
  private at: Float64Array
  private from: Int32Array

  constructor(
    private readonly nodeCount: number,
    private readonly indexOf: (nodeId: NodeId | undefined) => number,
  ) {
    this.at = new Float64Array(nodeCount * this.capacity).fill(NaN)
    this.from = new Int32Array(nodeCount * this.capacity)
  }

  /** Notes an arrival; false when the node had this message already. */
  record(node: number, key: string, at: number, senderId: NodeId | undefined): boolean {
    let column = this.columns.get(key)
    if (column === undefined) {
      column = this.columns.size
      if (column === this.capacity) this.grow()
      this.columns.set(key, column)
    }
    const slot = node * this.capacity + column
    if (!Number.isNaN(this.at[slot]!)) return false
    this.at[slot] = at
    this.from[slot] = this.indexOf(senderId)
    return true
  }

  has(node: number, key: string): boolean {
    const column = this.columns.get(key)
    return column !== undefined && !Number.isNaN(this.at[node * this.capacity + column]!)
  }

  get(node: number, key: string): Arrival | undefined {
    const column = this.columns.get(key)
    if (column === undefined) return undefined
    const slot = node * this.capacity + column
    return Number.isNaN(this.at[slot]!) ? undefined : { at: this.at[slot]!, senderIndex: this.from[slot]! }
  }

  private grow(): void {
    const capacity = this.capacity * 2
    const at = new Float64Array(this.nodeCount * capacity).fill(NaN)
    const from = new Int32Array(this.nodeCount * capacity)
    for (let node = 0; node < this.nodeCount; node++) {
      at.set(this.at.subarray(node * this.capacity, (node + 1) * this.capacity), node * capacity)
      from.set(this.from.subarray(node * this.capacity, (node + 1) * this.capacity), node * capacity)
    }
    this.capacity = capacity
    this.at = at
    this.from = from
  }
}

/**
 * Runs the scenario; throws (NetworkError TIMEOUT) if the overlay doesn't form or deliver in time.
 *
 * Two phases. Joining: node 0 starts and publishes a message every `publishIntervalMs` while the other nodes start
 * (all at once, or spread over `joinSpreadMs`), until every node has `minNeighbors` and has received a message: time
 * to first message comes from this phase. Measuring: `messages` more messages published at once must reach every
 * node; their arrival times give propagation, set against the shortest-path bound of the simulated links.
 */
/**
 * A tracker on the simulator with the scenario's seeded key and randomness, started, and its address.
 *
 * @example
 * ```ts
 * const { tracker, address } = await startSimulatedTracker(simulator.createTransport(), seededSigner(keys), verifier, clock, random.fork('tracker'))
 * ```
 */
export async function startSimulatedTracker(
  transport: Transport,
  signer: MessageSigner,
  verifier: SignatureVerifier,
  clock: ManualClock,
  random: SeededRandom,
  options: TrackerServerOptions = {},
): Promise<{ tracker: TrackerServer; address: string }> {
  const tracker = new TrackerServer({ transport, signer, verifier, clock, random: () => random.nextFloat() }, options)
  const [address] = await tracker.start()
  return { tracker, address: address! }
}

export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const { nodes: nodeCount, seed } = options
  const discovery = options.discovery ?? 'tracker'
  const entryPointCount = Math.min(options.entryPoints ?? 3, nodeCount - 1)
  const joinSpreadMs = options.joinSpreadMs ?? 0
  const publishIntervalMs = options.publishIntervalMs ?? 100
  const messageCount = options.messages ?? 20
  const minNeighbors = options.minNeighbors ?? 3
  const timeoutMs = options.timeoutMs ?? 120_000
  const holdMs = options.holdMs ?? 30_000
  const baseline = heapAfterGc()
  const random = new SeededRandom(seed)
  const keys = random.fork('keys')
  const trackerRandom = random.fork('tracker')
  const latency = latencyFor(seed)
  const clock = new ManualClock(EPOCH_MS)
  const simulator = new Simulator({ seed, latency: latency.model, clock })
  const verifier = sharedRecoveries(nativeSignatureVerifier)
  // Both modes draw the same keys and addresses (so the same regions): their runs differ only in discovery.
  const trackerTransport = simulator.createTransport()
  const trackerSigner = seededSigner(keys)
  const started =
    discovery === 'tracker'
      ? await startSimulatedTracker(trackerTransport, trackerSigner, verifier, clock, trackerRandom)
      : undefined
  const tracker = started?.tracker
  const trackerAddress = started?.address
  const transports = Array.from({ length: nodeCount }, () => simulator.createTransport())
  const entryPoints = transports.slice(1, 1 + entryPointCount).map((transport) => transport.address)
  const nodeOptions: NetworkNodeOptions =
    discovery === 'tracker'
      ? { trackers: [trackerAddress!] }
      : { discovery: 'dht', entryPoints, maxConnections: options.maxConnections }
  // Trackerless discovery's picks and the DHT's refresh keys come from the seed too, so a seed gives one run.
  const discoveryRandom = random.fork('discovery')
  const nodes = transports.map(
    (transport) =>
      new NetworkNode(
        { transport, signer: seededSigner(keys), verifier, clock, random: () => discoveryRandom.nextFloat() },
        options.regions === true
          ? { ...nodeOptions, location: { region: `r${latency.model.regionOf(transport.address)}` } }
          : nodeOptions,
      ),
  )
  const publisher = new ChainPublisher('/simulated', 0, undefined, {
    signer: seededSigner(keys),
    chainId: `chain-${random.fork('chain').nextUint32().toString(36)}`,
    now: () => clock.now(),
  })
  const streamPartId = publisher.streamPartId
  const degrees = (): number[] => nodes.map((node) => node.getNeighbors(streamPartId).length)

  // Who starts when: the publisher (and in DHT mode the entry points) at 0, the rest at once or spread out.
  const startAt = nodes.map(() => 0)
  const spreadOut = nodes
    .map((_, index) => index)
    .filter((index) => index > (discovery === 'dht' ? entryPointCount : 0))
  spreadOut.forEach((index, order) => {
    startAt[index] = joinSpreadMs === 0 ? 0 : Math.round((joinSpreadMs * (order + 1)) / spreadOut.length)
  })
  const startedAt: (number | undefined)[] = nodes.map(() => undefined)
  const joinedAt: (number | undefined)[] = nodes.map(() => undefined)
  const firstAt: (number | undefined)[] = nodes.map(() => undefined)
  const firstNeighborAt: (number | undefined)[] = nodes.map(() => undefined)
  const nodeIndexes = new Map(nodes.map((node, index) => [node.nodeId, index]))
  const arrivals = new ArrivalLog(nodes.length, (nodeId) =>
    nodeId === undefined ? -1 : (nodeIndexes.get(nodeId) ?? -1),
  )
  let failedStarts = 0
  const bringUp = async (index: number): Promise<void> => {
    const node = nodes[index]!
    startedAt[index] = clock.now()
    try {
      await node.start()
      joinedAt[index] = clock.now()
      node.addMessageListener(streamPartId, (message, { senderId }) => {
        if (!arrivals.record(index, keyOf(message), clock.now(), senderId)) return
        firstAt[index] ??= clock.now()
      })
      if (index === 0) publishOne()
      await node.join(streamPartId, { minNeighbors: 1 })
      firstNeighborAt[index] = clock.now()
    } catch {
      failedStarts++
    }
  }

  const warmups: { key: string; at: number }[] = []
  let publishing = Promise.resolve()
  const publishOne = (): void => {
    if (joinedAt[0] === undefined) return
    // Chained, so the messages leave in chain order whatever the signer's timing.
    publishing = publishing.then(async () => {
      const message = await publisher.next({ warmup: warmups.length })
      warmups.push({ key: keyOf(message), at: clock.now() })
      nodes[0]!.broadcast(message)
    })
  }

  const wallStart = performance.now()
  const startTimers = spreadOut
    .filter((index) => startAt[index]! > 0)
    .map((index) => clock.setTimeout(() => void bringUp(index), startAt[index]!))
  let publishTimer: { cancel(): void } | undefined
  let progressTimer: { cancel(): void } | undefined
  try {
    // Not awaited: in DHT mode start() waits on the network, which moves only inside runUntil.
    nodes.forEach((_, index) => {
      if (startAt[index] === 0) void bringUp(index)
    })
    publishTimer = clock.setInterval(publishOne, publishIntervalMs)
    const { progress } = options
    if (progress !== undefined) {
      const began = clock.now()
      const wall = performance.now()
      progressTimer = clock.setInterval(() => {
        const count = (values: (number | undefined)[]): number => values.filter((at) => at !== undefined).length
        const formed = degrees().filter((degree) => degree >= minNeighbors).length
        progress(
          `${seconds(clock.now() - began)} s simulated (${seconds(performance.now() - wall)} s wall): started ${count(joinedAt)}, ` +
            `${minNeighbors}+ neighbours ${formed}, a first message ${count(firstAt)} of ${nodeCount}; ` +
            `the publisher's neighbours ${nodes[0]!.getNeighbors(streamPartId).length}`,
        )
      }, 1_000)
    }
    const allStarted = (): boolean => joinedAt.every((at) => at !== undefined)
    const formedMs = await simulator.runUntil(
      () => allStarted() && degrees().every((degree) => degree >= minNeighbors),
      { timeoutMs: joinSpreadMs + timeoutMs, pollMs: 10, description: `every node to have ${minNeighbors} neighbours` },
    )
    await simulator.runUntil(() => firstAt.every((at, index) => index === 0 || at !== undefined), {
      timeoutMs,
      pollMs: 10,
      description: 'every node to receive a first message',
    })
    publishTimer.cancel()
    progressTimer?.cancel()
    await publishing
    const formedWallMs = performance.now() - wallStart
    const neighbors = summary(degrees())
    const measuring = performance.now()
    const diameter = overlayDiameter(nodes, streamPartId)
    const overlayBound = sparseShortestPaths(
      nodes.length,
      (from) => nodes[from]!.getNeighbors(streamPartId).flatMap((id) => indexOfNode(nodes, id) ?? []),
      (from, to) => latency.model(transports[from]!.address, transports[to]!.address),
    )
    const measuredMs = performance.now() - measuring

    const messageKeys: string[] = []
    const publishedAt = clock.now()
    const deliveringWall = performance.now()
    for (let index = 0; index < messageCount; index++) {
      const message = await publisher.next({ index })
      messageKeys.push(keyOf(message))
      nodes[0]!.broadcast(message)
    }
    const deliveredMs = await simulator.runUntil(
      () => nodes.every((_, index) => index === 0 || messageKeys.every((key) => arrivals.has(index, key))),
      { timeoutMs, pollMs: 10, description: 'every message at every node' },
    )
    const deliveredWallMs = performance.now() - deliveringWall
    verifier.forget()
    options.onLive?.()
    const memory = memoryFigures(baseline, heapAfterGc(), nodeCount)
    await simulator.runFor(holdMs)
    const neighborsAfterHold = summary(degrees())
    const wallEnd = performance.now()
    // Measured after the wall clock stops: two full collections of a large heap are not the simulation's time.
    verifier.forget()
    options.onSettled?.()
    const memoryAfterHold = memoryFigures(baseline, heapAfterGc(), nodeCount)

    const addresses = transports.map((transport) => transport.address)
    const physicalBound =
      nodes.length <= EXACT_BOUND_UP_TO
        ? shortestPaths(nodes.length, 'all', (from, to) => latency.model(addresses[from]!, addresses[to]!))
        : regionBound(latency.model, addresses)
    const propagation: number[] = []
    const stretch: number[] = []
    for (let index = 1; index < nodes.length; index++) {
      for (const key of messageKeys) {
        const arrival = arrivals.get(index, key)
        if (arrival === undefined) continue
        propagation.push(arrival.at - publishedAt)
        stretch.push((arrival.at - publishedAt) / Math.max(1, physicalBound[index]!))
      }
    }
    const subscribers = (values: readonly number[]): number[] => values.slice(1)
    const direct = subscribers(nodes.map((_, index) => latency.model(addresses[0]!, addresses[index]!)))
    const hops = hopHistogram(nodes, arrivals, messageKeys)
    const delivered = [...hops.values()].reduce((sum, count) => sum + count, 0)
    let missedAfterFirst = 0
    for (let index = 1; index < nodes.length; index++) {
      const first = warmups.findIndex(({ key }) => arrivals.has(index, key))
      if (first < 0) continue
      for (let later = first + 1; later < warmups.length; later++) {
        if (!arrivals.has(index, warmups[later]!.key)) missedAfterFirst++
      }
    }
    const failedHandshakes = nodes.reduce(
      (sum, node) => sum + (node.getMetrics().disconnects['handshake-failed'] ?? 0),
      0,
    )
    const disconnects: Record<string, number> = {}
    for (const node of nodes) {
      for (const [cause, count] of Object.entries(node.getMetrics().disconnects)) {
        disconnects[cause] = (disconnects[cause] ?? 0) + (count ?? 0)
      }
    }
    const dht =
      discovery === 'dht'
        ? nodes.reduce(
            (sum, node) => {
              const metrics = node.dht?.metrics
              if (metrics === undefined) return sum
              return {
                lookups: sum.lookups + metrics.lookups,
                lookupQueries: sum.lookupQueries + metrics.lookupQueries,
                lookupHops: sum.lookupHops + metrics.lookupHops,
                requestsSent: sum.requestsSent + metrics.requestsSent,
                timeouts: sum.timeouts + metrics.timeouts,
                failures: sum.failures + metrics.failures,
                refused: sum.refused + Object.values(metrics.refused).reduce((a, b) => a + (b ?? 0), 0),
              }
            },
            { lookups: 0, lookupQueries: 0, lookupHops: 0, requestsSent: 0, timeouts: 0, failures: 0, refused: 0 },
          )
        : undefined
    const invalidMessages = nodes.reduce(
      (sum, node) => sum + node.getMetrics().invalidSignatures + node.getMetrics().invalidMessages,
      0,
    )
    return {
      nodes: nodeCount,
      discovery,
      joinSpreadMs,
      invalidMessages,
      diameter,
      latencyModel: latency.name,
      neighbors,
      neighborsAfterHold,
      formedMs,
      timeToFirstMessage: distribution(subscribers(firstAt.map((at, index) => at! - startedAt[index]!))),
      startToJoin: distribution(subscribers(joinedAt.map((at, index) => at! - startedAt[index]!))),
      startToNeighbor: distribution(subscribers(firstNeighborAt.map((at, index) => at! - startedAt[index]!))),
      warmupMessages: warmups.length,
      missedAfterFirst,
      deliveredMs,
      delivery: delivered / (messageCount * (nodeCount - 1)),
      propagation: distribution(propagation),
      bound: {
        shortestPath: distribution(subscribers(physicalBound)),
        direct: distribution(direct),
        overlay: distribution(subscribers(overlayBound)),
      },
      stretch: distribution(stretch),
      hops,
      failedHandshakes,
      failedStarts,
      disconnects,
      dht,
      simulatedMs: clock.now() - EPOCH_MS,
      wallMs: wallEnd - wallStart - measuredMs,
      formedWallMs,
      deliveredWallMs,
      simulator: simulator.stats,
      memory,
      memoryAfterHold,
    }
  } finally {
    publishTimer?.cancel()
    progressTimer?.cancel()
    for (const timer of startTimers) timer.cancel()
    await Promise.all(nodes.map((node) => node.stop()))
    await tracker?.stop()
    simulator.stop()
  }
}

function indexOfNode(nodes: readonly NetworkNode[], id: NodeId): number | undefined {
  let index = indexCache.get(nodes)
  if (index === undefined) {
    index = new Map(nodes.map((node, i) => [node.nodeId, i]))
    indexCache.set(nodes, index)
  }
  return index.get(id)
}
const indexCache = new WeakMap<readonly NetworkNode[], Map<NodeId, number>>()

/**
 * Dijkstra from node 0: the least total latency to every node over the edges `next` gives. Dense O(N²) version,
 * which is what a complete graph needs anyway (2,000 nodes: 4 M edges, about a second).
 */
function shortestPaths(count: number, next: 'all', latency: (from: number, to: number) => number): number[] {
  const distance = new Float64Array(count).fill(Infinity)
  const done = new Uint8Array(count)
  distance[0] = 0
  for (let round = 0; round < count; round++) {
    let from = -1
    for (let index = 0; index < count; index++) {
      if (done[index] === 0 && (from < 0 || distance[index]! < distance[from]!)) from = index
    }
    if (from < 0 || distance[from] === Infinity) break
    done[from] = 1
    const relax = (to: number): void => {
      const through = distance[from]! + Math.max(0, latency(from, to))
      if (through < distance[to]!) distance[to] = through
    }
    if (next === 'all') for (let to = 0; to < count; to++) if (done[to] === 0) relax(to)
  }
  return [...distance]
}

/** Above this many nodes the physical bound is computed between regions ({@link regionBound}): N² links is too many. */
const EXACT_BOUND_UP_TO = 20_000

/**
 * The shortest-path bound from node 0 between regions, jitter left out: shortest paths over the one-way delays of
 * the region matrix (Floyd–Warshall), each node getting its region's. A lower bound of the exact one (jitter only
 * adds), within 2 ms per hop of it.
 */
function regionBound(model: RegionLatencyModel, addresses: readonly string[]): number[] {
  const regions = model.oneWayMs.length
  const distance = model.oneWayMs.map((row) => [...row])
  for (let via = 0; via < regions; via++) {
    for (let from = 0; from < regions; from++) {
      for (let to = 0; to < regions; to++) {
        const through = distance[from]![via]! + distance[via]![to]!
        if (through < distance[from]![to]!) distance[from]![to] = through
      }
    }
  }
  const origin = model.regionOf(addresses[0]!)
  return addresses.map((address, index) => (index === 0 ? 0 : distance[origin]![model.regionOf(address)]!))
}

/** Dijkstra from node 0 over a sparse graph (the overlay), with a binary heap: O(E log N). */
function sparseShortestPaths(
  count: number,
  next: (from: number) => readonly number[],
  latency: (from: number, to: number) => number,
): number[] {
  const distance = new Float64Array(count).fill(Infinity)
  const heap: [number, number][] = []
  const push = (item: [number, number]): void => {
    heap.push(item)
    for (let at = heap.length - 1; at > 0;) {
      const parent = (at - 1) >> 1
      if (heap[parent]![0] <= item[0]) break
      heap[at] = heap[parent]!
      heap[parent] = item
      at = parent
    }
  }
  const pop = (): [number, number] => {
    const top = heap[0]!
    const last = heap.pop()!
    if (heap.length > 0) {
      heap[0] = last
      for (let at = 0; ;) {
        let least = at
        for (const child of [2 * at + 1, 2 * at + 2]) {
          if (child < heap.length && heap[child]![0] < heap[least]![0]) least = child
        }
        if (least === at) break
        ;[heap[at], heap[least]] = [heap[least]!, heap[at]!]
        at = least
      }
    }
    return top
  }
  distance[0] = 0
  push([0, 0])
  while (heap.length > 0) {
    const [at, from] = pop()
    if (at > distance[from]!) continue
    for (const to of next(from)) {
      const through = at + Math.max(0, latency(from, to))
      if (through < distance[to]!) {
        distance[to] = through
        push([through, to])
      }
    }
  }
  return [...distance]
}

function keyOf(message: StreamMessage): string {
  return `${message.timestamp}/${message.sequenceNumber}`
}

/** Hops of each delivery: follow the first-arrival senders back to the publisher (node 0). */
function hopHistogram(nodes: NetworkNode[], arrivals: ArrivalLog, messageKeys: string[]): Map<number, number> {
  const histogram = new Map<number, number>()
  for (const key of messageKeys) {
    const hops = new Map<number, number>([[0, 0]])
    const hopsOf = (index: number): number => {
      const known = hops.get(index)
      if (known !== undefined) return known
      const senderIndex = arrivals.get(index, key)?.senderIndex ?? -1
      // Not delivered, or from outside the simulation: counted apart as -1, never as a hop count.
      const value = senderIndex < 0 ? -1 : hopsOf(senderIndex) + 1
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

/**
 * Longest shortest path between two nodes of the overlay: BFS from every node up to `exactUpTo` nodes, over index
 * arrays (10,000 nodes: 10^8 steps, seconds); above, from 200 sampled nodes, which can only underestimate.
 */
function overlayDiameter(nodes: NetworkNode[], streamPartId: StreamPartId, exactUpTo = 10_000): number {
  const count = nodes.length
  const offsets = new Int32Array(count + 1)
  const lists = nodes.map((node) => node.getNeighbors(streamPartId).flatMap((id) => indexOfNode(nodes, id) ?? []))
  lists.forEach((list, index) => (offsets[index + 1] = offsets[index]! + list.length))
  const edges = new Int32Array(offsets[count]!)
  lists.forEach((list, index) => edges.set(list, offsets[index]))
  const distance = new Int32Array(count)
  const queue = new Int32Array(count)
  const sources =
    count <= exactUpTo
      ? Array.from({ length: count }, (_, index) => index)
      : Array.from({ length: 200 }, (_, index) => Math.floor((index * count) / 200))
  let diameter = 0
  for (const start of sources) {
    distance.fill(-1)
    distance[start] = 0
    queue[0] = start
    let tail = 1
    for (let head = 0; head < tail; head++) {
      const at = queue[head]!
      const next = distance[at]! + 1
      for (let edge = offsets[at]!; edge < offsets[at + 1]!; edge++) {
        const to = edges[edge]!
        if (distance[to] === -1) {
          distance[to] = next
          if (next > diameter) diameter = next
          queue[tail++] = to
        }
      }
    }
  }
  return diameter
}

/** The result as the lines the scale run prints. */
export function describeResult(result: ScenarioResult): string[] {
  const hops = [...result.hops.entries()].map(([hops, count]) => `${hops}:${count}`).join(' ')
  const fmt = ({ min, median, max }: Spread): string => `min ${min}, median ${median}, max ${max}`
  const ms = (d: Distribution): string =>
    `mean ${d.mean.toFixed(0)}, median ${d.median.toFixed(0)}, p90 ${d.p90.toFixed(0)}, p99 ${d.p99.toFixed(0)}, max ${d.max.toFixed(0)} ms`
  const joining = result.joinSpreadMs === 0 ? 'all starting at once' : `starting over ${seconds(result.joinSpreadMs)} s`
  return [
    `nodes ${result.nodes} (${joining}), discovery ${result.discovery}, latency: ${result.latencyModel}`,
    `neighbours after forming: ${fmt(result.neighbors)}; after the hold: ${fmt(result.neighborsAfterHold)}`,
    `formed in ${seconds(result.formedMs)} s simulated (with first messages: ${seconds(result.formedWallMs)} s wall); delivered in ${seconds(result.deliveredMs)} s simulated (${seconds(result.deliveredWallMs)} s wall)`,
    `time to first message (start() to first arrival): ${ms(result.timeToFirstMessage)}`,
    `  of which in start(): ${ms(result.startToJoin)}`,
    `  start() to first neighbour: ${ms(result.startToNeighbor)}`,
    `  messages published while joining ${result.warmupMessages}; missed after a node's first: ${result.missedAfterFirst}`,
    `delivery ${(result.delivery * 100).toFixed(2)}%; failed starts ${result.failedStarts}; failed handshakes ${result.failedHandshakes}; invalid messages ${result.invalidMessages}; overlay diameter ${result.diameter} hops`,
    `propagation: ${ms(result.propagation)}`,
    `  shortest-path bound (any node relays): ${ms(result.bound.shortestPath)}`,
    `  direct link from the publisher: ${ms(result.bound.direct)}`,
    `  shortest path over the overlay: ${ms(result.bound.overlay)}`,
    `  mean propagation / mean bound ${(result.propagation.mean / result.bound.shortestPath.mean).toFixed(2)}; per delivery (bound under 1 ms counted as 1 ms): median ${result.stretch.median.toFixed(2)}, p90 ${result.stretch.p90.toFixed(2)}`,
    `hop histogram (hops:deliveries) ${hops}`,
    `connections closed, by cause: ${
      Object.entries(result.disconnects)
        .map(([cause, count]) => `${cause} ${count}`)
        .join(', ') || 'none'
    }`,
    ...(result.dht === undefined
      ? []
      : [
          `DHT: ${result.dht.lookups} lookups (${(result.dht.lookupQueries / Math.max(1, result.dht.lookups)).toFixed(1)} queries, ` +
            `${(result.dht.lookupHops / Math.max(1, result.dht.lookups)).toFixed(1)} hops each), ${result.dht.requestsSent} requests, ` +
            `${result.dht.timeouts} timed out, ${result.dht.failures} failed, ${result.dht.refused} refused`,
        ]),
    `whole run (forming, delivering, ${seconds(result.simulatedMs - result.formedMs - result.deliveredMs)} s more): simulated ${seconds(result.simulatedMs)} s in ${seconds(result.wallMs)} s wall (${(result.simulatedMs / result.wallMs).toFixed(2)}× real time)`,
    `frames ${result.simulator.framesSent}, bytes ${result.simulator.bytesSent}`,
    ...(result.memory === undefined
      ? ['memory: run with --expose-gc to measure']
      : [
          `memory after GC, network live: ${describeMemory(result.memory)}`,
          ...(result.memoryAfterHold === undefined
            ? []
            : [`  after the hold: ${describeMemory(result.memoryAfterHold)}`]),
        ]),
  ]
}

function describeMemory(memory: MemoryFigures): string {
  return (
    `heap ${mib(memory.heapBytes)} MiB (${kib(memory.perNodeBytes)} KiB per node; ` +
    `${kib(memory.perNodeAboveBaselineBytes)} KiB above the ${mib(memory.baselineHeapBytes)} MiB before the nodes), ` +
    `RSS ${mib(memory.rssBytes)} MiB, array buffers ${mib(memory.arrayBuffersBytes)} MiB`
  )
}

function kib(bytes: number): string {
  return (bytes / 1024).toFixed(1)
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(0)
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(2)
}
