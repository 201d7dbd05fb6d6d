import { bytesToHex, type Clock, type MessageSigner, type SignatureVerifier, type Timer } from '@runnel/protocol'
import { NetworkError } from '../errors.js'
import type { ControlMessage } from '../generated/runnel/network/v1/network_pb.js'
import type { NodeDescriptor, NodeId } from '../identity.js'
import { canDial, chooseDialAddress } from '../transport/MultiTransport.js'
import { FRAME_TOO_LARGE_REASON, type Transport, type TransportConnection } from '../transport/Transport.js'
import { InboundAddressCaps, resolveInboundCaps, type InboundCaps } from './AddressCaps.js'
import {
  DEFAULT_PEER_CONNECTION_OPTIONS,
  PeerConnection,
  type CloseCause,
  type PeerConnectionComponents,
  type PeerConnectionOptions,
} from './PeerConnection.js'

/** What the owner of a ConnectionManager hears. Only ready (authenticated) peers are reported. */
export interface ConnectionManagerEvents {
  onPeerReady(peer: PeerConnection): void
  onControl(peer: PeerConnection, message: ControlMessage): void
  onData(peer: PeerConnection, frame: Uint8Array, message: Uint8Array): void
  onPeerClosed(peer: PeerConnection, cause: CloseCause, detail: string): void
  /**
   * A peer refused this node's connection (`Goodbye{IDENTITY_IN_USE}`, ready
   * or still handshaking) and named the connection that holds this node's id
   * there: the peer's word, which {@link ConnectionManager.isOwnIdElsewhere}
   * can check.
   */
  onIdentityRefused?(peer: PeerConnection, holder: NodeDescriptor): void
  /**
   * Another running process proved this node's id on `peer` (whichever of
   * the two dialled), and this one is the newer of the two: it should stop.
   * The older one only closes the connection.
   */
  onIdentityInUse?(peer: PeerConnection): void
}

export interface ConnectionManagerComponents {
  readonly transport: Transport
  readonly signer: MessageSigner
  readonly verifier: SignatureVerifier
  readonly clock: Clock
  readonly events: ConnectionManagerEvents
}

/** Counters kept across connections. */
export interface ConnectionManagerStats {
  /** Connections closed, by cause. */
  readonly closes: Partial<Record<CloseCause, number>>
  framesIn: number
  framesOut: number
  bytesIn: number
  bytesOut: number
  framesDropped: number
}

/** Limits of a {@link ConnectionManager} beyond each connection's own. */
export interface ConnectionManagerLimits {
  /**
   * Most ready connections kept. Past it, accepting one closes the least
   * recently active connection that no one holds a lock on (cause
   * 'evicted'); when every other connection is locked the limit is exceeded
   * rather than break one in use. A connection ready for less than
   * {@link FRESH_CONNECTION_GRACE_MS} is spared too (the request it was
   * opened for is on its way), while the node holds fewer than twice the
   * limit. Default unlimited (tracker mode, trackers);
   * {@link DEFAULT_MAX_CONNECTIONS} suits a DHT node.
   */
  readonly maxConnections?: number
  /**
   * Caps on incoming connections per IP address and per /24 (IPv4) or /48
   * (IPv6), checked on arrival before the handshake; a connection past one
   * is closed at once with a goodbye naming the cap (cause 'address-cap').
   * Defaults: {@link DEFAULT_INBOUND_CAPS} (16 per address, 32 per subnet;
   * loopback and private addresses exempt).
   *
   * @example
   * ```ts
   * new ConnectionManager(components, undefined, { inbound: { maxPerIp: 4, maxPerSubnet: 8 } })
   * ```
   */
  readonly inbound?: InboundCaps
  /**
   * An unlocked connection that delivered nothing (keep-alive aside) for a
   * whole period of this many ms is closed (cause 'trimmed') while the node
   * holds more than `minConnections`, least recently active first. Lookups
   * leave a trackerless node with dozens of connections it no longer uses,
   * each costing memory on both ends; a contact stays in the routing table
   * and is dialled again when needed. Default: {@link DEFAULT_IDLE_CONNECTION_MS}
   * when `maxConnections` is set, else never.
   */
  readonly idleConnectionMs?: number
  /** Connections kept however idle. Default: a quarter of `maxConnections`. */
  readonly minConnections?: number
}

