import type { ChainStateCache, RunnelIncentives, RunnelMarket, RunnelRegistry } from '@runnel/chain'
import type { NetworkNode } from '@runnel/network'
import {
  signReceipt,
  type MessageType,
  type Receipt,
  type SignedReceipt,
  type StreamMessage,
  type StreamPartId,
} from '@runnel/protocol'
import { resolveAuthAddress } from './auth/resolveAuth.js'
import { ClientError } from './errors.js'
import type { GroupKey } from './encryption/GroupKey.js'
import {
  DEFAULT_MAX_CLOCK_SKEW_MS,
  LOCAL_DEFAULTS,
  type RunnelClientComponents,
  type RunnelClientOptions,
} from './options.js'
import type { PublishLogStats } from './publish/PublishLog.js'
import { wireClient } from './setup/wireClient.js'
import { ClientChainVerbs } from './streams/ClientChainVerbs.js'
import type { HistoryQuery } from './storage/historyRequests.js'
import type { Subscription } from './Subscription.js'
import type {
  ClientEvents,
  PublishOptions,
  PublishedMessage,
  ReceivedMessage,
  StreamTarget,
  SubscribeOptions,
  WaitOptions,
} from './types.js'

export { DEFAULT_MAX_CLOCK_SKEW_MS, LOCAL_DEFAULTS, type RunnelClientComponents, type RunnelClientOptions }

/**
 * The Runnel SDK: streams and permissions on chain, publish and subscribe
 * over the network. The client is a network node itself.
 *
 * A facade: each verb hands over to the piece that does it (the publisher, the subscription registry and
 * its per-subscription pipelines, history, the encryption layer, the chain registry), wired here from the
 * collaborators in `components` and the settings in `options`.
 *
 * @example
 * ```ts
 * const client = new RunnelClient({ auth: { privateKey }, network: { trackers, transport }, chain: { rpcUrl } })
 * const stream = await client.createStream('/sensors', { partitions: 3 })
 * await client.publish(stream.id, { celsius: 21.5 }, { partitionKey: 'greenhouse-1' })
 * const subscription = await client.subscribe(stream.id)
 * for await (const message of subscription) console.log(message.content)
 * ```
 */
export class RunnelClient extends ClientChainVerbs {
  constructor(options: RunnelClientOptions = {}, components: RunnelClientComponents = {}) {
    super(wireClient(options, components))
  }

  /**
   * A client whose `auth.provider` (a browser wallet) is asked for its address first (`eth_requestAccounts`, else
   * `eth_accounts`); the constructor takes such an `auth` only with its `address`. Other options as the constructor.
   *
   * @throws {@link ClientError} `PERMISSION_DENIED` when the wallet's user refuses to connect
   * @example
   * ```ts
   * const client = await RunnelClient.create({ auth: { provider: window.ethereum } })
   * ```
   */
  static async create(
    options: RunnelClientOptions = {},
    components: RunnelClientComponents = {},
  ): Promise<RunnelClient> {
    return new RunnelClient({ ...options, auth: await resolveAuthAddress(options.auth) }, components)
  }

  /** The chain bindings this client uses, for what the client doesn't wrap (storage node registration, raw events). */
  get registry(): RunnelRegistry {
    return this.parts.registry
  }

  /**
   * The token and incentive contracts (sponsorships, operators, delegation, flags and votes), over this client's chain
   * and sending transactions as its key; at `options.chain.incentives` (default: the dev chain's). Amounts are bigint
   * wei (RNL has 18 decimals); refusals are `ChainError`s with codes such as `STAKE_BELOW_MINIMUM` or `NOT_REVIEWER`.
   *
   * @example
   * ```ts
   * const rnl = (amount: string) => parseUnits(amount, 18)
   * const sponsorship = await client.incentives.createSponsorship({ streamId, ratePerSecond: rnl('1') }, rnl('10000'))
   * const operator = await client.incentives.createOperator({ cutBps: 1000 })
   * await client.incentives.delegate(operator, rnl('5000'))
   * await client.incentives.stake(sponsorship.id, rnl('5000'))
   * const { stakes } = await client.incentives.getOperator(operator) // each with its earnings so far
   * ```
   */
  get incentives(): RunnelIncentives {
    return this.parts.incentives()
  }

