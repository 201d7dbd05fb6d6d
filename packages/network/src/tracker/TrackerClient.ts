import { keccak256, type MessageSigner } from '@runnel/protocol'
import type { ConnectionManager } from '../connection/ConnectionManager.js'
import { NetworkError } from '../errors.js'
import type { NodeId } from '../identity.js'
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

/**
 * A node's side of tracker communication: connects to the right tracker,
 * signs each report with an increasing sequence number, and sends reports in
 * order even when signing is slow.
 */
export class TrackerClient {
  private sequence = 0
  private queue: Promise<void> = Promise.resolve()
  /** Tracker address → its node id, once connected. */
  private readonly trackerIds = new Map<string, NodeId>()

  constructor(
    private readonly trackers: readonly string[],
    private readonly connections: ConnectionManager,
    private readonly signer: MessageSigner,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** True when `nodeId` is the tracker this node reached at one of its configured tracker addresses. */
  isTracker(nodeId: NodeId): boolean {
    for (const id of this.trackerIds.values()) if (id === nodeId) return true
    return false
  }

  /** True when `nodeId` is the tracker responsible for the stream part. */
  isTrackerFor(streamPartId: string, nodeId: NodeId): boolean {
    return this.trackerIds.get(trackerFor(streamPartId, this.trackers)) === nodeId
  }

  /** Stream parts served by the tracker with this id, among `streamPartIds`. */
  streamPartsOf(trackerId: NodeId, streamPartIds: Iterable<string>): string[] {
    const served: string[] = []
    for (const streamPartId of streamPartIds) {
      if (this.trackerIds.get(trackerFor(streamPartId, this.trackers)) === trackerId) served.push(streamPartId)
    }
    return served
  }

  /** Queues a signed report to the stream part's tracker; failures go to `onError`. */
  report(status: TrackerStatus): Promise<void> {
    const address = trackerFor(status.streamPartId, this.trackers)
    const send = async (): Promise<void> => {
      // Bounded, so one unreachable tracker can't hold up reports queued for the others for long.
      const tracker = await this.connections.connect(
        address,
        this.trackerIds.get(address),
        AbortSignal.timeout(TRACKER_DIAL_TIMEOUT_MS),
      )
      this.trackerIds.set(address, tracker.peerId)
      const signed = await signTrackerRequest(this.signer, ++this.sequence, status)
      tracker.sendControl({ case: 'trackerRequest', value: signed })
    }
    const next = this.queue.then(send).catch((err: unknown) => this.onError(err))
    this.queue = next
    return next
  }
}
