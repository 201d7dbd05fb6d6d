import type { ReceivedMessage, Subscription } from '@runnel/client'
import {
  MessageFrameReader,
  MessageType,
  ProtocolError,
  decodeStreamMessage,
  toStreamPartId,
  systemClock,
  type Clock,
  type StreamId,
  type StreamMessage,
  type Timer,
} from '@runnel/protocol'
import type { Hono } from 'hono'
import { Counter, Gauge } from 'prom-client'
import type { ApiGateway } from '../../api/ApiGateway.js'
import type { StoragePluginConfig } from '../../config.js'
import { NodeError } from '../../errors.js'
import {
  BatchWriter,
  PostgresMessageStore,
  SqliteMessageStore,
  type BatchTimers,
  type MessageStore,
} from '../../storage/index.js'
import { StorageCustody } from './custody/StorageCustody.js'
import { addHistoryRoutes } from './historyRoutes.js'
import { ReceiptSender } from './ReceiptSender.js'
import { StorageRepair } from './repair/StorageRepair.js'

const DAY_MS = 24 * 60 * 60 * 1000
/** Messages waiting for the database before new ones are dropped. */
const MAX_BACKLOG = 100_000

/**
 * Makes the node a storage node: registers it on chain with its history URL,
 * follows the chain for the streams assigned to it, subscribes to all their
 * partitions and persists every valid message (batched; a message counts as
 * stored once its batch is committed). Serves history over the HTTP API and
 * deletes messages older than each stream's `storageDays` in the background.
 *
 * @example
 * ```json
 * { "plugins": { "http": { "port": 7172 }, "storage": { "backend": "sqlite", "sqlite": { "path": "/var/lib/runnel/storage.db" } } } }
 * ```
 */
export class StoragePlugin {
  readonly name = 'storage'
  private store: MessageStore | undefined
  private writer: BatchWriter | undefined
  private repairer: StorageRepair | undefined
  private readonly streams = new Map<string, Promise<Subscription | undefined>>()
  private stopWatching: (() => void) | undefined
  private retentionTimer: Timer | undefined
  private stopped = false
  private receipts: ReceiptSender | undefined
  private readonly metrics: {
    stored: Counter
    failed: Counter
    dropped: Counter
    served: Counter
    streams: Gauge
    receipts: Counter
    reoffered: Counter<'result'>
  }
  private overloaded = false
  private readonly custody: StorageCustody

  constructor(
    private readonly gateway: ApiGateway,
    private readonly config: StoragePluginConfig,
    /** The HTTP API's URL, known once it has started. */
    private readonly httpUrl: () => string | undefined,
    /** The node's private key, for key custody (shares are sealed to it); custody is off without it. */
    privateKey?: string,
  ) {
    this.custody = new StorageCustody(gateway, config, privateKey, (streamId) => this.streams.has(streamId))
    const registers = [gateway.metrics.registry]
    this.metrics = {
      stored: new Counter({
        name: 'runnel_storage_messages_stored_total',
        help: 'Messages committed to storage',
        registers,
      }),
      failed: new Counter({
        name: 'runnel_storage_write_failures_total',
        help: 'Messages whose batch failed to commit',
        registers,
      }),
      dropped: new Counter({
        name: 'runnel_storage_messages_dropped_total',
        help: 'Messages not stored because the database fell too far behind',
        registers,
      }),
      served: new Counter({
        name: 'runnel_storage_messages_served_total',
        help: 'Messages sent in history responses',
        registers,
      }),
      streams: new Gauge({ name: 'runnel_storage_streams', help: 'Streams this node stores', registers }),
      receipts: new Counter({
        name: 'runnel_storage_receipts_sent_total',
        help: 'Signed storage receipts sent to publishers',
        registers,
      }),
      reoffered: new Counter({
        name: 'runnel_storage_reoffered_messages_total',
        help: 'Messages publishers offered again; result: taken (valid, handed to storage) or refused (malformed or invalid)',
        labelNames: ['result'],
        registers,
      }),
    }
  }

  /** Adds the history API to the HTTP API's routes. */
  routes(app: Hono): void {
    addHistoryRoutes(app, {
      store: () => this.store,
      stores: (streamId) => this.streams.has(streamId),
      onServed: (messages) => this.metrics.served.inc(messages),
    })
    this.custody.routes(app)
  }

