import { addressFromBytes, parseStreamPartId, type Clock, type StreamPartId } from '@runnel/protocol'
import type { PeerConnection } from '../connection/PeerConnection.js'
import type {
  ControlMessage,
  NodeDescriptor as NodeDescriptorProto,
} from '../generated/runnel/network/v1/network_pb.js'
import { descriptorFromProto, descriptorToProto, type NodeDescriptor, type NodeId } from '../identity.js'
import { errorField, type Logger } from '../logger.js'
import { timeoutSignal } from '../timeoutSignal.js'
import { isWebRtcOnly } from '../transport/webrtc/signalling.js'
import type { Discovery } from '../discovery/Discovery.js'
import type { DataPath } from './DataPath.js'
import { placementVerdict, type Membership, type MembershipEffects } from './Membership.js'
import type { PlacementCounters } from './placement.js'
import type { StreamPartOverlay } from './StreamPartOverlay.js'

/** The part of a peer connection the control path uses. */
export type ControlPeer = Pick<PeerConnection, 'peerId' | 'peer' | 'sendControl'>

/** A connection the control path sends on or closes. */
export type ControlLink = Pick<PeerConnection, 'peerId' | 'sendControl' | 'close'>

/** The node's connections as the control path sees them (`ConnectionManager` is one). */
export interface ControlConnections {
  get(peerId: NodeId): ControlLink | undefined
  /** A ready connection to the node at `address`, reusing one to `expectedNodeId`. */
  connect(address: string, expectedNodeId?: NodeId, signal?: AbortSignal): Promise<ControlLink>
  /** Keeps the connection from being evicted until every owner unlocked it (`ConnectionManager.lock`). */
  lock?(peerId: NodeId, owner: string): void
  unlock?(peerId: NodeId, owner: string): void
  /** Whether any owner holds the connection open. */
  isLocked?(peerId: NodeId): boolean
  /** The first of a node's addresses this node can dial (WebSocket before WebRTC); without it, the first address. */
  dialAddress?(addresses: readonly string[]): string | undefined
}

/** The lock owner of connections that carry a stream part (neighbour, proxy or proxy client, in any stream part). */
export const OVERLAY_LOCK = 'overlay'
/** The lock owner of a WebRTC-only neighbour's connection just after it was handed over (see `holdHandedOver`). */
const HANDOVER_LOCK = 'overlay-handover'
/**
 * A peer that departed this node's overlay this recently (it was handed over, say) gets no split if it asks again: a
 * full node splitting for it would hand over the neighbour that replaced it, which asks again in turn, and so on (a
 * node at `maxDegree: 1` swapped neighbours every few milliseconds, dropping messages in flight).
 */
const SPLIT_COOLDOWN_MS = 30_000

/** Collaborators of {@link OverlayControl}. */
export interface OverlayControlComponents {
  readonly nodeId: NodeId
  readonly overlays: ReadonlyMap<StreamPartId, StreamPartOverlay>
  readonly membership: Membership
  readonly dataPath: Pick<DataPath, 'flush'>
  /** Trackers or the DHT; refusals carry alternatives only when it names some. */
  readonly discovery: Pick<Discovery, 'isAuthority' | 'isAuthorityFor' | 'scheduleStatus'> &
    Partial<Pick<Discovery, 'alternativesFor' | 'handoverFor' | 'takeAnswer' | 'takeUnreachable'>>
  readonly connections: ControlConnections
  readonly clock: Clock
  readonly logger: Logger
  /** Whether this node is WebRTC-only (see `holdHandedOver`). Default never. */
  readonly isWebRtcOnly?: () => boolean
  /** Where requests refused for placement are counted. Default nowhere. */
  readonly placementCounters?: PlacementCounters
}

export interface OverlayControlOptions {
  /** A neighbour or proxy request unanswered for this long is abandoned. */
  readonly requestTimeoutMs: number
}

/**
 * The overlay's control path: turns neighbour, proxy and tracker messages
 * into {@link Membership} decisions and carries them out (answers, leaves,
 * requests to suggested peers, flushing the propagation buffer to new
 * neighbours, status reports, closing connections no stream part uses).
 * Stream part ids from the wire are parsed here, once.
 */
export class OverlayControl {
  constructor(
    private readonly components: OverlayControlComponents,
    private readonly options: OverlayControlOptions,
  ) {}

