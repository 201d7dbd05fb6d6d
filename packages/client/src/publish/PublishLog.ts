import {
  type MessageRef,
  MessageType,
  ProtocolError,
  decodeSignedReceipt,
  encodeStreamMessage,
  frameMessage,
  openReceipt,
  readReceipt,
  receiptDigest,
  type Receipt,
  type SignatureVerifier,
  type StreamMessage,
  type StreamPartId,
} from '@runnel/protocol'
import { ClientError } from '../errors.js'

/** How long the publisher side keeps messages that no storage receipt covers yet, and when it offers them again. */
export interface RetentionOptions {
  /** Messages kept per client, at most. Default 100,000. */
  readonly maxMessages?: number
  /** Bytes of message content kept, at most. Default 64 MiB. */
  readonly maxBytes?: number
  /** A message no receipt covered this long is dropped. Default 1 hour. */
  readonly maxAgeMs?: number
  /** A message no receipt covered this long is offered again to the stream's storage nodes. Default 30 s. */
  readonly reofferAfterMs?: number
}

/** Why a storage receipt was not taken; counted per reason. */
export type ReceiptRejection =
  /** Not a well-formed signed receipt, or its signature isn't its signer's. */
  | 'malformed'
  /** Carried by a message of someone other than its signer. */
  | 'signer-mismatch'
  /** Its signer is not a storage node of the stream, per the chain. */
  | 'not-storage-node'
  /** It names messages this client never published as it says: a range it never had, or a digest that doesn't match. */
  | 'unknown-messages'

/** What the publisher side has done so far, for metrics. */
export interface PublishLogStats {
  /** Messages kept now, waiting for a receipt. */
  readonly retainedMessages: number
  readonly retainedBytes: number
  /** Messages dropped at a bound before any receipt covered them, by bound. */
  readonly dropped: { readonly count: number; readonly bytes: number; readonly age: number }
  readonly receiptsAccepted: number
  /** Receipts about messages this client no longer keeps (another receipt covered them first). */
  readonly receiptsLate: number
  readonly receiptsRejected: Readonly<Record<ReceiptRejection, number>>
  /** Messages offered again to storage nodes. */
  readonly reoffered: number
}

/** A drop at a bound, reported once per sweep in which it happened. */
export interface RetentionDropEvent {
  readonly bound: 'count' | 'bytes' | 'age'
  readonly messages: number
}

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
  readonly now?: () => number
}

interface Waiter {
  readonly minNodes: number
  readonly resolve: () => void
  readonly reject: (error: ClientError) => void
}

interface Entry {
  readonly message: StreamMessage
  readonly bytes: number
  readonly at: number
  /** Storage nodes whose receipts cover it. */
  readonly storedBy: Set<string>
  /** When the first receipt came. */
  firstStoredAt: number
  /** When it was last sent: published, or re-offered. */
  lastOfferedAt: number
  /** When it was last re-offered for a catch-up request (-Infinity: never). */
  caughtUpAt: number
  waiters: Waiter[] | undefined
  done: boolean
}

/** One publisher chain of one stream part: its kept messages in ref order, from `head` on. */
interface ChainLog {
  readonly streamId: string
  readonly streamPartId: StreamPartId
  entries: Entry[]
  head: number
  /** The first message this client kept of the chain: a receipt about earlier ones is about messages it never sent. */
  readonly firstRef: MessageRef
  /** The latest message forgotten: a receipt reaching back to it may come late, after another covered it. */
  lastForgotten: MessageRef | undefined
  /** When the chain ended ({@link PublishLog.endChain}): it is dropped once empty and late receipts had time to come. */
  endedAt: number | undefined
}

