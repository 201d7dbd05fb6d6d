import {
  ProtocolError,
  addressFromBytes,
  decodeStreamMessage,
  encodeStreamMessage,
  parseStreamPartId,
  readStreamMessageHeader,
  verifyStreamMessage,
  type MessageSigner,
  type SignatureVerifier,
  type StreamMessage,
  type StreamMessageHeader,
  type StreamPartId,
  systemClock,
  type Clock,
  type Timer,
} from '@runnel/protocol'
import { ConnectionManager } from './connection/ConnectionManager.js'
import {
  DEFAULT_PEER_CONNECTION_OPTIONS,
  type CloseCause,
  type PeerConnection,
  type PeerConnectionOptions,
} from './connection/PeerConnection.js'
import { NetworkError } from './errors.js'
import type { ControlMessage } from './generated/runnel/network/v1/network_pb.js'
import { descriptorFromProto, type NodeDescriptor, type NodeId } from './identity.js'
import { resolveDegrees } from './overlay/degrees.js'
import { MessageQueue } from './overlay/MessageQueue.js'
import { StreamPartOverlay } from './overlay/StreamPartOverlay.js'
import { timeoutSignal } from './timeoutSignal.js'
import { TrackerClient } from './tracker/TrackerClient.js'
import type { Transport } from './transport/Transport.js'
import { NETWORK_PROTOCOL_VERSION, encodeDataFrame } from './wire/frames.js'

/** Collaborators of a node. */
export interface NetworkNodeComponents {
  readonly transport: Transport
  /** The node's key: its id is the key's address. */
  readonly signer: MessageSigner
  /** Checks handshakes and, when enabled, every relayed message's signature. */
  readonly verifier: SignatureVerifier
  /** Where time comes from: timers, timeouts and rate limits. Default the wall clock; a simulation passes its own. */
  readonly clock?: Clock
}

/** Settings of a node; every one has a default. */
export interface NetworkNodeOptions {
  /** 'full' relays; 'light' uses proxies and never relays. Default 'full'. */
  readonly kind?: 'full' | 'light'
  /** Tracker addresses; a stream part's tracker is chosen by hashing its id over this list. */
  readonly trackers: readonly string[]
  /** Neighbours a full node aims for per stream part. Default 4. */
  readonly targetDegree?: number
  /** Most neighbours a full node accepts per stream part. Default the larger of 8 and `targetDegree`; at most 32. */
  readonly maxDegree?: number
  /** Verify every received message's signature and drop invalid ones. Default true. */
  readonly verifySignatures?: boolean
  /** Full nodes: serve light nodes as a proxy. Default true. */
  readonly acceptProxies?: boolean
  /** Full nodes: most light nodes served per stream part. Default 64. */
  readonly maxProxyClients?: number
  /** Light nodes: how many full nodes to use as proxies per stream part. Default 2. */
  readonly proxyCount?: number
  /** Messages that reached fewer than `targetDegree` peers are re-offered to peers joining within this window. Default 10 s. */
  readonly propagationWindowMs?: number
  /** Most messages kept for that, per stream part. Default 256. */
  readonly propagationBufferSize?: number
  /** Largest accepted StreamMessage, in bytes. Default 1 MiB. */
  readonly maxMessageSize?: number
  /** A neighbour or proxy request unanswered for this long is abandoned. Default 5 s. */
  readonly requestTimeoutMs?: number
  /** How often a node short of neighbours asks its tracker again. Default 2 s. */
  readonly statusRetryMs?: number
  readonly peer?: Partial<PeerConnectionOptions>
}