  /**
   * The marketplace and Data Unions, over this client's chain and sending transactions as its key; at
   * `options.chain.market` (default: the dev chain's). A product sells time-limited subscribe permission on its
   * streams; its revenue goes to an address or to a Data Union, which shares it among its members by weight.
   * Refusals are `ChainError`s such as `TOKEN_NOT_ACCEPTED`, `INVALID_PERIOD` or `INSUFFICIENT_EARNINGS`.
   *
   * @example
   * ```ts
   * const union = await client.market.createDataUnion({ adminFeeBps: 1000 })
   * const product = await client.market.createProduct({ name: 'Weather', streams: [stream.id], beneficiary: union,
   *   prices: [{ token: client.market.token, pricePerSecond: parseUnits('0.001', 18) }] })
   * await buyer.market.buy(product.id, { seconds: 3600 }) // subscribe permission on every stream for an hour
   * ```
   */
  get market(): RunnelMarket {
    return this.parts.market()
  }

  /** The one cache of chain state this client keeps (permissions, stream metadata, storage nodes); a node shares it. */
  get chainState(): ChainStateCache {
    return this.parts.chainState
  }

  /** The network node this client runs (for metrics and neighbours). */
  get networkNode(): NetworkNode {
    return this.parts.node
  }

  /**
   * Keeps this client's (full) node in a stream part to relay its messages, without subscribing: what a node
   * operator's node does for the streams its operator is paid for. Resolves once joined (or alone in the part after
   * a bounded wait); call the returned function to stop relaying. The node leaves the part once no subscription and
   * no other relay holds it (and it never published there).
   *
   * @example
   * ```ts
   * const stopRelaying = await client.relay(toStreamPartId(streamId, 0))
   * // … when no longer assigned:
   * stopRelaying()
   * ```
   */
  async relay(streamPartId: StreamPartId): Promise<() => void> {
    await this.parts.lifecycle.start()
    const { joined, release } = this.parts.joins.joinToRelay(streamPartId)
    let released = false
    const stop = (): void => {
      if (released) return
      released = true
      release()
    }
    await joined
    return stop
  }

  /**
   * Registers a listener for `gap`, `invalidMessage`, `error` or `retentionDrop`; returns a function that removes it.
   *
   * @example
   * ```ts
   * client.on('gap', (gap) => console.warn('missed', gap.from, gap.to))
   * client.once('error', (error) => console.error('first error', error))
   * client.off('gap', listener)
   * ```
   */
  on<K extends keyof ClientEvents>(type: K, listener: ClientEvents[K]): () => void {
    return this.parts.events.on(type, listener)
  }

  /** Like {@link on}, for the next event of `type` only. */
  once<K extends keyof ClientEvents>(type: K, listener: ClientEvents[K]): () => void {
    return this.parts.events.once(type, listener)
  }

  /** Removes a listener added with {@link on} or {@link once}. */
  off<K extends keyof ClientEvents>(type: K, listener: ClientEvents[K]): void {
    this.parts.events.off(type, listener)
  }

  // ---- publish ----

  /**
   * Signs and publishes a message. JSON values are sent as JSON, Uint8Arrays
   * as binary. Fails fast, before anything is sent, without publish permission.
   *
   * `options.timestamp` may be at most `maxClockSkewMs` ahead of this client's clock: subscribers and storage nodes
   * drop messages stamped further ahead, and a chain's timestamps never go back, so one far-future timestamp would
   * carry over to every later message of the chain.
   *
   * @throws {@link ClientError} `PERMISSION_DENIED`, `INVALID_ARGUMENT` (bad partition, a timestamp that isn't
   *   milliseconds since 1970 or is too far ahead), `ABORTED` (`options.signal`); `ChainError` `STREAM_NOT_FOUND`
   */
  publish(target: StreamTarget, content: unknown, options: PublishOptions = {}): Promise<PublishedMessage> {
    return this.parts.publisher.publish(target, content, options)
  }

  /**
   * Signs and broadcasts a control message of this client's own into a stream part: for the protocols nodes speak
   * beside data (a storage node's receipts and catch-up requests). Each gets a chain of its own, so the network never
   * takes two for duplicates.
   *
   * @example
   * ```ts
   * await client.publishControl(streamPartId, MessageType.StorageReceipt, encodeSignedReceipt(receipt))
   * ```
   */
  publishControl(streamPartId: StreamPartId, type: MessageType, content: Uint8Array): Promise<void> {
    return this.parts.publisher.publishControl(streamPartId, type, content)
  }

