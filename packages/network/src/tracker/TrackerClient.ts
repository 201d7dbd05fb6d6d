import {
  keccak256,
  type Clock,
  type MessageSigner,
  type PlacementConstraint,
  type StreamPartId,
  type Timer,
} from '@runnel/protocol'
import { reconnectDelayMs } from '../backoff.js'
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
  /** In [0, 1): jitters reconnection delays; seeded in simulations. Default Math.random. */
  readonly random?: () => number
  /** The trackers a stream part's placement names, to use instead of `trackers` for it; undefined: `trackers`. */
  readonly trackersOf?: (streamPartId: string) => readonly string[] | undefined
}

export interface TrackerClientOptions {
  /** Tracker addresses, the same list in the same order on every node. */
  readonly trackers: readonly string[]
  /**
   * How often stream parts short of neighbours are reported again; also the first window of reconnection to a tracker
   * whose connection closed (see {@link reconnectDelayMs}).
   */
  readonly statusRetryMs: number
  /** Longest window of reconnection backoff. Default {@link MAX_RECONNECT_MS}. */
  readonly maxReconnectMs?: number
}

/** Default longest window of the reconnection backoff: a tracker back after a long outage hears from everyone within it. */
export const MAX_RECONNECT_MS = 30_000
/** The cap, in `statusRetryMs`, of the backoff of a node short of neighbours: 8 s by default. */
const NEEDY_RECONNECT_WINDOWS = 4

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
  /** Trackers being reconnected to, by address: failed attempts so far and the timer of the next. */
  private readonly reconnecting = new Map<string, { attempt: number; timer: Timer | undefined }>()
  private readonly random: () => number
  private running = false

  constructor(
    private readonly components: TrackerClientComponents,
    private readonly options: TrackerClientOptions,
  ) {
    this.random = components.random ?? Math.random
  }

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
    for (const { timer } of this.reconnecting.values()) timer?.cancel()
    this.reconnecting.clear()
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
   * The connection to a tracker closed: re-registers every stream part it served once it (or a restarted one) is
   * reachable again, trying after a jittered, exponentially growing delay ({@link reconnectDelayMs}) until a report
   * goes through.
   */
  handleTrackerClosed(trackerId: NodeId): void {
    for (const [address, id] of this.trackerIds) {
      if (id === trackerId) this.scheduleReconnect(address)
    }
  }

  /** True while the tracker at `address` is being reconnected to with backoff (its reports wait for that). */
  isReconnecting(address: string): boolean {
    return this.reconnecting.has(address)
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
      this.reconnected(address)
    }
    const next = this.queue.then(send).catch((err: unknown) => {
      this.scheduleReconnect(address)
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
      // A tracker in backoff hears again when its next attempt is due, not on this fixed beat.
      if (this.reconnecting.has(trackerFor(streamPartId, this.trackersOf(streamPartId)))) continue
      if ((this.components.statusOf(streamPartId)?.wanted ?? 0) > 0) this.reportStatus(streamPartId)
    }
  }

  /** Arms the next reconnection attempt to `address`, unless one is already due. */
  private scheduleReconnect(address: string): void {
    if (!this.running) return
    const state = this.reconnecting.get(address) ?? { attempt: 0, timer: undefined }
    this.reconnecting.set(address, state)
    if (state.timer !== undefined) return
    // A node short of neighbours needs the tracker sooner than one whose overlay is whole: a shorter cap for it.
    const maxMs = this.options.maxReconnectMs ?? MAX_RECONNECT_MS
    const needy = this.servedBy(address).some(
      (streamPartId) => (this.components.statusOf(streamPartId)?.wanted ?? 0) > 0,
    )
    const delay = reconnectDelayMs(
      state.attempt,
      this.options.statusRetryMs,
      needy ? Math.min(maxMs, NEEDY_RECONNECT_WINDOWS * this.options.statusRetryMs) : maxMs,
      this.random,
    )
    state.attempt++
    state.timer = this.components.clock.setTimeout(
      () => {
        state.timer = undefined
        this.reconnect(address)
      },
      delay,
      { unref: true },
    )
  }

  /** One attempt: re-registers every joined stream part the tracker at `address` serves (a failure re-arms). */
  private reconnect(address: string): void {
    const served = this.servedBy(address)
    if (served.length === 0) {
      // Nothing to tell it: the next join reports (and connects) again.
      this.reconnecting.delete(address)
      return
    }
    for (const streamPartId of served) this.reportStatus(streamPartId)
  }

  private servedBy(address: string): StreamPartId[] {
    return [...this.components.streamParts()].filter(
      (streamPartId) => trackerFor(streamPartId, this.trackersOf(streamPartId)) === address,
    )
  }

  /** A report reached the tracker at `address`: the backoff starts over. */
  private reconnected(address: string): void {
    const state = this.reconnecting.get(address)
    if (state === undefined) return
    state.timer?.cancel()
    this.reconnecting.delete(address)
  }
}
