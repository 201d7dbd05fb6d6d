import {
  MessageType,
  systemClock,
  type Clock,
  type SignatureVerifier,
  type StreamMessage,
  type StreamPartId,
  type Timer,
} from '@runnel/protocol'
import { abortedError } from '../abort.js'
import { ClientError } from '../errors.js'
import { errorMetadata, quietLogger, type ClientLogger } from '../logger.js'
import {
  chainKey,
  compact,
  compareRef,
  insertEntry,
  rememberForgotten,
  type ChainLog,
  type Entry,
  type Waiter,
} from './ChainLog.js'
import { coveredEntries, openOwnReceipt } from './receipts.js'
import { packReoffers } from './reoffer.js'
import { StorageNodeCheck } from './StorageNodeCheck.js'
import {
  CATCH_UP_INTERVAL_MS,
  ENDED_CHAIN_MS,
  OTHER_NODES_GRACE_MS,
  OVERHEAD_BYTES,
  RETENTION_DEFAULTS,
  type PublishLogStats,
  type ReceiptRejection,
  type RetentionDropEvent,
  type RetentionOptions,
} from './retention.js'

export type { PublishLogStats, ReceiptRejection, RetentionDropEvent, RetentionOptions }

export interface PublishLogComponents {
  readonly address: string
  readonly verifier: SignatureVerifier
  /** The stream's storage nodes (lowercase addresses), cached; `fresh` skips the cache. */
  readonly storageNodes: (streamId: string, fresh?: boolean) => Promise<readonly string[]>
  /** The cached answer of {@link storageNodes}, if there is one, without waiting. */
  readonly knownStorageNodes: (streamId: string) => readonly string[] | undefined
  /** Signs and broadcasts a control message into the stream part. */
  readonly send: (streamPartId: StreamPartId, type: MessageType, content: Uint8Array) => Promise<void>
  readonly addMessageListener: (streamPartId: StreamPartId, listener: (message: StreamMessage) => void) => () => void
  readonly onDrop: (event: RetentionDropEvent) => void
  /** Where time comes from. Default: the system clock. */
  readonly clock?: Clock
  /** Overrides the clock's `now` (tests that drive time by hand). */
  readonly now?: () => number
  readonly logger?: ClientLogger
}

/**
 * The publisher side of storage receipts. Keeps each published message of a
 * stream that has storage nodes until a receipt covers it (bounded by count,
 * bytes and age), takes the receipts the stream's storage nodes send back
 * (checked: signed by a storage node of the stream, naming exactly messages
 * this client published, by the digest of their signatures), resolves the
 * `stored` acknowledgements waiting for them, and offers unreceipted messages
 * again when a storage node asks (it (re)joined the stream part) or when they
 * have waited `reofferAfterMs`.
 *
 * A re-offer wraps the original signed messages in one control message: the
 * network's duplicate detection would drop a second copy of a message sent as it is.
 */
export class PublishLog {
  private readonly chains = new Map<string, ChainLog>()
  private readonly listened = new Map<StreamPartId, () => void>()
  private readonly storageNodeCheck: StorageNodeCheck
  /** When a receipt was last taken, per stream part: a storage node is there, and may have missed what it didn't cover. */
  private readonly lastReceiptAt = new Map<StreamPartId, number>()
  private readonly options: Required<RetentionOptions>
  private readonly clock: Clock
  private readonly now: () => number
  private readonly logger: ClientLogger
  private retainedMessages = 0
  private retainedBytes = 0
  private readonly counters = {
    dropped: { count: 0, bytes: 0, age: 0 },
    receiptsAccepted: 0,
    receiptsLate: 0,
    receiptsRejected: { malformed: 0, 'signer-mismatch': 0, 'not-storage-node': 0, 'unknown-messages': 0 },
    reoffered: 0,
  }
  private sweepTimer: Timer | undefined
  private stopped = false

