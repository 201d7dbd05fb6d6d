import { sleep, systemClock, type Clock, type StreamMessage } from '@runnel/protocol'
import type { MessageOpener } from '../encryption/MessageOpener.js'
import { abortedError, raceAbort, throwIfAborted } from '../abort.js'
import { ClientError } from '../errors.js'
import { toReceived } from '../messages.js'
import type { StreamResolver } from '../streams/StreamResolver.js'
import { UndecryptableRuns, chainOf } from '../subscribe/UndecryptableRuns.js'
import type { PublishedMessage, ReceivedMessage, StreamTarget, WaitOptions } from '../types.js'
import { checkHistoryQuery, type HistoryQuery } from './historyRequests.js'

export interface HistoryComponents {
  readonly streams: Pick<StreamResolver, 'toStreamId' | 'partitionsOf'>
  /** Validated stored messages of a stream part (the {@link Resender}). */
  readonly resender: {
    resend(streamId: string, partition: number, query: HistoryQuery, signal?: AbortSignal): AsyncIterable<StreamMessage>
  }
  readonly opener: Pick<MessageOpener, 'openReporting'>
  /** Keys that couldn't be obtained, one report per run. */
  readonly onError: (error: Error) => void
  readonly clock?: Clock
}

/** Reading stored history for the app: `resend`, and waiting until a message is stored. */
export class History {
  private readonly clock: Clock

  constructor(private readonly components: HistoryComponents) {
    this.clock = components.clock ?? systemClock
  }

  /** See `RunnelClient.resend`. */
  async *resend(target: StreamTarget, query: HistoryQuery, options: WaitOptions = {}): AsyncGenerator<ReceivedMessage> {
    checkHistoryQuery(query)
    const { signal } = options
    throwIfAborted(signal, 'resend')
    const { streams, resender, opener } = this.components
    const streamId = streams.toStreamId(typeof target === 'string' ? target : target.id)
    const partitions = await raceAbort(
      streams.partitionsOf(streamId, typeof target === 'string' ? undefined : target.partition),
      signal,
      'resend',
    )
    // A key that can't be obtained is reported once for the messages it keeps back, not once per message.
    const runs = new UndecryptableRuns(this.components.onError, { clock: this.clock })
    try {
      for (const partition of partitions) {
        for await (const message of resender.resend(streamId, partition, query, signal)) {
          const opened = await raceAbort(opener.openReporting(message, chainOf(message), runs), signal, 'resend')
          if (opened !== undefined) yield toReceived(opened)
        }
      }
    } catch (err) {
      // The fetch ends with the signal's own reason: the caller gets the one typed `ABORTED`.
      if (signal?.aborted === true && !(err instanceof ClientError && err.code === 'ABORTED')) {
        throw abortedError(signal, 'resend')
      }
      throw err
    } finally {
      runs.flushAll()
    }
  }

  /** See `RunnelClient.waitForStorage`. */
  async waitForStorage(
    message: PublishedMessage,
    options: { timeoutMs?: number; intervalMs?: number } & WaitOptions,
  ): Promise<void> {
    const { signal } = options
    const deadline = this.clock.now() + (options.timeoutMs ?? 30_000)
    const ref = { timestamp: message.timestamp, sequenceNumber: message.sequenceNumber }
    const query = { from: ref, to: ref, publisherId: message.publisherId, msgChainId: message.msgChainId }
    let lastError: unknown
    for (;;) {
      throwIfAborted(signal, 'waitForStorage')
      try {
        for await (const stored of this.components.resender.resend(
          message.streamId,
          message.partition,
          query,
          signal,
        )) {
          if (stored.sequenceNumber === message.sequenceNumber && stored.timestamp === message.timestamp) return
        }
      } catch (err) {
        throwIfAborted(signal, 'waitForStorage')
        lastError = err
      }
      if (this.clock.now() >= deadline) {
        throw new ClientError(
          'TIMEOUT',
          `no storage node had ${message.streamId}/${message.partition} ${message.timestamp}:${message.sequenceNumber} after ${options.timeoutMs ?? 30_000} ms`,
          { cause: lastError },
        )
      }
      await sleep(this.clock, options.intervalMs ?? 200, signal).catch(() => throwIfAborted(signal, 'waitForStorage'))
    }
  }
}
