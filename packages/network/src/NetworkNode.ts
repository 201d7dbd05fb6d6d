import {
  parsePlacement,
  parseStreamPartId,
  systemClock,
  type Clock,
  type MessageSigner,
  type PlacementConstraint,
  type SignatureVerifier,
  type StreamMessage,
  type StreamPartId,
} from '@runnel/protocol'
import { ConnectionManager } from './connection/ConnectionManager.js'
import { IdentityCheck, type IdentityCheckMetrics } from './connection/IdentityCheck.js'
import { SignalRelay, type SignalRelayMetrics } from './connection/SignalRelay.js'
import type { CloseCause, PeerConnection } from './connection/PeerConnection.js'
import { NetworkError } from './errors.js'
import type { NodeDescriptor, NodeId } from './identity.js'
import { errorField, silentLogger, type Logger } from './logger.js'
import {
  resolveNetworkNodeOptions,
  type JoinOptions,
  type NetworkNodeOptions,
  type ResolvedNetworkNodeOptions,
} from './NetworkNodeOptions.js'
import { DataPath, type DataPathCounters } from './overlay/DataPath.js'
import { waitForNeighbors } from './overlay/joinWaiter.js'
import type { InvalidMessageEvent, MessageListener } from './overlay/delivery.js'
import { DROP_MEMORY_MS, Membership } from './overlay/Membership.js'
import { OVERLAY_LOCK, OverlayControl } from './overlay/OverlayControl.js'
import {
  askTrustedEntryPoints,
  assertInsidePlacement,
  peersOutside,
  samePlacement,
  type PlacementCounters,
} from './overlay/placement.js'
import { StreamPartOverlay } from './overlay/StreamPartOverlay.js'
import { NeighborScores, type NeighborScoringCounters } from './overlay/NeighborScores.js'
import { DhtNode } from './dht/DhtNode.js'
import { DhtDiscovery, type DhtDiscoveryMetrics } from './discovery/DhtDiscovery.js'
import type { Discovery } from './discovery/Discovery.js'
import { TrackerDiscovery } from './discovery/TrackerDiscovery.js'
import type { Transport } from './transport/Transport.js'
import { isSignallingTransport, isWebRtcOnly } from './transport/webrtc/signalling.js'
import { NETWORK_PROTOCOL_VERSION } from './wire/frames.js'
import { timeoutSignal } from './timeoutSignal.js'
import { NodeInfoQueries, type LocalNodeInfo, type NodeInfo, type StreamPartInfo } from './info/NodeInfoQueries.js'

/** Lock owner for connections with a node-info query in flight. */
const INFO_LOCK = 'node-info'

export type { DeliveryContext, InvalidMessageEvent, MessageListener } from './overlay/delivery.js'
export type { JoinOptions, NetworkNodeOptions } from './NetworkNodeOptions.js'

/** Collaborators of a node; its settings are {@link NetworkNodeOptions}. */
export interface NetworkNodeComponents {
  readonly transport: Transport
  /** The node's key: its id is the key's address. */
  readonly signer: MessageSigner
  /** Checks handshakes and, when enabled, every relayed message's signature. */
  readonly verifier: SignatureVerifier
  /** Where time comes from: timers, timeouts and rate limits. Default the wall clock; a simulation passes its own. */
  readonly clock?: Clock
  /** Where the node reports what it drops or fails to do (failed tracker reports, throwing listeners, …). Default silent. */
  readonly logger?: Logger
  /** Randomness of trackerless discovery (which entry points to ask, the DHT's picks), in [0, 1). Default Math.random; a simulation passes a seeded one. */
  readonly random?: () => number
}

