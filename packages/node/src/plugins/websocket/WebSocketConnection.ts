import type { Duplex } from 'node:stream'
import type { PublishedMessage } from '@runnel/client'
import { WebSocket, type RawData } from 'ws'
import type { ApiError } from '../../api/ApiError.js'
import type { ApiGateway } from '../../api/ApiGateway.js'
import { decodeJsonText, parseJsonMessage, type PublishParams } from '../../api/requests.js'
import { NodeError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import { admitWebSocketFrame } from '../limits.js'
import type { EgressSocket } from '../fanout/EgressWriter.js'
import type { WebSocketSink } from '../fanout/WebSocketSink.js'
import { httpResponse, type WebSocketAction } from './routes.js'

/** A publisher with this many frames waiting to be published isn't read until half of them are. */
const MAX_WAITING_PUBLISHES = 256

/** What a connection needs of the plugin that accepted it. */
export interface WebSocketConnectionContext {
  readonly gateway: ApiGateway
  readonly logger: Logger
  /** True once the plugin is stopping: failures of frames it cut off are no one's to hear. */
  stopping(): boolean
  /** Publishers: the client their frames are charged to, when the node has quotas. */
  readonly quotaClient?: string | undefined
}

/**
 * One open WebSocket of the API, after the handshake: a subscriber's deliveries (with backpressure) or a
 * publisher's frames (published one after another, acked or refused by `seq`), and its keep-alive state.
 */
export class WebSocketConnection {
  /** Answered the last ping (or hasn't been pinged yet). */
  alive = true
  /** Subscribers: where the messages of its fan-out group come in. */
  sink: WebSocketSink | undefined
  /** Publishers: each frame is published after the one before, in the order received. */
  private queue: Promise<void> = Promise.resolve()
  private waiting = 0
  /** Publishers: frames received so far; a frame's number is what its ack (or error) frame names as `seq`. */
  private received = 0
  private released = false
  /** Publishers: frames refused over the quota since the last one admitted. */
  private readonly quotaState = { refusedInARow: 0 }

  constructor(
    private readonly context: WebSocketConnectionContext,
    readonly socket: WebSocket,
    /** The TCP socket under `socket`, which subscribers' frames are written to already built. */
    readonly raw: EgressSocket,
    readonly streamId: string,
    readonly action: WebSocketAction,
    /** This connection as an API caller (its own chain for explicit timestamps). */
    readonly caller: string,
    private readonly onRelease: () => void,
  ) {}

  /** Ends what the connection holds (its subscription); safe to call more than once. */
  release(): void {
    if (this.released) return
    this.released = true
    this.onRelease()
  }

  /** Settles when every frame received so far has been published or refused. */
  drained(): Promise<void> {
    return this.queue
  }

  /** Marks the connection alive when it answers a ping. */
  pong(): void {
    this.alive = true
  }

  /** Publishes each frame the client sends, in order. */
  publishFrames(params: PublishParams, wrapped: boolean): void {
    this.socket.on('message', (data, isBinary) => this.receive(toBuffer(data), isBinary, params, wrapped))
  }

  private receive(data: Buffer, binary: boolean, params: PublishParams, wrapped: boolean): void {
    const { socket } = this
    const seq = ++this.received
    const acked = params.ack === undefined ? undefined : seq
    if (!this.admit(data.byteLength, acked)) return
    let admitted: () => void
    try {
      admitted = this.context.gateway.pushback.admit()
    } catch (err) {
      // Saturated: refused at once, with its seq whatever the ack level, so the client knows which frame to resend.
      return this.answerError(this.context.gateway.fail('websocket', err, { streamId: this.streamId }), seq)
    }
    // Stop reading a client that sends faster than the node publishes: TCP then slows it down.
    if (++this.waiting >= MAX_WAITING_PUBLISHES) socket.pause()
    const refused = (err: unknown): void => {
      // Frames still queued when the node stops fail on the destroyed client; that is no error to report.
      if (!this.context.stopping()) {
        this.answerError(this.context.gateway.fail('websocket', err, { streamId: this.streamId }), acked)
      }
    }
    this.queue = this.queue.then(async () => {
      try {
        const sent = this.publish(data, binary, params, wrapped)
        sent.then(admitted, admitted)
        const { published, stored } = await sent
        // The next frame goes out now; this one's ack follows when its level is reached.
        if (params.ack !== undefined) {
          stored.then(() => this.answer({ ack: { seq, level: params.ack, message: published } }), refused)
        }
      } catch (err) {
        refused(err)
      }
      if (--this.waiting <= MAX_WAITING_PUBLISHES / 2 && socket.isPaused) {
        socket.resume()
        // Pongs went unread while paused: start the keep-alive check afresh.
        this.alive = true
      }
    })
  }

  private async publish(
    data: Buffer,
    binary: boolean,
    params: PublishParams,
    wrapped: boolean,
  ): Promise<{ published: PublishedMessage; stored: Promise<void> }> {
    const { gateway } = this.context
    // Before parsing: an oversized frame is refused without spending time on its JSON.
    gateway.checkSize(data.byteLength)
    if (binary) {
      if (wrapped) {
        throw new NodeError(
          'BAD_REQUEST',
          'payloadMetadata is on: send { "content": …, "metadata": { … } } as a text frame (binary frames are unwrapped binary content)',
        )
      }
      return gateway.publishPipelined(
        'websocket',
        this.caller,
        this.streamId,
        new Uint8Array(data),
        data.byteLength,
        params,
      )
    }
    const { content, metadata } = parseJsonMessage(decodeJsonText(data), wrapped)
    return gateway.publishPipelined('websocket', this.caller, this.streamId, content, data.byteLength, params, metadata)
  }

  /** Charges a frame to the client's quota; over it, the frame is answered with an error and dropped. */
  private admit(bytes: number, seq: number | undefined): boolean {
    const { gateway, quotaClient } = this.context
    if (quotaClient === undefined) return true
    return admitWebSocketFrame(
      gateway.quotas,
      this.quotaState,
      quotaClient,
      bytes,
      (err) => this.answerError(gateway.fail('websocket', err, { streamId: this.streamId }), seq),
      (code, reason) => this.socket.close(code, reason),
    )
  }

  /** A refused frame is answered on the socket, which stays open for the next one. */
  answerError(error: ApiError, seq?: number): void {
    const { code, message, retryAfterSeconds } = error
    const retry = code === 'OVERLOADED' && { retryAfterMs: this.context.gateway.pushback.retryAfterMs }
    this.answer({
      error: { code, message, ...(retryAfterSeconds !== undefined && { retryAfterSeconds }), ...retry },
      ...(seq !== undefined && { seq }),
    })
  }

  private answer(frame: object): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame))
  }
}

/** Refuses an upgrade before the handshake: the error's HTTP status and the API's JSON error, then the socket closes. */
export function refuseUpgrade(socket: Duplex, error: ApiError): void {
  if (!socket.writable) return void socket.destroy()
  const headers: Record<string, string> = error.status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {}
  if (error.retryAfterSeconds !== undefined) headers['Retry-After'] = String(error.retryAfterSeconds)
  socket.once('finish', () => socket.destroy())
  socket.end(httpResponse(error.status, { error: { code: error.code, message: error.message } }, headers))
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)
}