/**
 * How long a new connection is spared from eviction. Without it, a node
 * that many dial at once (an entry point while a network starts) closed each
 * new connection before the request it was opened for arrived.
 */
export const FRESH_CONNECTION_GRACE_MS = 2_000
/** How long a connection that has sent nothing since it was accepted is spared even past twice the limit. */
export const FIRST_FRAME_GRACE_MS = 500

/** A sensible connection cap for a node in trackerless (DHT) mode. */
export const DEFAULT_MAX_CONNECTIONS = 64
/** How long an unlocked connection may go unused before a node over its `minConnections` closes it. */
export const DEFAULT_IDLE_CONNECTION_MS = 10_000

/** Most events held from a connection while the manager decides whether to accept it. */
const MAX_HELD_EVENTS = 1000

/**
 * Owns every connection of a node: accepts, dials, authenticates (through
 * PeerConnection), keeps one connection per peer, and aggregates counters.
 *
 * A second connection from a node id already connected is either a
 * simultaneous dial (same instance id: one of the two is kept) or another
 * process (different instance id): then the older connection is pinged, and
 * the newcomer is refused with 'identity-in-use' if it answers, or replaces it
 * if it doesn't (a restarted node whose old socket is half-open). A
 * connection that proves this node's own id from another instance is another
 * process with the same key checking (or being checked, see `checkOwnId`):
 * closed at once ('identity-check'), and the newer of the two hears
 * `onIdentityInUse`.
 */
export class ConnectionManager {
  /** Random per running node, sent in every Hello. */
  readonly instanceId = crypto.getRandomValues(new Uint8Array(16))
  private readonly instanceHex = bytesToHex(this.instanceId)
  private sharedPeerComponents: PeerConnectionComponents | undefined
  private readonly peers = new Map<NodeId, PeerConnection>()
  /** Ready connections being checked against an older one of the same node id, with their events until then. */
  private readonly held = new Map<PeerConnection, (() => void)[]>()
  private readonly dialsByAddress = new Map<string, Promise<PeerConnection>>()
  private readonly waiters = new Map<
    PeerConnection,
    { resolve: (p: PeerConnection) => void; reject: (e: Error) => void }
  >()
  private readonly all = new Set<PeerConnection>()
  /** Peers that closed their accepted connection as a duplicate, until another one is accepted (see `awaitSwitch`). */
  private readonly switching = new Map<NodeId, { closed: PeerConnection; detail: string; timer: Timer }>()
  /** Who holds each peer's connection open: owners per node id, kept across reconnects until unlocked. */
  private readonly locks = new Map<NodeId, Set<string>>()
  /** Counts peer activity for eviction (see `PeerConnection.lastActivity`). */
  private activity = 0
  private readonly maxConnections: number
  /** Whether connections count their activity (for eviction or trimming). */
  private readonly tracksActivity: boolean
  private readonly idleConnectionMs: number
  private readonly minConnections: number
  /** Keep-alive for every connection, and the idle sweep: one timer per node. */
  private housekeeping: Timer | undefined
  private nextTrimAt = Infinity
  private readonly inboundCaps: InboundAddressCaps
  private readonly closeListeners = new Map<PeerConnection, Set<(cause: CloseCause, detail: string) => void>>()
  private descriptor: NodeDescriptor | undefined
  private startedAt: number
  private stopped = false
  readonly stats: ConnectionManagerStats = {
    closes: {},
    framesIn: 0,
    framesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    framesDropped: 0,
  }

