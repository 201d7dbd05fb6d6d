import { addressFromBytes, addressToBytes, parseStreamPartId, type PlacementConstraint } from '@runnel/protocol'
import { systemClock, type Clock, type MessageSigner, type SignatureVerifier, type Timer } from '@runnel/protocol'
import { ConnectionManager } from '../connection/ConnectionManager.js'
import type { InboundCaps } from '../connection/AddressCaps.js'
import { SignalRelay, type SignalRelayMetrics } from '../connection/SignalRelay.js'
import {
  DEFAULT_PEER_CONNECTION_OPTIONS,
  type PeerConnection,
  type PeerConnectionOptions,
} from '../connection/PeerConnection.js'
import { TrackerAction, type ControlMessage } from '../generated/runnel/network/v1/network_pb.js'
import { descriptorToProto, type NodeDescriptor, type NodeId } from '../identity.js'
import type { Transport } from '../transport/Transport.js'
import { NETWORK_PROTOCOL_VERSION } from '../wire/frames.js'
import { errorField, silentLogger, type LogFields, type Logger } from '../logger.js'
import { resolveDegrees } from '../overlay/degrees.js'
import { ipSubnetGroup, isPrivateAddress } from '../dht/subnet.js'
import { NetworkError } from '../errors.js'
import { SubnetQuota } from './SubnetQuota.js'
import { Topology } from './Topology.js'
import { placementFromProto, placementRefusal } from '../overlay/placement.js'
import { openTrackerRequest } from './trackerRequests.js'

/** Default of {@link TrackerServerOptions.maxMembersPerSubnet}. */
export const DEFAULT_MAX_MEMBERS_PER_SUBNET = 8

/** Collaborators of a tracker. */
export interface TrackerServerComponents {
  readonly transport: Transport
  /** The tracker's own key: nodes see its id in the handshake. */
  readonly signer: MessageSigner
  readonly verifier: SignatureVerifier
  /** Where time comes from. Default the wall clock; a simulation passes its own. */
  readonly clock?: Clock
  /** Random source in [0, 1); inject a seeded one for deterministic simulations. */
  readonly random?: () => number
  /** Where refused requests and closed peers are reported (at debug). Default silent. */
  readonly logger?: Logger
}

export interface TrackerServerOptions {
  /** Neighbours each node aims for. Default 4. */
  readonly targetDegree?: number
  /** Upper bound of neighbours per node. Default 8; at most 32. */
  readonly maxDegree?: number
  /**
   * Most neighbours of one node the tracker suggests from one network (IPv4 /24, IPv6 /48), counting those it has;
   * loopback addresses are exempt. Default 2.
   */
  readonly maxNeighborsPerSubnet?: number
  /** How long after a change the tracker checks a stream part for splits. Default 250 ms. */
  readonly repairDelayMs?: number
  readonly peer?: Partial<PeerConnectionOptions>
  /** Caps on incoming connections per IP address and per subnet (see `InboundCaps`; the same defaults as a node's). */
  readonly inbound?: InboundCaps
  /**
   * Most members of one stream part from one /24 (IPv4) or /48 (IPv6), by the address their connection comes
   * from; a node past it is not admitted (its reports are ignored and counted in `metrics.subnetCapped`), so many
   * identities from one range can't make up an overlay. Loopback and private addresses (and plain simulator ones)
   * are exempt. Default 8.
   */
  readonly maxMembersPerSubnet?: number
}

export interface TrackerMetrics {
  requests: number
  /** Requests dropped: unsigned, forged, replayed or from another node's connection. */
  ignoredRequests: number
  instructions: number
  repairs: number
  /** Reports ignored because the node's subnet had `maxMembersPerSubnet` members of that stream part already. */
  subnetCapped: number
  /** WebRTC signals relayed between the nodes it serves, and refused (by reason). */
  readonly signalling: SignalRelayMetrics
}

/**
 * Keeps the members of each stream part it serves and tells joining nodes
 * whom to connect to. Its decisions live in {@link Topology}; this class
 * checks signatures and moves messages.
 *
 * @example
 * ```ts
 * const tracker = new TrackerServer({ transport: new WebSocketTransport({ port: 30300 }), signer, verifier })
 * const [address] = await tracker.start() // give this address to nodes
 * ```
 */
export class TrackerServer {
  readonly metrics: TrackerMetrics
  private readonly signalRelay: SignalRelay
  private readonly topology: Topology
  private readonly connections: ConnectionManager
  private readonly lastSequence = new Map<NodeId, bigint>()
  private readonly repairTimers = new Map<string, Timer>()
  private readonly clock: Clock
  private readonly logger: Logger
  private readonly repairDelayMs: number
  private readonly maxDegree: number
  private readonly subnetQuota: SubnetQuota

