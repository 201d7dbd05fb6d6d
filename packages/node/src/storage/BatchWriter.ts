import type { StreamMessage } from '@runnel/protocol'
import { NodeError } from '../errors.js'
import { storageClosed, storageFailed } from './errors.js'
import type { MessageStore } from './MessageStore.js'

export interface BatchWriterOptions {
  /** A batch is written as soon as this many messages wait. Default 500. */
  readonly maxBatchSize?: number
  /** …or when the oldest waiting message has waited this long. Default 10 ms. */
  readonly maxDelayMs?: number
  /** Messages that may wait for a batch before {@link BatchWriter.store} holds new ones back. Default 10,000. */
  readonly maxQueued?: number
}

/** The clock and timer the writer uses; tests pass fake ones. */
export interface BatchTimers {
  /** Milliseconds, from any origin. */
  now(): number
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export interface BatchWriterComponents {
  readonly store: Pick<MessageStore, 'write'>
  /** Default: `performance.now()` and the global timers. */
  readonly timers?: BatchTimers
  /** Told each batch once it is committed (duplicates of stored messages included). */
  readonly onCommitted?: (messages: readonly StreamMessage[]) => void
}

interface Entry {
  readonly message: StreamMessage
  /** Position in arrival order: batches are written, and settle, in this order. */
  readonly sequence: number
  readonly queuedAt: number
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

interface Waiter {
  readonly ready: () => boolean
  readonly resolve: () => void
}

const defaultTimers: BatchTimers = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
}

/**
 * Groups single messages into batches for a {@link MessageStore}, so that
 * one transaction (and, with SQLite's default, one fsync) covers many
 * messages. A batch is written when `maxBatchSize` messages wait or the
 * oldest has waited `maxDelayMs`, one batch at a time. The age rule also
 * holds right after a write: the few messages that came in during a quick
 * write (SQLite's are synchronous) wait to fill a batch rather than each
 * costing a commit.
 *
 * `store(message)` resolves once the message's batch is committed: only
 * then may the node acknowledge it. A batch that fails rejects the promises
 * of its own messages and no others, and the writer carries on.
 *
 * Backpressure: beyond `maxQueued` waiting messages, a new message is held
 * back (its `store()` takes longer) until batches make room. A producer that
 * does not await each `store()` should await {@link BatchWriter.ready} before
 * taking its next message, so that messages don't pile up in memory.
 *
 * The writer does not own the store: close the writer, then the store.
 *
 * @example
 * ```ts
 * const writer = new BatchWriter({ store }, { maxBatchSize: 500, maxDelayMs: 10 })
 * for await (const message of subscription) {
 *   await writer.ready()
 *   writer.store(message).then(() => acknowledge(message), (err) => log.warn({ err }, 'not stored'))
 * }
 * await writer.close() // writes what is queued
 * ```
 */
export class BatchWriter {
  readonly #store: Pick<MessageStore, 'write'>
  readonly #timers: BatchTimers
  readonly #onCommitted: ((messages: readonly StreamMessage[]) => void) | undefined
  readonly #maxBatchSize: number
  readonly #maxDelayMs: number
  readonly #maxQueued: number
  /** Accepted messages, oldest first, waiting for a batch. */
  #queue: Entry[] = []
  /** Messages held back by backpressure, oldest first. */
  #held: Entry[] = []
  #inFlight = 0
  #nextSequence = 0
  /** Every entry with a lower sequence number has settled. */
  #settledBelow = 0
  /** Entries with a lower sequence number are written without waiting to fill a batch (flush, timer). */
  #urgentBelow = 0
  #waiters: Waiter[] = []
  #timer: unknown
  #writing = false
  #closed = false

  constructor(components: BatchWriterComponents, options: BatchWriterOptions = {}) {
    this.#store = components.store
    this.#timers = components.timers ?? defaultTimers
    this.#onCommitted = components.onCommitted
    this.#maxBatchSize = positiveInteger(options.maxBatchSize ?? 500, 'maxBatchSize')
    this.#maxDelayMs = nonNegative(options.maxDelayMs ?? 10, 'maxDelayMs')
    this.#maxQueued = positiveInteger(options.maxQueued ?? 10_000, 'maxQueued')
  }

  /** Messages not yet committed: waiting, held back, or being written. */
  get backlog(): number {
    return this.#queue.length + this.#held.length + this.#inFlight
  }

