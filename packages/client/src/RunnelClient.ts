import {
  ChainError,
  PUBLIC,
  ChainStateCache,
  RunnelRegistry,
  type PermissionName,
  type Permissions,
  type StorageNodeInfo,
  type Stream as StreamRecord,
  type StreamMetadata,
  type StreamQuery,
} from '@runnel/chain'
import { NetworkNode, WebSocketClientTransport, type Transport } from '@runnel/network'
import {
  ContentType,
  EncryptionType,
  MessageId,
  MessageType,
  StreamMessage,
  createPureSigner,
  encodeJsonContent,
  generatePrivateKey,
  parsePartition,
  parseStreamId,
  partitionFromKey,
  pureSignatureVerifier,
  signReceipt,
  signStreamMessage,
  splitStreamPartId,
  toStreamPartId,
  verifyStreamMessage,
  type Receipt,
  type SignedReceipt,
  type MessageSigner,
  type SignatureVerifier,
  type StreamId,
  type StreamPartId,
} from '@runnel/protocol'
import {
  createPublicClient,
  createWalletClient,
  custom,
  http,
  type Address,
  type EIP1193Provider,
  type PublicClient,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { ClientError } from './errors.js'
import { ChainQueues } from './subscribe/ChainQueues.js'
import { UndecryptableRuns, chainOf } from './subscribe/UndecryptableRuns.js'
import { OrderingBuffer } from './ordering/OrderingBuffer.js'
import { MessageChains } from './publish/MessageChains.js'
import { PublishLog, type PublishLogEntry, type PublishLogStats } from './publish/PublishLog.js'
import { checkPublishTimestamp } from './publish/timestamps.js'
import { Stream } from './Stream.js'
import { EncryptionLayer } from './encryption/EncryptionLayer.js'
import { KeyCustody } from './encryption/custody/KeyCustody.js'
import type { GroupKey } from './encryption/GroupKey.js'
import { MemoryKeyStore, type GroupKeyStore } from './encryption/KeyStore.js'
import { GapFiller } from './storage/GapFiller.js'
import { checkHistoryQuery, type HistoryQuery } from './storage/historyRequests.js'
import { Resender } from './storage/Resender.js'
import {
  assignStorageNode,
  toPermissionAssignments,
  toStreamUsers,
  type AddToStorageNodeOptions,
  type PermissionBatchEntry,
  type StreamUser,
} from './streams/chainVerbs.js'
import { randomChainId, rememberOriginal, toPublished, toReceived } from './messages.js'
import {
  DEFAULT_MAX_CLOCK_SKEW_MS,
  LOCAL_DEFAULTS,
  type RunnelClientComponents,
  type RunnelClientOptions,
} from './options.js'
import { Subscription } from './Subscription.js'
import {
  DEFAULT_ACK_TIMEOUT_MS,
  type ClientEvents,
  type PublishOptions,
  type PublishedMessage,
  type ReceivedMessage,
  type StreamTarget,
  type SubscribeOptions,
} from './types.js'

export { DEFAULT_MAX_CLOCK_SKEW_MS, LOCAL_DEFAULTS, type RunnelClientComponents, type RunnelClientOptions }

type Listeners = { [K in keyof ClientEvents]: Set<ClientEvents[K]> }

/**
 * A message on its way through a subscription: live (not validated yet; `held` if it waited for history), read from
 * history, or filling a gap.
 */
interface Arrival {
  readonly message: StreamMessage
  readonly arrival: 'live' | 'held' | 'history' | 'fill'
}

/**
 * The Runnel SDK: streams and permissions on chain, publish and subscribe
 * over the network. The client is a network node itself.
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
export class RunnelClient {
  readonly address: Address
  private readonly signer: MessageSigner
  private readonly node: NetworkNode
  private readonly chainRegistry: RunnelRegistry
  private readonly stateCache: ChainStateCache
  private readonly chains = new MessageChains()
  private readonly maxClockSkewMs: number
  private readonly defaultChainIds = new Map<string, string>()
  private readonly subscriptions = new Set<Subscription>()
  private readonly joins = new Map<StreamPartId, Promise<void>>()
  /** Subscriptions per stream part, and stream parts published to: a node leaves a part neither needs. */
  private readonly subscriberCounts = new Map<StreamPartId, number>()
  private readonly publishedTo = new Set<StreamPartId>()
  private readonly listeners: Listeners = {
    gap: new Set(),
    invalidMessage: new Set(),
    error: new Set(),
    retentionDrop: new Set(),
  }
  private readonly verifier: SignatureVerifier
  private readonly resender: Resender
  private readonly gapFiller: GapFiller
  private readonly keyStore: GroupKeyStore
  private readonly encryption: EncryptionLayer
  private readonly custody: KeyCustody
  private readonly publishLog: PublishLog
  private started: Promise<void> | undefined
  private destroyed = false

  constructor(
    private readonly options: RunnelClientOptions = {},
    components: RunnelClientComponents = {},
  ) {
    const privateKey = options.auth?.privateKey ?? generatePrivateKey()
    this.maxClockSkewMs = options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS
    if (!Number.isSafeInteger(this.maxClockSkewMs) || this.maxClockSkewMs < 0) {
      throw new ClientError(
        'INVALID_ARGUMENT',
        `maxClockSkewMs must be whole milliseconds ≥ 0, got ${this.maxClockSkewMs}`,
      )
    }
    this.signer = components.signer ?? createPureSigner(privateKey)
    this.address = privateKeyToAccount(privateKey as `0x${string}`).address
    if (components.signer !== undefined && components.signer.address !== this.address.toLowerCase()) {
      throw new ClientError(
        'INVALID_ARGUMENT',
        `the signer's address ${components.signer.address} isn't that of auth.privateKey`,
      )
    }
    const chain = options.chain ?? {}
    const transport =
      chain.provider !== undefined
        ? custom(chain.provider as EIP1193Provider)
        : http(chain.rpcUrl ?? LOCAL_DEFAULTS.rpcUrl)
    const publicClient = createPublicClient({ transport, pollingInterval: 250 }) as PublicClient
    const walletClient = createWalletClient({ transport, account: privateKeyToAccount(privateKey as `0x${string}`) })
    this.chainRegistry = new RunnelRegistry(
      { publicClient, walletClient, addresses: chain.contracts ?? LOCAL_DEFAULTS.contracts },
      { fromBlock: chain.fromBlock ?? 0n },
    )
    this.stateCache = new ChainStateCache(this.chainRegistry, { ttlMs: options.permissionCacheTtlMs ?? 30_000 })
    this.verifier = components.verifier ?? pureSignatureVerifier
    this.resender = new Resender({
      storageNodeUrls: (streamId) => this.stateCache.storageNodeUrls(streamId),
      validate: (message) => this.validateStored(message),
    })
    this.keyStore = components.keyStore ?? new MemoryKeyStore()
    this.custody = new KeyCustody(
      {
        address: this.address.toLowerCase(),
        signer: this.signer,
        verifier: this.verifier,
        registry: this.chainRegistry,
        keyStore: this.keyStore,
        onError: (err) => this.emit('error', err),
      },
      options.encryption?.custody,
    )
    this.encryption = new EncryptionLayer(
      {
        address: this.address.toLowerCase(),
        signer: this.signer,
        node: {
          broadcast: (message) => this.node.broadcast(message),
          addMessageListener: (id, l) => this.node.addMessageListener(id, l),
        },
        keyStore: this.keyStore,
        join: (streamPartId) => this.start().then(() => this.joinOnce(streamPartId)),
        // Straight from the chain, not the cache: a revoke must bite at the next rekey, and requests are rare.
        maySubscribe: (streamId, user) => this.chainRegistry.hasPermission(streamId, user as Address, 'subscribe'),
        recoverFromCustody: (streamPartId, publisherId, keyId) =>
          this.custody.recover(streamPartId, publisherId, keyId),
      },
      options.encryption,
    )
    this.publishLog = new PublishLog(
      {
        address: this.address.toLowerCase(),
        verifier: this.verifier,
        storageNodes: (streamId, fresh) => this.stateCache.storageNodes(streamId, fresh),
        knownStorageNodes: (streamId) => this.stateCache.knownStorageNodes(streamId),
        send: (streamPartId, type, content) => this.publishControl(streamPartId, type, content),
        addMessageListener: (streamPartId, listener) => this.node.addMessageListener(streamPartId, listener),
        onDrop: (event) => this.emit('retentionDrop', event),
      },
      options.retention,
    )
    this.gapFiller = new GapFiller(this.resender, {
      delayMs: options.gapFillDelayMs ?? 500,
      attempts: options.gapFillAttempts ?? 3,
      onError: (err) => this.emit('error', err),
    })
    const { transport: networkTransport, trackers, ...networkOptions } = options.network ?? {}
    this.node = new NetworkNode(
      {
        transport: networkTransport ?? defaultTransport(),
        signer: this.signer,
        verifier: this.verifier,
      },
      {
        // Without a transport of its own the client can only dial out (browsers): a light node then.
        kind: networkTransport === undefined ? 'light' : 'full',
        ...networkOptions,
        trackers: trackers ?? LOCAL_DEFAULTS.trackers,
      },
    )
  }

  /** The chain bindings this client uses, for what the client doesn't wrap (storage node registration, raw events). */
  get registry(): RunnelRegistry {
    return this.chainRegistry
  }

  /** The one cache of chain state this client keeps (permissions, stream metadata, storage nodes); a node shares it. */
  get chainState(): ChainStateCache {
    return this.stateCache
  }

  /** The network node this client runs (for metrics and neighbours). */
  get networkNode(): NetworkNode {
    return this.node
  }

  /** Registers a listener for `gap`, `invalidMessage` or `error`; returns a function that removes it. */
  on<K extends keyof ClientEvents>(type: K, listener: ClientEvents[K]): () => void {
    const set = this.listeners[type] as Set<ClientEvents[K]>
    set.add(listener)
    return () => set.delete(listener)
  }

  // ---- streams ----

  /** Creates `<your address>/<path>`; an id of your own works too. */
  async createStream(pathOrId: string, metadata: StreamMetadata = {}): Promise<Stream> {
    this.assertAlive()
    return this.wrap(await this.chainRegistry.createStream(pathOrId, metadata))
  }

  /** @throws ChainError `STREAM_NOT_FOUND` */
  async getStream(streamIdOrPath: string): Promise<Stream> {
    return this.wrap(await this.chainRegistry.getStream(this.toStreamId(streamIdOrPath)))
  }

  async getOrCreateStream(pathOrId: string, metadata: StreamMetadata = {}): Promise<Stream> {
    const streamId = this.toStreamId(pathOrId)
    try {
      return this.wrap(await this.chainRegistry.getStream(streamId))
    } catch (err) {
      if (err instanceof ChainError && err.code === 'STREAM_NOT_FOUND') return this.createStream(streamId, metadata)
      throw err
    }
  }

  async updateStream(streamId: string, metadata: StreamMetadata): Promise<Stream> {
    this.stateCache.forgetStream(this.toStreamId(streamId))
    return this.wrap(await this.chainRegistry.updateStream(this.toStreamId(streamId), metadata))
  }

  async deleteStream(streamId: string): Promise<void> {
    return this.chainRegistry.deleteStream(this.toStreamId(streamId))
  }

  async searchStreams(filter: Parameters<RunnelRegistry['searchStreams']>[0] = {}): Promise<Stream[]> {
    return (await this.chainRegistry.searchStreams(filter)).map((record) => this.wrap(record))
  }

  /**
   * One page of a stream search, ordered by id or by creation (see `RunnelRegistry.queryStreams`).
   *
   * @example
   * ```ts
   * const { streams, nextCursor } = await client.queryStreams({ term: '/sensors', orderBy: 'created', pageSize: 50 })
   * ```
   */
  async queryStreams(query: StreamQuery = {}): Promise<{ streams: Stream[]; nextCursor?: string }> {
    const page = await this.chainRegistry.queryStreams(query)
    return { ...page, streams: page.streams.map((record) => this.wrap(record)) }
  }

  // ---- permissions ----

  /** Grants `permissions` to `user`, or to everyone with `'public'` (publish and subscribe only). */
  async grantPermissions(streamId: string, user: Address | 'public', ...permissions: PermissionName[]): Promise<void> {
    for (const permission of permissions) {
      await this.chainRegistry.grantPermission(this.toStreamId(streamId), user === 'public' ? PUBLIC : user, permission)
    }
  }

  async revokePermissions(streamId: string, user: Address | 'public', ...permissions: PermissionName[]): Promise<void> {
    for (const permission of permissions) {
      await this.chainRegistry.revokePermission(
        this.toStreamId(streamId),
        user === 'public' ? PUBLIC : user,
        permission,
      )
    }
  }

  async setPermissions(streamId: string, user: Address | 'public', permissions: Permissions): Promise<void> {
    return this.chainRegistry.setPermissions(this.toStreamId(streamId), user === 'public' ? PUBLIC : user, permissions)
  }

  /** Whether `user` (default: this client) holds `permission` now, directly or publicly. */
  async hasPermission(streamId: string, permission: PermissionName, user: Address = this.address): Promise<boolean> {
    return this.chainRegistry.hasPermission(this.toStreamId(streamId), user, permission)
  }

  async getPermissions(streamId: string): Promise<Map<Address, Permissions>> {
    return this.chainRegistry.getPermissions(this.toStreamId(streamId))
  }

  /**
   * Who may publish to the stream now: addresses, and `'public'` when anyone may.
   *
   * @example
   * ```ts
   * if ((await client.getStreamPublishers(streamId)).includes('public')) console.log('anyone may publish')
   * ```
   */
  async getStreamPublishers(streamId: string): Promise<StreamUser[]> {
    return toStreamUsers(await this.chainRegistry.getStreamPublishers(this.toStreamId(streamId)))
  }

  /** Who may subscribe to the stream now: addresses, and `'public'` when anyone may. */
  async getStreamSubscribers(streamId: string): Promise<StreamUser[]> {
    return toStreamUsers(await this.chainRegistry.getStreamSubscribers(this.toStreamId(streamId)))
  }

  /**
   * Sets the permissions of many users on many streams in one transaction (at most 100 entries): all apply, or none.
   *
   * @example
   * ```ts
   * await client.setPermissionsBatch([
   *   { streamId: '/sensors', user: alice, permissions: ['publish', 'subscribe'] },
   *   { streamId: '/sensors', user: 'public', permissions: ['subscribe'] },
   * ])
   * ```
   */
  async setPermissionsBatch(entries: readonly PermissionBatchEntry[]): Promise<void> {
    return this.chainRegistry.setPermissionsBatch(toPermissionAssignments(entries, (id) => this.toStreamId(id)))
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
   *   milliseconds since 1970 or is too far ahead); `ChainError` `STREAM_NOT_FOUND`
   */
  async publish(target: StreamTarget, content: unknown, options: PublishOptions = {}): Promise<PublishedMessage> {
    const timestamp = checkPublishTimestamp(options.timestamp, this.maxClockSkewMs)
    await this.start()
    const streamId = this.toStreamId(typeof target === 'string' ? target : target.id)
    const partition = await this.choosePartition(
      streamId,
      typeof target === 'string' ? undefined : target.partition,
      options.partitionKey,
    )
    if (!(await this.stateCache.hasPermission(streamId, this.address, 'publish'))) {
      throw new ClientError('PERMISSION_DENIED', `${this.address.toLowerCase()} may not publish to ${streamId}`)
    }
    const streamPartId = toStreamPartId(streamId as StreamId, partition)
    const minStorageNodes = options.ack === 'stored' ? await this.checkStoredAck(streamId, options) : 0
    const msgChainId = options.msgChainId ?? this.defaultChainId(streamPartId)
    // Encode (and seal) before claiming a place in the chain: bad content must not leave a hole subscribers report as a gap.
    const binary = content instanceof Uint8Array
    const encoded = binary ? content : encodeJsonContent(content)
    const encrypt = options.encrypt ?? !(await this.isPublic(streamId))
    const sealed = encrypt ? await this.encryption.seal(streamPartId, encoded) : undefined
    // Each key put to use goes into custody (once; in the background): the one sealing this message, and the next.
    for (const keyId of [sealed?.groupKeyId, sealed?.newGroupKey?.id]) if (keyId) this.custody.deposit(streamId, keyId)
    const { ref, previous } = this.chains.next(msgChainId, streamPartId, timestamp)
    let message: StreamMessage
    let entry: PublishLogEntry | undefined
    try {
      message = await signStreamMessage(
        {
          messageId: new MessageId(
            streamId,
            partition,
            ref.timestamp,
            ref.sequenceNumber,
            this.signer.address,
            msgChainId,
          ),
          prevMsgRef: previous,
          contentType: binary ? ContentType.Binary : ContentType.Json,
          content: sealed?.content ?? encoded,
          ...(sealed !== undefined && {
            encryptionType: EncryptionType.Aes,
            groupKeyId: sealed.groupKeyId,
            newGroupKey: sealed.newGroupKey,
          }),
        },
        this.signer,
      )
      await this.joinOnce(streamPartId)
      this.publishedTo.add(streamPartId)
      // Kept before it is sent: a receipt can't come before the message it covers is known.
      entry = this.publishLog.add(message)
      this.node.broadcast(message)
    } catch (err) {
      this.chains.rollback(msgChainId, streamPartId, ref, previous)
      throw err
    }
    const published = toPublished(message)
    options.onAccepted?.(published)
    if (minStorageNodes === 0) return published
    if (entry === undefined)
      throw new ClientError('DESTROYED', 'the client was destroyed before the message was stored')
    const timeoutMs = options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS
    await this.publishLog.waitStored(
      entry,
      minStorageNodes,
      timeoutMs,
      () => `${streamPartId} message ${message.timestamp}:${message.sequenceNumber}`,
    )
    return published
  }

  /** Checks, before anything is sent, that a `stored` ack can be had: returns how many storage nodes must confirm. */
  private async checkStoredAck(streamId: string, options: PublishOptions): Promise<number> {
    const wanted = options.minStorageNodes ?? 1
    if (!Number.isSafeInteger(wanted) || wanted < 1) {
      throw new ClientError('INVALID_ARGUMENT', `minStorageNodes must be a whole number ≥ 1, got ${String(wanted)}`)
    }
    const timeoutMs = options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
      throw new ClientError('INVALID_ARGUMENT', `ackTimeoutMs must be whole milliseconds ≥ 1, got ${String(timeoutMs)}`)
    }
    const nodes = await this.stateCache.storageNodes(streamId)
    if (nodes.length === 0) {
      throw new ClientError(
        'STORAGE_UNAVAILABLE',
        `ack 'stored' needs a storage node, and no storage node stores ${streamId}: assign one first`,
      )
    }
    if (nodes.length < wanted) {
      throw new ClientError(
        'INVALID_ARGUMENT',
        `ack 'stored' by ${wanted} storage nodes asked for, but ${streamId} has ${nodes.length}`,
      )
    }
    return wanted
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
  async publishControl(streamPartId: StreamPartId, type: MessageType, content: Uint8Array): Promise<void> {
    if (type === MessageType.Data) throw new ClientError('INVALID_ARGUMENT', 'data goes through publish()')
    await this.start()
    const { streamId, partition } = splitStreamPartId(streamPartId)
    const message = await signStreamMessage(
      {
        messageId: new MessageId(streamId, partition, Date.now(), 0, this.signer.address, randomChainId()),
        messageType: type,
        contentType: ContentType.Binary,
        content,
      },
      this.signer,
    )
    await this.joinOnce(streamPartId)
    this.node.broadcast(message)
  }

  /**
   * Checks a message that came some other way than live from the network (a re-offer, another storage node): its
   * signature, its timestamp, and its publisher's permission, as for live messages. False: dropped and reported as
   * an `invalidMessage` event.
   */
  validateMessage(message: StreamMessage): Promise<boolean> {
    return this.validateStored(message)
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
    return signReceipt(fields, this.signer)
  }

  /** What the publisher side of storage receipts has done: messages kept, receipts taken and refused, re-offers. */
  retentionStats(): PublishLogStats {
    return this.publishLog.stats()
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
    this.chains.forget(msgChainId)
    this.publishLog.endChain(msgChainId)
  }

  // ---- subscribe ----

  /**
   * Subscribes to one partition, or to all of a stream's partitions. Every
   * message is checked (signature, and the publisher's publish permission at
   * the message's time) and delivered in order per publisher chain; invalid
   * ones are reported through `on('invalidMessage')`, gaps through `on('gap')`.
   * Messages go to `onMessage` when given, else to the subscription's async iterator.
   *
   * @throws {@link ClientError} `PERMISSION_DENIED` when this client may not subscribe,
   *   `INVALID_ARGUMENT` for a partition the stream doesn't have; `ChainError` `STREAM_NOT_FOUND`
   */
  async subscribe(
    target: StreamTarget,
    onMessageOrOptions?: ((message: ReceivedMessage) => void) | SubscribeOptions,
    subscribeOptions: SubscribeOptions = {},
  ): Promise<Subscription> {
    const onMessage = typeof onMessageOrOptions === 'function' ? onMessageOrOptions : undefined
    const options = typeof onMessageOrOptions === 'object' ? onMessageOrOptions : subscribeOptions
    if (options.resend !== undefined) checkHistoryQuery(options.resend)
    await this.start()
    const streamId = this.toStreamId(typeof target === 'string' ? target : target.id)
    const requested = typeof target === 'string' ? undefined : target.partition
    const count = await this.partitionCount(streamId)
    const partitions =
      requested !== undefined
        ? [this.checkPartition(streamId, requested, count)]
        : Array.from({ length: count }, (_, i) => i)
    if (
      options.checkPermission !== false &&
      !(await this.stateCache.hasPermission(streamId, this.address, 'subscribe'))
    ) {
      throw new ClientError('PERMISSION_DENIED', `${this.address.toLowerCase()} may not subscribe to ${streamId}`)
    }
    const subscription = new Subscription(streamId, partitions, this.options.subscriptionBufferSize ?? 10_000)
    // Messages whose key couldn't be obtained still take their place in their chain (no gap to wait for or fill),
    // but reach the app only if it asked for them undecrypted.
    const undecryptable = new WeakSet<StreamMessage>()
    const deliver = (message: StreamMessage): void => {
      if (undecryptable.has(message) && options.deliverUndecryptable !== true) return
      const received = toReceived(message)
      // A callback consumes the messages: buffering them for an iterator nobody reads would only hold memory.
      if (onMessage === undefined) subscription.push(received)
      else this.safely(() => onMessage(received))
    }
    const ordering = new OrderingBuffer(
      {
        onMessage: deliver,
        onGap: (gap) =>
          this.emit('gap', {
            streamPartId: gap.streamPartId,
            publisherId: gap.publisherId,
            msgChainId: gap.messageChainId,
            from: gap.from?.toString(),
            to: gap.to.toString(),
          }),
        onMissing: (gap) =>
          this.gapFiller.fill(gap, ordering, {
            isActive: () => subscription.isActive,
            // Filled messages take their chain's queue like any other (decrypted in order, failures reported per key).
            open: (message) => {
              queues.push({ message, arrival: 'fill' })
              return Promise.resolve(undefined)
            },
          }),
      },
      { gapTimeoutMs: this.options.gapTimeoutMs ?? 5_000 },
    )
    let readingHistory = options.resend !== undefined
    const runs = new UndecryptableRuns((error) => this.emit('error', error), {
      quietMs: this.options.encryption?.failedKeyMemoryMs,
    })
    // Each publisher chain is validated and decrypted on its own: a chain waiting for a key nobody answers for holds
    // up only itself, never live messages of other chains.
    const queues = new ChainQueues<Arrival>(
      {
        chainOf: ({ message }) => chainOf(message),
        process: async ({ message, arrival }) => {
          // A copy of what the chain already has (history and live overlap; nodes replay recent messages to one that
          // joins) is dropped before any work, so it can't be reported a second time either.
          if (!subscription.isActive || ordering.isSettled(message)) return
          const live = arrival === 'live' || arrival === 'held'
          if (live && !(await this.validate(message, message.streamPartId))) return
          const chain = chainOf(message)
          let opened: StreamMessage = message
          if (options.raw !== true) {
            const decrypted = await this.openReporting(message, chain, runs)
            if (decrypted === undefined) undecryptable.add(message)
            else opened = decrypted
          }
          if (!subscription.isActive) return
          if (arrival === 'live' && options.ordered === false) deliver(opened)
          else ordering.add(opened, arrival === 'history')
        },
        // While history is read, a chain may go idle between pages: its run ends when the history does.
        onIdle: (chain) => {
          if (!readingHistory) runs.settle(chain)
        },
      },
      { maxQueuedPerChain: this.options.subscriptionBufferSize ?? 10_000 },
    )
    // While history is fetched, live messages wait (unvalidated, at most subscriptionBufferSize of them), then queue
    // behind it in their chains; the ordering buffer drops what both deliver. They wait for the fetch, not for its
    // decryption: a chain whose key is slow to come holds up only itself.
    let heldLive: StreamMessage[] | undefined = options.resend === undefined ? undefined : []
    const maxHeldLive = this.options.subscriptionBufferSize ?? 10_000
    const joins: Promise<void>[] = []
    for (const partition of partitions) {
      const streamPartId = toStreamPartId(streamId as StreamId, partition)
      const remove = this.node.addMessageListener(streamPartId, (message) => {
        // Key requests and responses travel in the stream part too; the encryption layer takes those.
        if (message.messageType !== MessageType.Data || !subscription.isActive) return
        // Past a bound a live message is dropped: its chain then sees a gap, filled from storage where it can be.
        if (heldLive === undefined) {
          if (!queues.push({ message, arrival: 'live' })) subscription.countDropped()
        } else if (heldLive.length < maxHeldLive) heldLive.push(message)
        else subscription.countDropped()
      })
      subscription.onUnsubscribe(remove)
      this.subscriberCounts.set(streamPartId, (this.subscriberCounts.get(streamPartId) ?? 0) + 1)
      subscription.onUnsubscribe(() => this.releaseStreamPart(streamPartId))
      joins.push(this.joinOnce(streamPartId))
    }
    await Promise.all(joins)
    subscription.onUnsubscribe(() => {
      queues.clear()
      runs.clear()
      ordering.clear()
      this.subscriptions.delete(subscription)
    })
    this.subscriptions.add(subscription)
    if (options.resend !== undefined) {
      const history = options.resend
      // History streams in after subscribe() returns; then the live messages held meanwhile follow.
      void (async () => {
        try {
          for (const partition of partitions) {
            for await (const message of this.resender.resend(streamId, partition, history)) {
              if (!subscription.isActive) return
              const item: Arrival = { message, arrival: 'history' }
              // Only a chain with a full queue makes the history wait (memory stays bounded).
              await queues.whenRoom(item)
              queues.push(item)
            }
          }
        } catch (err) {
          const error = err instanceof Error ? err : new Error(String(err))
          if (options.onResendError === undefined) this.emit('error', error)
          else options.onResendError(error)
        } finally {
          const live = heldLive ?? []
          heldLive = undefined
          readingHistory = false
          for (const message of live) {
            if (subscription.isActive && !queues.push({ message, arrival: 'held' })) subscription.countDropped()
          }
          runs.settleWhere((chain) => queues.isIdle(chain))
        }
      })()
    }
    return subscription
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
    await this.encryption.updateKey(this.toStreamId(options.streamId), options.distributionMethod, options.key)
  }

  /** Adds a key obtained some other way (pre-shared by the app) for messages of `publisherId` (default: this client). */
  async addEncryptionKey(key: GroupKey, publisherId: string = this.address): Promise<void> {
    await this.keyStore.add(publisherId.toLowerCase(), key)
  }

  /** Whether anyone may subscribe: such streams are published in the clear unless `encrypt` says otherwise. */
  private isPublic(streamId: string): Promise<boolean> {
    return this.stateCache.hasPermission(streamId, PUBLIC, 'subscribe')
  }

  /**
   * A message ready for the app: decrypted if it was encrypted (the key from the store, or obtained through the
   * encryption layer's key sources). Throws rather than hand garbage content to the app.
   * @throws {@link ClientError} `KEY_UNAVAILABLE`, `DECRYPTION_FAILED`
   */
  private async decrypt(message: StreamMessage): Promise<StreamMessage> {
    if (message.encryptionType !== EncryptionType.Aes) return message
    const opened = new StreamMessage({
      messageId: message.messageId,
      prevMsgRef: message.prevMsgRef,
      messageType: message.messageType,
      contentType: message.contentType,
      content: await this.encryption.open(message),
      signature: message.signature,
    })
    rememberOriginal(opened, message)
    return opened
  }

  // ---- history ----

  /**
   * Reads stored messages from the stream's storage nodes: the last N, all
   * from a point, or a range (optionally of one publisher and chain). Each
   * message is validated like a live one. One partition, or every partition
   * in turn. Another storage node takes over if one fails, midway included.
   *
   * @throws {@link ClientError} `STORAGE_UNAVAILABLE` when no storage node stores the stream or none answers,
   *   `INVALID_ARGUMENT` for a malformed query
   * @example
   * ```ts
   * for await (const message of client.resend(streamId, { last: 10 })) console.log(message.content)
   * for await (const message of client.resend({ id: streamId, partition: 0 }, { from: { timestamp: Date.now() - 3_600_000 } })) …
   * ```
   */
  async *resend(target: StreamTarget, query: HistoryQuery): AsyncGenerator<ReceivedMessage> {
    checkHistoryQuery(query)
    const streamId = this.toStreamId(typeof target === 'string' ? target : target.id)
    const count = await this.partitionCount(streamId)
    const requested = typeof target === 'string' ? undefined : target.partition
    const partitions =
      requested !== undefined
        ? [this.checkPartition(streamId, requested, count)]
        : Array.from({ length: count }, (_, i) => i)
    // A key that can't be obtained is reported once for the messages it keeps back, not once per message.
    const runs = new UndecryptableRuns((error) => this.emit('error', error))
    try {
      for (const partition of partitions) {
        for await (const message of this.resender.resend(streamId, partition, query)) {
          const chain = chainOf(message)
          const opened = await this.openReporting(message, chain, runs)
          if (opened !== undefined) yield toReceived(opened)
        }
      }
    } finally {
      runs.flushAll()
    }
  }

  /**
   * Decrypts a message of a chain; a key that can't be had is reported once per run of the chain's messages under
   * it (see {@link UndecryptableRuns}), any other failure as an `error` event. Undefined when it can't be opened.
   */
  private async openReporting(
    message: StreamMessage,
    chain: string,
    runs: UndecryptableRuns,
  ): Promise<StreamMessage | undefined> {
    runs.next(chain, message)
    try {
      const opened = await this.decrypt(message)
      runs.flush(chain)
      return opened
    } catch (err) {
      if (err instanceof ClientError && err.code === 'KEY_UNAVAILABLE') runs.failed(chain, message, err)
      else {
        runs.flush(chain)
        this.emit('error', err instanceof Error ? err : new Error(String(err)))
      }
      return undefined
    }
  }

  /** The addresses of the storage nodes that store a stream. */
  async getStorageNodes(streamId: string): Promise<Address[]> {
    return this.chainRegistry.getStorageNodes(this.toStreamId(streamId))
  }

  /** Every registered storage node and the metadata it registered (e.g. `{ http }`). */
  async getAllStorageNodes(): Promise<StorageNodeInfo[]> {
    return this.chainRegistry.getAllStorageNodes()
  }

  /**
   * Assigns a stream to a storage node, which then stores everything published to it (needs edit permission). With
   * `wait`, resolves only once the node serves the stream.
   *
   * @example
   * ```ts
   * await client.addStreamToStorageNode(streamId, node, { wait: true, timeoutMs: 30_000 })
   * ```
   * @throws {@link ClientError} `TIMEOUT` (assigned, but not served in time), `STORAGE_UNAVAILABLE` (no URL registered)
   */
  async addStreamToStorageNode(streamId: string, node: Address, options: AddToStorageNodeOptions = {}): Promise<void> {
    return assignStorageNode(this.chainRegistry, this.stateCache, this.toStreamId(streamId), node, options)
  }

  async removeStreamFromStorageNode(streamId: string, node: Address): Promise<void> {
    const id = this.toStreamId(streamId)
    await this.chainRegistry.removeStorageNode(id, node)
    this.stateCache.forgetStream(id)
  }

  /**
   * Resolves once a storage node of the stream has the message (asks every
   * `intervalMs`, default 200).
   *
   * @throws {@link ClientError} `TIMEOUT` after `timeoutMs` (default 30 s)
   */
  async waitForStorage(
    message: PublishedMessage,
    options: { timeoutMs?: number; intervalMs?: number } = {},
  ): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000)
    const ref = { timestamp: message.timestamp, sequenceNumber: message.sequenceNumber }
    const query = { from: ref, to: ref, publisherId: message.publisherId, msgChainId: message.msgChainId }
    let lastError: unknown
    for (;;) {
      try {
        for await (const stored of this.resender.resend(message.streamId, message.partition, query)) {
          if (stored.sequenceNumber === message.sequenceNumber && stored.timestamp === message.timestamp) return
        }
      } catch (err) {
        lastError = err
      }
      if (Date.now() >= deadline) {
        throw new ClientError(
          'TIMEOUT',
          `no storage node had ${message.streamId}/${message.partition} ${message.timestamp}:${message.sequenceNumber} after ${options.timeoutMs ?? 30_000} ms`,
          { cause: lastError },
        )
      }
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 200))
    }
  }

  /**
   * Connects to the network and starts watching the chain now rather than on
   * the first publish or subscribe (daemons do, to fail at start, not later).
   */
  async connect(): Promise<void> {
    await this.start()
  }

  /** Ends every subscription, leaves the network and stops watching the chain. */
  async destroy(): Promise<void> {
    if (this.destroyed) return
    this.destroyed = true
    for (const subscription of [...this.subscriptions]) subscription.unsubscribe()
    // Keys being put in custody are what history will be read with once this publisher is gone.
    await this.custody.close()
    this.stateCache.stop()
    this.publishLog.stop()
    await this.node.stop()
  }

  // ---- internals ----

  private wrap(record: StreamRecord): Stream {
    return new Stream(record.id, record.metadata, this)
  }

  private start(): Promise<void> {
    this.assertAlive()
    this.started ??= this.node.start().then(() => {
      this.stateCache.start()
      // The node has stopped for good (IDENTITY_IN_USE): later calls throw it too, but a subscriber only hears it here.
      this.node.addFailureListener((error) => this.emit('error', error))
      // Whatever this node drops for a bad signature is reported, subscribed or only relaying.
      this.node.addInvalidMessageListener(({ message }) =>
        this.emit('invalidMessage', {
          streamPartId: message.streamPartId,
          publisherId: message.publisherId,
          reason: 'invalid-signature',
          streamMessage: message,
        }),
      )
    })
    return this.started
  }

  /**
   * Whether a message may be delivered (or stored): stamped no further ahead of this client's clock than
   * `maxClockSkewMs`, and by a publisher with publish permission at the message's time (the network checked the
   * signature). False: dropped and reported.
   */
  private async validate(message: StreamMessage, streamPartId: StreamPartId): Promise<boolean> {
    if (message.timestamp > Date.now() + this.maxClockSkewMs) {
      this.emit('invalidMessage', {
        streamPartId,
        publisherId: message.publisherId,
        reason: 'timestamp-in-future',
        streamMessage: message,
      })
      return false
    }
    let allowed: boolean
    try {
      allowed = await this.stateCache.hasPermission(
        message.streamId,
        message.publisherId as Address,
        'publish',
        message.timestamp,
      )
    } catch (err) {
      this.emit('error', err instanceof Error ? err : new Error(String(err)))
      return false
    }
    if (!allowed) {
      this.emit('invalidMessage', {
        streamPartId,
        publisherId: message.publisherId,
        reason: 'no-publish-permission',
        streamMessage: message,
      })
      return false
    }
    return true
  }

  /** History messages get the live checks, plus the signature check the network does for live ones. */
  private async validateStored(message: StreamMessage): Promise<boolean> {
    if (!verifyStreamMessage(message, this.verifier)) {
      this.emit('invalidMessage', {
        streamPartId: message.streamPartId,
        publisherId: message.publisherId,
        reason: 'invalid-signature',
        streamMessage: message,
      })
      return false
    }
    return this.validate(message, message.streamPartId)
  }

  /**
   * Joins a stream part and, the first time, waits (boundedly) for a
   * neighbour if the stream part has any: a burst published before the
   * overlay has formed would otherwise outrun the node's short propagation
   * buffer. The first node of a stream part goes on as soon as the tracker
   * says it is alone.
   */
  private joinOnce(streamPartId: StreamPartId): Promise<void> {
    let joined = this.joins.get(streamPartId)
    if (joined === undefined) {
      this.encryption.serve(streamPartId)
      joined = this.node
        .join(streamPartId, {
          minNeighbors: 1,
          orWhenSettled: true,
          signal: AbortSignal.timeout(this.options.joinTimeoutMs ?? 5_000),
        })
        .catch(() => {
          // Alone in the stream part (or slow to find peers): go on; peers that come soon still get what is buffered.
        })
      this.joins.set(streamPartId, joined)
    }
    return joined
  }

  /** Leaves a stream part once no subscription needs it and this client never published to it. */
  private releaseStreamPart(streamPartId: StreamPartId): void {
    const remaining = (this.subscriberCounts.get(streamPartId) ?? 1) - 1
    if (remaining > 0) {
      this.subscriberCounts.set(streamPartId, remaining)
      return
    }
    this.subscriberCounts.delete(streamPartId)
    if (this.publishedTo.has(streamPartId) || this.destroyed) return
    this.joins.delete(streamPartId)
    this.node.leave(streamPartId)
  }

  /** Checks the stream exists (a `STREAM_NOT_FOUND` beats a puzzling `PERMISSION_DENIED`) and picks the partition. */
  private async choosePartition(
    streamId: string,
    partition: number | undefined,
    key: string | number | undefined,
  ): Promise<number> {
    if (partition !== undefined && key !== undefined) {
      throw new ClientError('INVALID_ARGUMENT', 'give a partition or a partitionKey, not both')
    }
    const count = await this.partitionCount(streamId)
    if (partition !== undefined) return this.checkPartition(streamId, partition, count)
    if (key === undefined) return 0
    return partitionFromKey(key, count)
  }

  private checkPartition(streamId: string, partition: number, count: number): number {
    const parsed = parsePartition(partition)
    if (parsed >= count) {
      throw new ClientError(
        'INVALID_ARGUMENT',
        `partition ${parsed} is out of range: ${streamId} has ${count} partition${count === 1 ? '' : 's'} (0–${count - 1})`,
      )
    }
    return parsed
  }

  /** From the chain-state cache: a stream may be updated to more partitions, and its event drops the entry. */
  private partitionCount(streamId: string): Promise<number> {
    return this.stateCache.partitionCount(streamId)
  }

  private defaultChainId(streamPartId: string): string {
    let id = this.defaultChainIds.get(streamPartId)
    if (id === undefined) {
      id = randomChainId()
      this.defaultChainIds.set(streamPartId, id)
    }
    return id
  }

  private toStreamId(streamIdOrPath: string): string {
    this.assertAlive()
    if (typeof streamIdOrPath !== 'string' || streamIdOrPath.length === 0) {
      throw new ClientError('INVALID_ARGUMENT', `expected a stream id or /path, got ${String(streamIdOrPath)}`)
    }
    const id = streamIdOrPath.startsWith('/') ? `${this.address.toLowerCase()}${streamIdOrPath}` : streamIdOrPath
    // Checked here, so a malformed id is INVALID_STREAM_ID rather than a chain lookup's STREAM_NOT_FOUND.
    return parseStreamId(id)
  }

  private emit<K extends keyof ClientEvents>(type: K, ...args: Parameters<ClientEvents[K]>): void {
    for (const listener of this.listeners[type]) {
      const call = (): void => (listener as (...a: unknown[]) => void)(...args)
      if (type !== 'error') {
        this.safely(call)
        continue
      }
      try {
        call()
      } catch {
        // An error listener that throws has nowhere to report to.
      }
    }
  }

  private safely(call: () => void): void {
    try {
      call()
    } catch (err) {
      // An app callback's error must not break delivery: report it to error listeners, whose own errors are dropped.
      for (const listener of this.listeners.error) {
        try {
          listener(err instanceof Error ? err : new Error(String(err)))
        } catch {
          // Nowhere left to report it.
        }
      }
    }
  }

  private assertAlive(): void {
    if (this.destroyed) throw new ClientError('DESTROYED', 'this client was destroyed')
  }
}

/** The browser's WebSocket. Node.js 20 has none: use `createRunnelClient` from `@runnel/client/node` there. */
function defaultTransport(): Transport {
  return new WebSocketClientTransport()
}
