import { MessageQueue } from '@runnel/network'
import type { ReceivedMessage } from './types.js'

/**
 * A live subscription: an async iterable of validated, ordered messages.
 * Ends with `unsubscribe()` here or `client.unsubscribe(...)`.
 * At most `bufferSize` unread messages are kept; a reader that falls further
 * behind loses the oldest (counted in `dropped`).
 *
 * @example
 * ```ts
 * const subscription = await client.subscribe(streamId)
 * for await (const message of subscription) console.log(message.content)
 * ```
 */
export class Subscription implements AsyncIterable<ReceivedMessage> {
  private readonly queue: MessageQueue<ReceivedMessage>
  private readonly cleanups: (() => void)[] = []
  private active = true
  private droppedOnArrival = 0
  private history: Promise<void> = Promise.resolve()

  constructor(
    readonly streamId: string,
    readonly partitions: readonly number[],
    bufferSize: number,
  ) {
    this.queue = new MessageQueue(bufferSize)
  }

  /**
   * Settles once the history of `subscribe({ resend })` is through: resolves when every stored message was handed to
   * the app (live messages follow from then on), or when the subscription ended first; rejects with the error that
   * stopped the history (also reported to `onResendError` or the client's `error` event), after which live messages
   * go on. Resolved from the start for a subscription without `resend`. Streamr's `resendComplete` event.
   *
   * @example
   * ```ts
   * const subscription = await client.subscribe(streamId, onMessage, { resend: { last: 100 } })
   * await subscription.resendCompleted
   * showLiveBadge()
   * ```
   */
  get resendCompleted(): Promise<void> {
    return this.history
  }

  /**
   * Messages lost to this subscription's bounds: the reader fell more than `bufferSize` behind, or more than
   * `bufferSize` messages of one chain waited to be validated and decrypted (a chain that waits for its key), or
   * arrived while history was fetched.
   */
  get dropped(): number {
    return this.queue.dropped + this.droppedOnArrival
  }

  get isActive(): boolean {
    return this.active
  }

  /** Stops delivery and ends iteration. */
  unsubscribe(): void {
    if (!this.active) return
    this.active = false
    for (const cleanup of this.cleanups.splice(0)) cleanup()
    this.queue.close()
  }

  /** Iterates messages; leaving the loop (`break`, `return`, a throw) unsubscribes. */
  [Symbol.asyncIterator](): AsyncIterator<ReceivedMessage> {
    const iterator = this.queue[Symbol.asyncIterator]()
    return {
      next: () => iterator.next(),
      return: () => {
        this.unsubscribe()
        return Promise.resolve({ value: undefined, done: true })
      },
    }
  }

  /** @internal */
  setResendCompleted(history: Promise<void>): void {
    // Unwatched, a failed history must not become an unhandled rejection: whoever awaits it still sees the error.
    history.catch(() => {})
    this.history = history
  }

  /** @internal */
  push(message: ReceivedMessage): void {
    if (this.active) this.queue.push(message)
  }

  /** @internal */
  countDropped(): void {
    this.droppedOnArrival++
  }

  /** @internal */
  onUnsubscribe(cleanup: () => void): void {
    if (this.active) this.cleanups.push(cleanup)
    else cleanup()
  }
}