const DEFAULTS = {
  maxMessages: 100_000,
  maxBytes: 64 * 1024 * 1024,
  maxAgeMs: 60 * 60 * 1000,
  reofferAfterMs: 30_000,
} as const
/** After its first receipt, a message waits this long for the stream's other storage nodes' receipts before it's forgotten. */
const OTHER_NODES_GRACE_MS = 5_000
/** A re-offer carries at most this much: well under the largest message (1 MiB) a node accepts. */
const MAX_REOFFER_BYTES = 512 * 1024
/** A message's fields besides its content, roughly, for the byte bound. */
const OVERHEAD_BYTES = 200
/** A message is re-offered at most this often on catch-up requests: requests coming again and again cost a scan, not a flood. */
const CATCH_UP_INTERVAL_MS = 2_000
/** An ended chain is remembered this long after its last message is forgotten, for late receipts. */
const ENDED_CHAIN_MS = 60_000
/** A receipt from an address the cached list doesn't name re-reads the chain at most this often per stream. */
const REFRESH_INTERVAL_MS = 5_000

function compareRef(a: { timestamp: number; sequenceNumber: number }, b: MessageRef): number {
  return a.timestamp - b.timestamp || a.sequenceNumber - b.sequenceNumber
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
  private readonly refreshedAt = new Map<string, number>()
  /** When a receipt was last taken, per stream part: a storage node is there, and may have missed what it didn't cover. */
  private readonly lastReceiptAt = new Map<StreamPartId, number>()
  private readonly options: Required<RetentionOptions>
  private readonly now: () => number
  private retainedMessages = 0
  private retainedBytes = 0
  private readonly counters = {
    dropped: { count: 0, bytes: 0, age: 0 },
    receiptsAccepted: 0,
    receiptsLate: 0,
    receiptsRejected: { malformed: 0, 'signer-mismatch': 0, 'not-storage-node': 0, 'unknown-messages': 0 },
    reoffered: 0,
  }
  private sweepTimer: ReturnType<typeof setInterval> | undefined
  private stopped = false

  constructor(
    private readonly components: PublishLogComponents,
    options: RetentionOptions = {},
  ) {
    this.options = { ...DEFAULTS, ...options }
    for (const [key, value] of Object.entries(this.options)) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new ClientError('INVALID_ARGUMENT', `retention.${key} must be a whole number ≥ 1, got ${String(value)}`)
      }
    }
    this.now = components.now ?? Date.now
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
    if (known === undefined || known.length === 0) void this.components.storageNodes(streamId).catch(() => undefined)
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
    const { entries } = chain
    const last = entries.at(-1)
    if (last === undefined || compareRef(last.message, ref) < 0) entries.push(entry)
    else entries.splice(this.lowerBound(chain, ref), 0, entry)
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
  waitStored(entry: Entry, minNodes: number, timeoutMs: number, describe: () => string): Promise<void> {
    if (entry.storedBy.size >= minNodes) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        entry.waiters = entry.waiters?.filter((w) => w !== waiter)
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
          clearTimeout(timer)
          resolve()
        },
        reject: (error) => {
          clearTimeout(timer)
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
    clearInterval(this.sweepTimer)
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

  private async isStorageNode(streamId: string, address: string): Promise<boolean> {
    if ((await this.components.storageNodes(streamId)).includes(address)) return true
    // Assigned a moment ago? Re-read the chain, but not for every message a stranger sends.
    const now = this.now()
    if (now - (this.refreshedAt.get(streamId) ?? -Infinity) < REFRESH_INTERVAL_MS) return false
    this.refreshedAt.set(streamId, now)
    return (await this.components.storageNodes(streamId, true)).includes(address)
  }

  private reject(reason: ReceiptRejection): void {
    this.counters.receiptsRejected[reason]++
  }

  private async takeReceipt(carrier: StreamMessage): Promise<void> {
    let receipt: Receipt
    try {
      const signed = decodeSignedReceipt(carrier.content)
      // Only this client's chains concern it, and everyone in the stream part sees every receipt: the signature is
      // checked only for those about its own messages.
      if (readReceipt(signed).publisherId !== this.components.address) return
      receipt = openReceipt(signed, this.components.verifier)
    } catch (err) {
      if (err instanceof ProtocolError) return this.reject('malformed')
      throw err
    }
    if (receipt.signerId !== carrier.publisherId || receipt.streamPartId !== carrier.streamPartId) {
      return this.reject('signer-mismatch')
    }
    const chain = this.chains.get(chainKey(receipt.streamPartId, receipt.messageChainId))
    if (!(await this.isStorageNode(carrier.streamId, receipt.signerId).catch(() => false))) {
      return this.reject('not-storage-node')
    }
    if (chain === undefined) return this.reject('unknown-messages')
    const first = this.lowerBound(chain, receipt.from)
    let end = first
    while (end < chain.entries.length && compareRef(chain.entries[end]!.message, receipt.to) <= 0) end++
    const covered = chain.entries.slice(first, end)
    if (covered.length !== receipt.messageCount) {
      // Not what this client holds in the range: some forgotten already (a late receipt), or never published (a lie).
      const late =
        compareRef(receipt.to, chain.firstRef) >= 0 &&
        chain.lastForgotten !== undefined &&
        compareRef(receipt.from, chain.lastForgotten) <= 0
      return late ? this.late() : this.reject('unknown-messages')
    }
    if (!equalBytes(receiptDigest(covered.map((entry) => entry.message.signature)), receipt.digest)) {
      return this.reject('unknown-messages')
    }
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
    this.compact(chain)
  }

  private forget(chain: ChainLog, entry: Entry): void {
    const ref = entry.message.getMessageRef()
    if (chain.lastForgotten === undefined || compareRef(ref, chain.lastForgotten) > 0) chain.lastForgotten = ref
    entry.done = true
    entry.waiters = undefined
    this.retainedMessages--
    this.retainedBytes -= entry.bytes
  }

  private compact(chain: ChainLog): void {
    if (chain.head === chain.entries.length) {
      chain.entries = []
      chain.head = 0
    } else if (chain.head > 1024 && chain.head * 2 > chain.entries.length) {
      chain.entries = chain.entries.slice(chain.head)
      chain.head = 0
    }
  }

  /** Index of the first kept entry at or after `ref`. */
  private lowerBound(chain: ChainLog, ref: MessageRef): number {
    let low = chain.head
    let high = chain.entries.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if (compareRef(chain.entries[middle]!.message, ref) < 0) low = middle + 1
      else high = middle
    }
    return low
  }

  private async answerCatchUp(request: StreamMessage): Promise<void> {
    const node = request.publisherId
    if (!(await this.isStorageNode(request.streamId, node).catch(() => false))) return
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
    let frames: Uint8Array[] = []
    let bytes = 0
    const flush = async (): Promise<void> => {
      if (frames.length === 0) return
      const content = new Uint8Array(bytes)
      let offset = 0
      for (const frame of frames) {
        content.set(frame, offset)
        offset += frame.length
      }
      this.counters.reoffered += frames.length
      frames = []
      bytes = 0
      await this.components.send(streamPartId, MessageType.Reoffer, content)
      await new Promise((resolve) => setTimeout(resolve, 0))
    }
    for (const message of messages) {
      if (this.stopped) return
      const frame = frameMessage(encodeStreamMessage(message))
      // One that can't fit a wrapper is left to the storage nodes' repair among themselves.
      if (frame.length > MAX_REOFFER_BYTES) continue
      if (bytes + frame.length > MAX_REOFFER_BYTES) await flush()
      frames.push(frame)
      bytes += frame.length
    }
    await flush()
  }

  private startSweeping(): void {
    if (this.sweepTimer !== undefined) return
    const every = Math.min(5_000, Math.max(100, Math.floor(this.options.reofferAfterMs / 2)))
    this.sweepTimer = setInterval(() => void this.sweep(), every)
    // A client with nothing else to do may exit: what is kept is a best effort beyond the ack.
    ;(this.sweepTimer as { unref?: () => void }).unref?.()
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
      const nodes = await this.components.storageNodes(streamId).catch(() => undefined)
      if (nodes !== undefined && nodes.length > 0) await this.reoffer(streamPartId, messages).catch(() => undefined)
    }
    if (this.chains.size === 0) {
      clearInterval(this.sweepTimer)
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
      this.compact(oldest.chain)
    }
    if (dropped > 0) this.dropped(bound, dropped)
  }

  private dropped(bound: RetentionDropEvent['bound'], messages: number): void {
    this.counters.dropped[bound] += messages
    this.components.onDrop({ bound, messages })
  }
}

function chainKey(streamPartId: string, msgChainId: string): string {
  return `${streamPartId}\u0000${msgChainId}`
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export type { Entry as PublishLogEntry }
