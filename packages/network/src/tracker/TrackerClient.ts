import {
  keccak256,
  type Clock,
  type MessageSigner,
  type PlacementConstraint,
  type StreamPartId,
  type Timer,
} from '@runnel/protocol'
import type { PeerConnection } from '../connection/PeerConnection.js'
import { NetworkError } from '../errors.js'
import type { NodeId } from '../identity.js'
import { errorField, type Logger } from '../logger.js'
import { timeoutSignal } from '../timeoutSignal.js'
import { signTrackerRequest, type TrackerStatus } from './trackerRequests.js'

const textEncoder = new TextEncoder()
const TRACKER_DIAL_TIMEOUT_MS = 10_000

/**
 * The tracker responsible for a stream part: the first 4 bytes of
 * keccak256(stream part id), big-endian, modulo the number of trackers. Every
 * node computes the same answer from the same list.
 *
 * @example
 * ```ts
 * trackerFor('0xab…cd/sensors#0', ['ws://a:30300', 'ws://b:30300'])
 * ```
 */
export function trackerFor(streamPartId: string, trackers: readonly string[]): string {
  if (trackers.length === 0) throw new NetworkError('INVALID_OPTIONS', 'no trackers configured')
  const hash = keccak256(textEncoder.encode(streamPartId))
  const value = ((hash[0]! << 24) | (hash[1]! << 16) | (hash[2]! << 8) | hash[3]!) >>> 0
  return trackers[value % trackers.length]!
}

/** What a node tells its tracker about one stream part it has joined. */
export interface StreamPartStatus {
  /** Its neighbours (empty for light nodes: trackers don't place them in the overlay). */
  readonly neighborIds: readonly NodeId[]
  /** How many more neighbours (or proxies) it wants, requests in flight counted. */
  readonly wanted: number
  /** The stream part's placement constraint, for the tracker to suggest only peers inside it. */
  readonly placement?: PlacementConstraint | undefined
}

/** The part of a connection to a tracker that reporting uses. */
export type TrackerConnection = Pick<PeerConnection, 'peerId' | 'sendControl'>

/** Dials trackers, reusing the connection to a known one (as `ConnectionManager.connect`). */
export interface TrackerDialer {
  connect(address: string, expectedNodeId?: NodeId, signal?: AbortSignal): Promise<TrackerConnection>
  /** Keeps a connection from eviction under a connection cap (`ConnectionManager.lock`). */
  lock?(peerId: NodeId, owner: string): void
}

/** Collaborators of a {@link TrackerClient}. */
export interface TrackerClientComponents {
  readonly connections: TrackerDialer
  /** Signs each report: the tracker checks it is from the node it describes. */
  readonly signer: MessageSigner
  readonly clock: Clock
  readonly logger: Logger
  /** The node's current status in a stream part; undefined when it hasn't joined it. */
  readonly statusOf: (streamPartId: StreamPartId) => StreamPartStatus | undefined
  /** The stream parts the node has joined. */
  readonly streamParts: () => Iterable<StreamPartId>
  /** The trackers a stream part's placement names, to use instead of `trackers` for it; undefined: `trackers`. */
  readonly trackersOf?: (streamPartId: string) => readonly string[] | undefined
}

export interface TrackerClientOptions {
  /** Tracker addresses, the same list in the same order on every node. */
  readonly trackers: readonly string[]
  /** How often stream parts short of neighbours are reported again, and how long after a tracker's connection closed. */
  readonly statusRetryMs: number
}

/** Changes within this long are coalesced into one report. */
const STATUS_COALESCE_MS = 10

/**
 * A node's side of tracker communication: connects to the right tracker,
 * signs each report with an increasing sequence number, and sends reports in
 * order even when signing is slow. It also decides when to report: soon after
 * a change (bursts coalesced into one report), again every `statusRetryMs`
 * while a stream part is short of neighbours, and once a tracker whose
 * connection closed is reachable again.
 *
 * @example
 * ```ts
 * const trackers = new TrackerClient(
 *   { connections, signer, clock, logger, statusOf: (id) => status(id), streamParts: () => joined.keys() },
 *   { trackers: ['ws://127.0.0.1:30300'], statusRetryMs: 2_000 },
 * )
 * trackers.start()
 * trackers.reportStatus(streamPartId) // joined: ask for neighbours
 * ```
 */
export class TrackerClient {
  private sequence = 0
  private queue: Promise<void> = Promise.resolve()
  /** Tracker address → its node id, once connected. */
  private readonly trackerIds = new Map<string, NodeId>()
  /** Coalescing timers of reports due soon, one per stream part at most. */
  private readonly statusTimers = new Map<StreamPartId, Timer>()
  private retryTimer: Timer | undefined
  private running = false

  constructor(
    private readonly components: TrackerClientComponents,
    private readonly options: TrackerClientOptions,
  ) {}