  handleControl(peer: ControlPeer, message: ControlMessage): void {
    const body = message.body
    switch (body.case) {
      case 'trackerInstruction': {
        const { streamPartId, dropNeighborIds, peers } = body.value
        // The handshake proves a peer's key, not its kind: only the tracker
        // actually reached for this stream part may rewire its overlay.
        if (!this.components.discovery.isAuthorityFor(streamPartId, peer.peerId)) {
          this.components.logger.debug('ignored a tracker instruction from a peer that is not its tracker', {
            peerId: peer.peerId,
            streamPartId,
          })
          return
        }
        const overlay = this.overlayOf(streamPartId, peer.peerId)
        if (overlay === undefined) return
        this.applyDrops(overlay, dropNeighborIds)
        this.connectToSuggested(overlay, peers)
        overlay.trackerAnswered = true
        overlay.notifyNeighborCount()
        return
      }
      case 'neighborRequest': {
        const { streamPartId } = body.value
        const overlay = this.overlayOf(streamPartId, peer.peerId)
        const now = this.components.clock.now()
        const outside = placementVerdict(overlay, peer.peer, this.components.placementCounters)
        const handover = outside === undefined ? this.handover(overlay, peer, now) : undefined
        const verdict =
          outside ?? this.components.membership.answerNeighborRequest(overlay, peer.peerId, peer.peer.kind, now)
        // Answered with the id as the peer wrote it, so it recognises its request.
        peer.sendControl({
          case: 'neighborResponse',
          value:
            handover === undefined
              ? this.withAlternatives(
                  { streamPartId, accepted: verdict.accepted, reason: verdict.reason },
                  overlay,
                  peer.peerId,
                )
              : {
                  streamPartId,
                  accepted: verdict.accepted,
                  reason: verdict.reason,
                  alternatives: [descriptorToProto(handover.descriptor)],
                },
        })
        if (overlay !== undefined) {
          this.apply(overlay, peer.peerId, verdict.effects)
          if (handover !== undefined) {
            this.holdHandedOver(handover.descriptor)
            this.apply(overlay, handover.descriptor.nodeId, handover.effects)
          }
        }
        return
      }
      case 'neighborResponse': {
        const overlay = this.overlayOf(body.value.streamPartId, peer.peerId)
        const now = this.components.clock.now()
        const effects = this.components.membership.takeNeighborResponse(overlay, peer.peerId, body.value.accepted, now)
        this.apply(overlay, peer.peerId, effects, peer, body.value.streamPartId)
        if (overlay !== undefined) {
          this.components.discovery.takeAnswer?.(overlay, peer.peerId, body.value.accepted, body.value.alternatives)
        }
        return
      }
      case 'neighborLeave': {
        const overlay = this.overlayOf(body.value.streamPartId, peer.peerId)
        // The leaver may be handing this node over to a requester, which can only signal through it.
        if (overlay?.neighbors.has(peer.peerId) === true && this.components.isWebRtcOnly?.() === true) {
          this.holdConnection(peer.peerId)
        }
        if (overlay !== undefined && overlay.accepts(peer.peerId)) overlay.noteDeparture(peer.peerId)
        this.apply(overlay, peer.peerId, this.components.membership.takeLeave(overlay, peer.peerId))
        return
      }
      case 'proxyRequest': {
        const { streamPartId } = body.value
        const overlay = this.overlayOf(streamPartId, peer.peerId)
        const verdict =
          placementVerdict(overlay, peer.peer, this.components.placementCounters) ??
          this.components.membership.answerProxyRequest(overlay, peer.peerId)
        peer.sendControl({
          case: 'proxyResponse',
          value: this.withAlternatives(
            { streamPartId, accepted: verdict.accepted, reason: verdict.reason },
            overlay,
            peer.peerId,
          ),
        })
        if (overlay !== undefined) this.apply(overlay, peer.peerId, verdict.effects)
        return
      }
      case 'proxyResponse': {
        const overlay = this.overlayOf(body.value.streamPartId, peer.peerId)
        const effects = this.components.membership.takeProxyResponse(overlay, peer.peerId, body.value.accepted)
        this.apply(overlay, peer.peerId, effects, peer, body.value.streamPartId)
        if (overlay !== undefined) {
          this.components.discovery.takeAnswer?.(overlay, peer.peerId, body.value.accepted, body.value.alternatives)
        }
        return
      }
      default:
        return
    }
  }

  /** Neighbour scoring rotates `peerId` out (see `NeighborScores`): leave, refuse it for `banMs`, find a replacement. */
  rotateOut(overlay: StreamPartOverlay, peerId: NodeId, banMs: number): void {
    const now = this.components.clock.now()
    if (!this.components.membership.rotateOut(overlay, peerId, banMs, now)) return
    this.components.logger.debug('rotated out a neighbour that does not relay', {
      peerId,
      streamPartId: overlay.streamPartId,
    })
    this.sendLeave(peerId, overlay.streamPartId)
    this.closeIfUnused(peerId)
    overlay.notifyNeighborCount()
    this.components.discovery.scheduleStatus(overlay.streamPartId)
  }

