import type { NodeDescriptor, NodeId, NodeKind } from '../identity.js'
import type { StreamPartStatus } from '../tracker/TrackerClient.js'
import type { PlacementConstraint } from '@runnel/protocol'
import { placementRefusal, type PlacedPeer, type PlacementCounters } from './placement.js'
import type { StreamPartOverlay } from './StreamPartOverlay.js'

/** How long a node refuses a neighbour the tracker told it to drop, by default. */
export const DROP_MEMORY_MS = 5_000

/** How a node relates to the peers it asks: full nodes look for neighbours, light nodes for proxies. */
export type PeerRole = 'neighbor' | 'proxy'

/** The membership settings of a node (see `NetworkNodeOptions`). */
export interface MembershipOptions {
  readonly kind: 'full' | 'light'
  readonly targetDegree: number
  readonly maxDegree: number
  readonly acceptProxies: boolean
  readonly maxProxyClients: number
  readonly proxyCount: number
  /** How long a node refuses a neighbour the tracker told it to drop. */
  readonly dropMemoryMs: number
  /**
   * Neighbour slots kept for peers this node asked itself: requests from others fill at most `maxDegree` minus this
   * many, and the node looks for its own picks until it has this many (see `NetworkNodeOptions.minOwnNeighbors`).
   * Default 0: no slots kept.
   */
  readonly minOwnNeighbors?: number
  /** Peers asked first among candidates (see `NetworkNodeOptions.preferNeighbors`). */
  readonly preferNeighbors?: (nodeId: NodeId, streamPartId: string) => boolean
}

/**
 * What the I/O side does after a membership change; every flag false means
 * nothing to do. Order of application: leave, flush, waiters, status, release.
 */
export interface MembershipEffects {
  /** Tell the peer `NeighborLeave`: it accepted a request this node no longer wants. */
  readonly sendLeave: boolean
  /** The peer was just added (neighbour, proxy or proxy client): send it the propagation buffer. */
  readonly added: boolean
  /** Neighbours, proxies or pending requests changed: re-check the `join()`s waiting on them. */
  readonly notifyWaiters: boolean
  /** Tell the tracker soon (a coalesced status report). */
  readonly reportStatus: boolean
  /** Close the connection unless another stream part (or the tracker) still uses it. */
  readonly release: boolean
}

/** The answer to a peer's neighbour or proxy request, and what accepting it changed. */
export interface RequestVerdict {
  readonly accepted: boolean
  /** Why not (sent to the peer); empty when accepted. */
  readonly reason: string
  readonly effects: MembershipEffects
}

const NOTHING: MembershipEffects = Object.freeze({
  sendLeave: false,
  added: false,
  notifyWaiters: false,
  reportStatus: false,
  release: false,
})

function effects(changes: Partial<MembershipEffects>): MembershipEffects {
  return { ...NOTHING, ...changes }
}

/**
 * A node's membership decisions in its stream parts' overlays: whether to
 * accept a peer as neighbour or proxy client, what to make of a peer's answer
 * to its own request, which of the tracker's suggestions to ask, and what a
 * tracker's drop or a closed connection changes. Pure: it reads and updates
 * {@link StreamPartOverlay} state and returns {@link MembershipEffects}; the
 * overlay's control path sends the messages (see `OverlayControl`), as the
 * tracker's `Topology` decides and `TrackerServer` sends.
 *
 * @example
 * ```ts
 * const membership = new Membership({ kind: 'full', targetDegree: 4, maxDegree: 8, acceptProxies: true,
 *   maxProxyClients: 64, proxyCount: 2, dropMemoryMs: 5_000 })
 * const verdict = membership.answerNeighborRequest(overlay, peerId, 'full', clock.now())
 * send({ case: 'neighborResponse', value: { streamPartId, accepted: verdict.accepted, reason: verdict.reason } })
 * ```
 */
export class Membership {
  constructor(readonly options: MembershipOptions) {}

  /** Whom this node asks for in its stream parts. */
  get role(): PeerRole {
    return this.options.kind === 'light' ? 'proxy' : 'neighbor'
  }

  /** Neighbours (full) or proxies (light): the peers counted by `join({ minNeighbors })`. */
  connected(overlay: StreamPartOverlay): ReadonlySet<NodeId> {
    return this.options.kind === 'light' ? overlay.proxies : overlay.neighbors
  }

