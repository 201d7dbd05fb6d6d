import type { RunnelClient } from '@runnel/client'
import {
  MessageType,
  encodeSignedReceipt,
  receiptDigest,
  systemClock,
  type Clock,
  type StreamMessage,
  type Timer,
} from '@runnel/protocol'

export interface ReceiptSenderOptions {
  /** Committed messages are gathered this long before receipts go out: one receipt then covers many. Default 5 ms. */
  readonly intervalMs?: number
  /** Told of a receipt that could not be signed or sent. */
  readonly onError: (err: unknown) => void
  /** Told of each receipt sent and the number of messages it covers. */
  readonly onSent?: (messages: number) => void
  /** Receipts' `signedAt` and the interval's timer. Default: `systemClock`. */
  readonly clock?: Clock
}

/**
 * A storage node's side of storage receipts: after each commit, signs a
 * receipt for each run of linked messages of each publisher chain (each
 * message's `prevMsgRef` naming the one before it in the run) and sends it
 * into the stream part, where the publishing node takes it. At most one round
 * of receipts goes out per `intervalMs`: a busy chain costs one signature per
 * interval, not one per batch, and a quiet one's receipt goes out at once.
 *
 * A run is only ever linked messages: a receipt's digest then covers exactly
 * the messages the publisher holds in its range, and the publisher can check it.
 */
export class ReceiptSender {
  private pending: StreamMessage[] = []
  private timer: Timer | undefined
  private sending: Promise<void> = Promise.resolve()
  private lastSentAt = Number.NEGATIVE_INFINITY
  private readonly intervalMs: number
  private readonly clock: Clock

  constructor(
    private readonly client: Pick<RunnelClient, 'signReceipt' | 'publishControl'>,
    private readonly options: ReceiptSenderOptions,
  ) {
    this.intervalMs = options.intervalMs ?? 5
    this.clock = options.clock ?? systemClock
  }

  /** Messages just committed. */
  committed(messages: readonly StreamMessage[]): void {
    for (const message of messages) this.pending.push(message)
    if (this.timer !== undefined) return
    // Leading edge: the first commit after a quiet interval is receipted at once (a lone publish waiting for its
    // stored ack doesn't pay the interval); commits during the interval after it wait and share one receipt.
    // At most the interval: a wall clock stepped back must not hold receipts (and the stored acks waiting on them).
    const wait = Math.min(this.intervalMs, Math.max(0, this.lastSentAt + this.intervalMs - this.clock.now()))
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined
      this.lastSentAt = this.clock.now()
      this.sending = this.sending.then(() => this.send())
    }, wait)
  }

  /** Sends what is gathered now and waits for every receipt so far to go out. */
  async flush(): Promise<void> {
    this.timer?.cancel()
    this.timer = undefined
    this.sending = this.sending.then(() => this.send())
    await this.sending
  }

  private async send(): Promise<void> {
    const messages = this.pending
    this.pending = []
    for (const run of linkedRuns(messages)) {
      const first = run[0]!
      const last = run.at(-1)!
      try {
        const signed = await this.client.signReceipt({
          kind: 'stored',
          streamPartId: first.streamPartId,
          publisherId: first.publisherId,
          messageChainId: first.messageChainId,
          from: first.getMessageRef(),
          to: last.getMessageRef(),
          messageCount: run.length,
          digest: receiptDigest(run),
          signedAt: this.clock.now(),
        })
        await this.client.publishControl(first.streamPartId, MessageType.StorageReceipt, encodeSignedReceipt(signed))
        this.options.onSent?.(run.length)
      } catch (err) {
        this.options.onError(err)
      }
    }
  }
}

/**
 * Groups messages by publisher chain, sorts each by ref, drops repeats, and
 * splits where a message's `prevMsgRef` isn't the message before it.
 */
export function linkedRuns(messages: readonly StreamMessage[]): StreamMessage[][] {
  const chains = new Map<string, StreamMessage[]>()
  for (const message of messages) {
    const key = `${message.streamPartId}\u0000${message.publisherId}\u0000${message.messageChainId}`
    let chain = chains.get(key)
    if (chain === undefined) chains.set(key, (chain = []))
    chain.push(message)
  }
  const runs: StreamMessage[][] = []
  for (const chain of chains.values()) {
    chain.sort((a, b) => a.timestamp - b.timestamp || a.sequenceNumber - b.sequenceNumber)
    let run: StreamMessage[] = []
    for (const message of chain) {
      const previous = run.at(-1)
      if (previous !== undefined) {
        if (previous.timestamp === message.timestamp && previous.sequenceNumber === message.sequenceNumber) continue
        const link = message.prevMsgRef
        if (
          link === undefined ||
          link.timestamp !== previous.timestamp ||
          link.sequenceNumber !== previous.sequenceNumber
        ) {
          runs.push(run)
          run = []
        }
      }
      run.push(message)
    }
    if (run.length > 0) runs.push(run)
  }
  return runs
}