  constructor(
    private readonly components: ConnectionManagerComponents,
    private readonly options: PeerConnectionOptions = DEFAULT_PEER_CONNECTION_OPTIONS,
    limits: ConnectionManagerLimits = {},
  ) {
    this.maxConnections = limits.maxConnections ?? Infinity
    const bounded = this.maxConnections !== Infinity
    this.idleConnectionMs = limits.idleConnectionMs ?? (bounded ? DEFAULT_IDLE_CONNECTION_MS : Infinity)
    this.minConnections = limits.minConnections ?? (bounded ? Math.floor(this.maxConnections / 4) : 0)
    this.tracksActivity = bounded || this.idleConnectionMs !== Infinity
    this.inboundCaps = new InboundAddressCaps(resolveInboundCaps(limits.inbound))
    this.startedAt = components.clock.now()
  }

  /** Starts the transport; returns the addresses it listens on. */
  start(describe: (addresses: string[]) => NodeDescriptor): Promise<NodeDescriptor> {
    this.startedAt = this.components.clock.now()
    if (this.housekeeping === undefined) {
      this.nextTrimAt = this.startedAt + this.idleConnectionMs
      // Keep-alive alone must not keep a process running.
      this.housekeeping = this.components.clock.setInterval(() => this.housekeep(), this.options.pingIntervalMs, {
        unref: true,
      })
    }
    return this.components.transport
      .start((connection) => this.admit(connection))
      .then((addresses) => {
        this.descriptor = describe(addresses)
        return this.descriptor
      })
  }

  get localDescriptor(): NodeDescriptor {
    if (this.descriptor === undefined) throw new NetworkError('INVALID_STATE', 'not started')
    return this.descriptor
  }

  get(nodeId: NodeId): PeerConnection | undefined {
    return this.peers.get(nodeId)
  }

  connectedPeers(): IterableIterator<PeerConnection> {
    return this.peers.values()
  }

  /**
   * Keeps the connection to `peerId` from being evicted until every owner
   * that locked it unlocks it. Locks are per node id, so they hold across a
   * reconnect; an owner locking twice holds one lock.
   *
   * @example
   * ```ts
   * connections.lock(neighborId, `overlay:${streamPartId}`)
   * // … later, when it is no longer a neighbour:
   * connections.unlock(neighborId, `overlay:${streamPartId}`)
   * ```
   */
  lock(peerId: NodeId, owner: string): void {
    let owners = this.locks.get(peerId)
    if (owners === undefined) {
      owners = new Set()
      this.locks.set(peerId, owners)
    }
    owners.add(owner)
  }

  unlock(peerId: NodeId, owner: string): void {
    const owners = this.locks.get(peerId)
    if (owners === undefined) return
    owners.delete(owner)
    if (owners.size === 0) this.locks.delete(peerId)
  }

  isLocked(peerId: NodeId): boolean {
    return this.locks.has(peerId)
  }

  /**
   * Calls `listener` once when this very connection closes (also a
   * connection that lost to a duplicate, which `onPeerClosed` doesn't
   * report); at once if it is closed already. Returns a function that
   * removes the listener.
   */
  whenClosed(peer: PeerConnection, listener: (cause: CloseCause, detail: string) => void): () => void {
    if (peer.isClosed) {
      listener('local', 'closed already')
      return () => undefined
    }
    let listeners = this.closeListeners.get(peer)
    if (listeners === undefined) {
      listeners = new Set()
      this.closeListeners.set(peer, listeners)
    }
    listeners.add(listener)
    return () => {
      listeners.delete(listener)
      if (listeners.size === 0 && this.closeListeners.get(peer) === listeners) this.closeListeners.delete(peer)
    }
  }

  /** How many ready connections there are. */
  /** Milliseconds since `start()`. */
  get uptimeMs(): number {
    return this.components.clock.now() - this.startedAt
  }

