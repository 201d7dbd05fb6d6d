/** Tunable limits of one peer connection. */
export interface PeerConnectionOptions {
  /** Largest frame accepted from the peer; larger ones disconnect it. Default 1 MiB + 1 KiB. */
  readonly maxFrameSize: number
  /** Frames are dropped (and counted) while this many bytes wait to be sent. Default 4 MiB. */
  readonly sendBufferLimit: number
  /** The handshake must complete within this time. Default 10 s. */
  readonly handshakeTimeoutMs: number
  /** A ping is sent this often. Default 5 s. */
  readonly pingIntervalMs: number
  /** The connection closes when nothing arrives for this long. Default 15 s. */
  readonly idleTimeoutMs: number
  /** Sustained frames per second allowed from the peer; beyond it the peer is disconnected. Default 20,000. */
  readonly maxFramesPerSecond: number
  /** Sustained bytes per second allowed from the peer. Default 64 MiB. */
  readonly maxBytesPerSecond: number
  /**
   * When a node id connects a second time from another process, how long the
   * first connection has to answer a ping before it counts as dead and is
   * replaced. Default 2 s.
   */
  readonly livenessProbeTimeoutMs: number
}

export const DEFAULT_PEER_CONNECTION_OPTIONS: PeerConnectionOptions = {
  maxFrameSize: 1024 * 1024 + 1024,
  sendBufferLimit: 4 * 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  pingIntervalMs: 5_000,
  idleTimeoutMs: 15_000,
  maxFramesPerSecond: 20_000,
  maxBytesPerSecond: 64 * 1024 * 1024,
  livenessProbeTimeoutMs: 2_000,
}

/** Why a connection ended, for metrics and logs. */
export type CloseCause =
  | 'local'
  | 'remote-goodbye'
  | 'remote-gone'
  | 'handshake-failed'
  | 'malformed-frame'
  | 'frame-too-large'
  | 'flooding'
  | 'idle-timeout'
  | 'protocol-violation'
  | 'duplicate'
  /** The peer closed this connection as a duplicate of another one to it, which it keeps (both dialled at once). */
  | 'remote-duplicate'
  /** Another process is connected with the same node id: refused here, or told so by the peer. */
  | 'identity-in-use'
  /**
   * The peer proved this node's own id from another process (same key,
   * another instance id): one of the two dialled the other to check whether
   * the key is in use (docs/network.md, "A key in use twice").
   */
  | 'identity-check'
  /** The node connected again and this older connection didn't answer a ping: it was dead. */
  | 'replaced'
  /** Closed to stay within the connection manager's `maxConnections` (least recently active, unlocked). */
  | 'evicted'
  /**
   * Closed because no one used it for `idleConnectionMs` while the node held
   * more than `minConnections` (unlocked: not a neighbour's, no request on it).
   */
  | 'trimmed'
  /** Refused on arrival: too many incoming connections from its IP address or subnet (`ConnectionManagerLimits.inbound`). */
  | 'address-cap'

/** Counters of one connection. */
export interface PeerConnectionStats {
  framesIn: number
  framesOut: number
  bytesIn: number
  bytesOut: number
  /** Frames not sent because the send buffer was full. */
  framesDropped: number
}
