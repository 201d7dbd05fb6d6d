import {
  describeLocation,
  describePlacement,
  isLocationAllowed,
  parsePlacement,
  restrictsLocation,
  type NodeLocation,
  type PlacementConstraint,
  type StreamPartId,
} from '@runnel/protocol'
import type { Placement as PlacementProto } from '../generated/runnel/network/v1/network_pb.js'
import { NetworkError } from '../errors.js'
import type { NodeDescriptor, NodeId, NodeKind } from '../identity.js'

/**
 * Placement constraints in the overlay: a stream part whose metadata says where its data may be carried
 * (`placement: { countries, regions }`) takes as neighbours and proxies only full nodes whose declared location
 * matches, and a node outside refuses to join it. Every check is here; `Membership`, `OverlayControl`, `Topology`
 * and `NetworkNode` call in with one line each. Locations are what nodes declare (signed in the handshake): the
 * constraint keeps honest operators' nodes apart, it can't catch an operator that lies about where it runs.
 */

/** The peer fields the checks read. */
export type PlacedPeer = Pick<NodeDescriptor, 'kind' | 'location'>

/**
 * Why a peer may not be a neighbour or proxy in an overlay under `constraint`; undefined when it may. A light node
 * that doesn't say where it is (a browser) may be a proxy client: it is a reader, not a carrier. One that says it is
 * outside may not.
 */
export function placementRefusal(constraint: PlacementConstraint | undefined, peer: PlacedPeer): string | undefined {
  if (!restrictsLocation(constraint) || isLocationAllowed(constraint, peer.location)) return undefined
  if (peer.kind === 'light' && peer.location === undefined) return undefined
  return `outside placement (allowed: ${describePlacement(constraint)}; peer at ${describeLocation(peer.location)})`
}

/** What placement refused, for metrics. */
export interface PlacementCounters {
  /** Neighbour and proxy requests refused because the requester is outside the stream part's placement. */
  refusedRequests: number
}

/**
 * Refuses to carry a stream part from a node outside its constraint.
 *
 * @throws {@link NetworkError} `OUTSIDE_PLACEMENT` naming the constraint and this node's location
 */
export function assertInsidePlacement(
  streamPartId: StreamPartId,
  constraint: PlacementConstraint | undefined,
  self: { readonly kind: NodeKind; readonly location?: NodeLocation | undefined },
): void {
  if (placementRefusal(constraint, self) === undefined) return
  throw new NetworkError(
    'OUTSIDE_PLACEMENT',
    `this node (location ${describeLocation(self.location)}) may not carry stream part ${streamPartId}: its ` +
      `placement allows only ${describePlacement(constraint)}`,
  )
}

/** One side of a possible edge as the tracker sees it: the node's descriptor and the constraint it reported. */
export interface PlacedMember {
  readonly descriptor: PlacedPeer
  readonly placement?: PlacementConstraint | undefined
}

/**
 * Whether the tracker may connect two members: each is inside the constraint the other reported. Checking both
 * sides means a node reporting no constraint (or a looser one) is still kept from nodes that read a stricter one.
 */
export function mayConnect(a: PlacedMember, b: PlacedMember): boolean {
  return (
    placementRefusal(a.placement, b.descriptor) === undefined &&
    placementRefusal(b.placement, a.descriptor) === undefined
  )
}

/** The location part of a constraint for a tracker request; undefined (no field) when it names no places. */
export function placementToProto(
  constraint: PlacementConstraint | undefined,
): { countries: string[]; regions: string[] } | undefined {
  if (!restrictsLocation(constraint)) return undefined
  return { countries: [...(constraint?.countries ?? [])], regions: [...(constraint?.regions ?? [])] }
}

/**
 * A constraint from a tracker request, checked as metadata is.
 *
 * @throws {@link ProtocolError} `INVALID_PLACEMENT`
 */
export function placementFromProto(proto: PlacementProto | undefined): PlacementConstraint | undefined {
  if (proto === undefined || (proto.countries.length === 0 && proto.regions.length === 0)) return undefined
  return parsePlacement({
    ...(proto.countries.length === 0 ? {} : { countries: proto.countries }),
    ...(proto.regions.length === 0 ? {} : { regions: proto.regions }),
  })
}

/** Whether two constraints are the same (as `parsePlacement` normalizes them). */
export function samePlacement(a: PlacementConstraint | undefined, b: PlacementConstraint | undefined): boolean {
  return JSON.stringify(a ?? {}) === JSON.stringify(b ?? {})
}

/** The neighbours, proxies and proxy clients of an overlay that its constraint no longer allows (or whose descriptor is gone). */
export function peersOutside(
  overlay: {
    readonly placement?: PlacementConstraint | undefined
    readonly neighbors: ReadonlySet<NodeId>
    readonly proxies: ReadonlySet<NodeId>
    readonly proxyClients: ReadonlySet<NodeId>
  },
  descriptorOf: (peerId: NodeId) => PlacedPeer | undefined,
): NodeId[] {
  const outside: NodeId[] = []
  for (const peers of [overlay.neighbors, overlay.proxies, overlay.proxyClients]) {
    for (const peerId of peers) {
      const peer = descriptorOf(peerId)
      if (peer === undefined || placementRefusal(overlay.placement, peer) !== undefined) outside.push(peerId)
    }
  }
  return outside
}

/** What {@link askTrustedEntryPoints} needs of the node. */
export interface TrustedEntryPointsComponents {
  /** A ready connection to the node at `address` (`ConnectionManager.connect`), bounded by the caller's timeout. */
  connect(address: string): Promise<{ readonly peerId: NodeId; readonly peer: NodeDescriptor }>
  /** Asks these nodes to be neighbours (or proxies), as discovery's candidates are asked (`OverlayControl.requestCandidates`). */
  request(descriptors: readonly NodeDescriptor[]): void
  readonly selfId: NodeId
  readonly onUnreachable: (address: string, error: unknown) => void
}

/**
 * DHT mode with a placement naming `entryPoints`: asks them directly, by address, so the stream part is reached
 * through nodes its owner trusts even when the DHT's records for it are poisoned or missing. Who they are is what
 * their handshakes prove; each is asked only if inside the constraint (`Membership.selectCandidates`).
 */
export async function askTrustedEntryPoints(
  addresses: readonly string[],
  components: TrustedEntryPointsComponents,
): Promise<void> {
  const found: NodeDescriptor[] = []
  await Promise.all(
    addresses.map(async (address) => {
      try {
        const connection = await components.connect(address)
        if (connection.peerId !== components.selfId) found.push(connection.peer)
      } catch (err) {
        components.onUnreachable(address, err)
      }
    }),
  )
  components.request(found)
}
