// A tracker restart (tracker mode) or the loss of every entry point (dht mode) under a formed network, on the
// simulator's virtual time. N nodes join one stream part at once and form; node 0 publishes every 100 ms from then on.
// The tracker (or the DHT entry points, nodes 1..3, which restart with the peers they knew) goes down; during the outage a fraction of the other nodes
// leaves (their neighbours are left short and need the tracker or the DHT to replace them) and latecomers start
// (they can't join until the authority is back). Then it restarts with the same key on the same address, and every
// node that needs it reconnects at once. Measured: from the restart until every live node has its neighbours (and,
// with a tracker, is registered with it again), until the messages reach every live node again, and the
// connection attempts per second at the restarted addresses (what backoff spreads). Shared by
// `npm run scale -w @runnel/network -- --scenario restart` and the CI test (restart.test.ts).
import { performance } from 'node:perf_hooks'
import { ManualClock, type StreamMessage } from '@runnel/protocol'
import { nativeSignatureVerifier } from '@runnel/protocol/native'
import {
  NetworkNode,
  SeededRandom,
  Simulator,
  TrackerServer,
  type NetworkNodeOptions,
  type SimulatorTransport,
} from '../../src/index.js'
import type { MessageSigner } from '@runnel/protocol'
import { ChainPublisher } from '../helpers.js'
import { EPOCH_MS, latencyFor, seededSigner, sharedRecoveries } from './scenario.js'

export interface RestartOptions {
  readonly nodes: number
  readonly seed: number
  readonly discovery?: 'tracker' | 'dht'
  /** How long the tracker (entry points) stays down. Default 10 s. */
  readonly outageMs?: number
  /** Fraction of the other nodes that stop during the outage. Default 0.05. */
  readonly churn?: number
  /** Nodes that start in the middle of the outage, as a fraction of `nodes`. Default 0.05. */
  readonly latecomers?: number
  /**
   * Jittered backoff on (default). Off, every node draws the top of each window (random() ≈ 1), so reconnections
   * come in lockstep as before the backoff existed: the storm, for comparison. Tracker mode only.
   */
  readonly jitter?: boolean
  /**
   * DHT mode: each restarted entry point is given the peers its earlier instance knew (`dht.knownPeers`), as a node
   * that saves them does (default). Off, it knows only the other entry points, restarted empty like itself.
   */
  readonly knownPeers?: boolean
  readonly minNeighbors?: number
  /** Virtual time allowed for forming, and for re-forming after the restart. Default 120 s. */
  readonly timeoutMs?: number
}

export interface RestartResult {
  readonly nodes: number
  readonly discovery: 'tracker' | 'dht'
  readonly outageMs: number
  readonly jitter: boolean
  readonly knownPeers: boolean
  /** Live nodes at the end (the stopped ones out, latecomers and restarted entry points in). */
  readonly liveNodes: number
  readonly stopped: number
  readonly latecomers: number
  readonly formedMs: number
  /**
   * Virtual ms from the restart until every live node had `minNeighbors` (tracker mode: and was registered with the
   * restarted tracker); undefined if not within `timeoutMs`.
   */
  readonly reformedMs: number | undefined
  /** When re-forming ended (or timed out): live nodes with `minNeighbors`, and registered with the tracker. */
  readonly withNeighbors: number
  readonly registered: number | undefined
  /**
   * Virtual ms from the restart until the first message after which every message published reached every live
   * node (by its publish time); undefined if that never happened before the end.
   */
  readonly deliversAgainMs: number | undefined
  /** Of the messages published from the restart to the end, the fraction of (message, live node) pairs delivered. */
  readonly deliveryAfterRestart: number
  /** Messages published while the authority was down that every node that stayed up got. */
  readonly deliveryDuringOutage: number
  /** Connection attempts at the authority's addresses: per virtual second from the outage, and the peaks. */
  readonly attemptsPerSecond: readonly number[]
  readonly peakAttemptsPerSecond: number
  /** The busiest 100 ms, times 10. */
  readonly peakAttemptsPer100ms: number
  readonly attemptsAfterRestart: number
  readonly wallMs: number
}

