import { splitStreamPartId, type StreamMessage, type StreamPartId } from '@runnel/protocol'
import type { Gap, OrderingBuffer } from '../ordering/OrderingBuffer.js'
import type { Resender } from './Resender.js'

export interface GapFillerOptions {
  /** Wait before the first request (the message may still be on its way); each later wait doubles. */
  readonly delayMs: number
  /** Requests per gap; 0 turns gap fill off. */
  readonly attempts: number
  readonly onError: (err: Error) => void
}

/**
 * Fetches messages a live subscription missed from storage and feeds them to
 * its ordering buffer, a bounded number of times, while the gap lasts. What it
 * can't fill the buffer reports as a gap after its timeout.
 */
export class GapFiller {
  constructor(
    private readonly resender: Resender,
    private readonly options: GapFillerOptions,
  ) {}

  /** `open` readies a stored message for the subscription (decrypts it); undefined drops it. */
  fill(
    gap: Gap,
    ordering: OrderingBuffer,
    subscription: {
      readonly isActive: () => boolean
      readonly open: (message: StreamMessage) => Promise<StreamMessage | undefined>
    },
  ): void {
    const { isActive } = subscription
    if (this.options.attempts <= 0 || gap.from === undefined) return
    const { streamId, partition } = splitStreamPartId(gap.streamPartId as StreamPartId)
    const stillMissing = (): Gap | undefined =>
      isActive() ? ordering.missing(gap.streamPartId, gap.publisherId, gap.messageChainId) : undefined
    const attempt = async (remaining: number, delay: number): Promise<void> => {
      const missing = stillMissing()
      // Filled, given up, or a later gap of the same chain (which has its own fill running).
      if (missing === undefined || missing.to.compareTo(gap.to) !== 0) return
      const from = missing.from ?? gap.from!
      try {
        if (!(await this.resender.hasStorage(streamId))) return
        const query = {
          from: { timestamp: from.timestamp, sequenceNumber: from.sequenceNumber },
          to: { timestamp: missing.to.timestamp, sequenceNumber: missing.to.sequenceNumber },
          publisherId: gap.publisherId,
          msgChainId: gap.messageChainId,
        }
        for await (const message of this.resender.resend(streamId, partition, query)) {
          if (!isActive()) return
          const opened = await subscription.open(message)
          if (opened !== undefined && isActive()) ordering.add(opened)
        }
      } catch (err) {
        this.options.onError(err instanceof Error ? err : new Error(String(err)))
      }
      // Each wait doubles: a storage node that is behind gets time to catch up before the gap timeout.
      if (remaining > 1) schedule(remaining - 1, delay * 2)
    }
    const schedule = (remaining: number, delay: number): void => {
      const timer = setTimeout(() => void attempt(remaining, delay), delay)
      if (typeof timer === 'object' && 'unref' in timer) timer.unref()
    }
    schedule(this.options.attempts, this.options.delayMs)
  }
}
