import type { PlacementConstraint, StreamMessage, StreamPartId } from '@runnel/protocol'
import type { MessageListener } from './delivery.js'
import type { NodeId } from '../identity.js'
import { DuplicateDetector } from './DuplicateDetector.js'
import { MessageQueue } from './MessageQueue.js'
import type { NeighborScores } from './NeighborScores.js'
import { PropagationBuffer } from './PropagationBuffer.js'

/** How many departures an overlay remembers (see {@link StreamPartOverlay.noteDeparture}): twice the default maxDegree. */
const MAX_DEPARTURES = 16

/** A `join` waiting for `count` neighbours, or (when `settled`) for the join to settle with fewer. */
export interface NeighborWaiter {
  readonly count: number
  readonly settled: boolean
  resolve(): void
  reject(error: Error): void
}

export interface StreamPartOverlayOptions {
  readonly propagationWindowMs: number
  readonly propagationBufferSize: number
  readonly duplicateWindowSize: number
}

/**
 * A node's membership in one stream part's overlay: who its neighbours are,
 * which messages it has seen, and who listens locally. Pure state:
 * `Membership` decides who joins it, `DataPath` moves its messages, and
 * `OverlayControl` does the control I/O.
 */
export class StreamPartOverlay {
  /** Full nodes that relay with us. */
  readonly neighbors = new Set<NodeId>()
  /** Neighbour requests sent and not yet answered. */
  readonly pendingNeighbors = new Set<NodeId>()
  /** Light nodes this full node serves as a proxy. */
  readonly proxyClients = new Set<NodeId>()
  /** Full nodes serving this light node as proxies. */
  readonly proxies = new Set<NodeId>()
  readonly pendingProxies = new Set<NodeId>()
  /**
   * Neighbours the tracker told this node to drop, until when. Requests from
   * them are refused meanwhile, so a request that crossed the drop in flight
   * doesn't restore the edge the tracker split.
   */
  readonly dropped = new Map<NodeId, number>()
  readonly listeners = new Set<MessageListener>()
  /** Told the sender of every data frame a peer of this stream part sends, copies included (see NetworkNode.observeSenders). */
  readonly senderObservers = new Set<(senderId: NodeId) => void>()
  readonly duplicates: DuplicateDetector
  readonly buffer: PropagationBuffer
  /** Resolvers waiting for the neighbour count to reach a number (or, with `settled`, for the join to settle). */
  readonly neighborWaiters = new Set<NeighborWaiter>()
  /**
   * The tracker has answered a report of this stream part: whom it suggested
   * (possibly no one) is known, so once those requests are answered the node
   * has all the neighbours the stream part can give it for now.
   */
  trackerAnswered = false
  /** Neighbour scoring (when the node enables it): the data path tells it who delivered what. */
  scores: NeighborScores | undefined
  /** Neighbours that asked this node (rather than being asked by it); may hold ids no longer neighbours. */
  readonly incoming = new Set<NodeId>()
  /** Where the stream part's data may be carried (`join({ placement })`); undefined: anywhere. See placement.ts. */
  placement: PlacementConstraint | undefined = undefined

  /**
   * Peers that stopped relaying with this node by a leave, a split or a tracker's drop: when, oldest first. Made at
   * the first departure: most stream parts of a large network never see one.
   */
  private departures: Map<NodeId, number> | undefined

  constructor(
    readonly streamPartId: StreamPartId,
    options: StreamPartOverlayOptions,
    private readonly now: () => number,
  ) {
    this.duplicates = new DuplicateDetector(options.duplicateWindowSize)
    this.buffer = new PropagationBuffer(options.propagationWindowMs, options.propagationBufferSize, now)
  }

  /** Everyone a message from `sender` goes on to. */
  *recipients(sender: NodeId | undefined, light: boolean): Generator<NodeId> {
    if (light) {
      for (const proxy of this.proxies) if (proxy !== sender) yield proxy
      return
    }
    for (const neighbor of this.neighbors) if (neighbor !== sender) yield neighbor
    for (const client of this.proxyClients) if (client !== sender) yield client
  }

  /** Peers that may send this node messages of the stream part. */
  accepts(sender: NodeId): boolean {
    return this.neighbors.has(sender) || this.proxyClients.has(sender) || this.proxies.has(sender)
  }

  /**
   * `peer` stopped relaying with this node here: it left, this node handed it over to make room for another, or a
   * tracker dropped the edge. Until its side learns of it, it may still send messages here (see `departedWithin`).
   */
  noteDeparture(peer: NodeId): void {
    const departures = (this.departures ??= new Map<NodeId, number>())
    departures.delete(peer)
    departures.set(peer, this.now())
    if (departures.size > MAX_DEPARTURES) departures.delete(departures.keys().next().value!)
  }

  /** Whether `peer` departed (see `noteDeparture`) within the last `ms`. */
  departedWithin(peer: NodeId, ms: number): boolean {
    const at = this.departures?.get(peer)
    return at !== undefined && this.now() - at <= ms
  }

  isConnectedTo(peer: NodeId): boolean {
    return this.accepts(peer) || this.pendingNeighbors.has(peer) || this.pendingProxies.has(peer)
  }

  wasDropped(peer: NodeId, now: number): boolean {
    const until = this.dropped.get(peer)
    if (until === undefined) return false
    if (until >= now) return true
    this.dropped.delete(peer)
    return false
  }

  /** Ends iterables over this stream part's messages (see NetworkNode.messages). */
  readonly closers = new Set<() => void>()

  /**
   * The stream part's new messages as an async iterable that keeps at most
   * `bufferSize` unread ones (default 10,000; older ones are dropped first).
   * It ends when `signal` aborts or the overlay closes (see NetworkNode.messages).
   */
  iterate(options: { signal?: AbortSignal; bufferSize?: number }): MessageQueue<StreamMessage> {
    const queue = new MessageQueue<StreamMessage>(options.bufferSize ?? 10_000)
    const listener: MessageListener = (message) => queue.push(message)
    const close = (): void => queue.close()
    this.listeners.add(listener)
    // Leaving the stream part or stopping the node ends the iteration.
    this.closers.add(close)
    queue.onClose(() => {
      this.listeners.delete(listener)
      this.closers.delete(close)
    })
    if (options.signal !== undefined) {
      if (options.signal.aborted) queue.close()
      options.signal.addEventListener('abort', () => queue.close(), { once: true })
    }
    return queue
  }

  /** The node left or stopped: release waiters (rejected with `error` if the node failed), listeners and iterables. */
  close(error?: Error): void {
    this.scores?.stop()
    for (const waiter of this.neighborWaiters) {
      if (error === undefined) waiter.resolve()
      else waiter.reject(error)
    }
    this.neighborWaiters.clear()
    for (const close of [...this.closers]) close()
    this.listeners.clear()
  }

  /**
   * Joined as far as the network allows now: the tracker answered, and no
   * neighbour or proxy request it led to is still in flight.
   */
  isSettled(): boolean {
    return this.trackerAnswered && this.pendingNeighbors.size === 0 && this.pendingProxies.size === 0
  }

  /** Releases the waiters whose condition holds; call after any change to neighbours, proxies or pending requests. */
  notifyNeighborCount(): void {
    const count = this.neighbors.size + this.proxies.size
    for (const waiter of this.neighborWaiters) {
      if (count >= waiter.count || (waiter.settled && this.isSettled())) {
        this.neighborWaiters.delete(waiter)
        waiter.resolve()
      }
    }
  }
}
