import { FRAME_TOO_LARGE_REASON, type ConnectionHandlers, type TransportConnection } from '../Transport.js'

/**
 * Every data channel message starts with one of these bytes. Frames larger
 * than what the channel carries in one message go as several fragments (all
 * but the last marked MORE), so Runnel frames up to `maxFrameSize` cross any
 * channel, whatever the two ends' SCTP message limits.
 */
const FRAGMENT_LAST = 0x00
const FRAGMENT_MORE = 0x01
/** The sender is closing; the rest of the message is the reason (UTF-8). Lets the remote end log why. */
const CLOSE_NOTICE = 0x02

/** Used when the channel reports no message limit (64 KiB is the limit an SDP without one implies, RFC 8841). */
export const DEFAULT_CHANNEL_MESSAGE_SIZE = 64 * 1024
/**
 * Largest data channel message sent even when the remote end allows more:
 * big messages hold up everything queued behind them on an ordered channel.
 */
export const MAX_CHANNEL_MESSAGE_SIZE = 256 * 1024
const MAX_REASON_LENGTH = 200

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder()

/** The part of the standard `RTCDataChannel` this connection uses. */
export type DataChannelLike = Pick<
  RTCDataChannel,
  'binaryType' | 'bufferedAmount' | 'readyState' | 'onmessage' | 'onclose' | 'onerror' | 'send' | 'close'
>

export interface DataChannelConnectionOptions {
  /** Largest Runnel frame accepted; a bigger one closes the connection with `FRAME_TOO_LARGE`. */
  readonly maxFrameSize: number
  /** Largest data channel message the remote end accepts (`RTCSctpTransport.maxMessageSize`), when known. */
  readonly channelMessageSize: number | undefined
}

/**
 * A {@link TransportConnection} over an open, ordered, reliable
 * `RTCDataChannel`. The owner (the transport's session) closes the
 * `RTCPeerConnection` when `onClosed` fires.
 */
export class DataChannelConnection implements TransportConnection {
  readonly transportKind = 'webrtc'
  private handlers: ConnectionHandlers | undefined
  private held: Uint8Array[] = []
  private closedReason: string | undefined
  private closeReported = false
  /** Fragments of the frame being received; at most `maxFrameSize` bytes in all. */
  private fragments: Uint8Array[] = []
  private fragmentBytes = 0
  private readonly fragmentPayload: number

  /**
   * @param onClosed tells the owner the connection is done (once), so it can
   *   release the peer connection and forget this one.
   */
  constructor(
    private readonly channel: DataChannelLike,
    readonly remoteAddress: string,
    private readonly options: DataChannelConnectionOptions,
    private readonly onClosed: (connection: DataChannelConnection) => void,
  ) {
    const limit = options.channelMessageSize
    const messageSize =
      limit === undefined || !Number.isFinite(limit) || limit <= 1
        ? DEFAULT_CHANNEL_MESSAGE_SIZE
        : Math.min(limit, MAX_CHANNEL_MESSAGE_SIZE)
    this.fragmentPayload = messageSize - 1
    channel.binaryType = 'arraybuffer'
    channel.onmessage = (event: MessageEvent) => this.receive(event.data)
    channel.onclose = () => this.reportClose('closed by peer')
    // An error is followed by close, which reports it.
    channel.onerror = () => undefined
  }

  get bufferedAmount(): number {
    return this.channel.bufferedAmount
  }

  get isClosed(): boolean {
    return this.closedReason !== undefined
  }

  setHandlers(handlers: ConnectionHandlers): void {
    this.handlers = handlers
    const held = this.held
    this.held = []
    for (const frame of held) handlers.onFrame(frame)
    if (this.closedReason !== undefined) this.reportClose(this.closedReason)
  }