  constructor(
    private readonly components: TrackerServerComponents,
    options: TrackerServerOptions = {},
  ) {
    const { targetDegree, maxDegree } = resolveDegrees(options)
    const perSubnet = options.maxNeighborsPerSubnet ?? 2
    if (!(Number.isInteger(perSubnet) || perSubnet === Infinity) || perSubnet < 1) {
      throw new NetworkError(
        'INVALID_OPTIONS',
        `maxNeighborsPerSubnet must be a positive integer or Infinity, got ${options.maxNeighborsPerSubnet}`,
      )
    }
    this.repairDelayMs = options.repairDelayMs ?? 250
    this.maxDegree = maxDegree
    const maxMembersPerSubnet = options.maxMembersPerSubnet ?? DEFAULT_MAX_MEMBERS_PER_SUBNET
    if (!(Number.isInteger(maxMembersPerSubnet) && maxMembersPerSubnet >= 1)) {
      throw new NetworkError(
        'INVALID_OPTIONS',
        `maxMembersPerSubnet must be a positive integer, got ${String(maxMembersPerSubnet)}`,
      )
    }
    this.subnetQuota = new SubnetQuota(maxMembersPerSubnet)
    const clock = components.clock ?? systemClock
    this.clock = clock
    this.logger = components.logger ?? silentLogger
    this.topology = new Topology({
      targetDegree,
      maxDegree,
      random: components.random ?? Math.random,
      now: () => clock.now(),
      maxNeighborsPerSubnet: perSubnet,
    })
    this.connections = new ConnectionManager(
      {
        transport: components.transport,
        signer: components.signer,
        verifier: components.verifier,
        clock,
        events: {
          onPeerReady: () => undefined,
          onControl: (peer, message) => this.handleControl(peer, message),
          onData: (peer) => {
            this.logger.info('closing a peer that sent data to the tracker', { peer: peer.peerId })
            peer.close('protocol-violation', 'trackers carry no data')
          },
          onPeerClosed: (peer) => this.handlePeerGone(peer.peerId),
        },
      },
      { ...DEFAULT_PEER_CONNECTION_OPTIONS, ...options.peer },
      { inbound: options.inbound },
    )
    // Every node of a stream part the tracker serves is connected to it: the natural relay for their WebRTC signals.
    this.signalRelay = new SignalRelay({
      localNodeId: components.signer.address,
      connections: this.connections,
      logger: this.logger,
    })
    this.metrics = {
      requests: 0,
      ignoredRequests: 0,
      instructions: 0,
      repairs: 0,
      subnetCapped: 0,
      signalling: this.signalRelay.metrics,
    }
  }

  /** Starts listening; returns the addresses nodes should be given. */
  async start(): Promise<string[]> {
    const descriptor = await this.connections.start((addresses): NodeDescriptor => ({
      nodeId: this.components.signer.address,
      kind: 'tracker',
      addresses,
      protocolVersion: NETWORK_PROTOCOL_VERSION,
    }))
    return [...descriptor.addresses]
  }

  async stop(): Promise<void> {
    for (const timer of this.repairTimers.values()) timer.cancel()
    this.repairTimers.clear()
    await this.connections.stop()
  }

  get nodeId(): NodeId {
    return this.components.signer.address
  }

  /** The nodes the tracker believes are in a stream part. */
  members(streamPartId: string): NodeId[] {
    return this.topology.members(streamPartId)
  }