  get connectionCount(): number {
    return this.peers.size
  }

  /**
   * A ready connection to the node `descriptor` describes: the existing one,
   * or a dial to each of its addresses this node's transport can dial, in
   * their order (`ws://` before `webrtc:`, see {@link chooseDialAddress}),
   * until one reaches that very node (an address leading to another node id
   * counts as a failure).
   *
   * @throws {@link NetworkError} `CONNECTION_FAILED` naming the last failure (an address that led to another
   *   node, or none dialable here; the cause is the last dial's error); `ABORTED`
   */
  async connectDescriptor(descriptor: NodeDescriptor, signal?: AbortSignal): Promise<PeerConnection> {
    const existing = this.peers.get(descriptor.nodeId)
    if (existing !== undefined) return existing
    let lastError: unknown
    for (const address of descriptor.addresses) {
      if (!canDial(this.components.transport, address)) continue
      if (signal?.aborted === true) throw new NetworkError('ABORTED', 'connect was aborted', { cause: signal.reason })
      try {
        return await this.connect(address, descriptor.nodeId, signal)
      } catch (err) {
        lastError = err
      }
    }
    if (lastError === undefined) {
      throw new NetworkError(
        'CONNECTION_FAILED',
        descriptor.addresses.length === 0
          ? `${descriptor.nodeId} has no addresses`
          : `no address of ${descriptor.nodeId} can be dialled here: ${descriptor.addresses.join(', ')}`,
      )
    }
    if (lastError instanceof NetworkError && lastError.code === 'PEER_ID_MISMATCH') {
      // The node wasn't reached: the address only led elsewhere.
      throw new NetworkError('CONNECTION_FAILED', lastError.message, { cause: lastError })
    }
    if (lastError instanceof NetworkError && lastError.code !== 'INVALID_ADDRESS') throw lastError
    throw new NetworkError('CONNECTION_FAILED', `could not reach ${descriptor.nodeId}`, { cause: lastError })
  }

  /**
   * A ready connection to the node at `address`: the existing one when the
   * node is known and connected, otherwise a new dial. With
   * `expectedNodeId`, the node must prove that id in its handshake: a new
   * connection to another node is closed (unless someone holds a lock on
   * it) and the call rejects.
   *
   * @example
   * ```ts
   * const peer = await connections.connect('ws://10.0.0.2:30301', descriptor.nodeId, AbortSignal.timeout(5_000))
   * ```
   * @throws {@link NetworkError} `PEER_ID_MISMATCH`; `CONNECTION_FAILED`; `INVALID_ADDRESS`; `ABORTED`/`TIMEOUT`
   */
  connect(address: string, expectedNodeId?: NodeId, signal?: AbortSignal): Promise<PeerConnection> {
    if (this.stopped) return Promise.reject(new NetworkError('INVALID_STATE', 'connection manager stopped'))
    const existing = expectedNodeId === undefined ? undefined : this.peers.get(expectedNodeId)
    if (existing !== undefined) return Promise.resolve(existing)
    let dial = this.dialsByAddress.get(address)
    if (dial === undefined) {
      dial = this.components.transport.connect(address, signal).then(
        (connection) =>
          new Promise<PeerConnection>((resolve, reject) => {
            const peer = this.adopt(connection, true)
            const closedEarly = peer.closedBeforeWaiting
            if (closedEarly !== undefined) reject(closedEarly)
            else this.waiters.set(peer, { resolve, reject })
          }),
      )
      this.dialsByAddress.set(address, dial)
      const forget = (): void => void this.dialsByAddress.delete(address)
      dial.then(forget, forget)
    }
    return expectedNodeId === undefined ? dial : dial.then((peer) => this.checkPeerId(peer, address, expectedNodeId))
  }

