import { FRAME_TOO_LARGE_REASON, type ConnectionHandlers, type TransportConnection } from '../Transport.js'

/** The part of the WHATWG WebSocket API used here; browsers' and `ws`'s sockets both have it. */
export interface WebSocketLike {
  binaryType: string
  readonly bufferedAmount: number
  readonly readyState: number
  onmessage: ((event: { data: unknown }) => void) | null
  onclose: ((event: { code: number; reason: string }) => void) | null
  onerror: ((event: unknown) => void) | null
  send(data: Uint8Array): void
  close(code?: number, reason?: string): void
}

const OPEN = 1
/** RFC 6455 close code for "message too big". */
const CLOSE_TOO_BIG = 1009
const textEncoder = new TextEncoder()

/**
 * Lets a runtime batch writes: the first send of a turn corks the socket and
 * schedules one uncork, so every frame sent to this peer in that turn leaves
 * in one write. Node.js provides it; browsers batch on their own.
 */
export interface WriteBatching {
  cork(): void
  uncork(): void
  /** Runs `callback` once the current batch of work is done (Node.js: setImmediate). */
  schedule(callback: () => void): void
}

/** Adapts an open WebSocket to {@link TransportConnection}. */
export class WebSocketConnection implements TransportConnection {
  readonly transportKind = 'websocket'
  private corked = false
  private readonly uncork = (): void => {
    this.corked = false
    this.batching?.uncork()
  }

  private handlers: ConnectionHandlers | undefined
  private held: Uint8Array[] = []
  private closedReason: string | undefined
  private closeReported = false
  /** Closed with `drain`: frames still arriving are handed on until the closing handshake ends. */
  private draining = false

  /** @param onClosed tells the owning transport to forget this connection. */
  constructor(
    private readonly socket: WebSocketLike,
    readonly remoteAddress: string,
    private readonly onClosed?: (connection: WebSocketConnection) => void,
    private readonly batching?: WriteBatching,
  ) {
    // Browsers deliver Blobs by default; `ws` gives Buffers (Uint8Arrays) for 'nodebuffer'.
    if (socket.binaryType === 'blob') socket.binaryType = 'arraybuffer'
    socket.onmessage = (event) => this.receive(toBytes(event.data))
    socket.onclose = (event) => {
      this.draining = false
      const reason =
        event.code === CLOSE_TOO_BIG || this.tooBig
          ? `${FRAME_TOO_LARGE_REASON}: ${event.reason || 'message too big'}`
          : event.reason || `closed (${event.code})`
      this.reportClose(reason)
    }
    // An error is always followed by close, which reports it. The receiving
    // side of an oversized frame learns of it only here (its close code is
    // whatever the peer answers, often 1006).
    socket.onerror = (event) => {
      const code = (event as { error?: { code?: unknown } }).error?.code
      if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.tooBig = true
    }
  }

  private tooBig = false

  get bufferedAmount(): number {
    return this.socket.bufferedAmount
  }

  setHandlers(handlers: ConnectionHandlers): void {
    this.handlers = handlers
    const held = this.held
    this.held = []
    for (const frame of held) handlers.onFrame(frame)
    if (this.closedReason !== undefined) this.reportClose(this.closedReason)
  }

  send(frame: Uint8Array): void {
    if (this.socket.readyState !== OPEN) return
    if (this.batching !== undefined && !this.corked) {
      this.corked = true
      this.batching.cork()
      this.batching.schedule(this.uncork)
    }
    this.socket.send(frame)
  }

  close(reason = 'closed', options: { readonly drain?: boolean } = {}): void {
    if (this.closedReason !== undefined) return
    // `ws` still emits the messages that arrive while closing (browsers don't): they end with the peer's close frame.
    this.draining = options.drain === true
    // Close reasons are limited to 123 bytes by the WebSocket protocol.
    this.socket.close(1000, reason.slice(0, 100))
    this.reportClose(reason)
  }

  private receive(frame: Uint8Array): void {
    if (this.closedReason !== undefined && !this.draining) return
    if (this.handlers === undefined) {
      this.held.push(frame)
      return
    }
    this.handlers.onFrame(frame)
  }

  private reportClose(reason: string): void {
    if (this.closedReason === undefined) {
      this.closedReason = reason
      this.onClosed?.(this)
    }
    if (this.handlers === undefined || this.closeReported) return
    this.closeReported = true
    this.handlers.onClose(this.closedReason)
  }
}

function toBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  // Text frames aren't part of the protocol; hand them on as bytes so the
  // frame decoder rejects them like any other garbage.
  return textEncoder.encode(String(data))
}