  /** Tells a peer this node no longer relays the stream part with it. */
  sendLeave(peerId: NodeId, streamPartId: string): void {
    this.components.connections.get(peerId)?.sendControl({ case: 'neighborLeave', value: { streamPartId } })
  }

  /**
   * Closes the connection to a peer unless a stream part still uses it, it is
   * a tracker, or another owner (the DHT, mid-request) holds a lock on it.
   */
  closeIfUnused(peerId: NodeId): void {
    for (const overlay of this.components.overlays.values()) if (overlay.isConnectedTo(peerId)) return
    const connections = this.components.connections
    connections.unlock?.(peerId, OVERLAY_LOCK)
    const connection = connections.get(peerId)
    if (connection === undefined || this.components.discovery.isAuthority(peerId)) return
    if (connections.isLocked?.(peerId) === true) return
    connection.close('local', 'no shared stream parts')
  }

  /**
   * Asks candidates found by discovery (in their order, the way tracker
   * suggestions are asked): see `Membership.selectCandidates`. At most `limit`
   * are asked.
   */
  requestCandidates(overlay: StreamPartOverlay, candidates: readonly NodeDescriptor[], limit = Infinity): void {
    const now = this.components.clock.now()
    const { membership, nodeId } = this.components
    for (const descriptor of membership.selectCandidates(overlay, nodeId, candidates, now, limit)) {
      this.request(overlay, descriptor)
    }
  }

  /**
   * Trackerless edge split: a full node at `targetDegree` or more that would
   * accept a new full neighbour first drops one of its neighbours (sending it
   * a leave) and names it to the requester, which then asks it: the node's
   * degree stays, the dropped one regains its edge through the requester, and
   * the requester gets two neighbours for one request. Returns the neighbour
   * handed over and what dropping it changed (apply after the acceptance).
   */
  private handover(
    overlay: StreamPartOverlay | undefined,
    peer: ControlPeer,
    now: number,
  ): { descriptor: NodeDescriptor; effects: MembershipEffects } | undefined {
    const { membership, discovery } = this.components
    if (
      overlay === undefined ||
      discovery.handoverFor === undefined ||
      membership.options.kind !== 'full' ||
      peer.peer.kind !== 'full' ||
      overlay.neighbors.has(peer.peerId) ||
      overlay.neighbors.size < membership.options.targetDegree ||
      overlay.wasDropped(peer.peerId, now) ||
      overlay.departedWithin(peer.peerId, SPLIT_COOLDOWN_MS) ||
      membership.incomingFull(overlay)
    ) {
      return undefined
    }
    const descriptor = discovery.handoverFor(overlay, peer.peerId)
    if (descriptor === undefined) return undefined
    this.sendLeave(descriptor.nodeId, overlay.streamPartId)
    overlay.noteDeparture(descriptor.nodeId)
    return { descriptor, effects: membership.takeLeave(overlay, descriptor.nodeId) }
  }

  /**
   * A WebRTC-only node handed over can be dialled only through a node
   * connected to it, and the requester signals through this one first: so
   * the connection between them stays for one request timeout before it may
   * close, at both ends (the handed-over node holds it when it is told to
   * leave, as it can't tell a handover from a plain leave).
   */
  private holdHandedOver(descriptor: NodeDescriptor): void {
    if (isWebRtcOnly(descriptor.addresses)) this.holdConnection(descriptor.nodeId)
  }

  private holdConnection(peerId: NodeId): void {
    const { connections, clock } = this.components
    if (connections.lock === undefined) return
    connections.lock(peerId, HANDOVER_LOCK)
    clock.setTimeout(
      () => {
        connections.unlock?.(peerId, HANDOVER_LOCK)
        this.closeIfUnused(peerId)
      },
      this.options.requestTimeoutMs,
      { unref: true },
    )
  }

  /** A response, with alternatives when it refuses because full and discovery names some (the tracker's never does). */
  private withAlternatives<T extends { accepted: boolean; reason: string }>(
    response: T,
    overlay: StreamPartOverlay | undefined,
    requesterId: NodeId,
  ): T & { alternatives?: ReturnType<typeof descriptorToProto>[] } {
    const discovery = this.components.discovery
    if (overlay === undefined || response.reason !== 'full' || discovery.alternativesFor === undefined) return response
    const alternatives = discovery.alternativesFor(overlay, requesterId)
    return alternatives.length === 0 ? response : { ...response, alternatives: alternatives.map(descriptorToProto) }
  }

