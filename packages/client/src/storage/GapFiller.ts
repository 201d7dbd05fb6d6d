import { splitStreamPartId, systemClock, type Clock, type StreamMessage, type StreamPartId } from '@runnel/protocol'
import type { Gap } from '../ordering/OrderingBuffer.js'
import type { HistoryQuery } from './historyRequests.js'

export interface GapFillerOptions {
  /** Wait before the first request (the message may still be on its way); each later wait doubles. */
  readonly delayMs: number
  /** Requests per gap; 0 turns gap fill off. */
  readonly attempts: number
}

/** Where filled messages come from: the stream's storage nodes (a {@link Resender}). */
export interface GapFillSource {
  /** Whether any storage node stores the stream. */
  hasStorage(streamId: string): Promise<boolean>
  resend(streamId: string, partition: number, query: HistoryQuery): AsyncIterable<StreamMessage>
}

export interface GapFillerComponents {
  readonly source: GapFillSource
  readonly clock?: Clock
  /** A request that failed; the next attempt (if any) still runs. */
  readonly onError: (err: Error) => void
}

/** The subscription a gap is filled for. */
export interface GapFillTarget {
  readonly isActive: () => boolean
  /** What the gap's chain still waits for: undefined once filled or given up. */
  readonly missing: (gap: Gap) => Gap | undefined
  /** Takes a stored message into the subscription (it is validated there like any other, and decrypted in order). */
  readonly add: (message: StreamMessage) => void
}

/**
 * Fetches messages a live subscription missed from storage and feeds them to
 * the subscription, a bounded number of times, while the gap lasts. What it
 * can't fill the subscription's ordering buffer reports as a gap after its timeout.
 */
export class GapFiller {
  private readonly clock: Clock

  constructor(
    private readonly components: GapFillerComponents,
    private readonly options: GapFillerOptions,
  ) {
    this.clock = components.clock ?? systemClock
  }

  fill(gap: Gap, target: GapFillTarget): void {
    const { isActive } = target
    if (this.options.attempts <= 0 || gap.from === undefined) return
    const { streamId, partition } = splitStreamPartId(gap.streamPartId as StreamPartId)
    const attempt = async (remaining: number, delay: number): Promise<void> => {
      const missing = isActive() ? target.missing(gap) : undefined
      // Filled, given up, or a later gap of the same chain (which has its own fill running).
      if (missing === undefined || missing.to.compareTo(gap.to) !== 0) return
      const from = missing.from ?? gap.from!
      try {
        if (!(await this.components.source.hasStorage(streamId))) return
        const query = {
          from: { timestamp: from.timestamp, sequenceNumber: from.sequenceNumber },
          to: { timestamp: missing.to.timestamp, sequenceNumber: missing.to.sequenceNumber },
          publisherId: gap.publisherId,
          msgChainId: gap.messageChainId,
        }
        for await (const message of this.components.source.resend(streamId, partition, query)) {
          if (!isActive()) return
          target.add(message)
        }
      } catch (err) {
        this.components.onError(err instanceof Error ? err : new Error(String(err)))
      }
      // Each wait doubles: a storage node that is behind gets time to catch up before the gap timeout.
      if (remaining > 1) schedule(remaining - 1, delay * 2)
    }
    const schedule = (remaining: number, delay: number): void => {
      this.clock.setTimeout(() => void attempt(remaining, delay), delay, { unref: true })
    }
    schedule(this.options.attempts, this.options.delayMs)
  }
}
