import type { InvalidMessageEvent, ReceivedMessage, RunnelClient, Subscription } from '@runnel/client'
import { ContentType, encodeStreamMessage, type StreamMessage } from '@runnel/protocol'
import type { TailMessage, TailRate } from './api.js'

/** What a tail's watcher is told. */
export interface TailListener {
  onMessage(message: TailMessage): void
  onRate(rate: TailRate): void
  onProblem(message: string): void
}

/** Kept per tail for a watcher that arrives late: the newest messages, oldest first. */
const RECENT = 50
/** The rate is valid messages over this window. */
const RATE_WINDOW_MS = 5_000
/** A tail nobody watches is unsubscribed after this long (a page reload comes back within it). */
const IDLE_MS = 30_000

interface Tail {
  readonly streamPartId: string
  readonly listeners: Set<TailListener>
  readonly recent: TailMessage[]
  /** Arrival times of valid messages within the rate window, oldest first. */
  readonly arrivals: number[]
  valid: number
  invalid: number
  subscription: Promise<Subscription | undefined>
  problem: string | undefined
  idle: ReturnType<typeof setTimeout> | undefined
}

/**
 * Live tails of public stream parts, one subscription each however many pages watch it. Every message the
 * explorer's node receives is shown with its signature's status: a valid one counts as traffic; a forged one (or
 * one from a publisher without permission) is shown as such and counted apart, never as traffic.
 */
export class Tails {
  private readonly tails = new Map<string, Tail>()
  private readonly rateTimer: ReturnType<typeof setInterval>
  private readonly offInvalid: () => void

  constructor(
    private readonly client: RunnelClient,
    private readonly now: () => number = Date.now,
  ) {
    this.offInvalid = client.on('invalidMessage', (event) => this.takeInvalid(event))
    this.rateTimer = setInterval(() => {
      for (const tail of this.tails.values()) for (const listener of tail.listeners) listener.onRate(this.rate(tail))
    }, 1_000)
    this.rateTimer.unref()
  }

  /** Starts watching a stream part (`<streamId>#<partition>`); returns what stops it. */
  watch(streamId: string, partition: number, listener: TailListener): () => void {
    const streamPartId = `${streamId}#${partition}`
    let tail = this.tails.get(streamPartId)
    if (tail === undefined) {
      tail = {
        streamPartId,
        listeners: new Set(),
        recent: [],
        arrivals: [],
        valid: 0,
        invalid: 0,
        subscription: Promise.resolve(undefined),
        problem: undefined,
        idle: undefined,
      }
      const created = tail
      created.subscription = this.client
        .subscribe({ id: streamId, partition }, (message) => this.takeValid(created, message))
        .catch((err: unknown) => {
          created.problem = `can't follow ${streamPartId}: ${err instanceof Error ? err.message : String(err)}`
          for (const watcher of created.listeners) watcher.onProblem(created.problem)
          this.tails.delete(streamPartId)
          return undefined
        })
      this.tails.set(streamPartId, tail)
    }
    clearTimeout(tail.idle)
    tail.listeners.add(listener)
    for (const message of tail.recent) listener.onMessage(message)
    listener.onRate(this.rate(tail))
    if (tail.problem !== undefined) listener.onProblem(tail.problem)
    const watched = tail
    return () => {
      watched.listeners.delete(listener)
      if (watched.listeners.size > 0) return
      watched.idle = setTimeout(() => {
        if (watched.listeners.size > 0 || this.tails.get(streamPartId) !== watched) return
        this.tails.delete(streamPartId)
        void watched.subscription.then((subscription) => subscription?.unsubscribe())
      }, IDLE_MS)
      watched.idle.unref()
    }
  }

  stop(): void {
    clearInterval(this.rateTimer)
    this.offInvalid()
    for (const tail of this.tails.values()) {
      clearTimeout(tail.idle)
      void tail.subscription.then((subscription) => subscription?.unsubscribe())
    }
    this.tails.clear()
  }

  private takeValid(tail: Tail, message: ReceivedMessage): void {
    tail.valid++
    tail.arrivals.push(this.now())
    this.trim(tail)
    const { content } = message
    this.show(tail, {
      publisherId: message.publisherId,
      timestamp: message.timestamp,
      sequenceNumber: message.sequenceNumber,
      msgChainId: message.msgChainId,
      content: content instanceof Uint8Array ? Buffer.from(content).toString('base64') : content,
      binary: content instanceof Uint8Array,
      signature: 'valid',
      frame: frameOf(message.streamMessage),
    })
  }

  private takeInvalid(event: InvalidMessageEvent): void {
    const tail = this.tails.get(event.streamPartId)
    if (tail === undefined) return
    tail.invalid++
    const message = event.streamMessage
    this.show(tail, {
      publisherId: message.publisherId,
      timestamp: message.timestamp,
      sequenceNumber: message.sequenceNumber,
      msgChainId: message.messageChainId,
      ...contentOf(message),
      signature: event.reason === 'invalid-signature' ? 'forged' : event.reason,
      frame: frameOf(message),
    })
  }

  private show(tail: Tail, message: TailMessage): void {
    tail.recent.push(message)
    if (tail.recent.length > RECENT) tail.recent.shift()
    for (const listener of tail.listeners) listener.onMessage(message)
  }

  private rate(tail: Tail): TailRate {
    this.trim(tail)
    return {
      messagesPerSecond: tail.arrivals.length / (RATE_WINDOW_MS / 1000),
      valid: tail.valid,
      invalid: tail.invalid,
    }
  }

  private trim(tail: Tail): void {
    const cutoff = this.now() - RATE_WINDOW_MS
    let expired = 0
    while (expired < tail.arrivals.length && tail.arrivals[expired]! < cutoff) expired++
    if (expired > 0) tail.arrivals.splice(0, expired)
  }
}

function frameOf(message: StreamMessage): string {
  return Buffer.from(encodeStreamMessage(message)).toString('base64')
}

/** A dropped message's content as the page shows it: JSON when it parses as such, its bytes as base64 otherwise. */
function contentOf(message: StreamMessage): { content: unknown; binary: boolean } {
  if (message.contentType === ContentType.Json) {
    try {
      return { content: JSON.parse(new TextDecoder().decode(message.content)) as unknown, binary: false }
    } catch {
      // Garbage claiming to be JSON: shown as its bytes.
    }
  }
  return { content: Buffer.from(message.content).toString('base64'), binary: true }
}