  /** How many more neighbours (or proxies) to ask the tracker for, counting requests in flight; at least 0. */
  wanted(overlay: StreamPartOverlay): number {
    if (this.options.kind === 'light') {
      return Math.max(0, this.options.proxyCount - overlay.proxies.size - overlay.pendingProxies.size)
    }
    const wanted = Math.max(0, this.options.targetDegree - overlay.neighbors.size - overlay.pendingNeighbors.size)
    const minOwn = this.options.minOwnNeighbors ?? 0
    if (minOwn === 0) return wanted
    // Slots taken by others' requests don't count towards the node's own picks.
    const own = overlay.neighbors.size - this.incomingCount(overlay)
    const ownWanted = minOwn - own - overlay.pendingNeighbors.size
    const room = this.options.maxDegree - overlay.neighbors.size - overlay.pendingNeighbors.size
    return Math.max(wanted, Math.min(ownWanted, room))
  }

  /** Neighbours that asked this node: pruned to the current neighbours as it counts. */
  private incomingCount(overlay: StreamPartOverlay): number {
    let count = 0
    for (const peerId of overlay.incoming) {
      if (overlay.neighbors.has(peerId)) count++
      else overlay.incoming.delete(peerId)
    }
    return count
  }

  /** Whether the slots open to others' requests are all taken (never with `minOwnNeighbors` 0). */
  incomingFull(overlay: StreamPartOverlay): boolean {
    const minOwn = this.options.minOwnNeighbors ?? 0
    return minOwn > 0 && this.incomingCount(overlay) >= this.options.maxDegree - minOwn
  }

  /** What to report to the tracker: neighbours (none for light nodes, which trackers don't place) and how many more are wanted. */
  status(overlay: StreamPartOverlay): StreamPartStatus {
    if (this.options.kind === 'light') return { neighborIds: [], wanted: this.wanted(overlay) }
    const minOwn = this.options.minOwnNeighbors ?? 0
    const incoming = minOwn === 0 ? 0 : this.incomingCount(overlay)
    const ownWanted = minOwn - (overlay.neighbors.size - incoming) - overlay.pendingNeighbors.size
    if (ownWanted <= 0) return { neighborIds: [...overlay.neighbors], wanted: this.wanted(overlay) }
    // Short of its own picks while others' requests fill its slots (an eclipse, maybe): a tracker tops a node up only
    // to the target degree, so the report leaves out enough of the neighbours that asked for the tracker to suggest
    // the own picks missing.
    const shown = Math.max(0, this.options.targetDegree - minOwn)
    const neighborIds = [...overlay.neighbors].filter((id) => !overlay.incoming.has(id))
    for (const id of overlay.incoming) {
      if (neighborIds.length >= shown + (overlay.neighbors.size - incoming)) break
      if (overlay.neighbors.has(id)) neighborIds.push(id)
    }
    return { neighborIds, wanted: this.wanted(overlay) }
  }

  /**
   * A peer asks to be a neighbour. Accepting adds it at once (the peer adds
   * this node when the acceptance arrives). `overlay` is undefined when this
   * node hasn't joined the stream part (or the id didn't parse).
   */
  answerNeighborRequest(
    overlay: StreamPartOverlay | undefined,
    peerId: NodeId,
    peerKind: NodeKind,
    now: number,
  ): RequestVerdict {
    const reason =
      this.options.kind !== 'full'
        ? 'light node'
        : peerKind !== 'full'
          ? 'only full nodes can be neighbours'
          : overlay === undefined
            ? 'not a member'
            : overlay.wasDropped(peerId, now)
              ? 'dropped by tracker'
              : (overlay.neighbors.size >= this.options.maxDegree || this.incomingFull(overlay)) &&
                  !overlay.neighbors.has(peerId)
                ? 'full'
                : ''
    if (reason !== '' || overlay === undefined) return { accepted: false, reason, effects: NOTHING }
    if (!overlay.neighbors.has(peerId) && (this.options.minOwnNeighbors ?? 0) > 0) overlay.incoming.add(peerId)
    return { accepted: true, reason, effects: this.addNeighbor(overlay, peerId) }
  }

