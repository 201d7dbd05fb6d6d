// One attacked network on the simulator's virtual time: a tracker (or the DHT), N full nodes joining one stream part
// at once, a share of them attackers of one kind, node 0 an honest publisher sending a steady stream. After a warm-up
// (time for mitigations to act on what the nodes see), a measured run of messages gives delivery to honest nodes
// (delivered (honest node, message) pairs over all pairs) and latency. Every random choice comes from the seed, so a
// seed gives one run. Attackers are plug-ins (`ATTACKERS`): each says how its nodes are configured and what they do
// once started; new kinds register themselves there.
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { ManualClock, type StreamMessage, type StreamPartId } from '@runnel/protocol'
import { nativeSignatureVerifier } from '@runnel/protocol/native'
import {
  NetworkNode,
  SeededRandom,
  Simulator,
  regionLatency,
  type NetworkNodeOptions,
  type NodeId,
  type SimulatorTransport,
  type TrackerServerOptions,
} from '../../../src/index.js'
import { ChainPublisher } from '../../helpers.js'
import { seededSigner, sharedRecoveries, startSimulatedTracker } from '../scenario.js'

const RTT_FILE = new URL('../../data/region-rtt-ms.json', import.meta.url)
const EPOCH_MS = Date.UTC(2026, 0, 1)

export type DiscoveryMode = 'tracker' | 'dht'

/** What an attacker plug-in sees of the network it attacks. */
export interface AttackContext {
  readonly discovery: DiscoveryMode
  readonly simulator: Simulator
  readonly clock: ManualClock
  readonly random: SeededRandom
  readonly streamPartId: StreamPartId
  readonly nodes: readonly NetworkNode[]
  readonly transports: readonly SimulatorTransport[]
  /** Indices of the attackers' nodes, and of the honest ones (node 0, the publisher, is honest; so are DHT entry points). */
  readonly attackers: readonly number[]
  readonly honest: readonly number[]
  /** Honest nodes an attack aims at (see `AttackerSpec.victims`); empty for attacks on everyone. */
  readonly victims: readonly number[]
  /** Runs `task` every `everyMs` of virtual time until the scenario ends. */
  repeat(everyMs: number, task: () => void): void
}

/** An attacker kind: how its nodes are set up and what they do. */
export interface AttackerSpec {
  readonly description: string
  /** Options of each attacker node, over the scenario's own (discovery) options. */
  nodeOptions?(base: NetworkNodeOptions): NetworkNodeOptions
  /** How many honest nodes are victims (given the honest count); default none. */
  victims?(honestCount: number): number
  /** Called once every node has been told to start (not awaited in dht mode): start the attack. */
  start?(context: AttackContext): void
}

/** The attacker kinds, by the name `--attack` takes. Other pieces add theirs (`ATTACKERS.set(name, spec)`). */
export const ATTACKERS = new Map<string, AttackerSpec>([
  ['none', { description: 'no attacker: the baseline' }],
  [
    'dropper',
    {
      description: 'joins like anyone and takes every message, relays none (dropRelayedMessages)',
      nodeOptions: (base) => ({ ...base, dropRelayedMessages: true }),
    },
  ],
  [
    'eclipse',
    {
      description:
        'droppers that accept every neighbour request (maxDegree 32) and ask the victims every second to fill all their slots',
      nodeOptions: (base) => ({ ...base, dropRelayedMessages: true, maxDegree: 32 }),
      victims: (honestCount) => Math.max(1, Math.round(honestCount * 0.05)),
      start(context) {
        const { nodes, victims, attackers, streamPartId } = context
        const rush = (): void => {
          const targets = victims.map((index) => nodes[index]!.descriptor)
          for (const index of attackers) {
            try {
              nodes[index]!.requestPeers(streamPartId, targets)
            } catch {
              // Not started yet (dht mode bootstraps first): the next round asks.
            }
          }
        }
        context.repeat(1_000, rush)
      },
    },
  ],
])

/** Options of the honest nodes and the tracker when mitigations are on. Other pieces add theirs. */
export interface Mitigations {
  node: NetworkNodeOptions
  tracker: TrackerServerOptions
}

export const MITIGATIONS: Mitigations = {
  // Neighbour scoring (probes, rotation) and two slots kept for the node's own picks (eclipse).
  node: { neighborScoring: true, minOwnNeighbors: 2 },
  tracker: {},
}

export interface AttackScenarioOptions {
  readonly nodes: number
  readonly seed: number
  readonly discovery: DiscoveryMode
  /** A name in {@link ATTACKERS}. */
  readonly attack: string
  /** Share of the nodes that attack, 0..1 (rounded to whole nodes). */
  readonly fraction: number
  /** Honest nodes (and the tracker) use {@link MITIGATIONS}. */
  readonly mitigations: boolean
  /** 'dht' mode: nodes 1..entryPoints are honest entry points. Default 3. */
  readonly entryPoints?: number
  /** Virtual time the publisher sends before the measured messages: what mitigations learn from. Default 30 s. */
  readonly warmupMs?: number
  /** The publisher sends one message every this many virtual ms, warm-up and measured. Default 200. */
  readonly publishIntervalMs?: number
  /** Measured messages. Default 50. */
  readonly messages?: number
  /** After the last measured message, wait at most this long for the rest to arrive. Default 15 s. */
  readonly drainMs?: number
}