/** Counters since start; cheap to read. */
export interface NetworkNodeMetrics extends DataPathCounters {
  bytesIn: number
  bytesOut: number
  /** Frames not sent because a peer's send buffer was full. */
  dropped: number
  /** Closed connections by cause: 'malformed-frame', 'frame-too-large', 'flooding', … */
  disconnects: Partial<Record<CloseCause, number>>
  /** Neighbours (full) or proxies (light) per stream part. */
  neighborCounts: Record<string, number>
  /** Trackerless discovery's lookups, stores and refused records; absent in tracker mode. */
  discovery?: DhtDiscoveryMetrics
  /** WebRTC signals relayed, delivered and refused (by reason). */
  signalling: SignalRelayMetrics
  /** Trackerless mode: hints that this node's key is in use elsewhere, and the dials that checked them. */
  identityCheck?: IdentityCheckMetrics
  /** Neighbour scoring's probes and rotations (zero when `neighborScoring` is off). */
  scoring: NeighborScoringCounters
  /** Neighbour and proxy requests refused because the requester is outside the stream part's placement. */
  placementRefusals: number
}

/**
 * A node of the Runnel network: joins stream parts' overlays, relays their
 * messages, and hands them to local listeners. A facade: {@link Membership}
 * decides who its neighbours are, `OverlayControl` negotiates them,
 * {@link DataPath} moves messages, and a `Discovery` finds peers (trackers or the DHT).
 *
 * @example
 * ```ts
 * const node = new NetworkNode(
 *   { transport: new WebSocketTransport({ port: 0 }), signer: createNativeSigner(key), verifier: nativeSignatureVerifier },
 *   { trackers: ['ws://127.0.0.1:30300'] },
 * )
 * await node.start()
 * await node.join(streamPartId, { minNeighbors: 1 })
 * node.addMessageListener(streamPartId, (message) => console.log(message.messageId.toString()))
 * node.broadcast(message)
 *
 * // Trackerless: peers are found through a Kademlia DHT joined via entry points (any nodes of the network).
 * const trackerless = new NetworkNode(
 *   { transport: new WebSocketTransport({ port: 0 }), signer: createNativeSigner(key), verifier: nativeSignatureVerifier },
 *   { entryPoints: ['ws://198.51.100.7:30300', 'ws://203.0.113.9:30300'] },
 * )
 * ```
 */
export class NetworkNode {
  private readonly options: ResolvedNetworkNodeOptions
  private readonly clock: Clock
  private readonly logger: Logger
  private readonly connections: ConnectionManager
  private readonly discovery: Discovery
  private dhtNode: DhtNode | undefined
  /** Trackerless mode: no tracker sees a key used twice, so the node checks the hints it gets itself. */
  private identityCheck: IdentityCheck | undefined
  private readonly membership: Membership
  private readonly dataPath: DataPath
  private readonly control: OverlayControl
  private readonly signalling: SignalRelay
  private readonly info: NodeInfoQueries
  private readonly overlays = new Map<StreamPartId, StreamPartOverlay>()
  private readonly scoring: NeighborScoringCounters = { probes: 0, failedProbes: 0, rotations: 0 }
  /** Trackers named by a joined stream part's placement; kept until its leave is reported to them. */
  private readonly trustedTrackers = new Map<string, readonly string[]>()
  private readonly placementCounters: PlacementCounters = { refusedRequests: 0 }
  private readonly invalidMessageListeners = new Set<(event: InvalidMessageEvent) => void>()
  private readonly failureListeners = new Set<(error: NetworkError) => void>()
  private failure: NetworkError | undefined
  private stopping: Promise<void> | undefined
  private state: 'new' | 'started' | 'stopped' = 'new'

