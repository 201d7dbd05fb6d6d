import { TokenBucket } from '../connection/TokenBucket.js'
import { NetworkError } from '../errors.js'
import type { NodeId } from '../identity.js'

/**
 * Rates a relay allows per stream part, each with a burst of `burstSeconds` of it. Every setting has a default in
 * {@link DEFAULT_RELAY_LIMITS}: generous, so that only floods meet them.
 */
export interface RelayLimitOptions {
  /** New messages per second from one publisher in one stream part. Default 10,000. */
  readonly publisherMessagesPerSecond: number
  /** Bytes per second (encoded messages) from one publisher in one stream part. Default 16 MiB. */
  readonly publisherBytesPerSecond: number
  /** New messages per second in one stream part, all publishers together. Default 20,000. */
  readonly streamPartMessagesPerSecond: number
  /** Bytes per second in one stream part, all publishers together. Default 32 MiB. */
  readonly streamPartBytesPerSecond: number
  /** Each bucket holds this many seconds of its rate (a byte bucket at least one largest message). Default 2. */
  readonly burstSeconds: number
  /** Publishers tracked per stream part; beyond it the least recently seen one's buckets are dropped. Default 1,000. */
  readonly maxPublishersPerStreamPart: number
  /**
   * A neighbour whose messages in one stream part were dropped over the limits more than this many times within
   * {@link NEIGHBOR_EXCESS_WINDOW_MS} is disconnected (close cause 'flooding') and refused for
   * {@link FLOOD_BAN_MS}. Default twice what the stream part's limit can let through in that window (a second of
   * its rate plus its burst): a neighbour that applies the same limits relays no more than that, so only one that
   * doesn't limit (a flooding publisher's own node, or a relay that ignores limits) gets there.
   */
  readonly maxNeighborExcess: number
}

/** The window over which a neighbour's dropped messages are counted against `maxNeighborExcess`. */
export const NEIGHBOR_EXCESS_WINDOW_MS = 1_000
/** How long a neighbour disconnected for flooding is refused when it connects again. */
export const FLOOD_BAN_MS = 60_000
/** Most neighbours refused at once; beyond it the oldest refusal ends early. */
const MAX_FLOOD_BANS = 1_024

export const DEFAULT_RELAY_LIMITS: Omit<RelayLimitOptions, 'maxNeighborExcess'> = {
  publisherMessagesPerSecond: 10_000,
  publisherBytesPerSecond: 16 * 1024 * 1024,
  streamPartMessagesPerSecond: 20_000,
  streamPartBytesPerSecond: 32 * 1024 * 1024,
  burstSeconds: 2,
  maxPublishersPerStreamPart: 1_000,
}

/**
 * Fills in the defaults and checks the settings.
 *
 * @throws {@link NetworkError} `INVALID_OPTIONS` for a rate or count that isn't a positive number
 */
export function resolveRelayLimits(settings: Partial<RelayLimitOptions>): RelayLimitOptions {
  const given = Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined))
  const merged: Omit<RelayLimitOptions, 'maxNeighborExcess'> & { maxNeighborExcess?: number } = {
    ...DEFAULT_RELAY_LIMITS,
    ...given,
  }
  for (const [name, value] of Object.entries(merged)) {
    if (typeof value !== 'number' || !(value > 0) || Number.isNaN(value)) {
      throw new NetworkError('INVALID_OPTIONS', `relayLimits.${name} must be a positive number, got ${String(value)}`)
    }
  }
  if (!Number.isInteger(merged.maxPublishersPerStreamPart)) {
    throw new NetworkError(
      'INVALID_OPTIONS',
      `relayLimits.maxPublishersPerStreamPart must be an integer, got ${merged.maxPublishersPerStreamPart}`,
    )
  }
  return {
    ...merged,
    maxNeighborExcess:
      merged.maxNeighborExcess ??
      Math.ceil(2 * merged.streamPartMessagesPerSecond * (NEIGHBOR_EXCESS_WINDOW_MS / 1000 + merged.burstSeconds)),
  }
}

interface Buckets {
  readonly messages: TokenBucket
  readonly bytes: TokenBucket
}

/** A neighbour's dropped messages in the current window. */
interface Excess {
  windowStart: number
  count: number
}

/** The limiter's state for one stream part: its own buckets, its publishers', and its neighbours' excess. */
class StreamPartLimits {
  readonly total: Buckets
  /** Publisher address → buckets, least recently seen first. */
  readonly publishers = new Map<string, Buckets>()
  readonly excess = new Map<NodeId, Excess>()

  constructor(total: Buckets) {
    this.total = total
  }
}

/**
 * Per-publisher and per-stream-part rate limits of a relay's data path: token buckets of messages and bytes per
 * second. The data path asks {@link allows} before decoding and verifying a new message (over the limit it is
 * dropped cheaply), and {@link take}s tokens only once the message verified, so forgeries in a publisher's name
 * can't spend its allowance. Memory is bounded: per stream part two buckets, at most `maxPublishersPerStreamPart`
 * publishers' (two buckets each), and one counter per neighbour that sent too much; the state of a stream part left
 * goes with its overlay (keys are the overlay objects, held weakly).
 *
 * @example
 * ```ts
 * const limiter = new RelayLimiter(resolveRelayLimits({ publisherMessagesPerSecond: 100 }), 1 << 20, () => clock.now())
 * if (!limiter.allows(overlay, publisherId, bytes.length)) return 'rate-limited'
 * ```
 */
