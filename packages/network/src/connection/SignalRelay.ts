import { addressFromBytes, addressToBytes } from '@runnel/protocol'
import { RtcSignalKind, type RtcSignal as RtcSignalProto } from '../generated/runnel/network/v1/network_pb.js'
import type { NodeDescriptor, NodeId } from '../identity.js'
import { silentLogger, type Logger } from '../logger.js'
import {
  checkSignalLimits,
  RTC_SIGNAL_LIMITS,
  type RtcSignal,
  type RtcSignalKind as SignalKind,
  type Signaller,
} from '../transport/webrtc/signalling.js'
import type { ControlMessageInit } from '../wire/frames.js'

/** The part of a ready connection the relay uses (`PeerConnection` is one). */
export interface SignalRelayPeer {
  readonly peerId: NodeId
  readonly peer: NodeDescriptor
  sendControl(body: ControlMessageInit): boolean
}

/** The node's ready connections as the relay sees them (`ConnectionManager` is one). */
export interface SignalRelayConnections {
  get(peerId: NodeId): SignalRelayPeer | undefined
  connectedPeers(): Iterable<SignalRelayPeer>
}

export interface SignalRelayComponents {
  readonly localNodeId: NodeId
  readonly connections: SignalRelayConnections
  /** Refusals are logged at debug. Default silent. */
  readonly logger?: Logger
}

export interface SignalRelayOptions {
  /** Most relays a signal to an unconnected node goes out on at once. Default 3. */
  readonly maxRelays?: number
  /** Most remembered routes (sessions' return paths and hints about who knows whom), each. Default 1,024. */
  readonly maxRoutes?: number
}

/** Why a signal was refused; each is counted. */
export type SignalRefusal =
  /** Wrong id length, unknown kind, ids equal, or a connection id or mid out of bounds. */
  | 'malformed'
  /** The payload is longer than {@link RTC_SIGNAL_LIMITS}.maxPayloadLength. */
  | 'oversized'
  /** A signal to relay whose source id isn't the handshake-proven id of the connection it came on. */
  | 'forged-source'
  /** A signal to relay to a node this one has no connection to. */
  | 'target-not-connected'
  /** A signal for this node, which runs no WebRTC transport (a tracker, a WebSocket-only node). */
  | 'no-webrtc'

/** Counters since start. */
export interface SignalRelayMetrics {
  /** Signals passed on to their target. */
  relayed: number
  /** Signals for this node handed to its WebRTC transport. */
  delivered: number
  /** Signals this node's transport sent, counted once per route. */
  sent: number
  readonly refused: Partial<Record<SignalRefusal, number>>
}

const KIND_TO_WIRE: Record<SignalKind, RtcSignalKind> = {
  offer: RtcSignalKind.OFFER,
  answer: RtcSignalKind.ANSWER,
  candidate: RtcSignalKind.CANDIDATE,
  unreachable: RtcSignalKind.UNREACHABLE,
}

const KIND_FROM_WIRE = new Map<RtcSignalKind, SignalKind>(
  Object.entries(KIND_TO_WIRE).map(([kind, wire]) => [wire, kind as SignalKind]),
)

/**
 * WebRTC signalling for a node or tracker: relays `RtcSignal`s between
 * connected peers, hands the ones addressed to this node to its WebRTC
 * transport, and sends that transport's signals (it is the transport's
 * {@link Signaller}).
 *
 * Relaying rules: a signal for another node is passed on only when its
 * source id is the handshake-proven id of the connection it came on (so a
 * node can signal only as itself, and a signal crosses at most one relay)
 * and this node is connected to the target. Otherwise it is refused and
 * counted, and an offer's sender is told `unreachable` so its dial fails
 * at once. The final hop takes relayed signals from any peer: the session
 * itself is authenticated by the handshake that runs over the new
 * connection.
 *
 * Routes: a session's later signals go back the way its first signal came;
 * a first signal goes straight to the target when connected, else to up to
 * `maxRelays` peers: those noted as knowing the target ({@link noteRoute}),
 * then trackers, then other full nodes.
 *
 * @example
 * ```ts
 * const relay = new SignalRelay({ localNodeId: signer.address, connections })
 * transport.attachSignaller(relay)
 * // in the node's control handler:
 * if (message.body.case === 'rtcSignal') relay.handle(peer, message.body.value)
 * ```
 */
export class SignalRelay implements Signaller {
  readonly metrics: SignalRelayMetrics = { relayed: 0, delivered: 0, sent: 0, refused: {} }
  private receiver: ((signal: RtcSignal) => void) | undefined
  /** `<remote id>/<connection id>` → the peer the session's signals came through. */
  private readonly sessionRoutes = new Map<string, NodeId>()
  /** Target → a peer known to be connected to it (it handed us the target's descriptor). */
  private readonly hints = new Map<NodeId, NodeId>()
  private readonly logger: Logger
  private readonly maxRelays: number
  private readonly maxRoutes: number

  constructor(
    private readonly components: SignalRelayComponents,
    options: SignalRelayOptions = {},
  ) {
    this.logger = components.logger ?? silentLogger
    this.maxRelays = options.maxRelays ?? 3
    this.maxRoutes = options.maxRoutes ?? 1_024
  }

  get localNodeId(): NodeId {
    return this.components.localNodeId
  }

  setReceiver(receiver: ((signal: RtcSignal) => void) | undefined): void {
    this.receiver = receiver
  }

