// DHT poisoning and Sybil attackers on the simulator's virtual time, in both
// discovery modes, and what they do to honest nodes with the mitigations off
// and on. Every node has an IP (simulator transports `sim://<ip>/<n>`), so
// per-address and per-subnet limits see them: honest nodes each in a /24 of
// their own, poisoners spread over /24s of their own, Sybils all in one /24.
//
// Attackers (their ids ground to be the closest to the stream part's DHT key,
// where its entry-point records are stored; see `grind`):
// - 'poison' (DHT mode): colluding nodes that answer every find-node request
//   with the attackers closest to the key (bogus "closer" nodes), every
//   find-records request with the attackers' own entry-point records (valid,
//   signed by each attacker: forged ones are refused by signature already)
//   and attackers as closest, and take every store, keeping nothing. They
//   join the stream part and relay nothing (`dropRelayedMessages`).
// - 'sybil' (both modes): the same nodes, all from one /24 (203.0.113.0/24).
//   In tracker mode they join the stream part and relay nothing, surrounding
//   honest nodes; in DHT mode they also poison as above.
//
// Measured: delivery to honest nodes of messages published by an honest node,
// and in DHT mode lookup success: the fraction of honest entry-point lookups
// (findRecords under the stream part's key) that return at least one honest
// entry point, and of honest node lookups (findClosest of random keys) that
// find the honest node truly closest to the key.
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { ManualClock, type MessageSigner, type StreamMessage } from '@runnel/protocol'
import { nativeSignatureVerifier } from '@runnel/protocol/native'
import type { DhtPeer } from '../../../src/dht/DhtRequests.js'
import { compareDistance, dhtKeyOfStreamPart, nodeIdToKey } from '../../../src/dht/keys.js'
import { recordToProto, signRecord, type SignedRecord } from '../../../src/dht/records.js'
import { encodeEntryPoint } from '../../../src/discovery/entryPoints.js'
import type { ControlMessage } from '../../../src/generated/runnel/network/v1/network_pb.js'
import { descriptorToProto } from '../../../src/identity.js'
import {
  NetworkNode,
  SeededRandom,
  Simulator,
  TrackerServer,
  regionLatency,
  type NetworkNodeOptions,
  type NodeDescriptor,
  type NodeId,
} from '../../../src/index.js'
import { ChainPublisher } from '../../helpers.js'
import { seededSigner, sharedRecoveries } from '../scenario.js'

const RTT_FILE = new URL('../../data/region-rtt-ms.json', import.meta.url)
const EPOCH_MS = Date.UTC(2026, 0, 1)
/** Where every Sybil comes from. */
export const SYBIL_SUBNET = '203.0.113'
/** Large enough to be no cap at all (the options want integers). */
const NO_CAP = 1_000_000_000

export type DhtAttackKind = 'poison' | 'sybil'

export interface DhtAttackOptions {
  readonly nodes: number
  readonly seed: number
  readonly discovery: 'tracker' | 'dht'
  readonly kind: DhtAttackKind
  /** Fraction of the nodes that attack, in [0, 1). */
  readonly fraction: number
  /** Whether the DHT and tracker mitigations are on (`mitigatedOptions`), or every cap is lifted. */
  readonly mitigated: boolean
  /** Disjoint lookup paths with mitigations on. Default 3. */
  readonly lookupPaths?: number
  /** Messages published once the overlay formed. Default 20. */
  readonly messages?: number
  /** Entry-point lookups and node lookups measured (DHT mode), each. Default 100. */
  readonly lookups?: number
  /** Virtual time for forming, and for delivering, each. Default 60 s. */
  readonly timeoutMs?: number
  /**
   * Attackers grind their ids: each draws this many keys and keeps the ones closest to the stream part's DHT key,
   * so they are the nodes its entry-point records are stored at (1: no grinding). Ethereum keys are cheap: 16 keys
   * each is milliseconds. Default 16.
   */
  readonly grind?: number
}

export interface DhtAttackResult {
  readonly options: DhtAttackOptions
  readonly honest: number
  readonly attackers: number
  /** Deliveries to honest subscribers over deliveries expected. */
  readonly delivery: number
  /** Honest nodes with at least one neighbour once forming ended. */
  readonly honestWithNeighbors: number
  /** Of the honest nodes' neighbours, the fraction that are attackers. */
  readonly attackerNeighborShare: number
  /** DHT mode: honest entry-point lookups that returned an honest entry point. */
  readonly entryPointLookups: number | undefined
  /** DHT mode: honest node lookups that found the closest honest node. */
  readonly closestLookups: number | undefined
  /** Tracker mode: reports the tracker ignored for the per-subnet member cap. */
  readonly trackerSubnetCapped: number | undefined
  /** DHT mode: requests per lookup, over every lookup honest nodes made (joins, refreshes, discovery, measured). */
  readonly queriesPerLookup: number | undefined
  /** Tracker mode: attackers the tracker took as members of the stream part. */
  readonly attackerMembers: number | undefined
  readonly wallMs: number
}