export interface Latency {
  readonly mean: number
  readonly p99: number
}

export interface AttackResult {
  readonly options: AttackScenarioOptions
  readonly attackers: number
  readonly honestSubscribers: number
  /** Delivered (honest subscriber, measured message) pairs over all such pairs. */
  readonly delivery: number
  /** The same over the victims only (attacks with victims), else undefined. */
  readonly victimDelivery: number | undefined
  /** Honest subscribers that got none of the measured messages. */
  readonly cutOff: number
  /** Publish → first arrival, over delivered pairs, in virtual ms. */
  readonly latency: Latency
  /** Neighbours rotated out by scoring, over the honest nodes (0 without the mitigation). */
  readonly rotations: number
  /** Honest nodes' neighbour counts at the end: least and mean. */
  readonly honestDegree: { readonly min: number; readonly mean: number }
  readonly simulatedMs: number
  readonly wallMs: number
}

function keyOf(message: StreamMessage): string {
  return `${message.timestamp}/${message.sequenceNumber}`
}

function latencyOf(values: number[]): Latency {
  if (values.length === 0) return { mean: NaN, p99: NaN }
  const sorted = Float64Array.from(values).sort()
  const sum = sorted.reduce((total, value) => total + value, 0)
  return { mean: sum / sorted.length, p99: sorted[Math.min(sorted.length - 1, Math.floor(0.99 * sorted.length))]! }
}

/** Picks `count` distinct items of `from` with `random`. */
function pick(from: readonly number[], count: number, random: SeededRandom): number[] {
  const pool = [...from]
  for (let i = pool.length - 1; i > 0; i--) {
    const j = random.nextUint32() % (i + 1)
    ;[pool[i], pool[j]] = [pool[j]!, pool[i]!]
  }
  return pool.slice(0, count).sort((a, b) => a - b)
}

