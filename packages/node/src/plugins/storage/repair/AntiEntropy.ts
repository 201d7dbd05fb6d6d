import { MAX_SEQUENCE_NUMBER } from '@runnel/protocol'
import type { BucketDigest, MessageStore } from '../../../storage/index.js'
import { PeerHistory } from './PeerHistory.js'
import type { FetchOutcome, RepairFetcher } from './RepairFetcher.js'
import type { WorkBudget } from './WorkBudget.js'

export interface AntiEntropyComponents {
  readonly store: Pick<MessageStore, 'digests'>
  readonly fetcher: Pick<RepairFetcher, 'fetch'>
  /** Buckets compared, shared by every round. */
  readonly buckets: WorkBudget
  /** The streams this node stores now, and each one's partition count. */
  readonly streams: () => string[]
  readonly partitions: (streamId: string) => Promise<number>
  readonly peers: (streamId: string) => Promise<string[]>
  readonly onPeerFailure: (url: string, err: unknown) => void
  readonly onBuckets: (compared: number, differing: number) => void
  readonly now: () => number
  readonly signal: AbortSignal
}

export interface AntiEntropyOptions {
  /** How far back a round compares, newest first. */
  readonly windowMs: number
  /** The newest stretch left out: messages still on their way differ legitimately. */
  readonly settleMs: number
  readonly bucketMs: number
  /** A differing bucket with more messages than this on the peer is compared again in 16 narrower buckets, rather than fetched whole. */
  readonly maxBucketFetch: number
  readonly requestTimeoutMs: number
}

/** What a round did, summed over every stream part and peer. */
export interface RoundSummary {
  readonly streamParts: number
  readonly peers: number
  readonly peerFailures: number
  readonly bucketsCompared: number
  readonly bucketsDiffering: number
  readonly fetched: number
  readonly repaired: number
  readonly refused: number
  /** The bucket budget ran out before the round covered its whole window. */
  readonly budgetSpent: boolean
}

const REFINE_FACTOR = 16

/**
 * One anti-entropy round: for each stream part this node stores and each other
 * storage node of the stream, compare per-bucket counts and digests over the
 * last `windowMs` (newest bucket first), and copy in the peer's messages of
 * each bucket that differs (narrowing large ones first). Each node pulls what
 * it lacks; with every storage node running rounds, they converge. Work is
 * bounded by the shared budgets: buckets compared and messages fetched per
 * minute.
 */
export class AntiEntropy {
  #rounds = 0

  constructor(
    private readonly components: AntiEntropyComponents,
    private readonly options: AntiEntropyOptions,
  ) {}

  async run(): Promise<RoundSummary> {
    const { bucketMs, windowMs, settleMs } = this.options
    const to = Math.floor((this.components.now() - settleMs) / bucketMs) * bucketMs
    const from = Math.max(0, to - Math.ceil(windowMs / bucketMs) * bucketMs)
    const total = {
      streamParts: 0,
      peers: 0,
      peerFailures: 0,
      bucketsCompared: 0,
      bucketsDiffering: 0,
      fetched: 0,
      repaired: 0,
      refused: 0,
      budgetSpent: false,
    }
    if (to <= from) return total
    // Each round starts one stream further: a budget spent before the last stream doesn't leave it out every time.
    const streams = this.components.streams()
    const first = streams.length === 0 ? 0 : this.#rounds++ % streams.length
    for (const streamId of [...streams.slice(first), ...streams.slice(0, first)]) {
      if (this.components.signal.aborted) break
      let partitions: number
      let urls: string[]
      try {
        partitions = await this.components.partitions(streamId)
        urls = await this.components.peers(streamId)
      } catch {
        continue // the chain can't be read now: next round
      }
      for (let partition = 0; partition < partitions; partition++) {
        total.streamParts++
        for (const url of urls) {
          if (this.components.signal.aborted || total.budgetSpent) return total
          total.peers++
          try {
            await this.#compare(url, streamId, partition, from, to, bucketMs, total)
          } catch (err) {
            if (this.components.signal.aborted) return total
            total.peerFailures++
            this.components.onPeerFailure(url, err)
          }
        }
      }
    }
    return total
  }

  async #compare(
    url: string,
    streamId: string,
    partition: number,
    from: number,
    to: number,
    bucketMs: number,
    total: { -readonly [K in keyof RoundSummary]: RoundSummary[K] },
  ): Promise<void> {
    // Recent history first: with less budget than buckets, the window shrinks to its newest part.
    const wanted = Math.ceil((to - from) / bucketMs)
    const granted = this.components.buckets.take(wanted)
    if (granted < wanted) total.budgetSpent = true
    if (granted === 0) return
    const start = to - granted * bucketMs >= from ? to - granted * bucketMs : from
    const signal = AbortSignal.any([this.components.signal, AbortSignal.timeout(this.options.requestTimeoutMs)])
    const window = { from: start, to, bucketMs }
    const [remote, local] = await Promise.all([
      PeerHistory.digests(url, streamId, partition, window, signal),
      this.components.store.digests(`${streamId}#${partition}`, start, to, bucketMs),
    ])
    const held = new Map<number, BucketDigest>(local.map((bucket) => [bucket.start, bucket]))
    const differing = remote.filter((bucket) => {
      const mine = held.get(bucket.start)
      return mine === undefined || mine.count !== bucket.count || mine.digest !== bucket.digest
    })
    total.bucketsCompared += granted
    total.bucketsDiffering += differing.length
    this.components.onBuckets(granted, differing.length)
    for (const bucket of differing.reverse()) {
      if (this.components.signal.aborted) return
      const end = Math.min(bucket.start + bucketMs, to)
      if (bucket.count > this.options.maxBucketFetch && bucketMs > 1) {
        await this.#compare(url, streamId, partition, bucket.start, end, Math.ceil(bucketMs / REFINE_FACTOR), total)
        continue
      }
      const outcome: FetchOutcome = await this.components.fetcher.fetch(
        url,
        {
          streamId,
          partition,
          from: { timestamp: bucket.start, sequenceNumber: 0 },
          to: { timestamp: end - 1, sequenceNumber: MAX_SEQUENCE_NUMBER },
        },
        'anti-entropy',
      )
      total.fetched += outcome.fetched
      total.repaired += outcome.repaired
      total.refused += outcome.refused
    }
  }
}