  constructor(
    private readonly components: NetworkNodeComponents,
    options: NetworkNodeOptions,
  ) {
    const resolved = resolveNetworkNodeOptions(options)
    this.options = resolved
    this.clock = components.clock ?? systemClock
    this.logger = components.logger ?? silentLogger
    this.connections = new ConnectionManager(
      {
        transport: components.transport,
        signer: components.signer,
        verifier: components.verifier,
        clock: this.clock,
        events: {
          onPeerReady: (peer) => {
            // A peer disconnected for flooding comes back to flood again: refused for a while (docs/network.md).
            if (this.dataPath.isBanned(peer.peerId)) return peer.close('flooding', 'refused for flooding')
            this.discovery.handlePeerReady(peer)
          },
          onControl: (peer, message) => {
            if (message.body.case === 'rtcSignal') this.signalling.handle(peer, message.body.value)
            else if (this.info.handleControl(peer, message.body)) return
            else if (!this.discovery.handleControl(peer, message)) this.control.handleControl(peer, message)
          },
          onData: (peer, frame, message) => void this.dataPath.receive(peer.peerId, frame, message),
          onPeerClosed: (peer, cause) => this.handlePeerClosed(peer, cause),
          onIdentityRefused: (peer, holder) =>
            this.identityCheck?.hint(holder, peer.isReadyOnce ? peer.peerId : undefined),
          onIdentityInUse: (peer) => {
            // Only trackerless mode looks for a key in use twice (in tracker mode the tracker does).
            if (this.identityCheck === undefined) return
            const where = peer.peer.addresses[0] ?? peer.transportConnection.remoteAddress
            this.fail(
              new NetworkError(
                'IDENTITY_IN_USE',
                `another process is already connected to the network with node id ${this.nodeId} (found at ` +
                  `${where}); give each process its own private key`,
              ),
            )
          },
        },
      },
      resolved.peer,
      { maxConnections: resolved.maxConnections, inbound: resolved.inbound },
    )
    this.signalling = new SignalRelay({ localNodeId: this.nodeId, connections: this.connections, logger: this.logger })
    this.info = new NodeInfoQueries({
      clock: this.clock,
      describe: () => this.describeLocally(),
      lock: (peerId) => this.connections.lock(peerId, INFO_LOCK),
      unlock: (peerId) => this.connections.unlock(peerId, INFO_LOCK),
    })
    if (isSignallingTransport(components.transport)) components.transport.attachSignaller(this.signalling)
    this.membership = new Membership({ ...resolved, dropMemoryMs: DROP_MEMORY_MS })
    this.discovery = resolved.discovery === 'dht' ? this.createDhtDiscovery() : this.createTrackerDiscovery()
    this.dataPath = new DataPath(
      {
        send: (peerId, frame) => this.connections.get(peerId)?.send(frame) === true,
        disconnect: (peerId, detail, cause = 'malformed-frame') => this.connections.get(peerId)?.close(cause, detail),
        now: () => this.clock.now(),
        verifier: components.verifier,
        logger: this.logger,
        onInvalidMessage: (event) => {
          for (const listener of this.invalidMessageListeners) listener(event)
        },
      },
      resolved,
      this.overlays,
    )
    this.control = new OverlayControl(
      {
        nodeId: this.nodeId,
        overlays: this.overlays,
        membership: this.membership,
        dataPath: this.dataPath,
        discovery: this.discovery,
        connections: this.connections,
        clock: this.clock,
        logger: this.logger,
        isWebRtcOnly: () => isWebRtcOnly(this.connections.localDescriptor.addresses),
        placementCounters: this.placementCounters,
      },
      resolved,
    )
  }

  private createTrackerDiscovery(): TrackerDiscovery {
    return new TrackerDiscovery(
      {
        connections: this.connections,
        signer: this.components.signer,
        clock: this.clock,
        logger: this.logger,
        statusOf: (streamPartId) => {
          const overlay = this.overlays.get(streamPartId)
          return overlay === undefined
            ? undefined
            : { ...this.membership.status(overlay), placement: overlay.placement }
        },
        streamParts: () => this.overlays.keys(),
        random: this.components.random,
        trackersOf: (streamPartId) => this.trustedTrackers.get(streamPartId),
      },
      this.options,
    )
  }