  async start(): Promise<string> {
    const { client, logger, clock } = this.gateway
    this.store = await this.openStore()
    const receipts = new ReceiptSender(client, {
      clock,
      intervalMs: this.config.receiptIntervalMs,
      onError: (err) => logger.warn({ err }, 'storage: a receipt could not be sent'),
      onSent: () => this.metrics.receipts.inc(),
    })
    this.receipts = receipts
    this.writer = new BatchWriter({
      store: this.store,
      // On the wall clock the writer keeps its monotonic performance.now(): a stepped clock mustn't stretch a batch's wait.
      ...(clock !== systemClock && { timers: batchTimersOf(clock) }),
      onCommitted: (messages) => receipts.committed(messages),
    })
    await this.custody.start()
    if (this.config.repair.enabled) {
      this.repairer = new StorageRepair(
        {
          store: this.store,
          chainState: client.chainState,
          address: client.address,
          streams: () => this.storedStreams,
          partitions: (streamId) => client.chainState.partitionCount(streamId),
          logger,
          metrics: this.gateway.metrics.registry,
          maxClockSkewMs: this.gateway.maxClockSkewMs,
          clock,
          // The client's validator asks ERC-1271 wallets (cached), as for live messages.
          verifyErc1271: (message) => client.validateMessage(message),
        },
        this.config.repair,
      )
    }
    const url = this.config.publicUrl ?? this.httpUrl()
    if (url === undefined) throw new NodeError('START_FAILED', 'storage: the HTTP API must start before storage')
    const address = client.address.toLowerCase()
    if (this.config.register) await client.registry.registerStorageNode({ http: url })
    // Watch first, then list: an assignment made in between is seen by one or the other.
    this.stopWatching = client.registry.watchEvents(
      (event) => {
        switch (event.type) {
          case 'storageNodeAdded':
            if (event.node.toLowerCase() === address) void this.addStream(event.streamId)
            break
          case 'storageNodeRemoved':
            if (event.node.toLowerCase() === address) void this.removeStream(event.streamId)
            break
          case 'streamDeleted':
            void this.removeStream(event.streamId)
            break
          default:
            break
        }
      },
      (err) => logger.warn({ err }, 'storage: watching the chain failed; retrying'),
    )
    for (const streamId of await client.registry.getStoredStreams(client.address)) await this.addStream(streamId)
    this.retentionTimer = clock.setInterval(() => void this.applyRetention(), this.config.retentionIntervalMs, {
      unref: true,
    })
    this.repairer?.start()
    logger.info({ url, backend: this.config.backend, streams: this.streams.size }, 'storage node started')
    return url
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.stopWatching?.()
    this.retentionTimer?.cancel()
    for (const subscription of await Promise.all(this.streams.values())) subscription?.unsubscribe()
    this.streams.clear()
    await this.repairer?.stop()
    // Commit what was accepted before closing: it was on its way to being acknowledged.
    await this.writer?.close()
    await this.receipts?.flush()
    await this.custody.stop()
    await this.store?.close()
  }

  /** Repair from the other storage nodes of each stream (undefined when `repair.enabled` is false or before start). */
  get repair(): StorageRepair | undefined {
    return this.repairer
  }

  /** Stream ids this node currently stores. */
  get storedStreams(): string[] {
    return [...this.streams.keys()]
  }

  /** Deletes what each stream's retention no longer covers. Runs every `retentionIntervalMs`; callable directly. */
  async applyRetention(now = this.gateway.clock.now()): Promise<number> {
    const store = this.store
    if (store === undefined) return 0
    let deleted = 0
    for (const streamId of this.streams.keys()) {
      try {
        const stream = await this.gateway.client.getStream(streamId)
        const days = stream.metadata.storageDays ?? this.config.defaultStorageDays
        // storageDays 0: kept forever.
        if (days > 0) deleted += await store.deleteBefore(streamId, now - days * DAY_MS)
      } catch (err) {
        this.gateway.logger.warn({ err, streamId }, 'storage: retention failed for a stream')
      }
    }
    if (deleted > 0) this.gateway.logger.info({ deleted }, 'storage: retention deleted old messages')
    return deleted
  }

  private async openStore(): Promise<MessageStore> {
    if (this.config.backend === 'postgres') {
      const postgres = this.config.postgres!
      return PostgresMessageStore.open(postgres.url, { schema: postgres.schema })
    }
    return SqliteMessageStore.open(this.config.sqlite.path)
  }

