import { NetworkError, type NetworkNode } from '@runnel/network'
import { systemClock, type Clock, type PlacementConstraint, type StreamPartId } from '@runnel/protocol'

export interface StreamPartJoinsComponents {
  readonly node: Pick<NetworkNode, 'join' | 'leave' | 'flush'>
  /** Starts the client (its node) if it hasn't been. */
  readonly start: () => Promise<void>
  readonly isDestroyed: () => boolean
  readonly clock?: Clock
  /** Called once per stream part this client joins, before it joins: key requests there are answered from then on. */
  readonly onFirstJoin?: (streamPartId: StreamPartId) => void
  /**
   * The stream's placement constraint (its metadata's `placement`), passed to the node's join: a node outside it
   * refuses the stream part with `OUTSIDE_PLACEMENT`, which fails the subscribe or publish. Default none.
   */
  readonly placementOf?: (streamPartId: StreamPartId) => Promise<PlacementConstraint | undefined>
}

export interface StreamPartJoinsOptions {
  /** How long the first join of a stream part waits for a neighbour. Default 5 s. */
  readonly joinTimeoutMs?: number
}

/**
 * Which stream parts the client's node is in, and why: the subscriptions that need each, and the parts it
 * published to. A node leaves a part once neither needs it.
 */
export class StreamPartJoins {
  private readonly joins = new Map<StreamPartId, Promise<void>>()
  private readonly subscriberCounts = new Map<StreamPartId, number>()
  private readonly publishedTo = new Set<StreamPartId>()

  constructor(
    private readonly components: StreamPartJoinsComponents,
    private readonly options: StreamPartJoinsOptions = {},
  ) {}

  /** Starts the client and joins the stream part (once): for key requests and answers, control messages. */
  async join(streamPartId: StreamPartId): Promise<void> {
    await this.components.start()
    await this.joinOnce(streamPartId)
  }

  /** Joins a stream part to publish to it: the node then stays in it for good. */
  async joinToPublish(streamPartId: StreamPartId): Promise<void> {
    await this.joinOnce(streamPartId)
    this.publishedTo.add(streamPartId)
  }

  /** Joins a stream part for a subscription; returns what the subscription calls when it ends. */
  joinToSubscribe(streamPartId: StreamPartId): { joined: Promise<void>; release: () => void } {
    this.subscriberCounts.set(streamPartId, (this.subscriberCounts.get(streamPartId) ?? 0) + 1)
    return { joined: this.joinOnce(streamPartId), release: () => this.release(streamPartId) }
  }

  /**
   * Joins a stream part to relay it (a node operator's duty) with no subscription; returns what ends it. Counted
   * with the subscriptions: the node leaves only once neither needs the part.
   */
  joinToRelay(streamPartId: StreamPartId): { joined: Promise<void>; release: () => void } {
    return this.joinToSubscribe(streamPartId)
  }

  /**
   * Joins a stream part and, the first time, waits (boundedly) for a
   * neighbour if the stream part has any: a burst published before the
   * overlay has formed would otherwise outrun the node's short propagation
   * buffer. The first node of a stream part goes on as soon as the tracker
   * says it is alone.
   */
  joinOnce(streamPartId: StreamPartId): Promise<void> {
    let joined = this.joins.get(streamPartId)
    if (joined === undefined) {
      this.components.onFirstJoin?.(streamPartId)
      const timeout = new AbortController()
      const timer = (this.components.clock ?? systemClock).setTimeout(
        () => timeout.abort(new DOMException('no neighbour in time', 'TimeoutError')),
        this.options.joinTimeoutMs ?? 5_000,
        { unref: true },
      )
      joined = (this.components.placementOf?.(streamPartId) ?? Promise.resolve(undefined))
        .then((placement) =>
          this.components.node
            .join(streamPartId, {
              minNeighbors: 1,
              orWhenSettled: true,
              signal: timeout.signal,
              ...(placement === undefined ? {} : { placement }),
            })
            .catch((err: unknown) => {
              if (err instanceof NetworkError && err.code === 'OUTSIDE_PLACEMENT') throw err
              // Alone in the stream part (or slow to find peers): go on; peers that come soon still get what is buffered.
            }),
        )
        .catch((err: unknown) => {
          // Not this node's to carry (or a malformed constraint): the next call asks again, as the metadata may
          // change, and listeners added for the stream part go.
          this.joins.delete(streamPartId)
          this.subscriberCounts.delete(streamPartId)
          this.components.node.leave(streamPartId)
          throw err
        })
        .finally(() => timer.cancel())
      this.joins.set(streamPartId, joined)
    }
    return joined
  }

  /**
   * Waits until what this client published has gone to at least one peer in every stream part it published to, or
   * `signal` fires: resolves with how many messages went to no one (see `NetworkNode.flush`).
   */
  async flushPublished(signal: AbortSignal): Promise<number> {
    const unsent = await Promise.all([...this.publishedTo].map((part) => this.components.node.flush(part, { signal })))
    return unsent.reduce((sum, count) => sum + count, 0)
  }

  /** Leaves a stream part once no subscription needs it and this client never published to it. */
  private release(streamPartId: StreamPartId): void {
    const remaining = (this.subscriberCounts.get(streamPartId) ?? 1) - 1
    if (remaining > 0) {
      this.subscriberCounts.set(streamPartId, remaining)
      return
    }
    this.subscriberCounts.delete(streamPartId)
    if (this.publishedTo.has(streamPartId) || this.components.isDestroyed()) return
    this.joins.delete(streamPartId)
    this.components.node.leave(streamPartId)
  }
}
