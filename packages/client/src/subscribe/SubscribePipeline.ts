import { MessageType, systemClock, type Clock, type StreamMessage } from '@runnel/protocol'
import type { MessageOpener } from '../encryption/MessageOpener.js'
import { toReceived } from '../messages.js'
import { OrderingBuffer, clockScheduler, type Gap } from '../ordering/OrderingBuffer.js'
import type { GapFiller } from '../storage/GapFiller.js'
import type { GapEvent, ReceivedMessage } from '../types.js'
import { ChainQueues } from './ChainQueues.js'
import { UndecryptableRuns, chainOf } from './UndecryptableRuns.js'

/**
 * A message on its way through a subscription: live (not validated yet; `held` if it waited for history), read from
 * history, or filling a gap.
 */
interface Arrival {
  readonly message: StreamMessage
  readonly arrival: 'live' | 'held' | 'history' | 'fill'
}

/** What one subscription's pipeline works with. */
export interface SubscribePipelineComponents {
  /** The checks of a live message (timestamp, publish permission); false: dropped (the check reported it). */
  readonly validate: (message: StreamMessage) => Promise<boolean>
  readonly opener: Pick<MessageOpener, 'openReporting'>
  /** Asks storage for what a chain missed; none: gaps are waited out. */
  readonly gapFiller?: Pick<GapFiller, 'fill'>
  /** Hands a message to the app (the subscription's iterator, or its callback). */
  readonly deliver: (message: ReceivedMessage) => void
  readonly onGap: (gap: GapEvent) => void
  /** Keys that couldn't be obtained, one report per run of a chain's messages. */
  readonly onError: (error: Error) => void
  /** A message lost to a bound (counted in `Subscription.dropped`). */
  readonly onDropped: () => void
  readonly isActive: () => boolean
  readonly clock?: Clock
}

export interface SubscribePipelineOptions {
  /** Deliver as signed, without decrypting. */
  readonly raw?: boolean
  /** Hold messages back in publisher-chain order (and detect and fill gaps). Default true. */
  readonly ordered?: boolean
  /** Deliver messages whose key couldn't be obtained as they are. Default false. */
  readonly deliverUndecryptable?: boolean
  /** Live messages wait until {@link SubscribePipeline.readHistory} is done. */
  readonly readsHistory?: boolean
  /** Messages queued per chain, and live messages held while history is read, at most. Default 10,000. */
  readonly bufferSize?: number
  /** How long a chain waits for a missing message before reporting a gap. Default 5 s. */
  readonly gapTimeoutMs?: number
  /** How often a chain's undecryptable run of one key is reported, at most. Default 30 s. */
  readonly failedKeyMemoryMs?: number
}

/**
 * One subscription's way from the network (and storage) to the app: live messages are validated, decrypted in their
 * publisher chain's own queue, put in chain order, and delivered; history read first is spliced in ahead of them with
 * no duplicate or gap at the seam; a chain's missing messages are fetched from storage while the ordering buffer
 * waits for them.
 *
 * Memory: at most `bufferSize` messages queued per chain, `bufferSize` live messages held while history is read, and
 * the ordering buffer's own bound per chain; past a bound a message is dropped and counted.
 *
 * @example
 * ```ts
 * const pipeline = new SubscribePipeline({ validate, opener, deliver: (m) => subscription.push(m), ... })
 * const remove = node.addMessageListener(streamPartId, (message) => pipeline.live(message))
 * ```
 */
export class SubscribePipeline {
  private readonly ordering: OrderingBuffer
  private readonly runs: UndecryptableRuns
  private readonly queues: ChainQueues<Arrival>
  /** Messages whose key couldn't be obtained: they keep their place in their chain, but reach the app only raw. */
  private readonly undecryptable = new WeakSet<StreamMessage>()
  private readonly maxHeldLive: number
  /** Live messages that arrived while history was read (unvalidated): they queue behind it in their chains. */
  private heldLive: StreamMessage[] | undefined
  private readingHistory: boolean
  /** History messages queued and not yet through `process`; `historyDrained` is called when the last one is. */
  private pendingHistory = 0
  private historyDrained: (() => void) | undefined