  private createDhtDiscovery(): DhtDiscovery {
    const { signer, verifier, random } = this.components
    const localDescriptor = (): NodeDescriptor => this.connections.localDescriptor
    const identityCheck = new IdentityCheck({ connections: this.connections, clock: this.clock, logger: this.logger })
    this.identityCheck = identityCheck
    const dht = new DhtNode(
      {
        connections: this.connections,
        signer,
        verifier,
        clock: this.clock,
        logger: this.logger,
        random,
        localDescriptor,
        noteRoute: (targetId, viaPeerId) => this.signalling.noteRoute(targetId, viaPeerId),
        onOwnIdSeen: (descriptor, fromPeerId) => identityCheck.hint(descriptor, fromPeerId),
      },
      { ...this.options.dht, entryPoints: this.options.entryPoints },
    )
    this.dhtNode = dht
    return new DhtDiscovery(
      {
        dht,
        nodeId: this.nodeId,
        kind: this.options.kind,
        overlays: this.overlays,
        wanted: (overlay) => this.membership.wanted(overlay),
        request: (overlay, candidates, limit) => this.control.requestCandidates(overlay, candidates, limit),
        descriptorOf: (peerId) => this.connections.get(peerId)?.peer,
        noteRoute: (targetId, viaPeerId) => this.signalling.noteRoute(targetId, viaPeerId),
        onOwnIdSeen: (descriptor) => identityCheck.hint(descriptor),
        localDescriptor,
        clock: this.clock,
        logger: this.logger,
        random,
      },
      { statusRetryMs: this.options.statusRetryMs, maxEntryPointsPerSubnet: this.options.dht.maxEntryPointsPerSubnet },
    )
  }

  /** The node's DHT in trackerless mode (`discovery: 'dht'`); undefined in tracker mode. */
  get dht(): DhtNode | undefined {
    return this.dhtNode
  }

  get nodeId(): NodeId {
    return this.components.signer.address
  }

  get kind(): 'full' | 'light' {
    return this.options.kind
  }

  /** The node's descriptor (addresses are known once started). */
  get descriptor(): NodeDescriptor {
    return this.connections.localDescriptor
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new NetworkError('INVALID_STATE', `node is ${this.state}`)
    this.state = 'started'
    // Reporting starts with the state: a join() made while the transport starts reports at once.
    this.discovery.start()
    try {
      await this.connections.start((addresses) => ({
        nodeId: this.nodeId,
        kind: this.options.kind,
        addresses: this.options.kind === 'light' ? [] : addresses,
        protocolVersion: NETWORK_PROTOCOL_VERSION,
        ...(this.options.location === undefined ? {} : { location: this.options.location }),
      }))
      await this.discovery.bootstrap()
    } catch (err) {
      this.discovery.stop()
      throw err
    }
  }

  /** Leaves every stream part, says goodbye to every peer and stops the transport. */
  stop(): Promise<void> {
    // One shutdown however many callers: the node may already be stopping itself after a failure.
    this.stopping ??= this.shutdown()
    return this.stopping
  }

  private async shutdown(): Promise<void> {
    this.state = 'stopped'
    this.info.stop()
    this.discovery.stop()
    this.identityCheck?.stop()
    for (const overlay of this.overlays.values()) overlay.close()
    this.overlays.clear()
    await this.connections.stop()
  }

  /**
   * Joins a stream part's overlay (idempotent). Resolves at once, or when
   * `minNeighbors` neighbours are connected.
   *
   * @throws {@link NetworkError} `TIMEOUT`/`ABORTED` when the signal fires first
   * @throws {@link NetworkError} `IDENTITY_IN_USE` when the node fails meanwhile (see {@link addFailureListener})
   * @throws {@link NetworkError} `OUTSIDE_PLACEMENT` when `placement` doesn't allow this node's location
   * @throws {@link ProtocolError} `INVALID_STREAM_PART_ID`, `INVALID_PLACEMENT`
   */
  async join(streamPartId: StreamPartId, options: JoinOptions = {}): Promise<void> {
    const placement = options.placement === undefined ? undefined : parsePlacement(options.placement)
    const overlay = this.ensureOverlay(streamPartId, placement)
    await waitForNeighbors(overlay, options, () => this.connectedCount(overlay))
  }