  /** A peer answered this node's neighbour request. */
  takeNeighborResponse(
    overlay: StreamPartOverlay | undefined,
    peerId: NodeId,
    accepted: boolean,
    now: number,
  ): MembershipEffects {
    const wasPending = overlay?.pendingNeighbors.delete(peerId) ?? false
    // A late acceptance (the request timed out meanwhile) is still welcome while the node is short of
    // neighbours: on a loaded node, refusing it would turn slowness into a loop of retries. One the
    // tracker told this node to drop is not.
    const unwanted =
      overlay !== undefined &&
      !wasPending &&
      (overlay.neighbors.size >= this.options.targetDegree || overlay.wasDropped(peerId, now))
    if (overlay === undefined || !accepted || unwanted) {
      const counted = overlay !== undefined && wasPending
      return effects({ sendLeave: accepted, notifyWaiters: counted, reportStatus: counted, release: true })
    }
    if (overlay.neighbors.size >= this.options.maxDegree) {
      return effects({ sendLeave: true, notifyWaiters: true, release: true })
    }
    overlay.incoming.delete(peerId)
    return this.addNeighbor(overlay, peerId)
  }

  /** A neighbour, proxy or proxy client no longer relays the stream part with this node. */
  takeLeave(overlay: StreamPartOverlay | undefined, peerId: NodeId): MembershipEffects {
    if (overlay === undefined) return NOTHING
    const removed =
      overlay.neighbors.delete(peerId) || overlay.proxies.delete(peerId) || overlay.proxyClients.delete(peerId)
    return removed ? effects({ reportStatus: true, release: true }) : NOTHING
  }

  /** A light node asks this node to be its proxy. */
  answerProxyRequest(overlay: StreamPartOverlay | undefined, peerId: NodeId): RequestVerdict {
    const reason =
      this.options.kind !== 'full' || !this.options.acceptProxies
        ? 'proxies not accepted'
        : overlay === undefined
          ? 'not a member'
          : overlay.proxyClients.size >= this.options.maxProxyClients
            ? 'full'
            : ''
    if (reason !== '' || overlay === undefined) return { accepted: false, reason, effects: NOTHING }
    overlay.proxyClients.add(peerId)
    return { accepted: true, reason, effects: effects({ added: true }) }
  }

  /** A full node answered this light node's proxy request. Answers to requests not in flight are ignored. */
  takeProxyResponse(overlay: StreamPartOverlay | undefined, peerId: NodeId, accepted: boolean): MembershipEffects {
    if (overlay === undefined || !overlay.pendingProxies.delete(peerId)) return NOTHING
    if (!accepted || overlay.proxies.size >= this.options.proxyCount) {
      return effects({ sendLeave: accepted, notifyWaiters: true, reportStatus: true, release: true })
    }
    overlay.proxies.add(peerId)
    return effects({ added: true, notifyWaiters: true })
  }

  /**
   * The tracker told this node to stop being neighbours with `peerIds`. Each
   * is refused for `dropMemoryMs`, so a request that crossed the drop doesn't
   * restore the edge; a request still in flight to it is withdrawn (a late
   * acceptance is then answered with a leave). Returns the neighbours removed:
   * send each a leave and release its connection. Waiters are to be
   * re-checked in any case.
   */
  applyDrops(overlay: StreamPartOverlay, peerIds: readonly NodeId[], now: number): NodeId[] {
    const removed: NodeId[] = []
    for (const peerId of peerIds) {
      overlay.dropped.set(peerId, now + this.options.dropMemoryMs)
      if (overlay.pendingNeighbors.delete(peerId)) continue
      if (overlay.neighbors.delete(peerId)) removed.push(peerId)
    }
    return removed
  }

  /**
   * Which of the tracker's suggested peers to ask, in its order: full nodes
   * with an address, inside the stream part's placement, not this node, not already connected or asked, not
   * recently dropped, up to `maxDegree` neighbours (light: `proxyCount`
   * proxies) with requests in flight counted, and at most `limit`. Marks each
   * chosen one pending: call {@link abandonRequest} if the request can't be sent.
   */
  selectCandidates(
    overlay: StreamPartOverlay,
    selfId: NodeId,
    suggested: readonly NodeDescriptor[],
    now: number,
    limit = Infinity,
  ): NodeDescriptor[] {
    const light = this.options.kind === 'light'
    const chosen: NodeDescriptor[] = []
    for (const descriptor of this.preferred(overlay, suggested)) {
      if (descriptor.nodeId === selfId || overlay.isConnectedTo(descriptor.nodeId)) continue
      if (overlay.wasDropped(descriptor.nodeId, now)) continue
      if (descriptor.kind !== 'full' || descriptor.addresses.length === 0) continue
      if (placementRefusal(overlay.placement, descriptor) !== undefined) continue
      const inFlight = light
        ? overlay.proxies.size + overlay.pendingProxies.size
        : overlay.neighbors.size + overlay.pendingNeighbors.size
      if (inFlight >= (light ? this.options.proxyCount : this.options.maxDegree) || chosen.length >= limit) break
      ;(light ? overlay.pendingProxies : overlay.pendingNeighbors).add(descriptor.nodeId)
      chosen.push(descriptor)
    }
    return chosen
  }