  /** Starts reporting: retries for under-connected stream parts begin. */
  start(): void {
    this.running = true
    this.retryTimer = this.components.clock.setInterval(() => this.retryUnderconnected(), this.options.statusRetryMs, {
      unref: true,
    })
  }

  /** Stops reporting; reports already queued still go out. */
  stop(): void {
    this.running = false
    this.retryTimer?.cancel()
    for (const timer of this.statusTimers.values()) timer.cancel()
    this.statusTimers.clear()
  }

  /** True when `nodeId` is the tracker this node reached at one of its configured tracker addresses. */
  isTracker(nodeId: NodeId): boolean {
    for (const id of this.trackerIds.values()) if (id === nodeId) return true
    return false
  }

  /** True when `nodeId` is the tracker responsible for the stream part. */
  isTrackerFor(streamPartId: string, nodeId: NodeId): boolean {
    return this.trackerIds.get(trackerFor(streamPartId, this.trackersOf(streamPartId))) === nodeId
  }

  /** Stream parts served by the tracker with this id, among `streamPartIds`. */
  streamPartsOf<T extends string>(trackerId: NodeId, streamPartIds: Iterable<T>): T[] {
    const served: T[] = []
    for (const streamPartId of streamPartIds) {
      if (this.trackerIds.get(trackerFor(streamPartId, this.trackersOf(streamPartId))) === trackerId)
        served.push(streamPartId)
    }
    return served
  }

  /** Reports a stream part's status soon, coalescing bursts of changes into one report. */
  scheduleStatus(streamPartId: StreamPartId, delayMs = STATUS_COALESCE_MS): void {
    if (this.statusTimers.has(streamPartId) || !this.running) return
    const timer = this.components.clock.setTimeout(() => {
      this.statusTimers.delete(streamPartId)
      this.reportStatus(streamPartId)
    }, delayMs)
    this.statusTimers.set(streamPartId, timer)
  }

  /** Reports a joined stream part's status now. */
  reportStatus(streamPartId: StreamPartId): void {
    const status = this.components.statusOf(streamPartId)
    if (status === undefined || !this.running) return
    const { neighborIds, wanted, placement } = status
    void this.report({ streamPartId, action: 'status', neighborIds, wanted, placement })
  }

  /** The node left a stream part: drops a report still due and tells the tracker. */
  reportLeave(streamPartId: StreamPartId): void {
    this.statusTimers.get(streamPartId)?.cancel()
    this.statusTimers.delete(streamPartId)
    if (this.running) void this.report({ streamPartId, action: 'leave', neighborIds: [], wanted: 0 })
  }

  /**
   * The connection to a tracker closed: re-registers every stream part it
   * served once it (or a restarted one) is reachable again.
   */
  handleTrackerClosed(trackerId: NodeId): void {
    for (const streamPartId of this.streamPartsOf(trackerId, this.components.streamParts())) {
      this.scheduleStatus(streamPartId, this.options.statusRetryMs)
    }
  }

  /** Queues a signed report to the stream part's tracker; a failure is logged, and retried by the next report. */
  report(status: TrackerStatus): Promise<void> {
    const address = trackerFor(status.streamPartId, this.trackersOf(status.streamPartId))
    const send = async (): Promise<void> => {
      // Bounded, so one unreachable tracker can't hold up reports queued for the others for long.
      const { connections } = this.components
      const signal = timeoutSignal(this.components.clock, TRACKER_DIAL_TIMEOUT_MS)
      const tracker = await connections.connect(address, this.trackerIds.get(address), signal).catch((err: unknown) => {
        // The tracker at this address came back with another key: that one is the tracker now.
        if (!(err instanceof NetworkError && err.code === 'PEER_ID_MISMATCH')) throw err
        this.trackerIds.delete(address)
        return connections.connect(address, undefined, signal)
      })
      this.trackerIds.set(address, tracker.peerId)
      this.components.connections.lock?.(tracker.peerId, 'tracker')
      const signed = await signTrackerRequest(this.components.signer, ++this.sequence, status)
      tracker.sendControl({ case: 'trackerRequest', value: signed })
    }
    const next = this.queue.then(send).catch((err: unknown) => {
      // The retry timer (or the next change) reports again; a node that stays short of neighbours shows up here.
      // Reports cut short by stopping are expected.
      this.components.logger[this.running ? 'warn' : 'debug']('tracker report failed', {
        tracker: address,
        streamPartId: status.streamPartId,
        action: status.action,
        error: errorField(err),
      })
    })
    this.queue = next
    return next
  }

  private trackersOf(streamPartId: string): readonly string[] {
    return this.components.trackersOf?.(streamPartId) ?? this.options.trackers
  }

  private retryUnderconnected(): void {
    for (const streamPartId of this.components.streamParts()) {
      if ((this.components.statusOf(streamPartId)?.wanted ?? 0) > 0) this.reportStatus(streamPartId)
    }
  }
}