/** Runs one attacked network; never throws for poor delivery (that is the measurement). */
export async function runAttackScenario(options: AttackScenarioOptions): Promise<AttackResult> {
  const spec = ATTACKERS.get(options.attack)
  if (spec === undefined)
    throw new Error(`unknown attack ${options.attack}; known: ${[...ATTACKERS.keys()].join(', ')}`)
  const { nodes: nodeCount, seed, discovery } = options
  const warmupMs = options.warmupMs ?? 30_000
  const publishIntervalMs = options.publishIntervalMs ?? 200
  const messageCount = options.messages ?? 50
  const drainMs = options.drainMs ?? 15_000
  const entryPointCount = discovery === 'dht' ? Math.min(options.entryPoints ?? 3, nodeCount - 1) : 0
  const random = new SeededRandom(seed)
  const keys = random.fork('keys')
  const { rtt } = JSON.parse(readFileSync(RTT_FILE, 'utf8')) as { rtt: number[][] }
  const clock = new ManualClock(EPOCH_MS)
  const simulator = new Simulator({ seed, latency: regionLatency(rtt, { seed, jitterMs: 2 }), clock })
  const verifier = sharedRecoveries(nativeSignatureVerifier)

  const trackerRandom = random.fork('tracker')
  const started =
    discovery === 'tracker'
      ? await startSimulatedTracker(
          simulator.createTransport(),
          seededSigner(keys),
          verifier,
          clock,
          trackerRandom,
          options.mitigations ? MITIGATIONS.tracker : {},
        )
      : undefined
  const tracker = started?.tracker
  const trackerAddress = started?.address
  const transports = Array.from({ length: nodeCount }, () => simulator.createTransport())
  const entryPoints = transports.slice(1, 1 + entryPointCount).map((transport) => transport.address)
  const base: NetworkNodeOptions =
    discovery === 'tracker' ? { trackers: [trackerAddress!] } : { discovery: 'dht', entryPoints }

  // Who attacks: never the publisher or an entry point (an attack on those is another experiment).
  const eligible = Array.from({ length: nodeCount }, (_, index) => index).filter((index) => index > entryPointCount)
  const attackerCount = Math.min(eligible.length, Math.round(nodeCount * options.fraction))
  const attackers = pick(eligible, attackerCount, random.fork('attackers'))
  const isAttacker = new Set(attackers)
  const honest = Array.from({ length: nodeCount }, (_, index) => index).filter((index) => !isAttacker.has(index))
  const victimCount = spec.victims?.(honest.length) ?? 0
  const victims = pick(
    honest.filter((index) => index > entryPointCount),
    victimCount,
    random.fork('victims'),
  )

  const discoveryRandom = random.fork('discovery')
  const honestOptions: NetworkNodeOptions = options.mitigations ? { ...base, ...MITIGATIONS.node } : base
  const nodes = transports.map(
    (transport, index) =>
      new NetworkNode(
        { transport, signer: seededSigner(keys), verifier, clock, random: () => discoveryRandom.nextFloat() },
        isAttacker.has(index) ? (spec.nodeOptions?.(base) ?? base) : honestOptions,
      ),
  )
  const publisher = new ChainPublisher('/attacked', 0, undefined, {
    signer: seededSigner(keys),
    chainId: `chain-${random.fork('chain').nextUint32().toString(36)}`,
    now: () => clock.now(),
  })
  const streamPartId = publisher.streamPartId
  const arrivals = nodes.map(() => new Map<string, number>())
  const timers: { cancel(): void }[] = []
  const context: AttackContext = {
    discovery,
    simulator,
    clock,
    random: random.fork('attack'),
    streamPartId,
    nodes,
    transports,
    attackers,
    honest,
    victims,
    repeat: (everyMs, task) => void timers.push(clock.setInterval(task, everyMs)),
  }

  const wallStart = performance.now()
  const startedAt = clock.now()
  try {
    let started = 0
    for (const [index, node] of nodes.entries()) {
      void (async () => {
        try {
          await node.start()
          node.addMessageListener(streamPartId, (message) => {
            const key = keyOf(message)
            if (!arrivals[index]!.has(key)) arrivals[index]!.set(key, clock.now())
          })
          await node.join(streamPartId)
        } catch {
          // A node that fails to start simply never receives: it shows in delivery.
        }
        started++
      })()
    }
    spec.start?.(context)
    await simulator.runUntil(() => started === nodeCount, {
      timeoutMs: 60_000,
      pollMs: 10,
      description: 'every node to start',
    })

    // Warm-up, then measured: one message every publishIntervalMs throughout, chained so they leave in order.
    const published: { key: string; at: number }[] = []
    let publishing = Promise.resolve()
    let measuring = false
    const publishOne = (): void => {
      publishing = publishing.then(async () => {
        const message = await publisher.next({ n: published.length })
        if (measuring) published.push({ key: keyOf(message), at: clock.now() })
        nodes[0]!.broadcast(message)
      })
    }
    const publishTimer = clock.setInterval(publishOne, publishIntervalMs)
    timers.push(publishTimer)
    await simulator.runFor(warmupMs)
    measuring = true
    await simulator.runUntil(() => published.length >= messageCount, {
      timeoutMs: messageCount * publishIntervalMs * 2 + 10_000,
      pollMs: 10,
      description: 'the measured messages to be published',
    })
    publishTimer.cancel()
    await publishing
    const subscribers = honest.filter((index) => index !== 0)
    const allArrived = (): boolean =>
      subscribers.every((index) => published.every(({ key }) => arrivals[index]!.has(key)))
    try {
      await simulator.runUntil(allArrived, { timeoutMs: drainMs, pollMs: 50, description: 'the measured messages' })
    } catch {
      // Some never arrive: that is what is measured.
    }

    const measured = published.slice(0, messageCount)
    const deliveryOver = (indices: readonly number[]): { delivered: number; latencies: number[]; cutOff: number } => {
      let delivered = 0
      let cutOff = 0
      const latencies: number[] = []
      for (const index of indices) {
        let got = 0
        for (const { key, at } of measured) {
          const arrived = arrivals[index]!.get(key)
          if (arrived === undefined) continue
          got++
          latencies.push(arrived - at)
        }
        delivered += got
        if (got === 0) cutOff++
      }
      return { delivered, latencies, cutOff }
    }
    const all = deliveryOver(subscribers)
    const ofVictims = victims.length === 0 ? undefined : deliveryOver(victims)
    const degrees = honest.map((index) => nodes[index]!.getNeighbors(streamPartId).length)
    const rotations = honest.reduce((sum, index) => sum + rotationsOf(nodes[index]!), 0)
    return {
      options,
      attackers: attackers.length,
      honestSubscribers: subscribers.length,
      delivery: all.delivered / (subscribers.length * measured.length),
      victimDelivery: ofVictims === undefined ? undefined : ofVictims.delivered / (victims.length * measured.length),
      cutOff: all.cutOff,
      latency: latencyOf(all.latencies),
      rotations,
      honestDegree: {
        min: Math.min(...degrees),
        mean: degrees.reduce((a, b) => a + b, 0) / degrees.length,
      },
      simulatedMs: clock.now() - startedAt,
      wallMs: performance.now() - wallStart,
    }
  } finally {
    for (const timer of timers) timer.cancel()
    await Promise.all(nodes.map((node) => node.stop()))
    await tracker?.stop()
    simulator.stop()
  }
}

/** Neighbours the node's scoring rotated out, over its stream parts. */
function rotationsOf(node: NetworkNode): number {
  return node.getMetrics().scoring.rotations
}

/** Ids of the given nodes (for plug-ins that need them). */
export function idsOf(nodes: readonly NetworkNode[], indices: readonly number[]): NodeId[] {
  return indices.map((index) => nodes[index]!.nodeId)
}
