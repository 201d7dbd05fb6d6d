import type { Timer } from '@runnel/protocol'
import { WebSocket } from 'ws'
import type { ApiError } from '../../api/ApiError.js'
import type { ApiGateway } from '../../api/ApiGateway.js'
import type { Logger } from '../../logger.js'
import type { EgressQueue, EgressSocket } from './EgressWriter.js'
import type { EncodedMessage } from './EncodedMessage.js'
import type { FanoutSink } from './FanoutGroups.js'

/** Messages kept for a subscriber whose handshake is still under way; more are dropped (and counted). */
const MAX_EARLY_MESSAGES = 10_000
/** How long a shed subscriber has to read its backlog and the close frame before its socket is cut. */
export const SHED_GRACE_MS = 5_000
/** RFC 6455 close code 1008, "policy violation": the subscriber broke the node's bound on unsent bytes. */
export const SLOW_SUBSCRIBER_CLOSE_CODE = 1008

/** The socket a subscriber's messages go to, once its handshake is done. */
export interface WebSocketTarget {
  readonly socket: WebSocket
  /** The TCP socket under `socket`: frames are written to it directly, already built. */
  readonly raw: EgressSocket
  /** Tells the subscriber of failed history (an error frame). */
  answerError(error: ApiError): void
}

/**
 * One WebSocket subscriber of a fan-out group. Each message goes out as the
 * frame its group built once for every subscriber of its format (payload
 * wrapped or not), written straight to the TCP socket. Messages that arrive
 * before the handshake is done wait for it.
 *
 * A subscriber with more than `delivery.maxSubscriberBufferBytes` unsent is
 * shed: it gets no more messages, what the node still holds for it is dropped
 * (its memory goes at once, not when the socket does), it is closed with code
 * 1008 and a reason naming the bound (the close frame follows what its socket
 * was already handed, so a client that resumes reading gets that, then the
 * reason), and is cut off {@link SHED_GRACE_MS} later if it hasn't read that
 * far. Counted in
 * `runnel_api_connections_cut_total{reason="slow_subscriber"}`.
 *
 * @example
 * ```ts
 * const sink = new WebSocketSink(gateway, logger, streamId, false, () => leave())
 * const leave = await groups.join(key, sink, open)
 * sink.attach({ socket, raw, answerError })
 * ```
 */
export class WebSocketSink implements FanoutSink {
  private early: EncodedMessage[] | undefined = []
  private earlyErrors: ApiError[] = []
  private target: WebSocketTarget | undefined
  private queue: EgressQueue | undefined
  private cutTimer: Timer | undefined
  /** True once the subscriber was shed for reading too slowly. */
  shed = false

  constructor(
    private readonly gateway: ApiGateway,
    private readonly logger: Logger,
    private readonly streamId: string,
    private readonly wrapped: boolean,
    /** Takes the subscriber out of its group. */
    private readonly onShed: () => void,
  ) {}

  /** The handshake is done: what waited goes out, and the rest as it comes. */
  attach(target: WebSocketTarget): void {
    this.target = target
    // Frames queued behind a close frame (the node's, or the answer to the client's) would break the protocol.
    this.queue = this.gateway.egress.open(target.raw, () => target.socket.readyState === WebSocket.OPEN)
    const early = this.early ?? []
    this.early = undefined
    for (const encoded of early) this.deliver(encoded)
    for (const error of this.earlyErrors.splice(0)) target.answerError(error)
  }

  deliver(encoded: EncodedMessage): number {
    const { target, queue } = this
    if (target === undefined || queue === undefined) {
      if (this.early !== undefined && this.early.length < MAX_EARLY_MESSAGES) this.early.push(encoded)
      else this.gateway.metrics.dropped.inc({ api: 'websocket' })
      return 0
    }
    if (this.shed || target.socket.readyState !== WebSocket.OPEN) return 0
    const frame = encoded.webSocketFrame(this.wrapped)
    if (queue.write(frame)) return frame.byteLength
    this.shedSlow(target, queue)
    return 0
  }

  resendError(error: ApiError): void {
    if (this.target === undefined) this.earlyErrors.push(error)
    else this.target.answerError(error)
  }

  /** The socket closed: drops what was queued for it, and stops the cut-off timer. */
  closed(): void {
    this.queue?.discard()
    this.cutTimer?.cancel()
  }

  private shedSlow(target: WebSocketTarget, queue: EgressQueue): void {
    this.shed = true
    const { gateway } = this
    const limit = gateway.delivery.maxSubscriberBufferBytes
    gateway.metrics.connectionsCut.inc({ api: 'websocket', reason: 'slow_subscriber' })
    this.logger.warn(
      { streamId: this.streamId, unsentBytes: queue.unsentBytes, limit },
      'websocket subscriber reads too slowly: closing it (1008)',
    )
    queue.discard()
    this.onShed()
    target.socket.close(SLOW_SUBSCRIBER_CLOSE_CODE, `slow subscriber: more than ${limit} bytes unsent`)
    this.cutTimer = gateway.clock.setTimeout(() => target.socket.terminate(), SHED_GRACE_MS, { unref: true })
  }
}