  /**
   * The stream part's overlay, joining it first if needed, under `placement` when given (checked: see
   * {@link join}). Validates the id (throws ProtocolError).
   */
  private ensureOverlay(streamPartId: StreamPartId, placement?: PlacementConstraint): StreamPartOverlay {
    this.assertStarted()
    let overlay = this.overlays.get(streamPartId)
    if (placement !== undefined) {
      if (overlay === undefined) parseStreamPartId(streamPartId)
      assertInsidePlacement(streamPartId, placement, this.options)
      if (placement.trackers !== undefined) this.trustedTrackers.set(streamPartId, placement.trackers)
      if (overlay !== undefined && !samePlacement(overlay.placement, placement))
        this.replacePlacement(overlay, placement)
    }
    if (overlay === undefined) {
      parseStreamPartId(streamPartId)
      overlay = new StreamPartOverlay(
        streamPartId,
        {
          propagationWindowMs: this.options.propagationWindowMs,
          propagationBufferSize: this.options.propagationBufferSize,
          duplicateWindowSize: 10_000,
        },
        () => this.clock.now(),
      )
      overlay.placement = placement
      this.overlays.set(streamPartId, overlay)
      this.scoreNeighbors(overlay)
      this.discovery.reportStatus(streamPartId)
      if (placement?.entryPoints !== undefined && this.options.discovery === 'dht') {
        void this.askEntryPoints(overlay, placement.entryPoints)
      }
    }
    return overlay
  }

  private scoreNeighbors(overlay: StreamPartOverlay): void {
    const options = this.options.neighborScoring
    if (options === undefined || this.options.kind !== 'full') return
    overlay.scores = new NeighborScores(
      {
        clock: this.clock,
        neighbors: overlay.neighbors,
        send: (peerId, frame) => this.connections.get(peerId)?.send(frame) === true,
        rotate: (peerId, banMs) => this.control.rotateOut(overlay, peerId, banMs),
        counters: this.scoring,
      },
      options,
    )
  }

  /**
   * Waits until every message this node published to the stream part has gone to at least one peer, so a short-lived
   * publisher can stop without losing what it published before its first neighbour connected (such messages wait in
   * the propagation buffer). Resolves with how many went to no one: 0 once all were sent; more when the signal fired
   * first, the stream part settled with no one to send them to (discovery found no other node), the node left it, or
   * sending failed.
   *
   * @example
   * ```ts
   * node.broadcast(message)
   * const unsent = await node.flush(streamPartId, { signal: AbortSignal.timeout(5_000) })
   * if (unsent > 0) console.warn(`${unsent} message(s) reached no peer`)
   * await node.stop()
   * ```
   */
  async flush(streamPartId: StreamPartId, options: { readonly signal?: AbortSignal } = {}): Promise<number> {
    const overlay = this.overlays.get(streamPartId)
    if (overlay === undefined) return 0
    for (;;) {
      const unsent = overlay.buffer.unsent()
      const gone = this.overlays.get(streamPartId) !== overlay
      if (unsent === 0 || gone || this.connectedCount(overlay) > 0 || overlay.isSettled()) return unsent
      try {
        // A neighbour's arrival sends it the buffer before waiters are told; settling with no one ends the wait too.
        await waitForNeighbors(overlay, { minNeighbors: 1, orWhenSettled: true, ...options }, () =>
          this.connectedCount(overlay),
        )
      } catch (err) {
        if (err instanceof NetworkError && (err.code === 'TIMEOUT' || err.code === 'ABORTED')) {
          return overlay.buffer.unsent()
        }
        throw err
      }
    }
  }

  /** Leaves a stream part: tells neighbours and the tracker, and ends its listeners and iterables. */
  leave(streamPartId: StreamPartId): void {
    const overlay = this.overlays.get(streamPartId)
    if (overlay === undefined) return
    this.overlays.delete(streamPartId)
    overlay.close()
    const peers = [...overlay.neighbors, ...overlay.proxies, ...overlay.proxyClients]
    for (const peerId of peers) this.control.sendLeave(peerId, streamPartId)
    this.discovery.reportLeave(streamPartId)
    this.trustedTrackers.delete(streamPartId)
    for (const peerId of peers) this.control.closeIfUnused(peerId)
  }

