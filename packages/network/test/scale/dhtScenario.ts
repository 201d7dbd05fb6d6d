// A DHT of N nodes on the simulator's virtual time: each node a plain
// ConnectionManager and a DhtNode, all joining through a few entry points;
// then lookups for random keys from random nodes, each compared with the k
// closest ids that brute force finds over every live node. Shared by the CI
// test (test/scale/dht.test.ts) and ad-hoc runs.
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { ManualClock } from '@runnel/protocol'
import { nativeSignatureVerifier } from '@runnel/protocol/native'
import { ConnectionManager, DEFAULT_MAX_CONNECTIONS } from '../../src/connection/ConnectionManager.js'
import { DhtNode } from '../../src/dht/DhtNode.js'
import { compareDistance, nodeIdToKey } from '../../src/dht/keys.js'
import type { NodeId } from '../../src/identity.js'
import { silentLogger } from '../../src/logger.js'
import { SeededRandom, Simulator, regionLatency } from '../../src/index.js'
import { NETWORK_PROTOCOL_VERSION } from '../../src/wire/frames.js'
import { seededSigner } from './scenario.js'

const RTT_FILE = new URL('../data/region-rtt-ms.json', import.meta.url)
const EPOCH_MS = Date.UTC(2026, 0, 1)

export interface DhtScenarioOptions {
  readonly nodes: number
  readonly seed: number
  readonly entryPoints?: number
  /** Nodes started together; the next wave starts once this one has joined. Default 250. */
  readonly wave?: number
  readonly k?: number
  readonly maxConnections?: number
}

export interface LookupFigures {
  readonly lookups: number
  /** Fraction of the true k closest (over live nodes) the lookups returned. */
  readonly hitRate: number
  /** Lookups that found all k. */
  readonly perfect: number
  readonly meanQueries: number
  /** Requests that failed (could not connect, closed, timed out) during the lookups, over all nodes. */
  readonly failedRequests: number
  readonly meanHops: number
  readonly meanVirtualMs: number
  readonly maxVirtualMs: number
  readonly wallMs: number
}

export interface DhtNetwork {
  readonly simulator: Simulator
  readonly clock: ManualClock
  readonly members: DhtMember[]
  readonly joinVirtualMs: number
  readonly joinWallMs: number
  /** Lookups for `count` random keys from random live nodes, all at once. */
  lookups(count: number, random: SeededRandom): Promise<LookupFigures>
  /** Stops `fraction` of the live nodes, chosen at random; returns how many. */
  kill(fraction: number, random: SeededRandom): Promise<number>
  stop(): Promise<void>
}

export interface DhtMember {
  readonly nodeId: NodeId
  readonly key: Uint8Array
  readonly connections: ConnectionManager
  readonly dht: DhtNode
  alive: boolean
}

const debugLogger = {
  ...silentLogger,
  debug: (message: string, fields?: object) => {
    if (message === 'DHT request failed') console.log(message, fields)
  },
}

function failedRequests(members: readonly DhtMember[]): number {
  return members.reduce((sum, member) => sum + member.dht.metrics.failures + member.dht.metrics.timeouts, 0)
}

