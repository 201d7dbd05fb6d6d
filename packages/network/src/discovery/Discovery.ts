import type { StreamPartId } from '@runnel/protocol'
import type { PeerConnection } from '../connection/PeerConnection.js'
import type {
  ControlMessage,
  NodeDescriptor as NodeDescriptorProto,
} from '../generated/runnel/network/v1/network_pb.js'
import type { NodeDescriptor, NodeId } from '../identity.js'
import type { StreamPartOverlay } from '../overlay/StreamPartOverlay.js'

/** How a node finds peers for its stream parts: 'tracker' asks trackers, 'dht' looks entry points up in a DHT. */
export type DiscoveryMode = 'tracker' | 'dht'

/**
 * How a node finds the peers of the stream parts it joins. `NetworkNode` and
 * `OverlayControl` talk only to this: `TrackerDiscovery` reports to trackers,
 * which answer with instructions; `DhtDiscovery` looks up and stores entry
 * points in the DHT and asks them itself. The overlay's membership decisions
 * (`Membership`) stay the same in both.
 *
 * @example
 * ```ts
 * discovery.start()
 * await discovery.bootstrap() // once the transport listens
 * discovery.reportStatus(streamPartId) // joined: find neighbours now
 * discovery.scheduleStatus(streamPartId) // a neighbour went: find another soon
 * discovery.reportLeave(streamPartId)
 * ```
 */
export interface Discovery {
  readonly mode: DiscoveryMode
  /** Starts taking reports (before the transport is up: a join made meanwhile is served once it is). */
  start(): void
  /** The transport is up: connects to the discovery's network (the DHT's entry points). Resolves even if alone. */
  bootstrap(): Promise<void>
  /** Stops; requests already sent may still be answered. */
  stop(): void
  /** The node joined a stream part or its neighbours changed: look for peers now when short of them. */
  reportStatus(streamPartId: StreamPartId): void
  /** Like {@link reportStatus}, soon, with bursts of changes coalesced into one. */
  scheduleStatus(streamPartId: StreamPartId, delayMs?: number): void
  /** The node left a stream part. */
  reportLeave(streamPartId: StreamPartId): void
  /** True when `peerId` is an authority of the discovery (a tracker): its connection is not an overlay peer's. */
  isAuthority(peerId: NodeId): boolean
  /** True when `peerId` may rewire the stream part's overlay (its tracker). */
  isAuthorityFor(streamPartId: string, peerId: NodeId): boolean
  /** An authority's connection closed (not as 'identity-in-use', which stops the node). */
  handleAuthorityClosed(peerId: NodeId): void
  /** Handles the control messages of the discovery itself (DHT RPCs); true when `message` was one. */
  handleControl(peer: PeerConnection, message: ControlMessage): boolean
  handlePeerReady(peer: PeerConnection): void
  /** A connection to a peer that is not an authority closed. */
  handlePeerClosed(peerId: NodeId): void
  /** Peers to name in a refusal to `requesterId` (a few of this node's neighbours), so it can ask them instead. */
  alternativesFor(overlay: StreamPartOverlay, requesterId: NodeId): NodeDescriptor[]
  /**
   * A neighbour this node hands over to a requester when it is at `targetDegree` or more (an edge split, as a
   * tracker does: it drops the neighbour, accepts the requester, and names the neighbour to it); undefined: none.
   */
  handoverFor(overlay: StreamPartOverlay, requesterId: NodeId): NodeDescriptor | undefined
  /**
   * A peer answered this node's request, naming these peers (unchecked, from the wire; maybe none): instead of
   * itself when it refused, or the neighbour it handed over when it accepted.
   */
  takeAnswer(
    overlay: StreamPartOverlay,
    peerId: NodeId,
    accepted: boolean,
    alternatives: readonly NodeDescriptorProto[],
  ): void
  /** A peer this node asked could not be reached, or did not answer in time. */
  takeUnreachable(overlay: StreamPartOverlay, peerId: NodeId): void
}