/** The DHT and tracker settings of a run with mitigations on or off. */
export function mitigationSettings(
  mitigated: boolean,
  lookupPaths = 3,
): {
  node: Pick<NetworkNodeOptions, 'dht' | 'inbound'>
  tracker: { maxMembersPerSubnet?: number; inbound?: NetworkNodeOptions['inbound'] }
} {
  if (mitigated) return { node: { dht: { lookupPaths } }, tracker: {} }
  return {
    node: {
      dht: {
        lookupPaths: 1,
        maxPerSubnetPerBucket: NO_CAP,
        maxPerSubnetPerLookup: NO_CAP,
        maxRecordsPerSubnetPerKey: NO_CAP,
        maxEntryPointsPerSubnet: NO_CAP,
      },
      inbound: { maxPerIp: Infinity, maxPerSubnet: Infinity },
    },
    tracker: { maxMembersPerSubnet: NO_CAP, inbound: { maxPerIp: Infinity, maxPerSubnet: Infinity } },
  }
}

/**
 * The attackers' shared knowledge: they collude, so each names the others
 * closest to any key and hands out their entry-point records.
 */
export class AttackerPool {
  readonly descriptors: NodeDescriptor[] = []
  readonly records: SignedRecord[] = []

  closest(key: Uint8Array, count: number, exclude: NodeId): NodeDescriptor[] {
    return this.descriptors
      .filter((descriptor) => descriptor.nodeId !== exclude)
      .map((descriptor) => ({ descriptor, key: nodeIdToKey(descriptor.nodeId) }))
      .sort((a, b) => compareDistance(key, a.key, b.key))
      .slice(0, count)
      .map(({ descriptor }) => descriptor)
  }
}

/** Makes `node`'s DHT answer as a poisoner (see the header); its own lookups stay honest. */
export function poison(node: NetworkNode, pool: AttackerPool, k: number, random: SeededRandom): void {
  const dht = node.dht!
  const honestHandle = dht.handleControl.bind(dht)
  dht.handleControl = (peer: DhtPeer, message: ControlMessage): boolean => {
    const body = message.body
    switch (body.case) {
      case 'dhtFindNodeRequest':
        peer.sendControl({
          case: 'dhtFindNodeResponse',
          value: {
            requestId: body.value.requestId,
            closest: pool.closest(body.value.key, k, peer.peerId).map((d) => descriptorToProto(d)),
          },
        })
        return true
      case 'dhtFindRecordsRequest': {
        const start = pool.records.length <= k ? 0 : random.nextUint32() % (pool.records.length - k)
        peer.sendControl({
          case: 'dhtFindRecordsResponse',
          value: {
            requestId: body.value.requestId,
            records: pool.records.slice(start, start + k).map(recordToProto),
            closest: pool.closest(body.value.key, k, peer.peerId).map((d) => descriptorToProto(d)),
            seekers: [],
          },
        })
        return true
      }
      case 'dhtStoreRequest':
        peer.sendControl({
          case: 'dhtStoreResponse',
          value: { requestId: body.value.requestId, stored: true, reason: '' },
        })
        return true
      default:
        return honestHandle(peer, message)
    }
  }
}

/** A public IPv4 address in a /24 of its own for honest node `index` (none private, none the Sybils'). */
function honestIp(index: number): string {
  return `${11 + ((index >> 16) & 0x3f)}.${(index >> 8) & 0xff}.${index & 0xff}.7`
}

function poisonerIp(index: number): string {
  return `${80 + ((index >> 16) & 0x0f)}.${(index >> 8) & 0xff}.${index & 0xff}.9`
}

/**
 * Runs one attack: forms the overlay with the attackers among the nodes, publishes from an honest node, and
 * measures what honest nodes get. Never throws for an attack that succeeds: a stream part that doesn't form or
 * deliver shows in the figures.
 */
