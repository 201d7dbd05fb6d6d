import { randomBytes } from 'node:crypto'
import {
  ClientError,
  DEFAULT_ACK_TIMEOUT_MS,
  checkPublishTimestamp,
  type PublishOptions,
  type PublishedMessage,
  type ReceivedMessage,
  type RunnelClient,
  type StreamTarget,
  type Subscription,
} from '@runnel/client'
import { shortMessageOf, systemClock, type Clock } from '@runnel/protocol'
import { BatchPublishError, NodeError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { ApiName, NodeMetrics } from '../metrics.js'
import { DEFAULT_DELIVERY_LIMITS, type DeliveryLimits } from '../plugins/fanout/delivery.js'
import { CollectAfterLoad, DEFAULT_COLLECT_AFTER_LOAD, fullCollector } from '../plugins/fanout/CollectAfterLoad.js'
import { EgressWriter } from '../plugins/fanout/EgressWriter.js'
import { Pushback } from '../plugins/fanout/Pushback.js'
import { toApiError, type ApiError } from './ApiError.js'
import type { ApiKeyGuard } from './ApiKeyGuard.js'
import { ApiQuotas, NO_QUOTAS } from '../plugins/limits.js'
import {
  toPublishCall,
  type BatchMessage,
  type PublishMetadata,
  type PublishParams,
  type SubscribeParams,
} from './requests.js'

const done: Promise<void> = Promise.resolve()

/** The same error, its message prefixed with where it happened, keeping its type (and so its code). */
function prefixed(err: unknown, where: string): unknown {
  if (err instanceof NodeError) {
    return new NodeError(err.code, `${where}: ${err.shortMessage}`, { cause: err })
  }
  return err
}

/** An API subscription, over one or more partitions. */
export interface ApiSubscription {
  unsubscribe(): void
}

/** API clients whose explicit-timestamp chains are remembered at once; the least recently used beyond are ended. */
const MAX_CALLER_CHAINS = 10_000

/** As the client's own chain ids: 20 hex digits. */
function newChainId(): string {
  return randomBytes(10).toString('hex')
}

/**
 * What every API plugin shares: publishing and subscribing through the node's
 * client, with size limits, metrics, logs and error mapping done once.
 *
 * Chains: API messages without a timestamp go on one chain the node shares
 * among its API clients (stamped with the node's clock, so in order). A
 * message with an explicit timestamp goes on a chain of its caller's own
 * (its WebSocket, MQTT or HTTP connection), since a
 * chain's timestamps never go back: on the shared chain one caller's timestamp
 * would move every later message's timestamp up to it.
 */
export class ApiGateway {
  /** The chain of API messages without an explicit timestamp, on every stream part. */
  private readonly sharedChainId = newChainId()
  /** Caller key → its chain for explicit timestamps, least recently used first. */
  private readonly callerChains = new Map<string, string>()
  /** Every plugin's writes to subscribers: batched per turn, each subscriber's backlog bounded. */
  readonly egress: EgressWriter
  /** Refuses publishes while the node is saturated (`OVERLOADED`). */
  readonly pushback: Pushback
  /** Gives a load's memory back once it is over: the egress notes what it hands to sockets, plugins the rest. */
  readonly afterLoad: CollectAfterLoad

  constructor(
    readonly client: RunnelClient,
    readonly metrics: NodeMetrics,
    readonly logger: Logger,
    readonly apiKeys: ApiKeyGuard,
    readonly maxPayloadBytes: number,
    readonly maxClockSkewMs: number,
    /** How long an `ack=stored` publish waits for storage receipts, unless the request says. */
    readonly storedAckTimeoutMs: number = DEFAULT_ACK_TIMEOUT_MS,
    /** The node's time and timers, shared with the plugins (see `RunnelNodeComponents.clock`). */
    readonly clock: Clock = systemClock,
    /** Per-client quotas the plugins charge on connect and publish (config `quotas`). Default: none. */
    readonly quotas: ApiQuotas = new ApiQuotas(NO_QUOTAS, maxPayloadBytes, metrics, clock),
    /** The `delivery` config section. */
    readonly delivery: DeliveryLimits = DEFAULT_DELIVERY_LIMITS,
  ) {
    this.afterLoad = new CollectAfterLoad(DEFAULT_COLLECT_AFTER_LOAD, {
      clock,
      collect: delivery.collectAfterLoad ? loggedCollection(fullCollector(), logger) : undefined,
    })
    // Counted as the sockets take the bytes, not as they are queued: a load is over once the subscribers have it.
    const afterLoad = this.afterLoad
    this.egress = new EgressWriter({ maxSubscriberBytes: delivery.maxSubscriberBufferBytes }, clock, (bytes) =>
      afterLoad.noteSent(bytes),
    )
    this.pushback = new Pushback(delivery)
    this.pushback.watch(this.egress)
  }

  /** Stops what runs on its own timers (the collection after a load). */
  dispose(): void {
    this.afterLoad.dispose()
  }

  /** The caller's connection closed: its explicit-timestamp chain ends (a later one starts afresh). */
  releaseCaller(caller: string): void {
    const chainId = this.callerChains.get(caller)
    if (chainId === undefined) return
    this.callerChains.delete(caller)
    this.client.forgetMessageChain(chainId)
  }

  /**
   * Picks the message's chain (see the class comment) and checks its timestamp.
   *
   * @throws {@link NodeError} `BAD_REQUEST` for a timestamp too far ahead, or an explicit timestamp on the shared chain
   */
  private withChain(options: PublishOptions, caller: string): PublishOptions {
    if (options.timestamp === undefined) {
      return options.msgChainId === undefined ? { ...options, msgChainId: this.sharedChainId } : options
    }
    try {
      checkPublishTimestamp(options.timestamp, this.maxClockSkewMs)
    } catch (err) {
      // As a NodeError, so a batch can name the message (see prefixed); the client's code prefix goes.
      throw new NodeError('BAD_REQUEST', shortMessageOf(err), { cause: err })
    }
    if (options.msgChainId === this.sharedChainId) {
      throw new NodeError(
        'BAD_REQUEST',
        `msgChainId ${this.sharedChainId} is the chain this node shares among API clients for messages without a ` +
          'timestamp; a message with a timestamp goes on a chain of its own: leave out msgChainId or name another',
      )
    }
    if (options.msgChainId !== undefined) return options
    let chainId = this.callerChains.get(caller)
    if (chainId === undefined) {
      chainId = newChainId()
      if (this.callerChains.size >= MAX_CALLER_CHAINS) {
        const [oldest] = this.callerChains.keys()
        this.releaseCaller(oldest!)
      }
    } else {
      this.callerChains.delete(caller)
    }
    this.callerChains.set(caller, chainId)
    return { ...options, msgChainId: chainId }
  }

  /** @throws {@link NodeError} `PAYLOAD_TOO_LARGE` */
  checkSize(bytes: number): void {
    if (bytes > this.maxPayloadBytes) {
      throw new NodeError(
        'PAYLOAD_TOO_LARGE',
        `the message is ${bytes} bytes; this node accepts at most ${this.maxPayloadBytes}`,
      )
    }
  }

  /**
   * @param caller the API client, for its explicit-timestamp chain: `ws:<connection>`, `mqtt:<connection>`,
   *   `http:<address>`; {@link releaseCaller} when a connection closes
   */
  async publish(
    api: ApiName,
    caller: string,
    streamId: string,
    content: unknown,
    sizeBytes: number,
    params: PublishParams = {},
    metadata: PublishMetadata = {},
  ): Promise<PublishedMessage> {
    const { published, stored } = await this.publishPipelined(
      api,
      caller,
      streamId,
      content,
      sizeBytes,
      params,
      metadata,
    )
    await stored
    return published
  }

  /**
   * Publishes a message and returns once it is accepted, with `stored`: a
   * promise that settles when the acknowledgement the request asked for
   * (`params.ack`) is had. A caller that keeps messages in order publishes the
   * next one after this returns, without waiting for storage.
   *
   * @returns `stored` rejects with `ClientError` `NOT_STORED` when the storage receipts didn't come in time
   */
  async publishPipelined(
    api: ApiName,
    caller: string,
    streamId: string,
    content: unknown,
    sizeBytes: number,
    params: PublishParams = {},
    metadata: PublishMetadata = {},
  ): Promise<{ published: PublishedMessage; stored: Promise<void> }> {
    const started = performance.now()
    this.checkSize(sizeBytes)
    const { target, options } = toPublishCall(streamId, content, params, metadata)
    const { published, stored } = await this.send(
      target,
      content,
      this.withAck(this.withChain(options, caller), params),
    )
    this.metrics.published.inc({ api })
    this.metrics.publishedBytes.inc({ api }, sizeBytes)
    this.metrics.publishSeconds.observe({ api }, (performance.now() - started) / 1000)
    return { published, stored }
  }

  private withAck(options: PublishOptions, params: PublishParams): PublishOptions {
    if (params.ack !== 'stored') return options
    return {
      ...options,
      ack: 'stored',
      ackTimeoutMs: params.ackTimeoutMs ?? this.storedAckTimeoutMs,
      ...(params.minStorageNodes !== undefined && { minStorageNodes: params.minStorageNodes }),
    }
  }

  /** Publishes, resolving once the message is accepted; `stored` settles with the stored ack, if one was asked for. */
  private send(
    target: StreamTarget,
    content: unknown,
    options: PublishOptions,
  ): Promise<{ published: PublishedMessage; stored: Promise<void> }> {
    if (options.ack !== 'stored') {
      return this.client.publish(target, content, options).then((published) => ({ published, stored: done }))
    }
    return new Promise((resolve, reject) => {
      const publishing = this.client.publish(target, content, {
        ...options,
        onAccepted: (published) => resolve({ published, stored: publishing.then(() => undefined) }),
      })
      // Before acceptance this rejects the call; after it, the caller hears of it through `stored`.
      publishing.catch(reject)
    })
  }

  /**
   * Publishes messages one after another, in order, after checking every one
   * (size, partition key) so that a bad message refuses the whole batch
   * before anything is sent.
   *
   * @throws {@link BatchPublishError} when a publish fails midway: the ones before it were sent.
   */
  async publishBatch(
    api: ApiName,
    caller: string,
    streamId: string,
    messages: readonly BatchMessage[],
    params: PublishParams = {},
  ): Promise<PublishedMessage[]> {
    const calls = messages.map((message, index) => {
      try {
        this.checkSize(message.sizeBytes)
        const { target, options } = toPublishCall(streamId, message.content, params, message.metadata)
        return { target, options: this.withChain(options, caller) }
      } catch (err) {
        throw prefixed(err, `message ${index + 1}`)
      }
    })
    const published: PublishedMessage[] = []
    const stored: Promise<void>[] = []
    let bytes = 0
    try {
      for (const [index, { target, options }] of calls.entries()) {
        // Per message, as for the other APIs: the histogram is about a message's time to the network, not a request's.
        const started = performance.now()
        const sent = await this.send(target, messages[index]!.content, this.withAck(options, params))
        published.push(sent.published)
        stored.push(sent.stored)
        this.metrics.publishSeconds.observe({ api }, (performance.now() - started) / 1000)
        bytes += messages[index]!.sizeBytes
      }
    } catch (err) {
      // Whatever was accepted before the failure is still being stored; nobody waits for it now.
      for (const pending of stored) pending.catch(() => undefined)
      throw new BatchPublishError(published.length, messages.length, err)
    } finally {
      this.metrics.published.inc({ api }, published.length)
      this.metrics.publishedBytes.inc({ api }, bytes)
    }
    // The whole batch is acknowledged at the level asked for, or not at all.
    const results = await Promise.allSettled(stored)
    const failed = results.filter((result) => result.status === 'rejected')
    if (failed.length > 0) {
      const first = (failed[0] as PromiseRejectedResult).reason as unknown
      if (!(first instanceof ClientError) || first.code !== 'NOT_STORED') throw first
      throw new ClientError(
        'NOT_STORED',
        `${failed.length} of the batch's ${messages.length} messages were not confirmed stored by ` +
          `${params.minStorageNodes ?? 1} storage node(s) within ${params.ackTimeoutMs ?? this.storedAckTimeoutMs} ms; ` +
          'all were published and are offered to storage nodes again, so they may still be stored',
        { cause: first },
      )
    }
    return published
  }

  /**
   * Subscribes to the partitions asked for (all when none are); `onMessage`
   * gets each validated message in order, history first when `params.resend`
   * asks for it. History that fails midway goes to `onResendError` (counted
   * and logged too); live messages go on.
   *
   * @throws {@link NodeError} `STORAGE_UNAVAILABLE` when history is asked for and no storage node stores the stream
   */
  async subscribe(
    api: ApiName,
    streamId: string,
    params: SubscribeParams,
    onMessage: (message: ReceivedMessage) => void,
    onResendError: (error: ApiError) => void = () => {},
  ): Promise<ApiSubscription> {
    const { resend } = params
    if (resend !== undefined) await this.requireStorage(streamId)
    const options =
      resend === undefined
        ? {}
        : { resend, onResendError: (err: Error) => onResendError(this.fail(api, err, { streamId, resend })) }
    // History is old by design: its age would swamp the delay histogram, which is about live delivery.
    const liveFrom = resend === undefined ? 0 : this.clock.now()
    const deliver = (message: ReceivedMessage): void => {
      this.metrics.delivered.inc({ api })
      if (message.timestamp >= liveFrom) {
        this.metrics.deliveryDelaySeconds.observe({ api }, Math.max(0, this.clock.now() - message.timestamp) / 1000)
      }
      onMessage(message)
    }
    const targets =
      params.partitions === undefined ? [streamId] : params.partitions.map((partition) => ({ id: streamId, partition }))
    const subscriptions: Subscription[] = []
    try {
      for (const target of targets) subscriptions.push(await this.client.subscribe(target, deliver, options))
    } catch (err) {
      for (const subscription of subscriptions) subscription.unsubscribe()
      throw err
    }
    this.metrics.subscriptions.inc({ api })
    let active = true
    return {
      unsubscribe: () => {
        if (!active) return
        active = false
        this.metrics.subscriptions.dec({ api })
        for (const subscription of subscriptions) subscription.unsubscribe()
      },
    }
  }

  /** @throws {@link NodeError} `STORAGE_UNAVAILABLE` when no storage node stores the stream (`STREAM_NOT_FOUND` when there is no stream) */
  private async requireStorage(streamId: string): Promise<void> {
    await this.client.getStream(streamId)
    if ((await this.client.getStorageNodes(streamId)).length > 0) return
    throw new NodeError(
      'STORAGE_UNAVAILABLE',
      `no storage node stores ${streamId}, so it has no history to resend: assign one ` +
        '(runnel storage-node add-stream) or subscribe without resendLast/resendFrom',
    )
  }

  /** Counts and logs a refused request; returns what to tell the caller. */
  fail(api: ApiName, err: unknown, context: Record<string, unknown> = {}): ApiError {
    const error = toApiError(err)
    this.metrics.errors.inc({ api, code: error.code })
    if (error.status >= 500) this.logger.error({ api, err, ...context }, 'request failed')
    else this.logger.debug({ api, code: error.code, reason: error.message, ...context }, 'request refused')
    return error
  }
}

/**
 * The collection after a load, logged with its pause and the heap's size before and after (an operator sees the
 * pause). Not the RSS: V8 gives the emptied pages back after the collection returns, not during it.
 */
function loggedCollection(collect: (() => void) | undefined, logger: Logger): (() => void) | undefined {
  if (collect === undefined) return undefined
  const heapMiB = (): number => Math.round(process.memoryUsage().heapTotal / 2 ** 20)
  return () => {
    const heapBeforeMiB = heapMiB()
    const started = performance.now()
    collect()
    const pauseMs = Math.round(performance.now() - started)
    logger.info(
      { pauseMs, heapBeforeMiB, heapAfterMiB: heapMiB() },
      'full garbage collection after a load of deliveries',
    )
  }
}