export class RelayLimiter {
  private readonly streamParts = new WeakMap<object, StreamPartLimits>()
  /** Neighbours disconnected for flooding → when their refusal ends, oldest first. */
  private readonly bans = new Map<NodeId, number>()
  private readonly publisherByteBurst: number
  private readonly streamPartByteBurst: number

  constructor(
    readonly options: RelayLimitOptions,
    maxMessageSize: number,
    private readonly now: () => number,
  ) {
    // A byte bucket smaller than the largest message would refuse that message forever.
    this.publisherByteBurst = Math.max(options.publisherBytesPerSecond * options.burstSeconds, maxMessageSize)
    this.streamPartByteBurst = Math.max(options.streamPartBytesPerSecond * options.burstSeconds, maxMessageSize)
  }

  /** True when a message of `bytes` from `publisher` fits both the publisher's and the stream part's limits; takes nothing. */
  allows(overlay: object, publisher: string, bytes: number): boolean {
    const limits = this.streamParts.get(overlay)
    if (limits === undefined) return true
    if (!limits.total.messages.has(1) || !limits.total.bytes.has(bytes)) return false
    const buckets = limits.publishers.get(publisher)
    return buckets === undefined || (buckets.messages.has(1) && buckets.bytes.has(bytes))
  }

  /** Takes a message's tokens from both limits when both allow it (all or nothing); false when either is over. */
  take(overlay: object, publisher: string, bytes: number): boolean {
    const limits = this.limitsOf(overlay)
    const buckets = this.publisherBuckets(limits, publisher)
    if (
      !limits.total.messages.has(1) ||
      !limits.total.bytes.has(bytes) ||
      !buckets.messages.has(1) ||
      !buckets.bytes.has(bytes)
    ) {
      return false
    }
    limits.total.messages.take(1)
    limits.total.bytes.take(bytes)
    buckets.messages.take(1)
    buckets.bytes.take(bytes)
    return true
  }

  /**
   * Counts a message from neighbour `senderId` dropped over the limits; true when the neighbour has now gone past
   * `maxNeighborExcess` in the current window (its count starts over, so the caller acts once).
   */
  noteExcess(overlay: object, senderId: NodeId): boolean {
    const limits = this.limitsOf(overlay)
    const now = this.now()
    let excess = limits.excess.get(senderId)
    if (excess === undefined || now - excess.windowStart >= NEIGHBOR_EXCESS_WINDOW_MS) {
      if (excess === undefined) this.pruneExcess(limits, now)
      excess = { windowStart: now, count: 0 }
      limits.excess.set(senderId, excess)
    }
    excess.count++
    if (excess.count <= this.options.maxNeighborExcess) return false
    limits.excess.delete(senderId)
    this.ban(senderId, now)
    return true
  }

  /** True while a neighbour disconnected for flooding is refused (for {@link FLOOD_BAN_MS}). */
  isBanned(peerId: NodeId): boolean {
    const until = this.bans.get(peerId)
    if (until === undefined) return false
    if (this.now() < until) return true
    this.bans.delete(peerId)
    return false
  }

  private ban(peerId: NodeId, now: number): void {
    this.bans.delete(peerId)
    if (this.bans.size >= MAX_FLOOD_BANS) {
      const [oldest] = this.bans.keys()
      this.bans.delete(oldest!)
    }
    this.bans.set(peerId, now + FLOOD_BAN_MS)
  }

  private limitsOf(overlay: object): StreamPartLimits {
    let limits = this.streamParts.get(overlay)
    if (limits === undefined) {
      const { streamPartMessagesPerSecond, streamPartBytesPerSecond, burstSeconds } = this.options
      limits = new StreamPartLimits({
        messages: new TokenBucket(streamPartMessagesPerSecond, streamPartMessagesPerSecond * burstSeconds, this.now),
        bytes: new TokenBucket(streamPartBytesPerSecond, this.streamPartByteBurst, this.now),
      })
      this.streamParts.set(overlay, limits)
    }
    return limits
  }

  private publisherBuckets(limits: StreamPartLimits, publisher: string): Buckets {
    const { publishers } = limits
    let buckets = publishers.get(publisher)
    if (buckets !== undefined) {
      // Most recently seen last: a busy publisher's buckets are the last to go.
      publishers.delete(publisher)
      publishers.set(publisher, buckets)
      return buckets
    }
    if (publishers.size >= this.options.maxPublishersPerStreamPart) {
      const [oldest] = publishers.keys()
      publishers.delete(oldest!)
    }
    const { publisherMessagesPerSecond, burstSeconds } = this.options
    buckets = {
      messages: new TokenBucket(publisherMessagesPerSecond, publisherMessagesPerSecond * burstSeconds, this.now),
      bytes: new TokenBucket(this.options.publisherBytesPerSecond, this.publisherByteBurst, this.now),
    }
    publishers.set(publisher, buckets)
    return buckets
  }

  /** Forgets neighbours whose window has passed, so the map holds only those over the limits lately. */
  private pruneExcess(limits: StreamPartLimits, now: number): void {
    if (limits.excess.size < 64) return
    for (const [peerId, excess] of limits.excess) {
      if (now - excess.windowStart >= NEIGHBOR_EXCESS_WINDOW_MS) limits.excess.delete(peerId)
    }
  }
}
