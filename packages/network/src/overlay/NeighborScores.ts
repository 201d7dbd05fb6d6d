import type { Clock, Timer } from '@runnel/protocol'
import { NetworkError } from '../errors.js'
import type { NodeId } from '../identity.js'

/** How a node judges its neighbours in a stream part (see {@link NeighborScores}). */
export interface NeighborScoringOptions {
  /** Probe one neighbour every this many messages the node relays in the stream part. Default 10. */
  readonly probeEvery: number
  /** How long a probed neighbour has to send the held-back message before it is sent late and the probe fails. Default 2 s. */
  readonly probeTimeoutMs: number
  /** Failed probes in a row (with no other frame from it between) after which a neighbour is rotated out. Default 2. */
  readonly maxFailedProbes: number
  /** A rotated-out neighbour is refused as a neighbour in the stream part for this long. Default 10 min. */
  readonly banMs: number
  /** At least this long between two rotations in one stream part. Default 10 s. */
  readonly minRotationIntervalMs: number
}

export const DEFAULT_NEIGHBOR_SCORING: NeighborScoringOptions = Object.freeze({
  probeEvery: 10,
  probeTimeoutMs: 2_000,
  maxFailedProbes: 2,
  banMs: 10 * 60_000,
  minRotationIntervalMs: 10_000,
})

/**
 * Fills in the defaults and checks the settings.
 *
 * @throws {@link NetworkError} `INVALID_OPTIONS` for a setting that is not a positive number
 */
export function resolveNeighborScoring(options: Partial<NeighborScoringOptions>): NeighborScoringOptions {
  const resolved = { ...DEFAULT_NEIGHBOR_SCORING, ...options }
  for (const [name, value] of Object.entries(resolved)) {
    if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
      throw new NetworkError('INVALID_OPTIONS', `neighborScoring.${name} must be a positive number, got ${value}`)
    }
  }
  if (!Number.isInteger(resolved.probeEvery) || !Number.isInteger(resolved.maxFailedProbes)) {
    throw new NetworkError('INVALID_OPTIONS', 'neighborScoring.probeEvery and maxFailedProbes must be integers')
  }
  return resolved
}

/** Counters of a node's scoring, over its stream parts, part of `NetworkNodeMetrics`. */
export interface NeighborScoringCounters {
  /** Messages held back from a neighbour to see whether it relays them. */
  probes: number
  /** Probes the neighbour did not answer in time (the message was then sent late). */
  failedProbes: number
  /** Neighbours rotated out. */
  rotations: number
}

/** What {@link NeighborScores} needs from the node around it. */
export interface NeighborScoresComponents {
  readonly clock: Clock
  /** The stream part's current neighbours (full nodes that relay with this one). */
  readonly neighbors: ReadonlySet<NodeId>
  /** Sends a data frame; false when it could not be sent. */
  readonly send: (peerId: NodeId, frame: Uint8Array) => boolean
  /** Rotates a neighbour out: leave, refuse it for `banMs`, ask discovery for a replacement. */
  readonly rotate: (peerId: NodeId, banMs: number) => void
  readonly counters: NeighborScoringCounters
}

interface Probe {
  readonly peerId: NodeId
  readonly key: string
  readonly frame: Uint8Array
  readonly timer: Timer
}

interface Score {
  /** Frames with a valid message this neighbour sent (first deliveries and copies) since its last probe. */
  activity: number
  failedProbes: number
}

/**
 * Scores a node's neighbours in one stream part by what they relay, and rotates out those that relay nothing.
 *
 * Counting first deliveries alone can't tell a dropper from an honest neighbour downstream of this node: one that
 * always gets messages from this node first never sends any back either, and about one neighbour in four is such a
 * child. So the node asks: every `probeEvery` messages it relays, it holds the message back from one neighbour (in
 * turn; never the sender, and only with two or more neighbours). An honest neighbour gets it from another neighbour and
 * relays it on, this node included (it relays to everyone but its sender); a dropper never does. When the copy comes
 * back within `probeTimeoutMs` the probe passes; otherwise the node sends the message late (nothing is lost) and
 * counts a failure. A neighbour with `maxFailedProbes` failures in a row that sent nothing else between them (no
 * first delivery, no copy) is rotated out (at most one per `minRotationIntervalMs`) and refused for `banMs`, and
 * discovery looks for a replacement. Two honest neighbours that happen to probe each other with the same message both
 * miss; the other frames an honest neighbour sends keep that from adding up.
 *
 * No data, no judgement: a quiet stream part probes no one and rotates no one. Memory: one score per neighbour and at
 * most one probe in flight per stream part.
 *
 * @example
 * ```ts
 * const scores = new NeighborScores({ clock, neighbors: overlay.neighbors, send, rotate, counters }, DEFAULT_NEIGHBOR_SCORING)
 * scores.noteFirst(senderId)
 * const heldBack = scores.beforeRelay(senderId, frame, chainKey, timestamp, sequenceNumber) // skip this one when relaying
 * scores.noteCopy(senderId, chainKey, timestamp, sequenceNumber) // a duplicate arrived
 * ```
 */