  private handleControl(peer: PeerConnection, message: ControlMessage): void {
    if (message.body.case === 'rtcSignal') {
      this.signalRelay.handle(peer, message.body.value)
      return
    }
    if (message.body.case !== 'trackerRequest') return
    this.metrics.requests++
    const verified = openTrackerRequest(this.components.verifier, message.body.value)
    const last = verified === undefined ? undefined : this.lastSequence.get(verified.nodeId)
    if (
      verified === undefined ||
      verified.nodeId !== peer.peerId ||
      (last !== undefined && verified.request.sequence <= last)
    ) {
      this.ignore(
        peer,
        verified === undefined
          ? 'unverifiable request'
          : verified.nodeId !== peer.peerId
            ? 'request signed by another node'
            : 'replayed or stale sequence number',
      )
      return
    }
    this.lastSequence.set(verified.nodeId, verified.request.sequence)
    const { request } = verified
    const streamPartId = request.streamPartId
    try {
      parseStreamPartId(streamPartId)
    } catch (err) {
      this.ignore(peer, 'invalid stream part id', { error: errorField(err) })
      return
    }
    // A node asking for more peers than anyone may have gets the most anyone may have.
    const wanted = Math.min(request.wanted, this.maxDegree)
    if (request.action === TrackerAction.LEAVE) {
      this.subnetQuota.release(verified.nodeId, streamPartId)
      this.topology.leave(verified.nodeId, streamPartId)
      this.scheduleRepair(streamPartId)
      return
    }
    if (request.action !== TrackerAction.STATUS) {
      this.ignore(peer, 'unknown action', { action: request.action })
      return
    }
    const neighborIds = request.neighborIds.map((id) => addressFromBytes(id))
    // The node read the constraint from the stream's metadata; the tracker can't read the chain in every setup.
    // Members are matched pairwise against what each reported (Topology), so a looser report only isolates its sender.
    let placement: PlacementConstraint | undefined
    try {
      placement = placementFromProto(request.placement)
    } catch (err) {
      this.ignore(peer, 'invalid placement', { error: errorField(err) })
      return
    }
    const outside = placementRefusal(placement, peer.peer)
    if (outside !== undefined) {
      this.ignore(peer, 'node outside the placement it reported', { streamPartId, reason: outside })
      return
    }
    // A node alone in a stream part is told so, with an instruction naming no one: that is how the first node of a
    // stream part learns at once that its join has settled, instead of waiting for a neighbour. Only then: answering
    // every report that finds no one free (a join storm has many) slowed the overlay's forming at 2,000 nodes.
    if (peer.peer.kind === 'light') {
      const proxies = this.topology.proxiesFor(verified.nodeId, streamPartId, wanted, {
        descriptor: peer.peer,
        placement,
      })
      if (proxies.length > 0 || this.topology.memberCount(streamPartId) === 0) {
        this.instruct(peer.peerId, streamPartId, proxies)
      }
      return
    }
    const group = isPrivateAddress(peer.transportConnection.remoteAddress)
      ? undefined
      : ipSubnetGroup(peer.transportConnection.remoteAddress, true)
    if (!this.subnetQuota.admit(streamPartId, verified.nodeId, group)) {
      this.metrics.subnetCapped++
      this.ignore(peer, 'too many members of the stream part from its subnet', { group, streamPartId })
      return
    }
    const { peers, drops } = this.topology.reportStatus(peer.peer, streamPartId, neighborIds, wanted, placement)
    // Drops go out first, so the split edge's ends make room before the newcomer asks them.
    for (const drop of drops) {
      // Both ends hear it: either may have a request to the other in flight.
      this.instruct(drop.nodeId, streamPartId, [], [drop.dropNeighborId])
      this.instruct(drop.dropNeighborId, streamPartId, [], [drop.nodeId])
    }
    const alone = peers.length === 0 && this.topology.memberCount(streamPartId) === 1
    if (peers.length > 0 || alone) this.instruct(peer.peerId, streamPartId, peers)
    this.scheduleRepair(streamPartId)
  }

  /** Counts a request the tracker refuses to act on; the reason goes to the logger, never back to the peer. */
  private ignore(peer: PeerConnection, reason: string, fields: LogFields = {}): void {
    this.metrics.ignoredRequests++
    this.logger.debug('ignored a tracker request', { peer: peer.peerId, reason, ...fields })
  }

  private instruct(nodeId: NodeId, streamPartId: string, peers: NodeDescriptor[], drops: NodeId[] = []): void {
    const connection = this.connections.get(nodeId)
    if (connection === undefined) return
    this.metrics.instructions++
    connection.sendControl({
      case: 'trackerInstruction',
      value: {
        streamPartId,
        peers: peers.map((descriptor) => descriptorToProto(descriptor)),
        dropNeighborIds: drops.map((id) => addressToBytes(id)),
      },
    })
  }

  private handlePeerGone(nodeId: NodeId): void {
    this.lastSequence.delete(nodeId)
    this.subnetQuota.release(nodeId)
    for (const streamPartId of this.topology.remove(nodeId)) this.scheduleRepair(streamPartId)
  }

  private scheduleRepair(streamPartId: string): void {
    if (this.repairTimers.has(streamPartId)) return
    this.repairTimers.set(
      streamPartId,
      this.clock.setTimeout(() => {
        this.repairTimers.delete(streamPartId)
        for (const instruction of this.topology.repairPartitions(streamPartId)) {
          this.metrics.repairs++
          this.instruct(instruction.nodeId, instruction.streamPartId, instruction.peers)
        }
      }, this.repairDelayMs),
    )
  }
}