  /**
   * Dials `address` to see whether another running process holds this
   * node's key there: resolves when the node there proved this node's id in
   * its handshake with another instance id. The connection is then closed at
   * once on both ends (cause 'identity-check'), and whichever of the two
   * processes is newer hears `onIdentityInUse`. Two processes with one key
   * are otherwise told apart by no one in trackerless mode.
   *
   * @example
   * ```ts
   * await connections.checkOwnId(holder.addresses[0], AbortSignal.timeout(5_000))
   * ```
   * @throws {@link NetworkError} `PEER_ID_MISMATCH` when another node is there; `CONNECTION_FAILED` when nothing
   *   answers (or this very process does); `INVALID_ADDRESS`; `ABORTED`/`TIMEOUT`
   */
  async checkOwnId(address: string, signal?: AbortSignal): Promise<void> {
    // handleReady settles an own-id connection only when it comes from another instance.
    await this.connect(address, this.localDescriptor.nodeId, signal)
  }

  /** A dial's result when it reached the expected node; otherwise closes what only this dial needed, and throws. */
  private checkPeerId(peer: PeerConnection, address: string, expectedNodeId: NodeId): PeerConnection {
    if (peer.peerId === expectedNodeId) return peer
    // A connection the node already used (a duplicate resolved to it) or someone holds stays open.
    if (!this.isLocked(peer.peerId) && peer.freshDial) peer.close('local', 'dialled expecting another node')
    throw new NetworkError('PEER_ID_MISMATCH', `${address} belongs to ${peer.peerId}, not ${expectedNodeId}`)
  }

  /** The first of `addresses` this node's transport can dial (see {@link chooseDialAddress}). */
  dialAddress(addresses: readonly string[]): string | undefined {
    return chooseDialAddress(this.components.transport, addresses)
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.housekeeping?.cancel()
    for (const peer of [...this.all]) peer.close('local', 'node stopping')
    for (const { closed, detail, timer } of this.switching.values()) {
      timer.cancel()
      this.components.events.onPeerClosed(closed, 'remote-duplicate', detail)
    }
    this.switching.clear()
    await this.components.transport.stop()
  }

  /** Incoming connections refused by the per-address caps (`limits.inbound`) since start. */
  get inboundRefused(): number {
    return this.inboundCaps.refused
  }

  /**
   * An incoming connection, checked against the per-address caps before its
   * handshake: past one it is told why (a goodbye) and closed.
   */
  private admit(connection: TransportConnection): void {
    const admission = this.inboundCaps.admit(connection.remoteAddress)
    const peer = this.adopt(connection, false)
    if ('refusal' in admission) {
      peer.close('address-cap', admission.refusal)
      return
    }
    const { ticket } = admission
    if (ticket !== undefined) this.whenClosed(peer, () => this.inboundCaps.release(ticket))
  }

  /**
   * One object for every connection (what they need differs only by the
   * connection, which each event names): per connection, it and its five
   * closures were about 0.5 KiB, on a trackerless node with 40 connections.
   */
  private peerComponents(): PeerConnectionComponents {
    this.sharedPeerComponents ??= {
      localDescriptor: this.localDescriptor,
      instanceId: this.instanceId,
      uptimeMs: () => this.uptimeMs,
      signer: this.components.signer,
      verifier: this.components.verifier,
      clock: this.components.clock,
      events: {
        onReady: (ready) => this.handleReady(ready),
        // The closure is made only for an event that must wait: passing one on (every data frame) allocates nothing.
        onControl: (from, message) => {
          if (this.passes(from)) this.components.events.onControl(from, message)
          else this.hold(from, () => this.components.events.onControl(from, message))
        },
        onData: (from, frame, message) => {
          if (this.passes(from)) this.components.events.onData(from, frame, message)
          else this.hold(from, () => this.components.events.onData(from, frame, message))
        },
        onClose: (closed, cause, detail) => {
          if (closed.outbound && !this.waiters.has(closed) && !closed.isReadyOnce) {
            // Frames and the close the peer sent before the dial resolved are handed over at once, while the
            // connection is adopted, before its dial waits on it (a peer refusing at once, see `admit`).
            closed.closedBeforeWaiting = closeDuringHandshake(cause, detail)
          }
          this.handleClosed(closed, cause, detail)
        },
      },
    }
    return this.sharedPeerComponents
  }