  /** `suggested` with the peers `preferNeighbors` prefers first, each group in its order. */
  private preferred(overlay: StreamPartOverlay, suggested: readonly NodeDescriptor[]): readonly NodeDescriptor[] {
    const prefer = this.options.preferNeighbors
    if (prefer === undefined) return suggested
    const first: NodeDescriptor[] = []
    const rest: NodeDescriptor[] = []
    for (const descriptor of suggested) {
      let preferred = false
      try {
        preferred = prefer(descriptor.nodeId, overlay.streamPartId)
      } catch {
        // The node's own callback: one that throws prefers no one.
      }
      ;(preferred ? first : rest).push(descriptor)
    }
    return first.length === 0 ? suggested : [...first, ...rest]
  }

  /**
   * Scoring rotates a neighbour out: it is removed and refused for `banMs` (like a tracker's drop). Returns whether it
   * was a neighbour: then send it a leave, release its connection and look for a replacement.
   */
  rotateOut(overlay: StreamPartOverlay, peerId: NodeId, banMs: number, now: number): boolean {
    overlay.dropped.set(peerId, now + banMs)
    overlay.incoming.delete(peerId)
    return overlay.neighbors.delete(peerId)
  }

  /** Whether a request to `peerId` is still in flight (not answered, abandoned or withdrawn). */
  isPending(overlay: StreamPartOverlay, peerId: NodeId): boolean {
    return (this.options.kind === 'light' ? overlay.pendingProxies : overlay.pendingNeighbors).has(peerId)
  }

  /** A request timed out or couldn't be sent. Nothing to do when it had been answered or withdrawn already. */
  abandonRequest(overlay: StreamPartOverlay, peerId: NodeId): MembershipEffects {
    const pending = this.options.kind === 'light' ? overlay.pendingProxies : overlay.pendingNeighbors
    return pending.delete(peerId) ? effects({ notifyWaiters: true, reportStatus: true }) : NOTHING
  }

  /** The connection to a peer (not a tracker) closed: it leaves every role, in every stream part. Returns the overlays that changed. */
  takePeerClosed(overlays: Iterable<StreamPartOverlay>, peerId: NodeId): StreamPartOverlay[] {
    const changed: StreamPartOverlay[] = []
    for (const overlay of overlays) {
      const removed =
        overlay.neighbors.delete(peerId) ||
        overlay.proxies.delete(peerId) ||
        overlay.proxyClients.delete(peerId) ||
        overlay.pendingNeighbors.delete(peerId) ||
        overlay.pendingProxies.delete(peerId)
      if (removed) changed.push(overlay)
    }
    return changed
  }

  private addNeighbor(overlay: StreamPartOverlay, peerId: NodeId): MembershipEffects {
    if (overlay.neighbors.has(peerId)) return NOTHING
    overlay.neighbors.add(peerId)
    return effects({ added: true, notifyWaiters: true, reportStatus: true })
  }
}

/**
 * A refusal of a neighbour or proxy request from a peer outside the overlay's constraint (counted in `counters`);
 * undefined when inside.
 */
export function placementVerdict(
  overlay: { readonly placement?: PlacementConstraint | undefined } | undefined,
  peer: PlacedPeer,
  counters?: PlacementCounters,
): RequestVerdict | undefined {
  const reason = placementRefusal(overlay?.placement, peer)
  if (reason === undefined) return undefined
  if (counters !== undefined) counters.refusedRequests++
  return {
    accepted: false,
    reason,
    effects: { sendLeave: false, added: false, notifyWaiters: false, reportStatus: false, release: false },
  }
}