  /** Asks a placement's trusted entry points directly (see `askTrustedEntryPoints`). */
  private askEntryPoints(overlay: StreamPartOverlay, addresses: readonly string[]): Promise<void> {
    return askTrustedEntryPoints(addresses, {
      connect: (address) =>
        this.connections.connect(address, undefined, timeoutSignal(this.clock, this.options.requestTimeoutMs)),
      request: (descriptors) => {
        if (this.overlays.get(overlay.streamPartId) === overlay) this.control.requestCandidates(overlay, descriptors)
      },
      selfId: this.nodeId,
      onUnreachable: (address, error) =>
        this.logger.warn('a trusted entry point of a stream part is unreachable', {
          streamPartId: overlay.streamPartId,
          address,
          error: errorField(error),
        }),
    })
  }

  /** A join with another constraint: it holds from now on, and neighbours, proxies and clients outside it go. */
  private replacePlacement(overlay: StreamPartOverlay, placement: PlacementConstraint): void {
    overlay.placement = placement
    for (const peerId of peersOutside(overlay, (id) => this.connections.get(id)?.peer)) {
      this.membership.takeLeave(overlay, peerId)
      this.control.sendLeave(peerId, overlay.streamPartId)
      this.control.closeIfUnused(peerId)
    }
    overlay.notifyNeighborCount()
    this.discovery.scheduleStatus(overlay.streamPartId)
  }

  /**
   * Publishes a signed message to its stream part, joining it if needed. The
   * message reaches local listeners too.
   *
   * @throws {@link ProtocolError} `MESSAGE_TOO_LARGE` when the encoded message exceeds `maxMessageSize`
   * @throws {@link NetworkError} `RATE_LIMITED` when its publisher or stream part is over `relayLimits`
   */
  broadcast(message: StreamMessage): void {
    this.dataPath.publish(this.ensureOverlay(message.streamPartId), message)
  }

  /**
   * Calls `listener` with every new message of a stream part (joined or not
   * yet joined). Returns a function that removes the listener.
   */
  addMessageListener(streamPartId: StreamPartId, listener: MessageListener): () => void {
    const overlay = this.ensureOverlay(streamPartId)
    overlay.listeners.add(listener)
    return () => overlay.listeners.delete(listener)
  }

  /**
   * Calls `listener` for every message this node dropped because its
   * signature didn't verify, with the neighbour it came from. Returns a
   * function that removes the listener.
   */
  addInvalidMessageListener(listener: (event: InvalidMessageEvent) => void): () => void {
    this.invalidMessageListeners.add(listener)
    return () => this.invalidMessageListeners.delete(listener)
  }

  /**
   * Calls `listener` once if the node stops by itself because it can't go
   * on: `IDENTITY_IN_USE` when another running process is connected with the
   * same node id (the tracker refused this one; in dht mode, a connection
   * between the two proved the key and this one started later:
   * docs/network.md, "A key in use twice"). Pending `join()`s reject with
   * the same error, and so do later calls. Returns a function that removes
   * the listener.
   *
   * @example
   * ```ts
   * node.addFailureListener((error) => console.error(error.message)) // IDENTITY_IN_USE: another process is …
   * ```
   */
  addFailureListener(listener: (error: NetworkError) => void): () => void {
    this.failureListeners.add(listener)
    return () => this.failureListeners.delete(listener)
  }

  /**
   * The messages of a stream part as an async iterable. At most `bufferSize`
   * unread messages are kept; older ones are dropped first (and counted in
   * the iterator's `dropped`).
   *
   * @example
   * ```ts
   * for await (const message of node.messages(streamPartId, { signal })) handle(message)
   * ```
   */
  messages(
    streamPartId: StreamPartId,
    options: { signal?: AbortSignal; bufferSize?: number } = {},
  ): AsyncIterable<StreamMessage> & { readonly dropped: number } {
    return this.ensureOverlay(streamPartId).iterate(options)
  }