/** Runs the scenario; throws (NetworkError TIMEOUT) if the network doesn't form, or re-form in time. */
export async function runRestartScenario(options: RestartOptions): Promise<RestartResult> {
  const { nodes: nodeCount, seed } = options
  const discovery = options.discovery ?? 'tracker'
  const outageMs = options.outageMs ?? 10_000
  const jitter = options.jitter ?? true
  const knownPeers = discovery === 'dht' && (options.knownPeers ?? true)
  const minNeighbors = options.minNeighbors ?? 3
  const timeoutMs = options.timeoutMs ?? 120_000
  const entryPointCount = 3
  const random = new SeededRandom(seed)
  const keys = random.fork('keys')
  const trackerRandom = random.fork('tracker')
  const latency = latencyFor(seed)
  const clock = new ManualClock(EPOCH_MS)
  const authority = new Set<string>()
  /** Dials to the authority's addresses, by virtual 100 ms since the outage began (before: ignored). */
  const attempts: number[] = []
  let outageAt: number | undefined
  const simulator = new Simulator({
    seed,
    latency: latency.model,
    clock,
    onDial: (_from, to) => {
      if (outageAt === undefined || !authority.has(to)) return
      const slot = Math.floor((clock.now() - outageAt) / 100)
      attempts[slot] = (attempts[slot] ?? 0) + 1
    },
  })
  const verifier = sharedRecoveries(nativeSignatureVerifier)
  const trackerSigner = seededSigner(keys)
  const startTracker = async (transport: SimulatorTransport): Promise<TrackerServer> => {
    const server = new TrackerServer(
      { transport, signer: trackerSigner, verifier, clock, random: () => trackerRandom.nextFloat() },
      {},
    )
    await server.start()
    return server
  }
  const trackerTransport = discovery === 'tracker' ? simulator.createTransport() : undefined
  let tracker = trackerTransport === undefined ? undefined : await startTracker(trackerTransport)
  const trackerAddress = trackerTransport?.address
  const stopCount = Math.round((nodeCount - 1 - (discovery === 'dht' ? entryPointCount : 0)) * (options.churn ?? 0.05))
  const lateCount = Math.round(nodeCount * (options.latecomers ?? 0.05))
  const transports = Array.from({ length: nodeCount + lateCount }, () => simulator.createTransport())
  const entryPoints = transports.slice(1, 1 + entryPointCount).map((transport) => transport.address)
  if (discovery === 'tracker') authority.add(trackerAddress!)
  else for (const address of entryPoints) authority.add(address)
  const nodeOptions: NetworkNodeOptions =
    discovery === 'tracker' ? { trackers: [trackerAddress!] } : { discovery: 'dht', entryPoints }
  const discoveryRandom = random.fork('discovery')
  const signers: MessageSigner[] = transports.map(() => seededSigner(keys))
  const makeNode = (index: number, transport: SimulatorTransport, peers: readonly string[] = []): NetworkNode =>
    new NetworkNode(
      {
        transport,
        signer: signers[index]!,
        verifier,
        clock,
        random: jitter ? () => discoveryRandom.nextFloat() : () => 0.9999,
      },
      peers.length === 0 ? nodeOptions : { ...nodeOptions, dht: { knownPeers: peers } },
    )
  const nodes: (NetworkNode | undefined)[] = transports.map((transport, index) => makeNode(index, transport))
  const publisher = new ChainPublisher('/simulated', 0, undefined, {
    signer: seededSigner(keys),
    chainId: `chain-${random.fork('chain').nextUint32().toString(36)}`,
    now: () => clock.now(),
  })
  const streamPartId = publisher.streamPartId
  /** Per node, which messages (by index) it got. */
  const received: Uint8Array[] = transports.map(() => new Uint8Array(4_096))
  const published: number[] = []
  const indexOf = new Map<string, number>()
  const keyOf = (message: StreamMessage): string => `${message.timestamp}/${message.sequenceNumber}`
  const bringUp = async (index: number): Promise<void> => {
    const node = nodes[index]!
    await node.start()
    node.addMessageListener(streamPartId, (message) => {
      const at = indexOf.get(keyOf(message))
      if (at !== undefined && at < received[index]!.length) received[index]![at] = 1
    })
    await node.join(streamPartId, { minNeighbors: 1 }).catch(() => undefined)
  }
  const live = (): number[] => nodes.flatMap((node, index) => (node === undefined || !started[index] ? [] : [index]))
  const started = transports.map((_, index) => index < nodeCount)
  const degreesOk = (): boolean =>
    live().every((index) => nodes[index]!.getNeighbors(streamPartId).length >= minNeighbors)

  let publishing = Promise.resolve()
  const publishOne = (): void => {
    publishing = publishing.then(async () => {
      const message = await publisher.next({ n: published.length })
      indexOf.set(keyOf(message), published.length)
      published.push(clock.now())
      nodes[0]!.broadcast(message)
    })
  }
  const wallStart = performance.now()
  let publishTimer: { cancel(): void } | undefined
  try {
    for (let index = 0; index < nodeCount; index++) void bringUp(index)
    const formedMs = await simulator.runUntil(degreesOk, {
      timeoutMs,
      pollMs: 10,
      description: `every node to have ${minNeighbors} neighbours`,
    })
    publishTimer = clock.setInterval(publishOne, 100)
    await simulator.runFor(2_000)

    // Down: the authority, and some of the others.
    outageAt = clock.now()
    const firstDuringOutage = published.length
    /** What each entry point would have saved for its next run. */
    const savedPeers = new Map<number, string[]>()
    if (tracker !== undefined) await tracker.stop()
    else {
      for (let index = 1; index <= entryPointCount; index++) {
        if (knownPeers) savedPeers.set(index, nodes[index]!.dht?.knownPeers() ?? [])
        await nodes[index]!.stop()
      }
    }
    const stoppable = live().filter((index) => index > (discovery === 'dht' ? entryPointCount : 0))
    const stopRandom = random.fork('stop')
    const stoppedIndexes = new Set<number>()
    while (stoppedIndexes.size < stopCount) stoppedIndexes.add(stoppable[stopRandom.nextUint32() % stoppable.length]!)
    for (const index of stoppedIndexes) {
      await nodes[index]!.stop()
      nodes[index] = undefined
    }
    if (discovery === 'dht') for (let index = 1; index <= entryPointCount; index++) nodes[index] = undefined
    await simulator.runFor(outageMs / 2)
    for (let index = nodeCount; index < transports.length; index++) {
      started[index] = true
      void bringUp(index)
    }
    await simulator.runFor(outageMs / 2)
    const lastDuringOutage = published.length

    // Up again, same key, same address.
    const restartAt = clock.now()
    if (discovery === 'tracker') tracker = await startTracker(simulator.createTransport({ address: trackerAddress }))
    else {
      for (let index = 1; index <= entryPointCount; index++) {
        const transport = simulator.createTransport({ address: transports[index]!.address })
        nodes[index] = makeNode(index, transport, savedPeers.get(index))
        void bringUp(index)
      }
    }
    const registered = (): boolean => {
      if (tracker === undefined) return true
      const members = new Set(tracker.members(streamPartId))
      return live().every((index) => members.has(nodes[index]!.nodeId))
    }
    // Not thrown on: a run that never re-forms still reports its attempts and delivery.
    const reformedMs = await simulator
      .runUntil(() => degreesOk() && registered(), {
        timeoutMs,
        pollMs: 10,
        description: 'every live node to have its neighbours again',
      })
      .catch(() => undefined)
    const registeredCount =
      tracker === undefined
        ? undefined
        : live().filter((index) => new Set(tracker!.members(streamPartId)).has(nodes[index]!.nodeId)).length
    const neighborsOk = live().filter((index) => nodes[index]!.getNeighbors(streamPartId).length >= minNeighbors).length
    // Until a message published after the restart, a second or more ago, has reached every live node.
    const reachedAll = (message: number): boolean =>
      live().every((index) => index === 0 || received[index]![message] === 1)
    await simulator
      .runUntil(
        () => {
          let settled = published.length - 1
          while (settled >= 0 && published[settled]! > clock.now() - 1_000) settled--
          return settled >= 0 && published[settled]! >= restartAt && reachedAll(settled)
        },
        { timeoutMs, pollMs: 100, description: 'a message to reach every live node' },
      )
      .catch(() => undefined)
    await simulator.runFor(10_000)
    publishTimer.cancel()
    await publishing
    await simulator.runFor(2_000)
    const wallMs = performance.now() - wallStart

    const liveIndexes = live()
    const stayedUp = liveIndexes.filter((index) => index < nodeCount && index > (discovery === 'dht' ? 3 : 0))
    const firstAfterRestart = published.findIndex((at) => at >= restartAt)
    let deliversAgainFrom: number | undefined
    for (let message = published.length - 1; message >= firstAfterRestart; message--) {
      if (!liveIndexes.every((index) => index === 0 || received[index]![message] === 1)) break
      deliversAgainFrom = message
    }
    let deliveredAfter = 0
    let expectedAfter = 0
    for (let message = firstAfterRestart; message < published.length; message++) {
      for (const index of liveIndexes) {
        if (index === 0) continue
        expectedAfter++
        deliveredAfter += received[index]![message]!
      }
    }
    let deliveredDuring = 0
    let expectedDuring = 0
    for (let message = firstDuringOutage; message < lastDuringOutage; message++) {
      for (const index of stayedUp) {
        expectedDuring++
        deliveredDuring += received[index]![message]!
      }
    }
    const perSecond: number[] = []
    for (let slot = 0; slot < attempts.length; slot++) {
      perSecond[Math.floor(slot / 10)] = (perSecond[Math.floor(slot / 10)] ?? 0) + (attempts[slot] ?? 0)
    }
    const restartSlot = Math.floor((restartAt - outageAt) / 100)
    return {
      nodes: nodeCount,
      discovery,
      outageMs,
      jitter,
      knownPeers,
      liveNodes: liveIndexes.length,
      stopped: stoppedIndexes.size,
      latecomers: lateCount,
      formedMs,
      reformedMs,
      withNeighbors: neighborsOk,
      registered: registeredCount,
      deliversAgainMs: deliversAgainFrom === undefined ? undefined : published[deliversAgainFrom]! - restartAt,
      deliveryAfterRestart: deliveredAfter / Math.max(1, expectedAfter),
      deliveryDuringOutage: deliveredDuring / Math.max(1, expectedDuring),
      attemptsPerSecond: Array.from(perSecond, (count) => count ?? 0),
      peakAttemptsPerSecond: Math.max(0, ...Array.from(perSecond, (count) => count ?? 0)),
      peakAttemptsPer100ms: 10 * Math.max(0, ...Array.from(attempts, (count) => count ?? 0)),
      attemptsAfterRestart: attempts.slice(restartSlot).reduce((sum, count) => sum + (count ?? 0), 0),
      wallMs,
    }
  } finally {
    publishTimer?.cancel()
    await Promise.all(nodes.flatMap((node) => (node === undefined ? [] : [node.stop()])))
    await tracker?.stop()
    simulator.stop()
  }
}