export async function startDhtNetwork(options: DhtScenarioOptions): Promise<DhtNetwork> {
  const { rtt } = JSON.parse(readFileSync(RTT_FILE, 'utf8')) as { rtt: number[][] }
  const random = new SeededRandom(options.seed)
  const keys = random.fork('keys')
  const clock = new ManualClock(EPOCH_MS)
  const simulator = new Simulator({
    seed: options.seed,
    latency: regionLatency(rtt, { seed: options.seed, jitterMs: 2 }),
    clock,
  })
  const k = options.k ?? 8
  const entryPointCount = options.entryPoints ?? 3
  const members: DhtMember[] = []
  const transports = Array.from({ length: options.nodes }, () => simulator.createTransport())
  const entryPoints = transports.slice(0, entryPointCount).map((transport) => transport.address)
  for (const [index, transport] of transports.entries()) {
    const signer = seededSigner(keys)
    const dhtRandom = random.fork(`dht ${index}`)
    const connections = new ConnectionManager(
      {
        transport,
        signer,
        verifier: nativeSignatureVerifier,
        clock,
        events: {
          onPeerReady: (peer) => dht.handlePeerReady(peer),
          onControl: (peer, message) => void dht.handleControl(peer, message),
          onData: () => undefined,
          onPeerClosed: (peer) => dht.handlePeerClosed(peer.peerId),
        },
      },
      undefined,
      { maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS },
    )
    const dht = new DhtNode(
      {
        connections,
        signer,
        verifier: nativeSignatureVerifier,
        clock,
        logger: process.env.DHT_DEBUG !== undefined ? debugLogger : silentLogger,
        random: () => dhtRandom.nextFloat(),
        localDescriptor: () => connections.localDescriptor,
      },
      { entryPoints, k },
    )
    members.push({ nodeId: signer.address, key: nodeIdToKey(signer.address), connections, dht, alive: true })
  }
  const wallStart = performance.now()
  const virtualStart = clock.now()
  const wave = options.wave ?? 500
  for (let from = 0; from < members.length; from += from === 0 ? entryPointCount : wave) {
    const batch = members.slice(from, from === 0 ? entryPointCount : from + wave)
    await Promise.all(
      batch.map((member) =>
        member.connections.start((addresses) => ({
          nodeId: member.nodeId,
          kind: 'full',
          addresses,
          protocolVersion: NETWORK_PROTOCOL_VERSION,
        })),
      ),
    )
    for (const member of batch) void member.dht.start()
    // start() resolves even for a node still alone (it retries in the background): wait until all have joined.
    await simulator.runUntil(() => batch.every((member) => member.dht.joined), {
      pollMs: 10,
      timeoutMs: 120_000,
      description: `nodes ${from}.. to join`,
    })
  }
  const joinVirtualMs = clock.now() - virtualStart
  const joinWallMs = performance.now() - wallStart

  return {
    simulator,
    clock,
    members,
    joinVirtualMs,
    joinWallMs,
    async lookups(count, lookupRandom) {
      const live = members.filter((member) => member.alive)
      const wall = performance.now()
      const targets = Array.from({ length: count }, () => {
        const key = new Uint8Array(20)
        for (let index = 0; index < 20; index++) key[index] = lookupRandom.nextUint32() & 0xff
        return { key, from: live[lookupRandom.nextUint32() % live.length]! }
      })
      const before = targets.map(({ from }) => from.dht.metrics)
      const failuresBefore = failedRequests(members)
      const results: { found: NodeId[]; virtualMs: number }[] = []
      let done = 0
      for (const [index, { key, from }] of targets.entries()) {
        const started = clock.now()
        void from.dht.findClosest(key).then(
          (found) => {
            results[index] = { found: found.map((d) => d.nodeId), virtualMs: clock.now() - started }
            done++
          },
          () => {
            results[index] = { found: [], virtualMs: clock.now() - started }
            done++
          },
        )
      }
      await simulator.runUntil(() => done === count, { timeoutMs: 120_000, description: 'lookups' })
      const wallMs = performance.now() - wall
      let hits = 0
      let perfect = 0
      let queries = 0
      let hops = 0
      for (const [index, { key, from }] of targets.entries()) {
        const truth = new Set(
          [...live]
            .sort((a, b) => compareDistance(key, a.key, b.key))
            .slice(0, k)
            .map((member) => member.nodeId),
        )
        const found = results[index]!.found.filter((id) => truth.has(id)).length
        hits += found
        if (found === truth.size) perfect++
        else if (process.env.DHT_DEBUG !== undefined) {
          const missed = [...truth].filter((id) => !results[index]!.found.includes(id))
          console.log(
            'missed',
            missed.length,
            'of',
            truth.size,
            'found',
            results[index]!.found.length,
            'from',
            from.nodeId,
          )
        }
        const after = from.dht.metrics
        queries += after.lookupQueries - before[index]!.lookupQueries
        hops += after.lookupHops - before[index]!.lookupHops
      }
      // Several lookups from one node overlap in its counters: the sums stay right, per-lookup means too.
      const virtual = results.map((result) => result.virtualMs)
      return {
        lookups: count,
        hitRate: hits / (count * k),
        perfect,
        meanQueries: queries / count,
        failedRequests: failedRequests(members) - failuresBefore,
        meanHops: hops / count,
        meanVirtualMs: virtual.reduce((a, b) => a + b, 0) / count,
        maxVirtualMs: Math.max(...virtual),
        wallMs,
      }
    },
    async kill(fraction, killRandom) {
      const live = members.filter((member) => member.alive)
      const count = Math.round(live.length * fraction)
      for (let killed = 0; killed < count;) {
        const member = live[killRandom.nextUint32() % live.length]!
        if (!member.alive) continue
        member.alive = false
        member.dht.stop()
        await member.connections.stop()
        killed++
      }
      return count
    },
    async stop() {
      for (const member of members) {
        if (!member.alive) continue
        member.dht.stop()
        await member.connections.stop()
      }
      simulator.stop()
    },
  }
}
