import { setTimeout as sleep } from 'node:timers/promises'
import type { MessageStore } from '../../../storage/index.js'
import type { ExpectedRange, FetchedMessageCheck, RefusalReason } from './FetchedMessageCheck.js'
import { PeerHistory } from './PeerHistory.js'
import type { WorkBudget } from './WorkBudget.js'

/** What asked for the messages: a hole in a publisher chain, or a bucket that differed. */
export type RepairSource = 'hole' | 'anti-entropy'

export interface RepairFetcherComponents {
  readonly store: Pick<MessageStore, 'write'>
  readonly check: FetchedMessageCheck
  /** Messages fetched, shared by everything repair does. */
  readonly messages: WorkBudget
  readonly onFetched: (count: number) => void
  readonly onRepaired: (source: RepairSource, count: number) => void
  readonly onRefused: (reason: RefusalReason, count: number) => void
  /** Aborted when the node stops. */
  readonly signal: AbortSignal
}

export interface RepairFetcherOptions {
  /** Messages checked and written per transaction. */
  readonly batchSize: number
  /** Most messages one request asks for; a longer range takes several requests. */
  readonly maxPerRequest: number
  readonly requestTimeoutMs: number
}

export interface FetchOutcome {
  readonly fetched: number
  readonly repaired: number
  readonly refused: number
}

/**
 * Copies a range from another storage node into this node's store: fetched
 * as binary frames, checked batch by batch ({@link FetchedMessageCheck}) and
 * written straight to the store, one transaction per batch. Writes are
 * idempotent (a message already held is ignored), so a range that overlaps
 * what the node has costs reading, never duplicates. Not the live path: no
 * receipt or acknowledgement follows a repaired message.
 *
 * Every message fetched is taken from the shared per-minute budget first;
 * when it is spent, the fetch waits for it to refill.
 */
export class RepairFetcher {
  constructor(
    private readonly components: RepairFetcherComponents,
    private readonly options: RepairFetcherOptions,
  ) {}

  /** Fetches `range` from the peer at `url`. Rejects with `STORAGE_UNAVAILABLE` when the peer fails or answers garbage. */
  async fetch(url: string, range: ExpectedRange, source: RepairSource): Promise<FetchOutcome> {
    const { store, check, messages, signal } = this.components
    let from = range.from
    let fetched = 0
    let repaired = 0
    let refused = 0
    for (;;) {
      const granted = await this.#grant(this.options.maxPerRequest)
      if (granted === 0) break
      const requestSignal = AbortSignal.any([signal, AbortSignal.timeout(this.options.requestTimeoutMs)])
      let received = 0
      let last: { timestamp: number; sequenceNumber: number } | undefined
      let batch: Uint8Array[] = []
      const flush = async (): Promise<void> => {
        if (batch.length === 0) return
        const frames = batch
        batch = []
        const result = await check.check(frames, range)
        for (const [reason, count] of result.refused) {
          refused += count
          this.components.onRefused(reason, count)
        }
        if (result.accepted.length > 0) {
          const written = await store.write(result.accepted)
          repaired += written
          if (written > 0) this.components.onRepaired(source, written)
          const newest = result.accepted.at(-1)!
          last = { timestamp: newest.timestamp, sequenceNumber: newest.sequenceNumber }
        }
      }
      try {
        for await (const frame of PeerHistory.range(url, { ...range, from }, granted, requestSignal)) {
          batch.push(frame)
          received++
          if (batch.length >= this.options.batchSize) await flush()
        }
        await flush()
      } finally {
        fetched += received
        this.components.onFetched(received)
        messages.refund(granted - received)
      }
      // A short answer is the whole range; a full one goes on after its last message (which the store then ignores).
      if (received < granted || last === undefined) break
      if (last.timestamp === from.timestamp && last.sequenceNumber === from.sequenceNumber) break
      from = last
    }
    return { fetched, repaired, refused }
  }

  async #grant(wanted: number): Promise<number> {
    const { messages, signal } = this.components
    for (;;) {
      if (signal.aborted) return 0
      const granted = messages.take(wanted)
      if (granted > 0) return granted
      await sleep(messages.msUntilAvailable(), undefined, { signal }).catch(() => {})
    }
  }
}