  constructor(
    private readonly components: PublishLogComponents,
    options: RetentionOptions = {},
  ) {
    this.options = { ...RETENTION_DEFAULTS, ...options }
    for (const [key, value] of Object.entries(this.options)) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new ClientError('INVALID_ARGUMENT', `retention.${key} must be a whole number ≥ 1, got ${String(value)}`)
      }
    }
    this.clock = components.clock ?? systemClock
    this.now = components.now ?? (() => this.clock.now())
    this.logger = components.logger ?? quietLogger
    this.storageNodeCheck = new StorageNodeCheck(components.storageNodes, this.now, this.logger)
  }

  stats(): PublishLogStats {
    const { dropped, receiptsRejected, ...rest } = this.counters
    return {
      retainedMessages: this.retainedMessages,
      retainedBytes: this.retainedBytes,
      dropped: { ...dropped },
      receiptsRejected: { ...receiptsRejected },
      ...rest,
    }
  }

  /**
   * Keeps a message about to be broadcast, if the stream may have storage
   * nodes (while the chain hasn't answered, it is kept: forgetting is cheap,
   * losing isn't). Call before broadcasting, so that no receipt can come first.
   */
  add(message: StreamMessage): Entry | undefined {
    if (this.stopped) return undefined
    const streamId = message.streamId
    const known = this.components.knownStorageNodes(streamId)
    // Cached for a while, so cheap: a node assigned later is seen when the cache expires.
    if (known === undefined || known.length === 0) {
      void this.components.storageNodes(streamId).catch((err: unknown) => {
        this.logger.debug('storage nodes of a stream not read; kept messages wait for the next look', {
          streamId,
          ...errorMetadata(err),
        })
      })
    }
    if (known?.length === 0) return undefined
    this.listen(message.streamPartId)
    const key = chainKey(message.streamPartId, message.messageChainId)
    const ref = message.getMessageRef()
    let chain = this.chains.get(key)
    if (chain === undefined) {
      chain = {
        streamId,
        streamPartId: message.streamPartId,
        entries: [],
        head: 0,
        firstRef: ref,
        lastForgotten: undefined,
        forgotten: [],
        endedAt: undefined,
      }
      this.chains.set(key, chain)
    }
    const now = this.now()
    const entry: Entry = {
      message,
      bytes: message.content.length + OVERHEAD_BYTES,
      at: now,
      storedBy: new Set(),
      firstStoredAt: 0,
      lastOfferedAt: now,
      caughtUpAt: Number.NEGATIVE_INFINITY,
      waiters: undefined,
      done: false,
    }
    insertEntry(chain, entry)
    this.retainedMessages++
    this.retainedBytes += entry.bytes
    this.enforceBounds()
    this.startSweeping()
    return entry
  }

  /**
   * Resolves once `minNodes` distinct storage nodes have sent receipts covering `entry`.
   *
   * @throws {@link ClientError} `NOT_STORED` after `timeoutMs`; the message stays kept and is offered again
   */
  waitStored(
    entry: Entry,
    minNodes: number,
    timeoutMs: number,
    describe: () => string,
    signal?: AbortSignal,
  ): Promise<void> {
    if (entry.storedBy.size >= minNodes) return Promise.resolve()
    if (signal?.aborted === true) return Promise.reject(abortedError(signal, `the stored ack of ${describe()}`))
    return new Promise<void>((resolve, reject) => {
      const forget = (): void => {
        entry.waiters = entry.waiters?.filter((w) => w !== waiter)
        signal?.removeEventListener('abort', onAbort)
      }
      const onAbort = (): void => {
        timer.cancel()
        forget()
        reject(abortedError(signal!, `the stored ack of ${describe()}`))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      const timer = this.clock.setTimeout(() => {
        forget()
        reject(
          new ClientError(
            'NOT_STORED',
            `${describe()} not confirmed by ${minNodes} storage node${minNodes === 1 ? '' : 's'} within ${timeoutMs} ms; ` +
              'it was published and is offered to storage nodes again, so it may still be stored',
          ),
        )
      }, timeoutMs)
      const waiter: Waiter = {
        minNodes,
        resolve: () => {
          timer.cancel()
          signal?.removeEventListener('abort', onAbort)
          resolve()
        },
        reject: (error) => {
          timer.cancel()
          signal?.removeEventListener('abort', onAbort)
          reject(error)
        },
      }
      ;(entry.waiters ??= []).push(waiter)
    })
  }

  /** A chain is done (the client forgot it): its log goes once nothing of it is kept and late receipts had time. */
  endChain(msgChainId: string): void {
    const now = this.now()
    for (const chain of this.chains.values()) {
      if (this.chains.get(chainKey(chain.streamPartId, msgChainId)) === chain) chain.endedAt = now
    }
  }

  /** Forgets everything; a stored ack still waiting fails with `DESTROYED` (its timer would keep a process alive). */
  stop(): void {
    this.stopped = true
    this.sweepTimer?.cancel()
    const destroyed = new ClientError('DESTROYED', 'the client was destroyed before the message was stored')
    for (const chain of this.chains.values()) {
      for (const entry of chain.entries) for (const waiter of entry.waiters ?? []) waiter.reject(destroyed)
    }
    for (const remove of this.listened.values()) remove()
    this.listened.clear()
    this.chains.clear()
    this.retainedMessages = 0
    this.retainedBytes = 0
  }

  private listen(streamPartId: StreamPartId): void {
    if (this.listened.has(streamPartId)) return
    const remove = this.components.addMessageListener(streamPartId, (message) => {
      if (message.messageType === MessageType.StorageReceipt) void this.takeReceipt(message)
      else if (message.messageType === MessageType.CatchUpRequest) void this.answerCatchUp(message)
    })
    this.listened.set(streamPartId, remove)
  }

  private reject(reason: ReceiptRejection): void {
    this.counters.receiptsRejected[reason]++
  }

  private async takeReceipt(carrier: StreamMessage): Promise<void> {
    const receipt = openOwnReceipt(carrier, this.components.address, this.components.verifier)
    if (receipt === undefined) return
    if ('rejected' in receipt) return this.reject(receipt.rejected)
    const chain = this.chains.get(chainKey(receipt.streamPartId, receipt.messageChainId))
    if (!(await this.storageNodeCheck.isStorageNode(carrier.streamId, receipt.signerId))) {
      return this.reject('not-storage-node')
    }
    if (chain === undefined) return this.reject('unknown-messages')
    const covered = coveredEntries(chain, receipt)
    if (covered === 'late') return this.late()
    if (covered === 'unknown-messages') return this.reject(covered)
    this.counters.receiptsAccepted++
    const now = this.now()
    this.lastReceiptAt.set(chain.streamPartId, now)
    for (const entry of covered) {
      if (entry.done || entry.storedBy.has(receipt.signerId)) continue
      entry.storedBy.add(receipt.signerId)
      if (entry.storedBy.size === 1) entry.firstStoredAt = now
      for (const waiter of entry.waiters ?? []) {
        if (waiter.minNodes === entry.storedBy.size) waiter.resolve()
      }
    }
    const nodes = this.components.knownStorageNodes(chain.streamId)?.length ?? 1
    this.prune(chain, now, nodes)
  }

  private late(): void {
    this.counters.receiptsLate++
  }

  /** Forgets, from the oldest on, messages every storage node (or one, a while ago) has covered and nobody waits for. */
  private prune(chain: ChainLog, now: number, storageNodes: number): void {
    const { entries } = chain
    while (chain.head < entries.length) {
      const entry = entries[chain.head]!
      if (!entry.done) {
        const covered =
          entry.storedBy.size >= storageNodes ||
          (entry.storedBy.size > 0 && now - entry.firstStoredAt >= OTHER_NODES_GRACE_MS)
        const waited = entry.waiters?.some((waiter) => entry.storedBy.size < waiter.minNodes) ?? false
        if (!covered || waited) break
        this.forget(chain, entry)
      }
      chain.head++
    }
    compact(chain)
  }

  private forget(chain: ChainLog, entry: Entry): void {
    const ref = entry.message.getMessageRef()
    if (chain.lastForgotten === undefined || compareRef(ref, chain.lastForgotten) > 0) chain.lastForgotten = ref
    rememberForgotten(chain, entry.message)
    entry.done = true
    entry.waiters = undefined
    this.retainedMessages--
    this.retainedBytes -= entry.bytes
  }

  private async answerCatchUp(request: StreamMessage): Promise<void> {
    const node = request.publisherId
    if (!(await this.storageNodeCheck.isStorageNode(request.streamId, node))) return
    const now = this.now()
    const messages: StreamMessage[] = []
    for (const chain of this.chains.values()) {
      if (chain.streamPartId !== request.streamPartId) continue
      for (let i = chain.head; i < chain.entries.length; i++) {
        const entry = chain.entries[i]!
        if (entry.done || entry.storedBy.has(node) || now - entry.caughtUpAt < CATCH_UP_INTERVAL_MS) continue
        entry.lastOfferedAt = now
        entry.caughtUpAt = now
        messages.push(entry.message)
      }
    }
    await this.reoffer(request.streamPartId, messages)
  }

  /** Sends messages again, in bounded wrappers, yielding to the event loop between them. */
  private async reoffer(streamPartId: StreamPartId, messages: readonly StreamMessage[]): Promise<void> {
    for (const { content, count } of packReoffers(messages)) {
      if (this.stopped) return
      this.counters.reoffered += count
      await this.components.send(streamPartId, MessageType.Reoffer, content)
      // A yield, not a wait: other work runs between wrappers (so not the clock's, which a test may hold still).
      await new Promise((resolve) => setTimeout(resolve, 0))
    }
  }

  private startSweeping(): void {
    if (this.sweepTimer !== undefined) return
    const every = Math.min(5_000, Math.max(100, Math.floor(this.options.reofferAfterMs / 2)))
    // A client with nothing else to do may exit: what is kept is a best effort beyond the ack.
    this.sweepTimer = this.clock.setInterval(() => void this.sweep(), every, { unref: true })
  }

  /** Drops what is too old, prunes, and offers again what waited `reofferAfterMs` without a receipt. */
  async sweep(): Promise<void> {
    const now = this.now()
    const due = new Map<StreamPartId, StreamMessage[]>()
    let aged = 0
    for (const [key, chain] of this.chains) {
      const nodes = this.components.knownStorageNodes(chain.streamId)
      for (let i = chain.head; i < chain.entries.length; i++) {
        const entry = chain.entries[i]!
        if (entry.done) continue
        // Kept before the chain said the stream has no storage node: nothing will ever receipt it.
        if (nodes?.length === 0) {
          this.forget(chain, entry)
          continue
        }
        if (now - entry.at >= this.options.maxAgeMs) {
          if (entry.storedBy.size === 0) aged++
          this.forget(chain, entry)
          continue
        }
        // Only once a later message was receipted: a storage node is up and missed this one. While none is, what
        // is kept waits for the catch-up request of the first storage node to return, not resent every round.
        const receiptSince = (this.lastReceiptAt.get(chain.streamPartId) ?? 0) > entry.at
        if (entry.storedBy.size === 0 && receiptSince && now - entry.lastOfferedAt >= this.options.reofferAfterMs) {
          entry.lastOfferedAt = now
          let list = due.get(chain.streamPartId)
          if (list === undefined) due.set(chain.streamPartId, (list = []))
          list.push(entry.message)
        }
      }
      this.prune(chain, now, nodes?.length ?? 1)
      // Ended and empty: kept a while, so that late receipts count as late.
      if (chain.head === chain.entries.length && chain.endedAt !== undefined && now - chain.endedAt >= ENDED_CHAIN_MS) {
        this.chains.delete(key)
      }
    }
    if (aged > 0) this.dropped('age', aged)
    for (const [streamPartId, messages] of due) {
      const streamId = messages[0]!.streamId
      const nodes = await this.components.storageNodes(streamId).catch((err: unknown) => {
        this.logger.debug('storage nodes of a stream not read; re-offer at the next sweep', {
          streamId,
          ...errorMetadata(err),
        })
        return undefined
      })
      if (nodes !== undefined && nodes.length > 0) {
        await this.reoffer(streamPartId, messages).catch((err: unknown) => {
          this.logger.warn('re-offer not sent', { streamPartId, messages: messages.length, ...errorMetadata(err) })
        })
      }
    }
    if (this.chains.size === 0) {
      this.sweepTimer?.cancel()
      this.sweepTimer = undefined
    }
  }

  /** Drops the oldest kept messages while a bound is exceeded. */
  private enforceBounds(): void {
    if (this.retainedMessages <= this.options.maxMessages && this.retainedBytes <= this.options.maxBytes) return
    const bound = this.retainedMessages > this.options.maxMessages ? 'count' : 'bytes'
    let dropped = 0
    // Oldest first across chains: the first kept entry of each chain, smallest arrival time.
    while (this.retainedMessages > this.options.maxMessages || this.retainedBytes > this.options.maxBytes) {
      let oldest: { chain: ChainLog; entry: Entry } | undefined
      for (const chain of this.chains.values()) {
        while (chain.head < chain.entries.length && chain.entries[chain.head]!.done) chain.head++
        const entry = chain.entries[chain.head]
        if (entry !== undefined && (oldest === undefined || entry.at < oldest.entry.at)) oldest = { chain, entry }
      }
      if (oldest === undefined) break
      if (oldest.entry.storedBy.size === 0) dropped++
      this.forget(oldest.chain, oldest.entry)
      oldest.chain.head++
      compact(oldest.chain)
    }
    if (dropped > 0) this.dropped(bound, dropped)
  }

  private dropped(bound: RetentionDropEvent['bound'], messages: number): void {
    this.counters.dropped[bound] += messages
    this.components.onDrop({ bound, messages })
  }
}

export type { Entry as PublishLogEntry }