export class NeighborScores {
  private readonly scores = new Map<NodeId, Score>()
  private probe: Probe | undefined
  private sinceProbe = 0
  private cursor = 0
  private lastRotationAt = -Infinity
  private stopped = false

  constructor(
    private readonly components: NeighborScoresComponents,
    private readonly options: NeighborScoringOptions,
  ) {}

  /** `senderId` delivered a new message first (counted for probed neighbours only). */
  noteFirst(senderId: NodeId | undefined): void {
    if (senderId === undefined) return
    const score = this.scores.get(senderId)
    if (score !== undefined) score.activity++
  }

  /**
   * A new message is about to be relayed: returns the neighbour to hold it back from as a probe (and starts the
   * probe), or undefined to send it to everyone.
   */
  beforeRelay(
    senderId: NodeId | undefined,
    frame: Uint8Array,
    chainKey: string,
    timestamp: number,
    sequenceNumber: number,
  ): NodeId | undefined {
    if (this.stopped || this.probe !== undefined || ++this.sinceProbe < this.options.probeEvery) return undefined
    const neighbors = this.components.neighbors
    if (neighbors.size < 2) return undefined
    const candidates = [...neighbors].filter((id) => id !== senderId)
    if (candidates.length === 0) return undefined
    this.sinceProbe = 0
    this.prune()
    const peerId = candidates[this.cursor++ % candidates.length]!
    const key = messageKey(chainKey, timestamp, sequenceNumber)
    const timer = this.components.clock.setTimeout(() => this.expire(), this.options.probeTimeoutMs, { unref: true })
    this.probe = { peerId, key, frame, timer }
    this.components.counters.probes++
    return peerId
  }

  /** A copy of a message already seen arrived from `senderId`: the answer to a probe, maybe. */
  noteCopy(senderId: NodeId, chainKey: string, timestamp: number, sequenceNumber: number): void {
    const score = this.scores.get(senderId)
    if (score !== undefined) score.activity++
    const probe = this.probe
    if (probe?.peerId !== senderId || probe.key !== messageKey(chainKey, timestamp, sequenceNumber)) return
    probe.timer.cancel()
    this.probe = undefined
    const answered = this.scoreOf(senderId)
    answered.failedProbes = 0
    answered.activity = 0
  }

  /** Scores of probed neighbours: frames they sent since their last probe, and failed probes in a row. */
  snapshot(): Map<NodeId, { activity: number; failedProbes: number }> {
    this.prune()
    return new Map([...this.scores].map(([id, score]) => [id, { ...score }]))
  }

  /** The stream part was left: cancels the probe in flight. */
  stop(): void {
    this.stopped = true
    this.probe?.timer.cancel()
    this.probe = undefined
  }

  private expire(): void {
    const probe = this.probe
    this.probe = undefined
    if (probe === undefined || this.stopped || !this.components.neighbors.has(probe.peerId)) return
    const { components, options } = this
    // Held back, not dropped: the neighbour may have had no other way to get it.
    components.send(probe.peerId, probe.frame)
    components.counters.failedProbes++
    const score = this.scoreOf(probe.peerId)
    // A neighbour that relayed anything since it was last probed is relaying: the miss was bad luck (it may have
    // held the same message back from this node as its own probe).
    score.failedProbes = score.activity > 0 ? 1 : score.failedProbes + 1
    score.activity = 0
    if (score.failedProbes < options.maxFailedProbes) return
    const now = components.clock.now()
    if (now - this.lastRotationAt < options.minRotationIntervalMs) return
    this.lastRotationAt = now
    this.scores.delete(probe.peerId)
    components.counters.rotations++
    components.rotate(probe.peerId, options.banMs)
  }

  private scoreOf(peerId: NodeId): Score {
    let score = this.scores.get(peerId)
    if (score === undefined) {
      score = { activity: 0, failedProbes: 0 }
      this.scores.set(peerId, score)
    }
    return score
  }

  /** Drops the scores of peers that are no longer neighbours (kept to the neighbour set). */
  private prune(): void {
    for (const peerId of this.scores.keys()) if (!this.components.neighbors.has(peerId)) this.scores.delete(peerId)
  }
}

function messageKey(chainKey: string, timestamp: number, sequenceNumber: number): string {
  return `${chainKey}/${timestamp}/${sequenceNumber}`
}