  /**
   * Asks these nodes directly to be neighbours (a full node) or proxies (a light node) in a stream part, joining it
   * first if needed, besides the peers discovery finds. An inspection uses it to reach the nodes it inspects; those
   * already connected, unreachable or refusing are skipped (within `maxDegree` or `proxyCount`).
   *
   * @example
   * ```ts
   * probe.requestPeers(streamPartId, [{ nodeId, kind: 'full', addresses: ['ws://203.0.113.9:32200'], protocolVersion: NETWORK_PROTOCOL_VERSION }])
   * ```
   */
  requestPeers(streamPartId: StreamPartId, descriptors: readonly NodeDescriptor[]): void {
    this.control.requestCandidates(this.ensureOverlay(streamPartId), descriptors)
  }

  /**
   * Calls `observer` with the sender of every frame of a stream part that carried a valid message, copies of
   * messages already seen included (listeners see each message once, from whoever sent it first). On a light node
   * every proxy sends every message, so the tally per proxy is what each relayed. Returns a function that removes it.
   */
  observeSenders(streamPartId: StreamPartId, observer: (senderId: NodeId) => void): () => void {
    const overlay = this.ensureOverlay(streamPartId)
    overlay.senderObservers.add(observer)
    return () => overlay.senderObservers.delete(observer)
  }

  /** Current neighbours (full) or proxies (light) in a stream part. */
  getNeighbors(streamPartId: StreamPartId): NodeId[] {
    const overlay = this.overlays.get(streamPartId)
    return overlay === undefined ? [] : [...this.membership.connected(overlay)]
  }

  getStreamParts(): StreamPartId[] {
    return [...this.overlays.keys()]
  }

  /**
   * Asks a node what it carries: its stream parts and neighbours there, its software version and connections by
   * transport. Answered at a bounded rate per asker (1 a second after a burst of 5). The answer is what the node
   * says; only its descriptor (id, addresses, location) is proven, by the connection's handshake.
   *
   * `target` is a node this node is connected to (its id), or a descriptor or address to dial.
   *
   * @example
   * ```ts
   * const info = await node.queryNodeInfo('ws://127.0.0.1:30400')
   * for (const part of info.streamParts) console.log(part.streamPartId, part.neighbors)
   * ```
   * @throws {@link NetworkError} `TIMEOUT` (no answer in `timeoutMs`, default 5 s), `RATE_LIMITED`, `MALFORMED_FRAME`
   *   (an answer out of bounds, saying what), `CONNECTION_FAILED`/`CONNECTION_CLOSED`, `INVALID_ARGUMENT` (an id this
   *   node isn't connected to), `INVALID_STATE` (not started)
   */
  async queryNodeInfo(
    target: NodeId | NodeDescriptor | string,
    options: { readonly timeoutMs?: number; readonly signal?: AbortSignal } = {},
  ): Promise<NodeInfo> {
    if (this.state !== 'started') throw new NetworkError('INVALID_STATE', 'the node is not started')
    const timeoutMs = options.timeoutMs ?? 5_000
    let peer: PeerConnection | undefined
    if (typeof target === 'object') {
      peer = this.connections.get(target.nodeId) ?? (await this.connections.connectDescriptor(target, options.signal))
    } else if (/^0x[0-9a-fA-F]{40}$/.test(target)) {
      peer = this.connections.get(target.toLowerCase() as NodeId)
      if (peer === undefined)
        throw new NetworkError(
          'INVALID_ARGUMENT',
          `not connected to node ${target}: pass its descriptor or an address to dial (a node id alone can't be dialled)`,
        )
    } else {
      peer = await this.connections.connect(target, undefined, options.signal)
    }
    return this.info.ask(peer, timeoutMs)
  }

  /** Node-info queries this node answered, refused for their rate, and answers it got that were malformed. */
  get nodeInfoCounters(): Readonly<NodeInfoQueries['counters']> {
    return this.info.counters
  }