  /**
   * Checks a message that came some other way than live from the network (a re-offer, another storage node): its
   * signature, its timestamp, and its publisher's permission, as for live messages. False: dropped and reported as
   * an `invalidMessage` event.
   */
  validateMessage(message: StreamMessage): Promise<boolean> {
    return this.parts.validator.validateStored(message)
  }

  /**
   * Signs a receipt as this client: a storage node's statement that it committed a range of a publisher's chain.
   *
   * @example
   * ```ts
   * const signed = await client.signReceipt({ kind: 'stored', streamPartId, publisherId, messageChainId,
   *   from, to, messageCount: messages.length, digest: receiptDigest(signatures), signedAt: Date.now() })
   * ```
   */
  signReceipt(fields: Omit<Receipt, 'signerId'>): Promise<SignedReceipt> {
    return signReceipt(fields, this.parts.signer)
  }

  /** What the publisher side of storage receipts has done: messages kept, receipts taken and refused, re-offers. */
  retentionStats(): PublishLogStats {
    return this.parts.publishLog.stats()
  }

  /**
   * Ends a message chain this client published with `msgChainId` on every stream part: the next publish with that id
   * starts it afresh (no previous ref; subscribers take it as a new chain), and the client stops remembering it. For
   * chains that are done, such as one per API connection in the node daemon.
   *
   * @example
   * ```ts
   * await client.publish(streamId, reading, { msgChainId: 'sensor-7', timestamp: reading.measuredAt })
   * client.forgetMessageChain('sensor-7') // sensor 7 went offline
   * ```
   */
  forgetMessageChain(msgChainId: string): void {
    this.parts.publisher.forgetMessageChain(msgChainId)
  }

  // ---- subscribe ----

  /**
   * Subscribes to one partition, or to all of a stream's partitions. Every
   * message is checked (signature, and the publisher's publish permission at
   * the message's time) and delivered in order per publisher chain; invalid
   * ones are reported through `on('invalidMessage')`, gaps through `on('gap')`.
   * Messages go to `onMessage` when given, else to the subscription's async iterator.
   *
   * With `resend`, `subscription.resendCompleted` settles once the history is through.
   *
   * @throws {@link ClientError} `PERMISSION_DENIED` when this client may not subscribe,
   *   `INVALID_ARGUMENT` for a partition the stream doesn't have, `ABORTED` (`options.signal`);
   *   `ChainError` `STREAM_NOT_FOUND`
   */
  subscribe(
    target: StreamTarget,
    onMessageOrOptions?: ((message: ReceivedMessage) => void) | SubscribeOptions,
    subscribeOptions: SubscribeOptions = {},
  ): Promise<Subscription> {
    const onMessage = typeof onMessageOrOptions === 'function' ? onMessageOrOptions : undefined
    const options = typeof onMessageOrOptions === 'object' ? onMessageOrOptions : subscribeOptions
    return this.parts.subscriptions.subscribe(target, onMessage, options)
  }

  /**
   * Ends subscriptions: the one given; those of a stream (a stream id or path); those that take in a stream part
   * (`{ id, partition }`: a subscription to all of the stream's partitions takes in each, and ends too); or, with no
   * argument, all. A stream part no subscription needs any more is left, unless this client publishes to it.
   *
   * @example
   * ```ts
   * await client.unsubscribe(subscription)
   * await client.unsubscribe(streamId)
   * await client.unsubscribe()
   * ```
   */
  unsubscribe(what?: Subscription | StreamTarget): Promise<void> {
    this.parts.subscriptions.unsubscribe(what)
    return Promise.resolve()
  }

  /** The active subscriptions: all, those of a stream, or those that take in a stream part (as {@link unsubscribe}). */
  getSubscriptions(target?: StreamTarget): Subscription[] {
    return this.parts.subscriptions.list(target)
  }

  // ---- encryption ----

  /**
   * Starts a new group key for a stream this client publishes to.
   * `rotate`: the next message carries the new key, sealed with the current
   * one, so current subscribers keep reading and new ones can't read what
   * came before. `rekey`: the new key goes out only through key exchange, to
   * users permitted now, so revoked users can't read what comes after.
   * `key`: an app's own key instead of a new random one.
   *
   * @example
   * ```ts
   * await client.revokePermissions(streamId, formerMember, 'subscribe')
   * await client.updateEncryptionKey({ streamId, distributionMethod: 'rekey' })
   * ```
   */
  async updateEncryptionKey(options: {
    streamId: string
    distributionMethod: 'rotate' | 'rekey'
    key?: GroupKey
  }): Promise<void> {
    await this.parts.encryption.updateKey(this.toStreamId(options.streamId), options.distributionMethod, options.key)
  }

