/**
 * The boundary between Runnel and whatever carries bytes between two
 * endpoints. Implementations move whole frames (message boundaries are kept)
 * and know nothing of handshakes, node ids or stream parts: `PeerConnection`
 * adds those on top, identically for every transport.
 */

/**
 * Prefix of the close reason a transport gives when the peer sent a frame
 * larger than the transport accepts, so the cause can be counted.
 */
export const FRAME_TOO_LARGE_REASON = 'FRAME_TOO_LARGE'

/** Receives what happens on one connection. */
export interface ConnectionHandlers {
  /** One whole frame from the remote end. */
  onFrame(frame: Uint8Array): void
  /** The connection is gone, for whatever reason; called exactly once. */
  onClose(reason: string): void
}

/**
 * One bidirectional frame stream. Frames arrive in the order they were sent.
 * Until `setHandlers` is called, incoming frames are held (bounded by the
 * transport's own buffering), so no frame is lost between accept and setup.
 */
export interface TransportConnection {
  /** The remote end's address as the transport sees it, for logs. */
  readonly remoteAddress: string
  /** Which transport carries it ("websocket", "webrtc", "simulator"), as node-info answers count connections. */
  readonly transportKind?: string
  /** Bytes accepted by `send` that have not yet left this process. */
  readonly bufferedAmount: number
  setHandlers(handlers: ConnectionHandlers): void
  /** Queues a frame. Never throws for a closed connection (the frame is dropped). */
  send(frame: Uint8Array): void
  /**
   * Closes the connection; `onClose` follows (on both ends). Idempotent. With `drain`, frames the peer sent before it
   * saw the close still reach `onFrame` until the transport has closed (a transport that can't tell drops them).
   */
  close(reason?: string, options?: { readonly drain?: boolean }): void
}

/**
 * Dials out and, when it has a listening side, accepts connections.
 *
 * @example
 * ```ts
 * const transport: Transport = new WebSocketTransport({ port: 0 })
 * await transport.start((connection) => accept(connection))
 * const connection = await transport.connect('ws://127.0.0.1:30301', AbortSignal.timeout(5_000))
 * ```
 */
export interface Transport {
  /**
   * Starts accepting connections (where the transport can) and returns the
   * addresses others may dial; an empty list for dial-only transports.
   */
  start(onConnection: (connection: TransportConnection) => void): Promise<string[]>
  /**
   * Whether `connect` takes this kind of address (by its scheme). Optional:
   * a transport without it is taken to dial any address it is given.
   */
  canDial?(address: string): boolean
  /** Opens a connection to an address returned by another transport's `start`. */
  connect(address: string, signal?: AbortSignal): Promise<TransportConnection>
  /** Stops accepting and closes every connection it made or accepted. */
  stop(): Promise<void>
}