/** Counters since start; cheap to read. */
export interface NetworkNodeMetrics {
  /** Data frames received, duplicates and invalid ones included. */
  messagesIn: number
  /** Data frames sent. */
  messagesOut: number
  bytesIn: number
  bytesOut: number
  /** Messages received again after the first copy. */
  duplicates: number
  /** Data frames whose message failed to decode or validate (the sender is disconnected). */
  invalidMessages: number
  /** Messages dropped because their signature didn't verify. */
  invalidSignatures: number
  /** Messages from peers that aren't neighbours in that stream part, or for stream parts not joined. */
  unexpectedMessages: number
  /** Frames not sent because a peer's send buffer was full. */
  dropped: number
  /** Messages handed to local listeners. */
  delivered: number
  /** Closed connections by cause: 'malformed-frame', 'frame-too-large', 'flooding', … */
  disconnects: Partial<Record<CloseCause, number>>
  /** Neighbours (full) or proxies (light) per stream part. */
  neighborCounts: Record<string, number>
}

/** How a message reached this node. */
export interface DeliveryContext {
  /** The neighbour or proxy it came from; undefined for the node's own broadcasts. */
  readonly senderId: NodeId | undefined
}

/** A message the node dropped, and why. */
export interface InvalidMessageEvent {
  readonly message: StreamMessage
  readonly senderId: NodeId
  readonly reason: 'invalid-signature'
}

/** Receives a stream part's new messages, each once. */
export type MessageListener = (message: StreamMessage, context: DeliveryContext) => void

export interface JoinOptions {
  /** Resolve only once this many neighbours (or proxies, on a light node) are connected. Default 0. */
  readonly minNeighbors?: number
  /**
   * Also resolve, with fewer than `minNeighbors`, once the join has settled: the tracker has answered and every peer
   * it suggested has accepted or refused (or timed out). The first node of a stream part then joins as soon as the
   * tracker tells it it is alone, instead of waiting for the signal. Default false.
   */
  readonly orWhenSettled?: boolean
  readonly signal?: AbortSignal
}

/** How long a node refuses a neighbour the tracker told it to drop. */
const DROP_MEMORY_MS = 5_000

type ResolvedOptions = Required<Omit<NetworkNodeOptions, 'peer'>> & { peer: PeerConnectionOptions }

/**
 * A node of the Runnel network: joins stream parts' overlays, relays their
 * messages, and hands them to local listeners.
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
 * ```
 */
export class NetworkNode {
  private readonly options: ResolvedOptions
  private readonly connections: ConnectionManager
  private readonly trackers: TrackerClient
  private readonly overlays = new Map<StreamPartId, StreamPartOverlay>()
  private readonly invalidMessageListeners = new Set<(event: InvalidMessageEvent) => void>()
  private readonly failureListeners = new Set<(error: NetworkError) => void>()
  private failure: NetworkError | undefined
  private stopping: Promise<void> | undefined
  private readonly statusTimers = new Map<StreamPartId, Timer>()
  private readonly clock: Clock
  private readonly now: () => number
  private retryTimer: Timer | undefined
  private state: 'new' | 'started' | 'stopped' = 'new'
  private readonly counters = {
    messagesIn: 0,
    messagesOut: 0,
    duplicates: 0,
    invalidMessages: 0,
    invalidSignatures: 0,
    unexpectedMessages: 0,
    delivered: 0,
  }

  constructor(
    private readonly components: NetworkNodeComponents,
    options: NetworkNodeOptions,
  ) {
    this.options = resolveOptions(options)
    this.clock = components.clock ?? systemClock
    this.now = () => this.clock.now()
    this.connections = new ConnectionManager(
      {
        transport: components.transport,
        signer: components.signer,
        verifier: components.verifier,
        clock: this.clock,
        events: {
          onPeerReady: () => undefined,
          onControl: (peer, message) => this.handleControl(peer, message),
          onData: (peer, frame, message) => this.handleData(peer, frame, message),
          onPeerClosed: (peer, cause) => this.handlePeerClosed(peer, cause),
        },
      },
      this.options.peer,
    )
    this.trackers = new TrackerClient(options.trackers, this.connections, components.signer, () => {
      // A failed report is retried by the status timer; nothing to do here.
    })
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
    await this.connections.start((addresses) => ({
      nodeId: this.nodeId,
      kind: this.options.kind,
      addresses: this.options.kind === 'light' ? [] : addresses,
      protocolVersion: NETWORK_PROTOCOL_VERSION,
    }))
    this.retryTimer = this.clock.setInterval(() => this.retryUnderconnected(), this.options.statusRetryMs, {
      unref: true,
    })
  }