  /** Adds a key obtained some other way (pre-shared by the app) for messages of `publisherId` (default: this client). */
  async addEncryptionKey(key: GroupKey, publisherId: string = this.address): Promise<void> {
    await this.parts.keyStore.add(publisherId.toLowerCase(), key)
  }

  // ---- history ----

  /**
   * Reads stored messages from the stream's storage nodes: the last N, all
   * from a point, or a range (optionally of one publisher and chain). Each
   * message is validated like a live one. One partition, or every partition
   * in turn. Another storage node takes over if one fails, midway included.
   *
   * @throws {@link ClientError} `STORAGE_UNAVAILABLE` when no storage node stores the stream or none answers,
   *   `INVALID_ARGUMENT` for a malformed query, `ABORTED` (`options.signal`: the request in flight ends)
   * @example
   * ```ts
   * for await (const message of client.resend(streamId, { last: 10 })) console.log(message.content)
   * for await (const message of client.resend({ id: streamId, partition: 0 }, { from: { timestamp: Date.now() - 3_600_000 } })) …
   * ```
   */
  resend(target: StreamTarget, query: HistoryQuery, options: WaitOptions = {}): AsyncGenerator<ReceivedMessage> {
    return this.parts.history.resend(target, query, options)
  }

  /**
   * Resolves once a storage node of the stream has the message (asks every
   * `intervalMs`, default 200).
   *
   * @throws {@link ClientError} `TIMEOUT` after `timeoutMs` (default 30 s), `ABORTED` (`signal`)
   */
  waitForStorage(
    message: PublishedMessage,
    options: { timeoutMs?: number; intervalMs?: number } & WaitOptions = {},
  ): Promise<void> {
    return this.parts.history.waitForStorage(message, options)
  }

  // ---- lifecycle ----

  /**
   * Connects to the network and starts watching the chain now rather than on
   * the first publish or subscribe (daemons do, to fail at start, not later).
   */
  async connect(): Promise<void> {
    await this.parts.lifecycle.start()
  }

  /**
   * Waits until every message published so far has gone to at least one peer: one published before the client's
   * first neighbour connected waits in its node, and is lost if the process exits first. Resolves with how many
   * messages reached no one, 0 once all went out; more after `timeoutMs` (default 5,000), or at once when discovery
   * found no other node in the stream part (no subscriber, no storage node: nobody to send them to). {@link destroy}
   * flushes too; call this to know the count, as a one-shot publisher that exits right after does.
   *
   * @example
   * ```ts
   * await client.publish(streamId, { celsius: 21.5 })
   * const unsent = await client.flush({ timeoutMs: 10_000 })
   * if (unsent > 0) console.warn(`${unsent} message(s) reached no subscriber or storage node`)
   * await client.destroy()
   * ```
   */
  async flush(options: { readonly timeoutMs?: number } & WaitOptions = {}): Promise<number> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_FLUSH_TIMEOUT_MS
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0) {
      throw new ClientError('INVALID_ARGUMENT', `timeoutMs must be whole milliseconds ≥ 0, got ${String(timeoutMs)}`)
    }
    const done = new AbortController()
    const timer = this.parts.clock.setTimeout(() => done.abort(), timeoutMs, { unref: true })
    const signal = options.signal === undefined ? done.signal : AbortSignal.any([done.signal, options.signal])
    try {
      return await this.parts.joins.flushPublished(signal)
    } finally {
      timer.cancel()
    }
  }

  /**
   * Ends every subscription, waits (up to 5 s, see {@link flush}) for what was published to reach a peer, leaves the
   * network and stops watching the chain.
   */
  async destroy(): Promise<void> {
    if (!this.parts.lifecycle.destroy()) return
    this.parts.subscriptions.unsubscribeAll()
    // Keys being put in custody are what history will be read with once this publisher is gone.
    await Promise.all([this.parts.custody.close(), this.flush()])
    this.parts.chainState.stop()
    this.parts.publishLog.stop()
    await this.parts.node.stop()
  }
}

/** How long {@link RunnelClient.flush} (and `destroy`) waits for published messages to reach a peer. */
const DEFAULT_FLUSH_TIMEOUT_MS = 5_000