  /**
   * Notes that `viaPeerId` is connected to `targetId` (e.g. it sent us the
   * target's descriptor), so signals to the target try it first.
   */
  noteRoute(targetId: NodeId, viaPeerId: NodeId): void {
    if (targetId === viaPeerId || targetId === this.localNodeId) return
    remember(this.hints, targetId, viaPeerId, this.maxRoutes)
  }

  /** An `RtcSignal` control message from a connected peer. */
  handle(from: SignalRelayPeer, message: RtcSignalProto): void {
    if (message.sourceId.length !== 20 || message.targetId.length !== 20) {
      this.refuse('malformed', from, 'ids must be 20 bytes')
      return
    }
    const kind = KIND_FROM_WIRE.get(message.kind)
    const sourceId = addressFromBytes(message.sourceId)
    const targetId = addressFromBytes(message.targetId)
    if (kind === undefined || sourceId === targetId) {
      this.refuse('malformed', from, kind === undefined ? `unknown kind ${message.kind}` : 'source is the target')
      return
    }
    const problem = checkSignalLimits(message)
    if (problem !== undefined) {
      this.refuse(
        message.payload.length > RTC_SIGNAL_LIMITS.maxPayloadLength ? 'oversized' : 'malformed',
        from,
        problem,
      )
      return
    }
    const signal: RtcSignal = {
      sourceId,
      targetId,
      connectionId: message.connectionId,
      kind,
      payload: message.payload,
      mid: message.mid,
    }
    if (targetId === this.localNodeId) {
      this.deliver(from, signal)
      return
    }
    if (sourceId !== from.peerId) {
      this.refuse('forged-source', from, `source ${sourceId} on the connection of ${from.peerId}`)
      return
    }
    const target = this.components.connections.get(targetId)
    if (target === undefined) {
      this.refuse('target-not-connected', from, `target ${targetId}`)
      if (kind === 'offer') this.answerUnreachable(from, signal, 'the relay is not connected to the target')
      return
    }
    this.metrics.relayed++
    target.sendControl({ case: 'rtcSignal', value: message })
  }

  send(signal: RtcSignal): number {
    const routes = this.routesTo(signal)
    const body: ControlMessageInit = { case: 'rtcSignal', value: toWire(signal) }
    let sent = 0
    for (const route of routes) if (route.sendControl(body)) sent++
    this.metrics.sent += sent
    return sent
  }

  private deliver(from: SignalRelayPeer, signal: RtcSignal): void {
    const receiver = this.receiver
    if (receiver === undefined) {
      this.refuse('no-webrtc', from, `${signal.kind} for this node`)
      if (signal.kind === 'offer') this.answerUnreachable(from, signal, 'the target does not accept WebRTC')
      return
    }
    // Answers and candidates of this session go back the way it came.
    remember(this.sessionRoutes, routeKey(signal.sourceId, signal.connectionId), from.peerId, this.maxRoutes)
    this.metrics.delivered++
    receiver(signal)
  }

  private routesTo(signal: RtcSignal): SignalRelayPeer[] {
    const { connections } = this.components
    const direct = connections.get(signal.targetId)
    if (direct !== undefined) return [direct]
    const known = this.sessionRoutes.get(routeKey(signal.targetId, signal.connectionId))
    const knownPeer = known === undefined ? undefined : connections.get(known)
    if (knownPeer !== undefined) return [knownPeer]
    if (signal.kind !== 'offer' && signal.kind !== 'unreachable') {
      // Answers and candidates follow the route the session's offer or answer came by.
      return []
    }
    const relays: SignalRelayPeer[] = []
    const add = (peer: SignalRelayPeer | undefined): void => {
      if (peer !== undefined && relays.length < this.maxRelays && !relays.includes(peer)) relays.push(peer)
    }
    const hint = this.hints.get(signal.targetId)
    add(hint === undefined ? undefined : connections.get(hint))
    const others: SignalRelayPeer[] = []
    for (const peer of connections.connectedPeers()) {
      if (peer.peer.kind === 'tracker') add(peer)
      else if (peer.peer.kind === 'full') others.push(peer)
    }
    for (const peer of others) add(peer)
    return relays
  }

  private answerUnreachable(to: SignalRelayPeer, signal: RtcSignal, reason: string): void {
    to.sendControl({
      case: 'rtcSignal',
      value: toWire({
        sourceId: signal.targetId,
        targetId: signal.sourceId,
        connectionId: signal.connectionId,
        kind: 'unreachable',
        payload: reason,
        mid: '',
      }),
    })
  }

  private refuse(reason: SignalRefusal, from: SignalRelayPeer, detail: string): void {
    this.metrics.refused[reason] = (this.metrics.refused[reason] ?? 0) + 1
    this.logger.debug('refused a WebRTC signal', { peer: from.peerId, reason, detail })
  }
}

function toWire(signal: RtcSignal): Omit<RtcSignalProto, '$typeName'> {
  return {
    sourceId: addressToBytes(signal.sourceId),
    targetId: addressToBytes(signal.targetId),
    connectionId: signal.connectionId,
    kind: KIND_TO_WIRE[signal.kind],
    payload: signal.payload,
    mid: signal.mid,
  }
}

function routeKey(remoteId: NodeId, connectionId: string): string {
  return `${remoteId}/${connectionId}`
}

/** Sets `key` in an insertion-ordered map capped at `max` entries, dropping the oldest. */
function remember<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key)
  map.set(key, value)
  if (map.size > max) {
    const oldest = map.keys().next()
    if (oldest.done !== true) map.delete(oldest.value)
  }
}