  /** Leaves every stream part, says goodbye to every peer and stops the transport. */
  stop(): Promise<void> {
    // One shutdown however many callers: the node may already be stopping itself after a failure.
    this.stopping ??= this.shutdown()
    return this.stopping
  }

  private async shutdown(): Promise<void> {
    this.state = 'stopped'
    this.retryTimer?.cancel()
    for (const timer of this.statusTimers.values()) timer.cancel()
    this.statusTimers.clear()
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
   * @throws {@link ProtocolError} `INVALID_STREAM_PART_ID`
   */
  async join(streamPartId: StreamPartId, options: JoinOptions = {}): Promise<void> {
    const overlay = this.ensureOverlay(streamPartId)
    const minNeighbors = options.minNeighbors ?? 0
    const settled = options.orWhenSettled ?? false
    if (this.connectedCount(overlay) >= minNeighbors || (settled && overlay.isSettled())) return
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        count: minNeighbors,
        settled,
        resolve: () => done(resolve),
        reject: (error: Error) => done(() => reject(error)),
      }
      const signal = options.signal
      const onAbort = (): void =>
        done(() => {
          overlay.neighborWaiters.delete(waiter)
          const reason: unknown = signal?.reason
          const timedOut = reason instanceof DOMException && reason.name === 'TimeoutError'
          reject(
            new NetworkError(
              timedOut ? 'TIMEOUT' : 'ABORTED',
              `joining ${streamPartId}: ${this.connectedCount(overlay)} of ${minNeighbors} neighbours connected`,
            ),
          )
        })
      const done = (finish: () => void): void => {
        signal?.removeEventListener('abort', onAbort)
        finish()
      }
      if (signal?.aborted === true) {
        onAbort()
        return
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      overlay.neighborWaiters.add(waiter)
    })
  }

  /** The stream part's overlay, joining it first if needed. Validates the id (throws ProtocolError). */
  private ensureOverlay(streamPartId: StreamPartId): StreamPartOverlay {
    this.assertStarted()
    let overlay = this.overlays.get(streamPartId)
    if (overlay === undefined) {
      parseStreamPartId(streamPartId)
      overlay = new StreamPartOverlay(
        streamPartId,
        {
          propagationWindowMs: this.options.propagationWindowMs,
          propagationBufferSize: this.options.propagationBufferSize,
          duplicateWindowSize: 10_000,
        },
        this.now,
      )
      this.overlays.set(streamPartId, overlay)
      this.reportStatus(streamPartId)
    }
    return overlay
  }

  /** Leaves a stream part: tells neighbours and the tracker, and ends its listeners and iterables. */
  leave(streamPartId: StreamPartId): void {
    const overlay = this.overlays.get(streamPartId)
    if (overlay === undefined) return
    this.overlays.delete(streamPartId)
    this.statusTimers.get(streamPartId)?.cancel()
    this.statusTimers.delete(streamPartId)
    overlay.close()
    const peers = [...overlay.neighbors, ...overlay.proxies, ...overlay.proxyClients]
    for (const peerId of peers) {
      this.connections.get(peerId)?.sendControl({ case: 'neighborLeave', value: { streamPartId } })
    }
    if (this.state === 'started') {
      void this.trackers.report({ streamPartId, action: 'leave', neighborIds: [], wanted: 0 })
    }
    for (const peerId of peers) this.closeIfUnused(peerId)
  }

  /**
   * Publishes a signed message to its stream part, joining it if needed. The
   * message reaches local listeners too.
   *
   * @throws {@link ProtocolError} `MESSAGE_TOO_LARGE` when the encoded message exceeds `maxMessageSize`
   */
  broadcast(message: StreamMessage): void {
    const streamPartId = message.streamPartId
    const overlay = this.ensureOverlay(streamPartId)
    const frame = encodeDataFrame(encodeStreamMessage(message, { maxMessageSize: this.options.maxMessageSize }))
    const chainKey = `${message.publisherId}/${message.messageChainId}`
    if (overlay.duplicates.isDuplicate(chainKey, message.timestamp, message.sequenceNumber)) {
      this.counters.duplicates++
      return
    }
    overlay.duplicates.markSeen(chainKey, message.timestamp, message.sequenceNumber)
    this.deliverLocally(overlay, message, undefined)
    this.propagate(overlay, frame, undefined)
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
   * on: `IDENTITY_IN_USE` when the tracker refused it because another running
   * process is connected with the same node id. Pending `join()`s reject with
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
    const queue = new MessageQueue<StreamMessage>(options.bufferSize ?? 10_000)
    const remove = this.addMessageListener(streamPartId, (message) => queue.push(message))
    const overlay = this.overlays.get(streamPartId)!
    const close = (): void => queue.close()
    // Leaving the stream part or stopping the node ends the iteration.
    overlay.closers.add(close)
    queue.onClose(() => {
      remove()
      overlay.closers.delete(close)
    })
    if (options.signal !== undefined) {
      if (options.signal.aborted) queue.close()
      options.signal.addEventListener('abort', () => queue.close(), { once: true })
    }
    return queue
  }

  /** Current neighbours (full) or proxies (light) in a stream part. */
  getNeighbors(streamPartId: StreamPartId): NodeId[] {
    const overlay = this.overlays.get(streamPartId)
    if (overlay === undefined) return []
    return this.options.kind === 'light' ? [...overlay.proxies] : [...overlay.neighbors]
  }

  getStreamParts(): StreamPartId[] {
    return [...this.overlays.keys()]
  }

  getMetrics(): NetworkNodeMetrics {
    const totals = this.connections.totals()
    const neighborCounts: Record<string, number> = {}
    for (const [streamPartId, overlay] of this.overlays) neighborCounts[streamPartId] = this.connectedCount(overlay)
    return {
      ...this.counters,
      bytesIn: totals.bytesIn,
      bytesOut: totals.bytesOut,
      dropped: totals.framesDropped,
      disconnects: totals.closes,
      neighborCounts,
    }
  }

  private connectedCount(overlay: StreamPartOverlay): number {
    return this.options.kind === 'light' ? overlay.proxies.size : overlay.neighbors.size
  }

  private assertStarted(): void {
    if (this.failure !== undefined) throw this.failure
    if (this.state !== 'started') {
      throw new NetworkError('INVALID_STATE', this.state === 'new' ? 'call start() first' : 'node is stopped')
    }
  }

  // ---- data path ----

  private handleData(peer: PeerConnection, frame: Uint8Array, bytes: Uint8Array): void {
    this.counters.messagesIn++
    // Most frames are copies already seen: read just the header to route and
    // recognise them, and decode (and verify) only messages that are new.
    let header: StreamMessageHeader
    let message: StreamMessage
    try {
      header = readStreamMessageHeader(bytes)
      // Encoders write normalized ids; one that didn't (a valid checksummed
      // owner) misses this lookup and is routed after the full decode below.
      const overlay = this.overlays.get(`${header.streamId}#${header.streamPartition}` as StreamPartId)
      if (overlay !== undefined) {
        const chainKey = `${addressFromBytes(header.publisherId)}/${header.messageChainId}`
        if (
          overlay.accepts(peer.peerId) &&
          overlay.duplicates.isDuplicate(chainKey, header.timestamp, header.sequenceNumber)
        ) {
          this.counters.duplicates++
          return
        }
      }
      message = decodeStreamMessage(bytes, { maxMessageSize: this.options.maxMessageSize })
    } catch (err) {
      this.counters.invalidMessages++
      // A peer that relays undecodable bytes is broken or hostile either way.
      peer.close('malformed-frame', err instanceof ProtocolError ? err.message : String(err))
      return
    }
    // Routing and dedup used the header; everything below uses the validated message.
    const overlay = this.overlays.get(message.streamPartId)
    const senderId = peer.peerId
    if (overlay === undefined || !overlay.accepts(senderId)) {
      this.counters.unexpectedMessages++
      return
    }
    const chainKey = `${message.publisherId}/${message.messageChainId}`
    if (overlay.duplicates.isDuplicate(chainKey, message.timestamp, message.sequenceNumber)) {
      this.counters.duplicates++
      return
    }
    // Verify before marking seen, so a forged copy can't shadow the genuine message.
    if (this.options.verifySignatures && !verifyStreamMessage(message, this.components.verifier)) {
      this.counters.invalidSignatures++
      for (const listener of this.invalidMessageListeners) listener({ message, senderId, reason: 'invalid-signature' })
      return
    }
    overlay.duplicates.markSeen(chainKey, message.timestamp, message.sequenceNumber)
    this.deliverLocally(overlay, message, senderId)
    if (this.options.kind === 'full' || overlay.proxyClients.size > 0) {
      this.propagate(overlay, frame, senderId)
    }
  }

  private deliverLocally(overlay: StreamPartOverlay, message: StreamMessage, senderId: NodeId | undefined): void {
    const context: DeliveryContext = { senderId }
    for (const listener of overlay.listeners) {
      this.counters.delivered++
      try {
        listener(message, context)
      } catch {
        // A failing listener must not stop delivery to others or relaying.
      }
    }
  }

  private propagate(overlay: StreamPartOverlay, frame: Uint8Array, senderId: NodeId | undefined): void {
    const light = this.options.kind === 'light'
    const sentTo: NodeId[] = []
    for (const peerId of overlay.recipients(senderId, light)) {
      const connection = this.connections.get(peerId)
      if (connection?.send(frame) === true) {
        this.counters.messagesOut++
        sentTo.push(peerId)
      }
    }
    const wanted = light ? this.options.proxyCount : this.options.targetDegree
    if (sentTo.length < wanted) {
      if (senderId !== undefined) sentTo.push(senderId)
      overlay.buffer.add(frame, sentTo)
    }
  }

  private flushBuffer(overlay: StreamPartOverlay, peerId: NodeId): void {
    const connection = this.connections.get(peerId)
    if (connection === undefined) return
    for (const frame of overlay.buffer.takeFor(peerId)) {
      if (connection.send(frame)) this.counters.messagesOut++
    }
  }

  // ---- control path ----

  private handleControl(peer: PeerConnection, message: ControlMessage): void {
    const body = message.body
    switch (body.case) {
      case 'trackerInstruction':
        // The handshake proves a peer's key, not its kind: only the tracker
        // actually reached for this stream part may rewire its overlay.
        if (!this.trackers.isTrackerFor(body.value.streamPartId, peer.peerId)) return
        this.handleDrops(body.value.streamPartId, body.value.dropNeighborIds)
        this.handleInstruction(body.value.streamPartId, body.value.peers)
        return
      case 'neighborRequest':
        this.handleNeighborRequest(peer, body.value.streamPartId)
        return
      case 'neighborResponse':
        this.handleNeighborResponse(peer, body.value.streamPartId, body.value.accepted)
        return
      case 'neighborLeave':
        this.handleNeighborLeave(peer, body.value.streamPartId)
        return
      case 'proxyRequest':
        this.handleProxyRequest(peer, body.value.streamPartId)
        return
      case 'proxyResponse':
        this.handleProxyResponse(peer, body.value.streamPartId, body.value.accepted)
        return
      default:
        return
    }
  }

  private handleInstruction(streamPartId: string, peers: Parameters<typeof descriptorFromProto>[0][]): void {
    const overlay = this.overlays.get(streamPartId as StreamPartId)
    if (overlay === undefined) return
    this.connectToSuggested(overlay, peers)
    overlay.trackerAnswered = true
    overlay.notifyNeighborCount()
  }

  private connectToSuggested(overlay: StreamPartOverlay, peers: Parameters<typeof descriptorFromProto>[0][]): void {
    const light = this.options.kind === 'light'
    for (const proto of peers) {
      let descriptor: NodeDescriptor
      try {
        descriptor = descriptorFromProto(proto)
      } catch {
        continue
      }
      if (descriptor.nodeId === this.nodeId || overlay.isConnectedTo(descriptor.nodeId)) continue
      if (overlay.wasDropped(descriptor.nodeId, this.now())) continue
      if (descriptor.kind !== 'full' || descriptor.addresses.length === 0) continue
      const inFlight = light
        ? overlay.proxies.size + overlay.pendingProxies.size
        : overlay.neighbors.size + overlay.pendingNeighbors.size
      if (inFlight >= (light ? this.options.proxyCount : this.options.maxDegree)) return
      this.requestPeer(overlay, descriptor, light)
    }
  }

  private handleDrops(streamPartId: string, dropIds: Uint8Array[]): void {
    const overlay = this.overlays.get(streamPartId as StreamPartId)
    if (overlay === undefined) return
    for (const bytes of dropIds) {
      if (bytes.length !== 20) continue
      const peerId = addressFromBytes(bytes)
      overlay.dropped.set(peerId, this.now() + DROP_MEMORY_MS)
      // A request still in flight is withdrawn: an acceptance arriving later is answered with a leave.
      if (overlay.pendingNeighbors.delete(peerId)) continue
      if (!overlay.neighbors.delete(peerId)) continue
      this.connections.get(peerId)?.sendControl({ case: 'neighborLeave', value: { streamPartId } })
      this.closeIfUnused(peerId)
    }
    overlay.notifyNeighborCount()
  }

  private requestPeer(overlay: StreamPartOverlay, descriptor: NodeDescriptor, light: boolean): void {
    const pending = light ? overlay.pendingProxies : overlay.pendingNeighbors
    const peerId = descriptor.nodeId
    pending.add(peerId)
    const abandon = (): void => {
      if (!pending.delete(peerId)) return
      this.scheduleStatus(overlay.streamPartId)
      overlay.notifyNeighborCount()
    }
    const timeout = this.clock.setTimeout(abandon, this.options.requestTimeoutMs, { unref: true })
    const dialSignal = timeoutSignal(this.clock, this.options.requestTimeoutMs)
    this.connections.connect(descriptor.addresses[0]!, peerId, dialSignal).then(
      (connection) => {
        if (!pending.has(peerId) || connection.peerId !== peerId) {
          abandon()
          return
        }
        const streamPartId = overlay.streamPartId
        connection.sendControl(
          light
            ? { case: 'proxyRequest', value: { streamPartId } }
            : { case: 'neighborRequest', value: { streamPartId } },
        )
      },
      () => {
        timeout.cancel()
        abandon()
      },
    )
  }

  private handleNeighborRequest(peer: PeerConnection, streamPartId: string): void {
    const overlay = this.overlays.get(streamPartId as StreamPartId)
    const reason =
      this.options.kind !== 'full'
        ? 'light node'
        : peer.peer.kind !== 'full'
          ? 'only full nodes can be neighbours'
          : overlay === undefined
            ? 'not a member'
            : overlay.wasDropped(peer.peerId, this.now())
              ? 'dropped by tracker'
              : overlay.neighbors.size >= this.options.maxDegree && !overlay.neighbors.has(peer.peerId)
                ? 'full'
                : ''
    peer.sendControl({ case: 'neighborResponse', value: { streamPartId, accepted: reason === '', reason } })
    if (reason !== '' || overlay === undefined) return
    this.addNeighbor(overlay, peer.peerId)
  }

  private handleNeighborResponse(peer: PeerConnection, streamPartId: string, accepted: boolean): void {
    const overlay = this.overlays.get(streamPartId as StreamPartId)
    const wasPending = overlay?.pendingNeighbors.delete(peer.peerId) ?? false
    // A late acceptance (the request timed out meanwhile) is still welcome while the node is short of
    // neighbours: on a loaded node, refusing it would turn slowness into a loop of retries. One the
    // tracker told this node to drop is not.
    const unwanted =
      overlay !== undefined &&
      !wasPending &&
      (overlay.neighbors.size >= this.options.targetDegree || overlay.wasDropped(peer.peerId, this.now()))
    if (overlay === undefined || !accepted || unwanted) {
      if (accepted) peer.sendControl({ case: 'neighborLeave', value: { streamPartId } })
      if (overlay !== undefined && wasPending) {
        this.scheduleStatus(overlay.streamPartId)
        overlay.notifyNeighborCount()
      }
      this.closeIfUnused(peer.peerId)
      return
    }
    if (overlay.neighbors.size >= this.options.maxDegree) {
      peer.sendControl({ case: 'neighborLeave', value: { streamPartId } })
      this.closeIfUnused(peer.peerId)
      overlay.notifyNeighborCount()
      return
    }
    this.addNeighbor(overlay, peer.peerId)
  }

  private addNeighbor(overlay: StreamPartOverlay, peerId: NodeId): void {
    if (overlay.neighbors.has(peerId)) return
    overlay.neighbors.add(peerId)
    this.flushBuffer(overlay, peerId)
    overlay.notifyNeighborCount()
    this.scheduleStatus(overlay.streamPartId)
  }

  private handleNeighborLeave(peer: PeerConnection, streamPartId: string): void {
    const overlay = this.overlays.get(streamPartId as StreamPartId)
    if (overlay === undefined) return
    const removed =
      overlay.neighbors.delete(peer.peerId) ||
      overlay.proxies.delete(peer.peerId) ||
      overlay.proxyClients.delete(peer.peerId)
    if (removed) {
      this.scheduleStatus(overlay.streamPartId)
      this.closeIfUnused(peer.peerId)
    }
  }

  private handleProxyRequest(peer: PeerConnection, streamPartId: string): void {
    const overlay = this.overlays.get(streamPartId as StreamPartId)
    const reason =
      this.options.kind !== 'full' || !this.options.acceptProxies
        ? 'proxies not accepted'
        : overlay === undefined
          ? 'not a member'
          : overlay.proxyClients.size >= this.options.maxProxyClients
            ? 'full'
            : ''
    peer.sendControl({ case: 'proxyResponse', value: { streamPartId, accepted: reason === '', reason } })
    if (reason === '' && overlay !== undefined) {
      overlay.proxyClients.add(peer.peerId)
      this.flushBuffer(overlay, peer.peerId)
    }
  }

  private handleProxyResponse(peer: PeerConnection, streamPartId: string, accepted: boolean): void {
    const overlay = this.overlays.get(streamPartId as StreamPartId)
    if (overlay === undefined || !overlay.pendingProxies.delete(peer.peerId)) return
    if (!accepted || overlay.proxies.size >= this.options.proxyCount) {
      if (accepted) peer.sendControl({ case: 'neighborLeave', value: { streamPartId } })
      this.scheduleStatus(overlay.streamPartId)
      this.closeIfUnused(peer.peerId)
      overlay.notifyNeighborCount()
      return
    }
    overlay.proxies.add(peer.peerId)
    this.flushBuffer(overlay, peer.peerId)
    overlay.notifyNeighborCount()
  }

  private handlePeerClosed(peer: PeerConnection, cause: CloseCause): void {
    const peerId = peer.peerId
    if (cause === 'identity-in-use' && this.trackers.isTracker(peerId)) {
      // Only a tracker's refusal stops the node: any peer could claim it, and
      // a node the tracker serves is refused by it whenever its twin is connected.
      this.fail(
        new NetworkError(
          'IDENTITY_IN_USE',
          `another process is already connected to the network with node id ${this.nodeId}, so the tracker refused ` +
            'this one; give each process its own private key',
        ),
      )
      return
    }
    if (this.trackers.isTracker(peerId)) {
      // Re-register everything that tracker served once it (or a restarted one) is reachable.
      for (const streamPartId of this.trackers.streamPartsOf(peerId, this.overlays.keys())) {
        this.scheduleStatus(streamPartId as StreamPartId, this.options.statusRetryMs)
      }
      return
    }
    for (const overlay of this.overlays.values()) {
      const changed =
        overlay.neighbors.delete(peerId) ||
        overlay.proxies.delete(peerId) ||
        overlay.proxyClients.delete(peerId) ||
        overlay.pendingNeighbors.delete(peerId) ||
        overlay.pendingProxies.delete(peerId)
      if (changed) {
        this.scheduleStatus(overlay.streamPartId)
        overlay.notifyNeighborCount()
      }
    }
  }

  private closeIfUnused(peerId: NodeId): void {
    for (const overlay of this.overlays.values()) if (overlay.isConnectedTo(peerId)) return
    const connection = this.connections.get(peerId)
    if (connection !== undefined && !this.trackers.isTracker(peerId))
      connection.close('local', 'no shared stream parts')
  }

  /** Stops the node for good, without retrying: reconnecting would only kick out the process in the way. */
  private fail(error: NetworkError): void {
    if (this.state !== 'started') return
    this.failure = error
    for (const overlay of this.overlays.values()) overlay.close(error)
    for (const listener of this.failureListeners) {
      try {
        listener(error)
      } catch {
        // A failing listener must not keep the others from hearing.
      }
    }
    void this.stop()
  }

  // ---- tracker reporting ----

  private wanted(overlay: StreamPartOverlay): number {
    return this.options.kind === 'light'
      ? Math.max(0, this.options.proxyCount - overlay.proxies.size - overlay.pendingProxies.size)
      : Math.max(0, this.options.targetDegree - overlay.neighbors.size - overlay.pendingNeighbors.size)
  }

  /** Reports soon, coalescing bursts of changes into one report. */
  private scheduleStatus(streamPartId: StreamPartId, delayMs = 10): void {
    if (this.statusTimers.has(streamPartId) || this.state !== 'started') return
    const timer = this.clock.setTimeout(() => {
      this.statusTimers.delete(streamPartId)
      this.reportStatus(streamPartId)
    }, delayMs)
    this.statusTimers.set(streamPartId, timer)
  }

  private reportStatus(streamPartId: StreamPartId): void {
    const overlay = this.overlays.get(streamPartId)
    if (overlay === undefined || this.state !== 'started') return
    void this.trackers.report({
      streamPartId,
      action: 'status',
      neighborIds: this.options.kind === 'light' ? [] : [...overlay.neighbors],
      wanted: this.wanted(overlay),
    })
  }

  private retryUnderconnected(): void {
    for (const [streamPartId, overlay] of this.overlays) {
      if (this.wanted(overlay) > 0) this.reportStatus(streamPartId)
    }
  }
}

function resolveOptions(options: NetworkNodeOptions): ResolvedOptions {
  const { targetDegree, maxDegree } = resolveDegrees(options)
  if (options.trackers.length === 0) {
    throw new NetworkError('INVALID_OPTIONS', 'at least one tracker address is required')
  }
  return {
    kind: options.kind ?? 'full',
    trackers: options.trackers,
    targetDegree,
    maxDegree,
    verifySignatures: options.verifySignatures ?? true,
    acceptProxies: options.acceptProxies ?? true,
    maxProxyClients: options.maxProxyClients ?? 64,
    proxyCount: options.proxyCount ?? 2,
    propagationWindowMs: options.propagationWindowMs ?? 10_000,
    propagationBufferSize: options.propagationBufferSize ?? 256,
    maxMessageSize: options.maxMessageSize ?? 1024 * 1024,
    requestTimeoutMs: options.requestTimeoutMs ?? 5_000,
    statusRetryMs: options.statusRetryMs ?? 2_000,
    peer: { ...DEFAULT_PEER_CONNECTION_OPTIONS, ...options.peer },
  }
}