  send(frame: Uint8Array): void {
    if (this.closedReason !== undefined || this.channel.readyState !== 'open') return
    const payload = this.fragmentPayload
    try {
      if (frame.length <= payload) {
        this.channel.send(withHeader(FRAGMENT_LAST, frame))
        return
      }
      for (let offset = 0; offset < frame.length; offset += payload) {
        const end = Math.min(offset + payload, frame.length)
        this.channel.send(withHeader(end === frame.length ? FRAGMENT_LAST : FRAGMENT_MORE, frame.subarray(offset, end)))
      }
    } catch (err) {
      // Browsers throw when their send queue is full (and then close the channel); never throw to the caller.
      this.close(`send failed: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  close(reason = 'closed'): void {
    if (this.closedReason !== undefined) return
    let noticeSent = false
    if (this.channel.readyState === 'open') {
      try {
        this.channel.send(withHeader(CLOSE_NOTICE, textEncoder.encode(reason.slice(0, MAX_REASON_LENGTH))))
        noticeSent = true
      } catch {
        // The channel is going anyway; the remote end sees it close.
      }
    }
    // With a notice out, the remote end closes the channel when it reads it: closing here at once could overtake
    // the notice (node-datachannel may drop a message that arrives with the stream's reset). The owner closes the
    // peer connection when the channel closes, or after a grace period.
    if (!noticeSent) this.channel.close()
    this.reportClose(reason)
  }

  private receive(data: unknown): void {
    if (this.closedReason !== undefined) {
      // Both ends closed at once: each waits for the other's notice before closing the channel.
      if (data instanceof ArrayBuffer && new Uint8Array(data)[0] === CLOSE_NOTICE) this.channel.close()
      return
    }
    if (!(data instanceof ArrayBuffer) || data.byteLength === 0) {
      // Text or empty messages are not part of the protocol.
      this.close('protocol violation: not a binary data channel message')
      return
    }
    const message = new Uint8Array(data)
    const header = message[0]
    const body = message.subarray(1)
    if (header === CLOSE_NOTICE) {
      this.channel.close()
      this.reportClose(`closed by peer: ${textDecoder.decode(body)}`)
      return
    }
    if (header !== FRAGMENT_LAST && header !== FRAGMENT_MORE) {
      this.close(`protocol violation: unknown data channel message type ${header}`)
      return
    }
    if (this.fragmentBytes + body.length > this.options.maxFrameSize) {
      const size = this.fragmentBytes + body.length
      this.fragments = []
      this.fragmentBytes = 0
      this.close(`${FRAME_TOO_LARGE_REASON}: frame of at least ${size} bytes exceeds ${this.options.maxFrameSize}`)
      return
    }
    if (header === FRAGMENT_MORE) {
      this.fragments.push(body)
      this.fragmentBytes += body.length
      return
    }
    if (this.fragments.length === 0) {
      this.deliver(body)
      return
    }
    const frame = new Uint8Array(this.fragmentBytes + body.length)
    let offset = 0
    for (const fragment of this.fragments) {
      frame.set(fragment, offset)
      offset += fragment.length
    }
    frame.set(body, offset)
    this.fragments = []
    this.fragmentBytes = 0
    this.deliver(frame)
  }

  private deliver(frame: Uint8Array): void {
    if (this.handlers === undefined) {
      // Bounded by what the peer may send before the handshake (PeerConnection closes floods once attached).
      this.held.push(frame)
      return
    }
    this.handlers.onFrame(frame)
  }

  /** Records the first close and reports it once handlers are set. */
  reportClose(reason: string): void {
    if (this.closedReason === undefined) {
      this.closedReason = reason
      this.held = this.handlers === undefined ? this.held : []
      this.onClosed(this)
    }
    if (this.handlers === undefined || this.closeReported) return
    this.closeReported = true
    this.handlers.onClose(this.closedReason)
  }
}

function withHeader(header: number, body: Uint8Array): Uint8Array<ArrayBuffer> {
  const message = new Uint8Array(body.length + 1)
  message[0] = header
  message.set(body, 1)
  return message
}