  private adopt(connection: TransportConnection, outbound: boolean): PeerConnection {
    const peer = new PeerConnection(connection, outbound, this.peerComponents(), this.options)
    this.all.add(peer)
    if (this.stopped) peer.close('local', 'node stopping')
    return peer
  }

  private handleReady(peer: PeerConnection): void {
    const peerId = peer.peerId
    if (peerId === this.localDescriptor.nodeId) {
      if (peer.peerInstanceId === this.instanceHex) {
        peer.close('protocol-violation', 'connected to itself')
        return
      }
      // Another process with this node's key: it dialled to check whether this one runs, or this one did.
      this.settle(peer, peer)
      peer.close('identity-check', `another process holds node id ${peerId}`)
      if (this.isNewerThan(peer)) this.components.events.onIdentityInUse?.(peer)
      return
    }
    const existing = this.peers.get(peerId)
    if (existing === undefined || existing === peer) {
      this.accept(peer)
      return
    }
    if (!isSameProcess(existing, peer)) {
      this.checkIdentityInUse(peer, existing)
      return
    }
    // Both ends dialed at once. Both keep the connection dialed by the
    // smaller node id, so they agree without another round trip.
    const localId = this.localDescriptor.nodeId
    const initiator = (connection: PeerConnection): NodeId => (connection.outbound ? localId : peerId)
    const keepNew = initiator(peer) === initiator(existing) || initiator(peer) < initiator(existing)
    const [winner, loser] = keepNew ? [peer, existing] : [existing, peer]
    this.peers.set(peerId, winner)
    this.settle(loser, winner)
    loser.close('duplicate', 'duplicate connection')
    if (winner === peer) this.accept(peer)
  }

  /**
   * Whether this process started after the one at the other end of `peer`
   * (same key). Both ends compare the uptimes their Hellos carried, so they
   * agree; a tie goes by instance id.
   */
  private isNewerThan(peer: PeerConnection): boolean {
    if (peer.localUptimeMs !== peer.peerUptimeMs) return peer.localUptimeMs < peer.peerUptimeMs
    return this.instanceHex > peer.peerInstanceId
  }

  private accept(peer: PeerConnection): void {
    this.switching.get(peer.peerId)?.timer.cancel()
    this.switching.delete(peer.peerId)
    this.peers.set(peer.peerId, peer)
    peer.lastActivity = ++this.activity
    peer.acceptedActivity = peer.lastActivity
    if (this.tracksActivity) {
      peer.acceptedAt = this.components.clock.now()
      for (let excess = this.peers.size - this.maxConnections; excess > 0 && this.evict(peer.peerId); excess--);
    }
    this.settle(peer, peer)
    this.components.events.onPeerReady(peer)
    const held = this.held.get(peer) ?? []
    this.held.delete(peer)
    for (const event of held) {
      if (peer.isClosed) return
      event()
    }
  }

  /**
   * Another process with the same key would be let in and kick the first out
   * (which reconnects and kicks it out, and so on); a restarted node must get
   * in while its old socket is half-open. Only a ping on the old connection
   * tells the two apart.
   */
  private checkIdentityInUse(peer: PeerConnection, existing: PeerConnection): void {
    if (!this.held.has(peer)) this.held.set(peer, [])
    void existing.probe(this.options.livenessProbeTimeoutMs).then((alive) => {
      if (peer.isClosed) {
        this.held.delete(peer)
        return
      }
      if (this.peers.get(peer.peerId) !== existing) {
        // The old connection went (or was replaced) meanwhile: decide against what is there now.
        this.handleReady(peer)
        return
      }
      if (alive) {
        this.held.delete(peer)
        peer.close('identity-in-use', `another process is already connected with node id ${peer.peerId}`, existing.peer)
        return
      }
      existing.close('replaced', `${peer.peerId} connected again and this connection stopped answering`)
      this.accept(peer)
    })
  }