/** The result as the lines the scale run prints. */
export function describeRestart(result: RestartResult): string[] {
  const what = result.discovery === 'tracker' ? 'the tracker' : 'the 3 entry points'
  return [
    `nodes ${result.nodes}, discovery ${result.discovery}, ${what} down ${(result.outageMs / 1000).toFixed(0)} s; ` +
      `${result.stopped} nodes stopped and ${result.latecomers} started during the outage; backoff jitter ${result.jitter ? 'on' : 'OFF'}` +
      (result.discovery === 'dht'
        ? `; entry points restart ${result.knownPeers ? 'with their known peers' : 'knowing NO peers'}`
        : ''),
    `formed in ${s(result.formedMs)} s; after the restart: ` +
      (result.reformedMs === undefined
        ? `NOT re-formed (${result.withNeighbors} of ${result.liveNodes} live nodes with their neighbours, ${result.registered ?? '-'} registered), `
        : `every live node (${result.liveNodes}) re-formed in ${s(result.reformedMs)} s, `) +
      `delivering to all again ${result.deliversAgainMs === undefined ? 'NEVER' : `from messages published ${s(result.deliversAgainMs)} s after it`}`,
    `delivery during the outage (nodes that stayed up) ${pct(result.deliveryDuringOutage)}; after the restart ${pct(result.deliveryAfterRestart)}`,
    `connection attempts at ${result.discovery === 'tracker' ? 'the tracker' : 'the entry points'}: ${result.attemptsAfterRestart} after the restart; ` +
      `peak ${result.peakAttemptsPerSecond}/s (busiest 100 ms: ${result.peakAttemptsPer100ms}/s)`,
    `  per second from the outage (restart at ${(result.outageMs / 1000).toFixed(0)} s): ${result.attemptsPerSecond.slice(0, 40).join(' ')}`,
    `wall ${s(result.wallMs)} s`,
  ]
}

function s(ms: number): string {
  return (ms / 1000).toFixed(2)
}

function pct(fraction: number): string {
  return `${(fraction * 100).toFixed(2)}%`
}