  /** The joined overlay a wire id names; undefined (and logged) when the id doesn't parse. */
  private overlayOf(wireId: string, peerId: NodeId): StreamPartOverlay | undefined {
    let streamPartId: StreamPartId
    try {
      streamPartId = parseStreamPartId(wireId)
    } catch (err) {
      this.components.logger.debug('a peer sent an invalid stream part id', { peerId, error: errorField(err) })
      return undefined
    }
    return this.components.overlays.get(streamPartId)
  }

  /**
   * Carries out a membership decision about `peerId`. A leave goes to `peer`
   * (the connection the peer answered on) with the stream part id as the peer
   * wrote it, `wireId`, when there is one.
   */
  private apply(
    overlay: StreamPartOverlay | undefined,
    peerId: NodeId,
    effects: MembershipEffects,
    peer?: ControlPeer,
    wireId?: string,
  ): void {
    if (effects.sendLeave) {
      const streamPartId = wireId ?? overlay?.streamPartId
      const target = peer ?? this.components.connections.get(peerId)
      if (streamPartId !== undefined) target?.sendControl({ case: 'neighborLeave', value: { streamPartId } })
    }
    if (overlay !== undefined) {
      if (effects.added) {
        // Eviction (maxConnections) must never take a connection a stream part relays over.
        this.components.connections.lock?.(peerId, OVERLAY_LOCK)
        this.components.dataPath.flush(overlay, peerId)
      }
      if (effects.notifyWaiters) overlay.notifyNeighborCount()
      if (effects.reportStatus) this.components.discovery.scheduleStatus(overlay.streamPartId)
    }
    if (effects.release) this.closeIfUnused(peerId)
  }

  private applyDrops(overlay: StreamPartOverlay, dropIds: readonly Uint8Array[]): void {
    const peerIds: NodeId[] = []
    for (const bytes of dropIds) if (bytes.length === 20) peerIds.push(addressFromBytes(bytes))
    const now = this.components.clock.now()
    for (const peerId of this.components.membership.applyDrops(overlay, peerIds, now)) {
      overlay.noteDeparture(peerId)
      this.sendLeave(peerId, overlay.streamPartId)
      this.closeIfUnused(peerId)
    }
    overlay.notifyNeighborCount()
  }

  private connectToSuggested(overlay: StreamPartOverlay, peers: readonly NodeDescriptorProto[]): void {
    const suggested: NodeDescriptor[] = []
    for (const proto of peers) {
      try {
        suggested.push(descriptorFromProto(proto))
      } catch (err) {
        this.components.logger.warn('the tracker suggested a peer with an invalid descriptor', {
          streamPartId: overlay.streamPartId,
          error: errorField(err),
        })
      }
    }
    const now = this.components.clock.now()
    for (const descriptor of this.components.membership.selectCandidates(
      overlay,
      this.components.nodeId,
      suggested,
      now,
    )) {
      this.request(overlay, descriptor)
    }
  }

  /** Dials a chosen candidate (already marked pending) and sends it a neighbour or proxy request. */
  private request(overlay: StreamPartOverlay, descriptor: NodeDescriptor): void {
    const { membership, clock } = this.components
    const peerId = descriptor.nodeId
    const abandon = (): void => this.apply(overlay, peerId, membership.abandonRequest(overlay, peerId))
    const giveUp = (): void => {
      if (membership.isPending(overlay, peerId)) this.components.discovery.takeUnreachable?.(overlay, peerId)
      abandon()
    }
    const { connections } = this.components
    const address = connections.dialAddress?.(descriptor.addresses) ?? descriptor.addresses[0]
    if (address === undefined) {
      this.components.logger.debug('a suggested peer has no address this node can dial', { peerId })
      giveUp()
      return
    }
    const timeout = clock.setTimeout(giveUp, this.options.requestTimeoutMs, { unref: true })
    connections.connect(address, peerId, timeoutSignal(clock, this.options.requestTimeoutMs)).then(
      (connection) => {
        if (!membership.isPending(overlay, peerId) || connection.peerId !== peerId) {
          abandon()
          return
        }
        const streamPartId = overlay.streamPartId
        connection.sendControl(
          membership.role === 'proxy'
            ? { case: 'proxyRequest', value: { streamPartId } }
            : { case: 'neighborRequest', value: { streamPartId } },
        )
      },
      (err: unknown) => {
        timeout.cancel()
        this.components.logger.debug('could not reach a suggested peer', { peerId, error: errorField(err) })
        giveUp()
      },
    )
  }
}