  /**
   * Closes the least recently active unlocked connection other than `keep`'s, sparing fresh ones below twice the
   * limit; false when there is none.
   */
  private evict(keep: NodeId): boolean {
    let oldest: NodeId | undefined
    let oldestAt = Infinity
    // Connections accepted after this are spared; none is at twice the limit.
    const spareAfter =
      this.peers.size < 2 * this.maxConnections ? this.components.clock.now() - FRESH_CONNECTION_GRACE_MS : Infinity
    // Past twice the limit, a connection still waiting for its first frame (the request it was opened for) is spared
    // for a moment all the same: under a join storm every newcomer's connection was evicted before its request
    // arrived, so a node near a popular key answered no one who came after the first burst.
    const unheardAfter = this.components.clock.now() - FIRST_FRAME_GRACE_MS
    for (const [peerId, peer] of this.peers) {
      if (peerId === keep || this.locks.has(peerId)) continue
      if (peer.acceptedAt > spareAfter) continue
      if (peer.lastActivity === peer.acceptedActivity && peer.acceptedAt > unheardAfter) continue
      const at = peer.lastActivity
      if (at < oldestAt) {
        oldest = peerId
        oldestAt = at
      }
    }
    const connection = oldest === undefined ? undefined : this.peers.get(oldest)
    if (connection === undefined) return false
    connection.close('evicted', `over ${this.maxConnections} connections`)
    return true
  }

  /** Every connection's keep-alive tick, and the idle sweep once a period. */
  private housekeep(): void {
    const now = this.components.clock.now()
    for (const peer of this.all) peer.keepAlive(now)
    if (now >= this.nextTrimAt) {
      this.nextTrimAt = now + this.idleConnectionMs
      this.trimIdle()
    }
  }

  /**
   * Closes connections unused since the last sweep (a whole `idleConnectionMs`), least recently active first, down to
   * `minConnections`. Locked ones (a neighbour's, a request's) stay.
   */
  private trimIdle(): void {
    if (this.peers.size <= this.minConnections) return
    const idle: PeerConnection[] = []
    for (const [peerId, peer] of this.peers) {
      if (peer.lastActivity !== peer.sweptActivity) peer.sweptActivity = peer.lastActivity
      else if (!this.locks.has(peerId)) idle.push(peer)
    }
    idle.sort((a, b) => a.lastActivity - b.lastActivity)
    for (let excess = this.peers.size - this.minConnections, index = 0; excess > 0 && index < idle.length; excess--) {
      idle[index++]!.close('trimmed', `unused for ${this.idleConnectionMs} ms`)
    }
  }

  /** Whether a connection's events go on now (noting its activity), or must be held while it awaits acceptance. */
  private passes(from: PeerConnection): boolean {
    if (this.held.has(from)) return false
    if (this.tracksActivity && from.isReady) from.lastActivity = ++this.activity
    return true
  }

  /** Holds an event of a connection that awaits acceptance. */
  private hold(from: PeerConnection, event: () => void): void {
    const held = this.held.get(from)!
    if (held.length >= MAX_HELD_EVENTS) {
      this.held.delete(from)
      from.close('protocol-violation', 'too many frames before the connection was accepted')
      return
    }
    held.push(event)
  }

  private settle(dialed: PeerConnection, result: PeerConnection): void {
    const waiter = this.waiters.get(dialed)
    if (waiter === undefined) return
    this.waiters.delete(dialed)
    if (dialed === result) result.freshDial = true
    waiter.resolve(result)
  }