  private describeLocally(): LocalNodeInfo {
    const streamParts: StreamPartInfo[] = []
    for (const overlay of this.overlays.values()) {
      streamParts.push({
        streamPartId: overlay.streamPartId,
        neighbors: [...(this.kind === 'light' ? overlay.proxies : overlay.neighbors)].map(
          (peerId) =>
            this.connections.get(peerId)?.peer ?? {
              nodeId: peerId,
              kind: 'full',
              addresses: [],
              protocolVersion: NETWORK_PROTOCOL_VERSION,
            },
        ),
        proxyClients: overlay.proxyClients.size,
      })
    }
    return {
      version: this.options.version,
      uptimeMs: this.connections.uptimeMs,
      streamParts,
      connections: this.connectionsByTransport(),
    }
  }

  /** Open peer connections by transport ("websocket", "webrtc", "simulator"). */
  connectionsByTransport(): Record<string, number> {
    const connections: Record<string, number> = {}
    for (const peer of this.connections.connectedPeers()) {
      const transport = peer.transportConnection.transportKind ?? 'other'
      connections[transport] = (connections[transport] ?? 0) + 1
    }
    return connections
  }

  getMetrics(): NetworkNodeMetrics {
    const totals = this.connections.totals()
    const neighborCounts: Record<string, number> = {}
    for (const [streamPartId, overlay] of this.overlays) neighborCounts[streamPartId] = this.connectedCount(overlay)
    return {
      ...this.dataPath.counters,
      bytesIn: totals.bytesIn,
      bytesOut: totals.bytesOut,
      dropped: totals.framesDropped,
      disconnects: totals.closes,
      neighborCounts,
      ...(this.discovery instanceof DhtDiscovery ? { discovery: { ...this.discovery.metrics } } : {}),
      signalling: { ...this.signalling.metrics, refused: { ...this.signalling.metrics.refused } },
      ...(this.identityCheck === undefined ? {} : { identityCheck: { ...this.identityCheck.metrics } }),
      scoring: { ...this.scoring },
      placementRefusals: this.placementCounters.refusedRequests,
    }
  }

  private connectedCount(overlay: StreamPartOverlay): number {
    return this.membership.connected(overlay).size
  }

  private assertStarted(): void {
    if (this.failure !== undefined) throw this.failure
    if (this.state !== 'started') {
      throw new NetworkError('INVALID_STATE', this.state === 'new' ? 'call start() first' : 'node is stopped')
    }
  }

  private handlePeerClosed(peer: PeerConnection, cause: CloseCause): void {
    const peerId = peer.peerId
    this.info.peerClosed(peerId)
    if (this.discovery.isAuthority(peerId)) {
      // Only a tracker's refusal stops the node: any peer could claim it, and
      // a node the tracker serves is refused by it whenever its twin is connected.
      if (cause === 'identity-in-use') {
        this.fail(
          new NetworkError(
            'IDENTITY_IN_USE',
            `another process is already connected to the network with node id ${this.nodeId}, so the tracker refused ` +
              'this one; give each process its own private key',
          ),
        )
      } else {
        this.discovery.handleAuthorityClosed(peerId)
      }
      return
    }
    this.discovery.handlePeerClosed(peerId)
    for (const overlay of this.membership.takePeerClosed(this.overlays.values(), peerId)) {
      this.discovery.scheduleStatus(overlay.streamPartId)
      overlay.notifyNeighborCount()
    }
    // Locks are per node id and outlive a connection; a later connection to the peer is locked again when used.
    this.connections.unlock(peerId, OVERLAY_LOCK)
  }

  /** Stops the node for good, without retrying: reconnecting would only kick out the process in the way. */
  private fail(error: NetworkError): void {
    if (this.state !== 'started') return
    this.failure = error
    this.logger.error('the node stops', { code: error.code, error: error.message })
    for (const overlay of this.overlays.values()) overlay.close(error)
    for (const listener of this.failureListeners) {
      try {
        listener(error)
      } catch (err) {
        // A failing listener must not keep the others from hearing.
        this.logger.error('a failure listener threw', { error: errorField(err) })
      }
    }
    void this.stop()
  }
}
