import { toStreamPartId, type Clock, type StreamId, type StreamMessage, type StreamPartId } from '@runnel/protocol'
import { FOREVER } from '@runnel/chain'
import type { MessageOpener } from '../encryption/MessageOpener.js'
import { raceAbort, throwIfAborted } from '../abort.js'
import { ClientError } from '../errors.js'
import type { ClientEventHub } from '../events/ClientEventHub.js'
import type { StreamPartJoins } from '../network/StreamPartJoins.js'
import type { GapFiller } from '../storage/GapFiller.js'
import { checkHistoryQuery, type HistoryQuery } from '../storage/historyRequests.js'
import type { StreamResolver } from '../streams/StreamResolver.js'
import { Subscription } from '../Subscription.js'
import type { ReceivedMessage, StreamTarget, SubscribeOptions } from '../types.js'
import { SubscribePipeline } from './SubscribePipeline.js'

export interface SubscriptionRegistryComponents {
  /** The client's address, lowercase. */
  readonly address: string
  readonly start: () => Promise<void>
  readonly streams: Pick<StreamResolver, 'toStreamId' | 'toStreamPart' | 'partitionsOf'>
  /** This client's own subscribe permission (cached). */
  readonly maySubscribe: (streamId: string) => Promise<boolean>
  /** When this client's own subscribe permission ends (Unix seconds; 0 none, 2^64-1 never): says why one was refused. */
  readonly subscribeExpiration?: (streamId: string) => Promise<bigint>
  readonly joins: Pick<StreamPartJoins, 'joinToSubscribe'>
  /** Where live messages come from: the client's network node. */
  readonly feed: {
    addMessageListener(streamPartId: StreamPartId, listener: (message: StreamMessage) => void): () => void
  }
  /** Where history comes from: the stream's storage nodes, each message validated. */
  readonly history: { resend(streamId: string, partition: number, query: HistoryQuery): AsyncIterable<StreamMessage> }
  readonly validate: (message: StreamMessage) => Promise<boolean>
  readonly opener: Pick<MessageOpener, 'openReporting'>
  readonly gapFiller?: Pick<GapFiller, 'fill'>
  readonly events: Pick<ClientEventHub, 'emit' | 'emitError' | 'safely'>
  readonly clock?: Clock
}

export interface SubscriptionRegistryOptions {
  readonly subscriptionBufferSize?: number
  readonly gapTimeoutMs?: number
  readonly failedKeyMemoryMs?: number
}

/**
 * Every subscription of a client: makes each (checked target, a {@link SubscribePipeline} fed by the node and by
 * storage, the stream parts joined) and ends them all when the client goes.
 */
export class SubscriptionRegistry {
  private readonly subscriptions = new Set<Subscription>()

  constructor(
    private readonly components: SubscriptionRegistryComponents,
    private readonly options: SubscriptionRegistryOptions = {},
  ) {}

  /**
   * The subscriptions that are active now: all, those of a stream (a stream id or path), or those that take in a
   * stream part (`{ id, partition }`: a subscription to every partition of the stream counts).
   */
  list(target?: StreamTarget): Subscription[] {
    const all = [...this.subscriptions]
    if (target === undefined) return all
    const { streamId, partition } = this.components.streams.toStreamPart(target)
    return all.filter(
      (subscription) =>
        subscription.streamId === streamId && (partition === undefined || subscription.partitions.includes(partition)),
    )
  }

  /** Ends one subscription, those {@link list} selects for a target, or all; returns how many ended. */
  unsubscribe(what?: Subscription | StreamTarget): number {
    const ending = what instanceof Subscription ? [what] : this.list(what)
    for (const subscription of ending) subscription.unsubscribe()
    return ending.length
  }