  /**
   * Queues a message for the next batch.
   *
   * @returns a promise that resolves once the message is committed (a
   *   duplicate of a stored message counts as committed), or rejects with
   *   {@link NodeError} when its batch failed or the writer is closed
   */
  store(message: StreamMessage): Promise<void> {
    if (this.#closed) return Promise.reject(storageClosed('the batch writer'))
    return new Promise<void>((resolve, reject) => {
      const entry: Entry = {
        message,
        sequence: this.#nextSequence++,
        queuedAt: this.#timers.now(),
        resolve,
        reject,
      }
      // Held messages keep their turn: a newcomer never overtakes them.
      if (this.#held.length > 0 || this.#queue.length >= this.#maxQueued) {
        this.#held.push(entry)
      } else {
        this.#enqueue(entry)
      }
    })
  }

  /** Resolves when fewer than `maxQueued` messages wait, i.e. a new message would not be held back. */
  ready(): Promise<void> {
    return this.#waitFor(() => this.#queue.length + this.#held.length < this.#maxQueued)
  }

  /**
   * Writes what is queued now, without waiting for `maxDelayMs`, and resolves
   * once all of it has settled. Never rejects: each message's own promise
   * reports its failure.
   */
  flush(): Promise<void> {
    const target = this.#nextSequence
    this.#urgentBelow = target
    this.#startWriting()
    return this.#waitFor(() => this.#settledBelow >= target)
  }

  /** Stops taking messages and writes those already queued. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true
    await this.flush()
  }

  #enqueue(entry: Entry): void {
    this.#queue.push(entry)
    if (this.#queue.length >= this.#maxBatchSize) {
      this.#startWriting()
    } else if (!this.#writing) {
      // During a write no timer is needed: the write loop sets one when it ends.
      this.#armTimer()
    }
  }

  /** Sets the timer that writes the queue once its oldest message has waited maxDelayMs, if none is set. */
  #armTimer(): void {
    const oldest = this.#queue[0]
    if (this.#timer !== undefined || oldest === undefined) return
    const delay = Math.max(0, this.#maxDelayMs - (this.#timers.now() - oldest.queuedAt))
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = undefined
      this.#urgentBelow = this.#nextSequence
      this.#startWriting()
    }, delay)
  }

  /** A full batch waits, or the oldest message must go now. */
  #due(): boolean {
    const oldest = this.#queue[0]
    return oldest !== undefined && (this.#queue.length >= this.#maxBatchSize || oldest.sequence < this.#urgentBelow)
  }

  #startWriting(): void {
    if (this.#writing) return
    if (this.#timer !== undefined) {
      this.#timers.clearTimeout(this.#timer)
      this.#timer = undefined
    }
    if (this.#due()) {
      // Never rejects: a failed batch rejects its own messages' promises.
      void this.#writeBatches()
    } else {
      this.#armTimer()
    }
  }

  async #writeBatches(): Promise<void> {
    this.#writing = true
    try {
      while (this.#due()) {
        const batch = this.#queue.splice(0, this.#maxBatchSize)
        this.#inFlight = batch.length
        this.#admitHeld()
        // Taking a batch makes room: ready() may resolve now, not after the write.
        this.#wakeWaiters()
        try {
          const messages = batch.map((entry) => entry.message)
          await this.#store.write(messages)
          for (const entry of batch) entry.resolve()
          this.#onCommitted?.(messages)
        } catch (err) {
          const error =
            err instanceof NodeError ? err : storageFailed(`writing a batch of ${batch.length} messages`, err)
          for (const entry of batch) entry.reject(error)
        }
        this.#inFlight = 0
        this.#settledBelow = batch.at(-1)!.sequence + 1
        this.#wakeWaiters()
      }
    } finally {
      // Cleared, and the timer set for a partial batch left over, in the same
      // synchronous step as the loop's last check: a message stored by a
      // continuation of the last batch's promises then finds no loop running
      // and a timer set, instead of being stranded.
      this.#writing = false
      this.#armTimer()
    }
  }

  #admitHeld(): void {
    while (this.#held.length > 0 && this.#queue.length < this.#maxQueued) {
      this.#queue.push(this.#held.shift()!)
    }
  }

  #waitFor(ready: () => boolean): Promise<void> {
    if (ready()) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push({ ready, resolve }))
  }

  #wakeWaiters(): void {
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!waiter.ready()) return true
      waiter.resolve()
      return false
    })
  }
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new NodeError('INVALID_CONFIG', `storage: ${name} must be a positive integer, got ${String(value)}`)
  }
  return value
}

function nonNegative(value: number, name: string): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new NodeError('INVALID_CONFIG', `storage: ${name} must be a non-negative number, got ${String(value)}`)
  }
  return value
}