export async function runDhtAttack(options: DhtAttackOptions): Promise<DhtAttackResult> {
  const { nodes: nodeCount, seed, discovery, kind } = options
  const messageCount = options.messages ?? 20
  const lookupCount = options.lookups ?? 100
  const timeoutMs = options.timeoutMs ?? 60_000
  const k = 8
  const random = new SeededRandom(seed)
  const keys = random.fork('keys')
  const pick = random.fork('attackers')
  const { rtt } = JSON.parse(readFileSync(RTT_FILE, 'utf8')) as { rtt: number[][] }
  const clock = new ManualClock(EPOCH_MS)
  const simulator = new Simulator({ seed, latency: regionLatency(rtt, { seed, jitterMs: 2 }), clock })
  const verifier = sharedRecoveries(nativeSignatureVerifier)
  const settings = mitigationSettings(options.mitigated, options.lookupPaths)
  const entryPointCount = 3

  // Node 0 publishes; in DHT mode nodes 1..3 are the entry points. Those are honest; attackers are drawn from the rest.
  const attackerCount = Math.round(nodeCount * options.fraction)
  const eligible = Array.from({ length: nodeCount - 1 - entryPointCount }, (_, index) => index + 1 + entryPointCount)
  for (let index = eligible.length - 1; index > 0; index--) {
    const other = pick.nextUint32() % (index + 1)
    ;[eligible[index], eligible[other]] = [eligible[other]!, eligible[index]!]
  }
  const attacking = new Set(eligible.slice(0, attackerCount))

  const trackerTransport = simulator.createTransport({ ip: '198.51.100.1' })
  const tracker =
    discovery === 'tracker'
      ? new TrackerServer(
          { transport: trackerTransport, signer: seededSigner(keys), verifier, clock, random: () => pick.nextFloat() },
          settings.tracker,
        )
      : undefined
  const trackerAddress = tracker === undefined ? undefined : (await tracker.start())[0]!
  let sybils = 0
  let poisoners = 0
  const transports = Array.from({ length: nodeCount }, (_, index) => {
    if (!attacking.has(index)) return simulator.createTransport({ ip: honestIp(index) })
    if (kind === 'sybil') return simulator.createTransport({ ip: `${SYBIL_SUBNET}.${1 + (sybils++ % 254)}` })
    return simulator.createTransport({ ip: poisonerIp(poisoners++) })
  })
  const entryPoints = transports.slice(1, 1 + entryPointCount).map((transport) => transport.address)
  const discoveryOptions: NetworkNodeOptions =
    discovery === 'tracker' ? { trackers: [trackerAddress!] } : { discovery: 'dht', entryPoints }
  const publisher = new ChainPublisher('/attacked', 0, undefined, {
    signer: seededSigner(keys),
    chainId: 'attack-chain',
    now: () => clock.now(),
  })
  const streamPartId = publisher.streamPartId
  const streamKey = dhtKeyOfStreamPart(streamPartId)
  const discoveryRandom = random.fork('discovery')
  const signers: MessageSigner[] = transports.map(() => seededSigner(keys))
  const grind = options.grind ?? 16
  if (grind > 1 && attacking.size > 0) {
    // The attackers' ids: the closest to the stream part's key of grind × as many keys as there are attackers.
    const drawn = Array.from({ length: attacking.size * grind }, () => seededSigner(keys))
    drawn.sort((a, b) => compareDistance(streamKey, nodeIdToKey(a.address), nodeIdToKey(b.address)))
    ;[...attacking].forEach((index, order) => (signers[index] = drawn[order]!))
  }
  const nodes = transports.map(
    (transport, index) =>
      new NetworkNode(
        { transport, signer: signers[index]!, verifier, clock, random: () => discoveryRandom.nextFloat() },
        { ...discoveryOptions, ...settings.node, dropRelayedMessages: attacking.has(index) },
      ),
  )
  const honestIndexes = nodes.map((_, index) => index).filter((index) => !attacking.has(index))
  const honestIds = new Set(honestIndexes.map((index) => nodes[index]!.nodeId))
  const attackerIds = new Set([...attacking].map((index) => nodes[index]!.nodeId))
  const pool = new AttackerPool()
  const poisonRandom = random.fork('poison')
  if (discovery === 'dht') for (const index of attacking) poison(nodes[index]!, pool, k, poisonRandom)

  const wallStart = performance.now()
  const received = nodes.map(() => new Set<string>())
  try {
    let started = 0
    for (const [index, node] of nodes.entries()) {
      void node.start().then(
        async () => {
          started++
          node.addMessageListener(streamPartId, (message: StreamMessage) =>
            received[index]!.add(`${message.timestamp}/${message.sequenceNumber}`),
          )
          if (attacking.has(index) && discovery === 'dht') {
            pool.descriptors.push(node.descriptor)
            pool.records.push(
              await signRecord(signers[index]!, {
                key: streamKey,
                value: encodeEntryPoint(node.descriptor),
                expiresAt: clock.now() + 50 * 60_000,
                sequence: BigInt(clock.now()),
              }),
            )
          }
          await node.join(streamPartId).catch(() => undefined)
        },
        () => started++,
      )
    }
    await simulator.runUntil(() => started === nodeCount, { timeoutMs, pollMs: 10, description: 'every node to start' })
    const formed = (): boolean => honestIndexes.every((index) => nodes[index]!.getNeighbors(streamPartId).length >= 3)
    await simulator.runUntil(formed, { timeoutMs, pollMs: 50 }).catch(() => undefined)
    // A little more time for the overlay to settle either way.
    await simulator.runFor(5_000)
    let neighbors = 0
    let attackerNeighbors = 0
    let honestWithNeighbors = 0
    for (const index of honestIndexes) {
      const ids = nodes[index]!.getNeighbors(streamPartId)
      if (ids.length > 0) honestWithNeighbors++
      neighbors += ids.length
      attackerNeighbors += ids.filter((id) => attackerIds.has(id)).length
    }

    const published: string[] = []
    for (let count = 0; count < messageCount; count++) {
      const message = await publisher.next({ count })
      published.push(`${message.timestamp}/${message.sequenceNumber}`)
      nodes[0]!.broadcast(message)
    }
    const subscribers = honestIndexes.filter((index) => index !== 0)
    const deliveredCount = (): number =>
      subscribers.reduce((sum, index) => sum + published.filter((key) => received[index]!.has(key)).length, 0)
    await simulator
      .runUntil(() => deliveredCount() === published.length * subscribers.length, { timeoutMs, pollMs: 50 })
      .catch(() => undefined)
    const delivery = deliveredCount() / (published.length * subscribers.length)

    let entryPointLookups: number | undefined
    let closestLookups: number | undefined
    if (discovery === 'dht') {
      const lookupRandom = random.fork('lookups')
      const askers = Array.from(
        { length: lookupCount },
        () => nodes[honestIndexes[lookupRandom.nextUint32() % honestIndexes.length]!]!,
      )
      let done = 0
      let foundHonestEntryPoint = 0
      let foundClosest = 0
      const honestKeys = honestIndexes.map((index) => ({
        id: nodes[index]!.nodeId,
        key: nodeIdToKey(nodes[index]!.nodeId),
      }))
      for (const asker of askers) {
        void asker.dht!.findRecords(streamKey).then(
          (records) => {
            if (records.some((record) => honestIds.has(record.owner) && record.owner !== asker.nodeId)) {
              foundHonestEntryPoint++
            }
            done++
          },
          () => done++,
        )
        const key = new Uint8Array(20).map(() => lookupRandom.nextUint32() & 0xff)
        const truth = honestKeys.reduce((best, candidate) =>
          compareDistance(key, candidate.key, best.key) < 0 ? candidate : best,
        ).id
        void asker.dht!.findClosest(key).then(
          (found) => {
            if (found.some((descriptor) => descriptor.nodeId === truth)) foundClosest++
            done++
          },
          () => done++,
        )
      }
      await simulator
        .runUntil(() => done === 2 * askers.length, { timeoutMs, pollMs: 50, description: 'lookups' })
        .catch(() => undefined)
      entryPointLookups = foundHonestEntryPoint / askers.length
      closestLookups = foundClosest / askers.length
    }
    return {
      options,
      honest: honestIndexes.length,
      attackers: attacking.size,
      delivery,
      honestWithNeighbors: honestWithNeighbors / honestIndexes.length,
      attackerNeighborShare: neighbors === 0 ? 0 : attackerNeighbors / neighbors,
      entryPointLookups,
      closestLookups,
      trackerSubnetCapped: tracker?.metrics.subnetCapped,
      queriesPerLookup:
        discovery === 'dht'
          ? honestIndexes.reduce((sum, index) => sum + nodes[index]!.dht!.metrics.lookupQueries, 0) /
            Math.max(
              1,
              honestIndexes.reduce((sum, index) => sum + nodes[index]!.dht!.metrics.lookups, 0),
            )
          : undefined,
      attackerMembers: tracker?.members(streamPartId).filter((id) => attackerIds.has(id)).length,
      wallMs: performance.now() - wallStart,
    }
  } finally {
    await Promise.all(nodes.map((node) => node.stop()))
    await tracker?.stop()
    simulator.stop()
  }
}