  constructor(
    private readonly components: SubscribePipelineComponents,
    private readonly options: SubscribePipelineOptions = {},
  ) {
    const clock = components.clock ?? systemClock
    const bufferSize = options.bufferSize ?? 10_000
    this.maxHeldLive = bufferSize
    this.readingHistory = options.readsHistory === true
    this.heldLive = this.readingHistory ? [] : undefined
    this.ordering = new OrderingBuffer(
      {
        onMessage: (message) => this.deliver(message),
        onGap: (gap) =>
          components.onGap({
            streamPartId: gap.streamPartId,
            publisherId: gap.publisherId,
            msgChainId: gap.messageChainId,
            from: gap.from?.toString(),
            to: gap.to.toString(),
          }),
        onMissing: (gap) => this.fill(gap),
      },
      { gapTimeoutMs: options.gapTimeoutMs ?? 5_000 },
      clockScheduler(clock),
    )
    this.runs = new UndecryptableRuns(components.onError, { quietMs: options.failedKeyMemoryMs, clock })
    // Each publisher chain is validated and decrypted on its own: a chain waiting for a key nobody answers for holds
    // up only itself, never live messages of other chains.
    this.queues = new ChainQueues<Arrival>(
      {
        chainOf: ({ message }) => chainOf(message),
        process: (item) => this.process(item),
        // While history is read, a chain may go idle between pages: its run ends when the history does.
        onIdle: (chain) => {
          if (!this.readingHistory) this.runs.settle(chain)
        },
      },
      { maxQueuedPerChain: bufferSize },
    )
  }

  /** A message from the network. Control messages (key exchange, receipts) are for others to take. */
  live(message: StreamMessage): void {
    if (message.messageType !== MessageType.Data || !this.components.isActive()) return
    // Past a bound a live message is dropped: its chain then sees a gap, filled from storage where it can be.
    if (this.heldLive === undefined) {
      if (!this.queues.push({ message, arrival: 'live' })) this.components.onDropped()
    } else if (this.heldLive.length < this.maxHeldLive) this.heldLive.push(message)
    else this.components.onDropped()
  }

  /**
   * Reads stored history ahead of the live messages held meanwhile, which follow once it ends (read through, or
   * failed: `onError` hears why, and live messages go on). They wait for the fetch, not for its decryption: a chain
   * whose key is slow to come holds up only itself. Resolves once the history read is through: ended, and each of
   * its messages processed (or the pipeline closed).
   */
  async readHistory(feed: AsyncIterable<StreamMessage>, onError: (error: Error) => void): Promise<void> {
    try {
      for await (const message of feed) {
        if (!this.components.isActive()) return
        const item: Arrival = { message, arrival: 'history' }
        // Only a chain with a full queue makes the history wait (memory stays bounded).
        await this.queues.whenRoom(item)
        if (this.queues.push(item)) this.pendingHistory++
      }
    } catch (err) {
      onError(err instanceof Error ? err : new Error(String(err)))
    } finally {
      const live = this.heldLive ?? []
      this.heldLive = undefined
      this.readingHistory = false
      for (const message of live) {
        if (this.components.isActive() && !this.queues.push({ message, arrival: 'held' })) this.components.onDropped()
      }
      this.runs.settleWhere((chain) => this.queues.isIdle(chain))
    }
    // Done once every stored message went through validation and decryption to the ordering (and so to the app).
    if (this.pendingHistory > 0) await new Promise<void>((resolve) => (this.historyDrained = resolve))
  }

  /** Drops everything queued and held, and stops the timers. */
  close(): void {
    this.pendingHistory = 0
    this.historyDrained?.()
    this.queues.clear()
    this.runs.clear()
    this.ordering.clear()
  }

  private process(item: Arrival): Promise<void> {
    // Live messages, the hot path, take no extra promise: only history is counted down.
    if (item.arrival !== 'history') return this.processOne(item)
    return this.processOne(item).finally(() => {
      if (this.pendingHistory > 0 && --this.pendingHistory === 0) this.historyDrained?.()
    })
  }

  private async processOne({ message, arrival }: Arrival): Promise<void> {
    const { isActive } = this.components
    // A copy of what the chain already has (history and live overlap; nodes replay recent messages to one that
    // joins) is dropped before any work, so it can't be reported a second time either.
    if (!isActive() || this.ordering.isSettled(message)) return
    const live = arrival === 'live' || arrival === 'held'
    if (live && !(await this.components.validate(message))) return
    let opened: StreamMessage = message
    if (this.options.raw !== true) {
      const decrypted = await this.components.opener.openReporting(message, chainOf(message), this.runs)
      if (decrypted === undefined) this.undecryptable.add(message)
      else opened = decrypted
    }
    if (!isActive()) return
    if (arrival === 'live' && this.options.ordered === false) this.deliver(opened)
    else this.ordering.add(opened, arrival === 'history')
  }

  private deliver(message: StreamMessage): void {
    if (this.undecryptable.has(message) && this.options.deliverUndecryptable !== true) return
    this.components.deliver(toReceived(message))
  }

  private fill(gap: Gap): void {
    this.components.gapFiller?.fill(gap, {
      isActive: this.components.isActive,
      missing: (wanted) => this.ordering.missing(wanted.streamPartId, wanted.publisherId, wanted.messageChainId),
      // Filled messages take their chain's queue like any other (decrypted in order, failures reported per key).
      add: (message) => void this.queues.push({ message, arrival: 'fill' }),
    })
  }
}