  private addStream(streamId: string): Promise<Subscription | undefined> {
    let subscription = this.streams.get(streamId)
    if (subscription !== undefined) return subscription
    const { client, logger } = this.gateway
    subscription = client
      .subscribe(streamId, (message: ReceivedMessage) => this.persist(message), {
        // Assigned by the stream's owner: that is permission enough. Stored as signed: ciphertext stays ciphertext.
        checkPermission: false,
        raw: true,
        ordered: false,
      })
      .then(
        (created) => {
          if (this.stopped || !this.streams.has(streamId)) {
            created.unsubscribe()
            return undefined
          }
          logger.info({ streamId, partitions: created.partitions.length }, 'storage: storing stream')
          for (const partition of created.partitions) this.followStreamPart(created, streamId, partition)
          return created
        },
        (err: unknown) => {
          logger.warn({ err, streamId }, 'storage: could not subscribe to an assigned stream')
          this.streams.delete(streamId)
          this.metrics.streams.set(this.streams.size)
          return undefined
        },
      )
    this.streams.set(streamId, subscription)
    this.metrics.streams.set(this.streams.size)
    return subscription
  }

  private async removeStream(streamId: string): Promise<void> {
    const subscription = this.streams.get(streamId)
    if (subscription === undefined) return
    this.streams.delete(streamId)
    this.metrics.streams.set(this.streams.size)
    ;(await subscription)?.unsubscribe()
    this.gateway.logger.info({ streamId }, 'storage: no longer storing stream')
  }

  /**
   * Takes publishers' re-offers of a stream part, and asks for them: publishers offer again what no receipt of this
   * node's covers (messages published while it was down, or acknowledged before a crash but never committed).
   */
  private followStreamPart(subscription: Subscription, streamId: string, partition: number): void {
    const { client, logger } = this.gateway
    const streamPartId = toStreamPartId(streamId as StreamId, partition)
    const remove = client.networkNode.addMessageListener(streamPartId, (message) => {
      if (message.messageType === MessageType.Reoffer) void this.takeReoffer(message)
    })
    subscription.onUnsubscribe(remove)
    client
      .publishControl(streamPartId, MessageType.CatchUpRequest, new Uint8Array(0))
      .catch((err: unknown) => logger.warn({ err, streamPartId }, 'storage: could not ask publishers to catch up'))
  }

  private async takeReoffer(carrier: StreamMessage): Promise<void> {
    let messages: StreamMessage[]
    try {
      // The history API's binary framing: a 4-byte big-endian length before each encoded message.
      const reader = new MessageFrameReader()
      messages = reader.push(carrier.content).map((bytes) => decodeStreamMessage(bytes))
      reader.end()
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err
      this.metrics.reoffered.inc({ result: 'refused' })
      this.gateway.logger.debug({ err, from: carrier.publisherId }, 'storage: a malformed re-offer')
      return
    }
    for (const message of messages) {
      // Each is checked as a live message is: its own signature, its publisher's permission, this stream part.
      const valid =
        message.streamPartId === carrier.streamPartId &&
        message.messageType === MessageType.Data &&
        (await this.gateway.client.validateMessage(message))
      this.metrics.reoffered.inc({ result: valid ? 'taken' : 'refused' })
      if (valid) this.persistMessage(message)
    }
  }

  private persist(message: ReceivedMessage): void {
    this.persistMessage(message.streamMessage)
  }

  private persistMessage(message: StreamMessage): void {
    const writer = this.writer
    if (writer === undefined || !this.streams.has(message.streamId)) return
    // The network can't be made to wait: past a bound (about 30 MB of messages) the node drops rather than grow
    // without limit, counts it, and says so once per episode.
    if (writer.backlog >= MAX_BACKLOG) {
      this.metrics.dropped.inc()
      if (!this.overloaded) this.gateway.logger.warn({ backlog: writer.backlog }, 'storage: too far behind, dropping')
      this.overloaded = true
      return
    }
    this.overloaded = false
    this.repairer?.observe(message)
    writer.store(message).then(
      () => this.metrics.stored.inc(),
      (err: unknown) => {
        this.metrics.failed.inc()
        this.gateway.logger.error({ err, streamId: message.streamId }, 'storage: a batch failed to commit')
      },
    )
  }
}

/** The batch writer's timers on the node's clock. */
function batchTimersOf(clock: Clock): BatchTimers {
  return {
    now: () => clock.now(),
    setTimeout: (callback, ms) => clock.setTimeout(callback, ms),
    clearTimeout: (handle) => (handle as Timer).cancel(),
  }
}
