import { NodeError } from '../../errors.js'

/** When the node counts as saturated, and what it tells publishers then. */
export interface PushbackLimits {
  /** Publishes taken in from API clients and not yet handed to the network, over every API and connection. */
  readonly maxPendingPublishes: number
  /** Bytes waiting to go out to API subscribers, over every subscriber. */
  readonly maxQueuedDeliveryBytes: number
  /** What `Retry-After` (and `retryAfterMs` in a WebSocket error frame) says. */
  readonly retryAfterMs: number
}

/** What the pushback reads of the delivery side. */
export interface DeliveryBacklog {
  queuedBytes(): number
}

/**
 * Publisher pushback: a publish that arrives while the node is saturated is
 * refused at once with `OVERLOADED` (503, retryable), rather than queued
 * behind everything the node already can't keep up with. Saturated means more
 * than `maxPendingPublishes` publishes in the node's hands, or more than
 * `maxQueuedDeliveryBytes` unsent to subscribers. Each API says it its own
 * way: HTTP `503` with `Retry-After`, a WebSocket error frame with the frame's
 * `seq` and `retryAfterMs`, an MQTT connection closed (MQTT 3.1.1 can't refuse
 * one PUBLISH).
 *
 * @example
 * ```ts
 * const release = pushback.admit(1) // throws NodeError OVERLOADED when saturated
 * try {
 *   await gateway.publish(…)
 * } finally {
 *   release()
 * }
 * ```
 */
export class Pushback {
  private pending = 0
  /** Publishes refused so far (the metrics count them by API too). */
  refused = 0

  private readonly backlogs: DeliveryBacklog[] = []

  constructor(private readonly limits: PushbackLimits) {}

  get retryAfterMs(): number {
    return this.limits.retryAfterMs
  }

  /** Publishes in the node's hands now. */
  get pendingPublishes(): number {
    return this.pending
  }

  /** Adds a delivery backlog (an API plugin's egress) to what saturation looks at. */
  watch(backlog: DeliveryBacklog): void {
    this.backlogs.push(backlog)
  }

  /**
   * Takes in `count` publishes, or refuses them all. The returned function gives them back (call it once, when
   * they are published or failed).
   *
   * @throws {@link NodeError} `OVERLOADED` when the node is saturated
   */
  admit(count = 1): () => void {
    const reason = this.saturation(count)
    if (reason !== undefined) {
      this.refused += count
      throw new NodeError(
        'OVERLOADED',
        `this node is saturated (${reason}): the message was not published; retry in ${this.limits.retryAfterMs} ms`,
      )
    }
    this.pending += count
    let released = false
    return () => {
      if (released) return
      released = true
      this.pending -= count
    }
  }

  private saturation(count: number): string | undefined {
    const { maxPendingPublishes, maxQueuedDeliveryBytes } = this.limits
    if (this.pending + count > maxPendingPublishes) {
      return `${this.pending} publishes waiting, at most ${maxPendingPublishes}`
    }
    let queued = 0
    for (const backlog of this.backlogs) queued += backlog.queuedBytes()
    if (queued > maxQueuedDeliveryBytes)
      return `${queued} bytes unsent to subscribers, at most ${maxQueuedDeliveryBytes}`
    return undefined
  }
}