  /** See `RunnelClient.subscribe`. */
  async subscribe(
    target: StreamTarget,
    onMessage: ((message: ReceivedMessage) => void) | undefined,
    options: SubscribeOptions,
  ): Promise<Subscription> {
    const { components } = this
    const { signal } = options
    if (options.resend !== undefined) checkHistoryQuery(options.resend)
    throwIfAborted(signal, 'subscribe')
    await raceAbort(components.start(), signal, 'subscribe')
    const streamId = components.streams.toStreamId(typeof target === 'string' ? target : target.id)
    const partitions = await raceAbort(
      components.streams.partitionsOf(streamId, typeof target === 'string' ? undefined : target.partition),
      signal,
      'subscribe',
    )
    if (
      options.checkPermission !== false &&
      !(await raceAbort(components.maySubscribe(streamId), signal, 'subscribe'))
    ) {
      await this.throwIfExpired(streamId)
      throw new ClientError('PERMISSION_DENIED', `${components.address} may not subscribe to ${streamId}`)
    }
    const bufferSize = this.options.subscriptionBufferSize ?? 10_000
    const subscription = new Subscription(streamId, partitions, bufferSize)
    const { events } = components
    const pipeline = new SubscribePipeline(
      {
        validate: components.validate,
        opener: components.opener,
        gapFiller: components.gapFiller,
        // A callback consumes the messages: buffering them for an iterator nobody reads would only hold memory.
        deliver:
          onMessage === undefined
            ? (received) => subscription.push(received)
            : (received) => events.safely(() => onMessage(received)),
        onGap: (gap) => events.emit('gap', gap),
        onError: (error) => events.emit('error', error),
        onDropped: () => subscription.countDropped(),
        isActive: () => subscription.isActive,
        clock: components.clock,
      },
      {
        raw: options.raw,
        ordered: options.ordered,
        deliverUndecryptable: options.deliverUndecryptable,
        readsHistory: options.resend !== undefined,
        bufferSize,
        gapTimeoutMs: this.options.gapTimeoutMs,
        failedKeyMemoryMs: this.options.failedKeyMemoryMs,
      },
    )
    const joins: Promise<void>[] = []
    for (const partition of partitions) {
      const streamPartId = toStreamPartId(streamId as StreamId, partition)
      subscription.onUnsubscribe(components.feed.addMessageListener(streamPartId, (message) => pipeline.live(message)))
      const { joined, release } = components.joins.joinToSubscribe(streamPartId)
      subscription.onUnsubscribe(release)
      joins.push(joined)
    }
    subscription.onUnsubscribe(() => {
      pipeline.close()
      this.subscriptions.delete(subscription)
    })
    // Aborted while joining: the stream parts are released (left unless something else needs them).
    await raceAbort(Promise.all(joins), signal, 'subscribe', () => subscription.unsubscribe())
    this.subscriptions.add(subscription)
    const history = options.resend
    if (history !== undefined) {
      // History streams in after subscribe() returns; then the live messages held meanwhile follow.
      let failure: Error | undefined
      const read = pipeline.readHistory(this.historyOf(streamId, partitions, history), (error) => {
        failure = error
        if (options.onResendError === undefined) events.emit('error', error)
        else options.onResendError(error)
      })
      subscription.setResendCompleted(
        read.then(() => {
          if (failure !== undefined) throw failure
        }),
      )
    }
    return subscription
  }

  /** Ends every subscription. */
  unsubscribeAll(): void {
    this.unsubscribe()
  }

  private async *historyOf(
    streamId: string,
    partitions: readonly number[],
    query: HistoryQuery,
  ): AsyncGenerator<StreamMessage> {
    for (const partition of partitions) yield* this.components.history.resend(streamId, partition, query)
  }

  private async throwIfExpired(streamId: string): Promise<void> {
    const expiration = await this.components.subscribeExpiration?.(streamId).catch(() => 0n)
    if (expiration === undefined || expiration === 0n || expiration >= FOREVER) return
    const at = new Date(Number(expiration) * 1000).toISOString()
    throw new ClientError(
      'PERMISSION_EXPIRED',
      `${this.components.address}'s permission to subscribe to ${streamId} expired at ${at}`,
      { details: "Buy more time on the marketplace (runnel product buy), or ask the stream's owner for a new grant." },
    )
  }
}