  private handleClosed(peer: PeerConnection, cause: CloseCause, detail: string): void {
    this.all.delete(peer)
    const listeners = this.closeListeners.get(peer)
    if (listeners !== undefined) {
      this.closeListeners.delete(peer)
      for (const listener of listeners) listener(cause, detail)
    }
    const effectiveCause: CloseCause = detail.startsWith(FRAME_TOO_LARGE_REASON) ? 'frame-too-large' : cause
    this.stats.closes[effectiveCause] = (this.stats.closes[effectiveCause] ?? 0) + 1
    this.stats.framesIn += peer.stats.framesIn
    this.stats.framesOut += peer.stats.framesOut
    this.stats.bytesIn += peer.stats.bytesIn
    this.stats.bytesOut += peer.stats.bytesOut
    this.stats.framesDropped += peer.stats.framesDropped
    this.held.delete(peer)
    const holder = cause === 'identity-in-use' ? peer.identityHolder : undefined
    if (holder !== undefined) this.components.events.onIdentityRefused?.(peer, holder)
    const waiter = this.waiters.get(peer)
    if (waiter !== undefined) {
      this.waiters.delete(peer)
      waiter.reject(
        cause === 'identity-in-use'
          ? new NetworkError('IDENTITY_IN_USE', detail)
          : new NetworkError('CONNECTION_FAILED', `connection closed during handshake: ${cause} ${detail}`),
      )
    }
    if (peer.isReadyOnce && this.peers.get(peer.peerId) === peer) {
      this.peers.delete(peer.peerId)
      if (cause === 'remote-duplicate' && !this.stopped) this.awaitSwitch(peer, detail)
      else this.components.events.onPeerClosed(peer, effectiveCause, detail)
    }
  }

  /**
   * The peer closed the connection accepted here as the duplicate of another
   * one it keeps, which is still in its handshake here: two connections keep
   * no order between them, so its goodbye can overtake the other's proof.
   * That is a switch of links, not the peer leaving; reporting it gone would
   * drop it from every overlay while it keeps this node as a neighbour (a half
   * edge). It is reported gone only if no connection to it is accepted within
   * a handshake's time.
   */
  private awaitSwitch(closed: PeerConnection, detail: string): void {
    const peerId = closed.peerId
    const timer = this.components.clock.setTimeout(
      () => {
        if (this.switching.get(peerId)?.closed !== closed) return
        this.switching.delete(peerId)
        this.components.events.onPeerClosed(closed, 'remote-duplicate', detail)
      },
      this.options.handshakeTimeoutMs,
      { unref: true },
    )
    this.switching.get(peerId)?.timer.cancel()
    this.switching.set(peerId, { closed, detail, timer })
  }

  /** Totals including open connections. */
  totals(): ConnectionManagerStats {
    const totals = { ...this.stats, closes: { ...this.stats.closes } }
    for (const peer of this.all) {
      totals.framesIn += peer.stats.framesIn
      totals.framesOut += peer.stats.framesOut
      totals.bytesIn += peer.stats.bytesIn
      totals.bytesOut += peer.stats.bytesOut
      totals.framesDropped += peer.stats.framesDropped
    }
    return totals
  }
}

/**
 * Whether two connections with one node id come from the same running node.
 * Peers that send no instance id (older nodes) are told apart the old way:
 * one connection each way is a simultaneous dial.
 */
function closeDuringHandshake(cause: CloseCause, detail: string): NetworkError {
  return cause === 'identity-in-use'
    ? new NetworkError('IDENTITY_IN_USE', detail)
    : new NetworkError('CONNECTION_FAILED', `connection closed during handshake: ${cause} ${detail}`)
}

function isSameProcess(a: PeerConnection, b: PeerConnection): boolean {
  if (a.peerInstanceId !== '' && b.peerInstanceId !== '') return a.peerInstanceId === b.peerInstanceId
  return a.outbound !== b.outbound
}
