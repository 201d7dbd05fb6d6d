import { setTimeout as sleep } from 'node:timers/promises'
import type { MessageStore } from '../../../storage/index.js'
import type { CheckResult, ExpectedRange, FetchedMessageCheck, RefusalReason } from './FetchedMessageCheck.js'
import { PeerHistory } from './PeerHistory.js'
import type { WorkBudget } from './WorkBudget.js'

/** Batches being checked at once per fetch, besides the one being read: enough to keep every signature worker busy. */
const MAX_BATCHES_IN_FLIGHT = 4

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
    const { messages, signal } = this.components
    const outcome = { fetched: 0, repaired: 0, refused: 0 }
    let from = range.from
    for (;;) {
      const granted = await this.#grant(this.options.maxPerRequest)
      if (granted === 0) break
      const requestSignal = AbortSignal.any([signal, AbortSignal.timeout(this.options.requestTimeoutMs)])
      const position: { last?: { timestamp: number; sequenceNumber: number } } = {}
      let received = 0
      let batch: Uint8Array[] = []
      // Batches are checked concurrently (on worker threads) while later ones are read, and written in order.
      const checking: Promise<CheckResult>[] = []
      let writing: Promise<void> = Promise.resolve()
      let failure: { error: unknown } | undefined
      const flush = async (): Promise<void> => {
        if (batch.length > 0) {
          const result = this.components.check.check(batch, range)
          result.catch(() => {}) // awaited in order, by the write
          checking.push(result)
          writing = writing.then(async () => this.#write(await result, source, outcome, position))
          writing.catch((error: unknown) => (failure ??= { error }))
          batch = []
        }
        while (checking.length > MAX_BATCHES_IN_FLIGHT) await checking.shift()!.catch(() => {})
        // A check or write that failed ends the fetch now, not after the rest of the response.
        if (failure !== undefined) throw failure.error
      }
      try {
        for await (const frame of PeerHistory.range(url, { ...range, from }, granted, requestSignal)) {
          batch.push(frame)
          received++
          if (batch.length >= this.options.batchSize) await flush()
        }
        await flush()
        await writing
      } catch (err) {
        await writing.catch(() => {})
        throw err
      } finally {
        outcome.fetched += received
        this.components.onFetched(received)
        messages.refund(granted - received)
      }
      // A short answer is the whole range; a full one goes on after its last message (which the store then ignores).
      const { last } = position
      if (received < granted || last === undefined) break
      if (last.timestamp === from.timestamp && last.sequenceNumber === from.sequenceNumber) break
      from = last
    }
    return outcome
  }

  /** Writes what passed the checks of a batch in one transaction; `position.last` becomes its newest accepted ref. */
  async #write(
    result: CheckResult,
    source: RepairSource,
    outcome: { repaired: number; refused: number },
    position: { last?: { timestamp: number; sequenceNumber: number } },
  ): Promise<void> {
    for (const [reason, count] of result.refused) {
      outcome.refused += count
      this.components.onRefused(reason, count)
    }
    if (result.accepted.length === 0) return
    const written = await this.components.store.write(result.accepted, result.acceptedFrames)
    outcome.repaired += written
    if (written > 0) this.components.onRepaired(source, written)
    const newest = result.accepted.at(-1)!
    position.last = { timestamp: newest.timestamp, sequenceNumber: newest.sequenceNumber }
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
