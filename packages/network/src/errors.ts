import { RunnelError, type ErrorCategory, type RunnelErrorOptions } from '@runnel/protocol'

/** Every way the network layer can refuse or fail. Codes are stable. */
export type NetworkErrorCode =
  /** A frame that isn't a well-formed data or control frame. */
  | 'MALFORMED_FRAME'
  | 'FRAME_TOO_LARGE'
  /** The peer's handshake was missing, malformed, mis-signed or of another protocol version. */
  | 'HANDSHAKE_FAILED'
  /** Could not open a connection to the address. */
  | 'CONNECTION_FAILED'
  | 'CONNECTION_CLOSED'
  /** The peer exceeded its message or byte rate and was disconnected. */
  | 'PEER_FLOODING'
  /** A local publish over the node's relay limits (`relayLimits`) for its publisher or stream part: retry later. */
  | 'RATE_LIMITED'
  | 'TIMEOUT'
  | 'ABORTED'
  /** An address no transport here can dial. */
  | 'INVALID_ADDRESS'
  /** The node isn't started, is stopped, or the call doesn't fit its kind (e.g. relaying on a light node). */
  | 'INVALID_STATE'
  | 'INVALID_OPTIONS'
  /** A call's argument is malformed (e.g. a DHT key that isn't 20 bytes). */
  | 'INVALID_ARGUMENT'
  /** No full node accepted a light node's proxy request. */
  | 'PROXY_REFUSED'
  /**
   * Another running process is connected with this node's id (the same
   * private key): the tracker refused this one. The node stops; give each
   * process its own key.
   */
  | 'IDENTITY_IN_USE'
  /** A dial expecting one node id reached a node that proved another in its handshake (a stale or forged address). */
  | 'PEER_ID_MISMATCH'
  /**
   * The stream part's placement constraint (its metadata's `placement`) doesn't allow this node's location: it may
   * not carry (join, relay, publish to or subscribe to) the stream part.
   */
  | 'OUTSIDE_PLACEMENT'

/**
 * The one error type thrown by `@runnel/network`.
 *
 * @example
 * ```ts
 * try {
 *   await node.join(streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(10_000) })
 * } catch (err) {
 *   if (err instanceof NetworkError && err.code === 'TIMEOUT') console.log('no peers yet')
 * }
 * ```
 */
export class NetworkError extends RunnelError<NetworkErrorCode> {
  override readonly name = 'NetworkError'

  constructor(code: NetworkErrorCode, message: string, options?: RunnelErrorOptions) {
    super(code, message, NETWORK_CATEGORIES[code], options)
  }
}

/**
 * A peer that can't be reached or answered is 'unavailable' (retry later); one that breaks the protocol is
 * 'integrity'. Typed complete, so a new code fails to compile until it is classified.
 */
const NETWORK_CATEGORIES: Record<NetworkErrorCode, ErrorCategory> = {
  MALFORMED_FRAME: 'integrity',
  // A peer's frame over the limit: the peer broke the protocol, it isn't the caller's input.
  FRAME_TOO_LARGE: 'integrity',
  HANDSHAKE_FAILED: 'unavailable',
  CONNECTION_FAILED: 'unavailable',
  CONNECTION_CLOSED: 'unavailable',
  PEER_FLOODING: 'integrity',
  RATE_LIMITED: 'rate-limited',
  TIMEOUT: 'timeout',
  ABORTED: 'cancelled',
  INVALID_ADDRESS: 'invalid-input',
  INVALID_STATE: 'internal',
  INVALID_OPTIONS: 'invalid-input',
  INVALID_ARGUMENT: 'invalid-input',
  PROXY_REFUSED: 'unavailable',
  // Another process holds this identity: a state that refuses the request until one of them gets its own key.
  IDENTITY_IN_USE: 'conflict',
  // The address leads to someone else: the descriptor that named it was stale or lied.
  PEER_ID_MISMATCH: 'integrity',
  // The stream's owner doesn't allow nodes where this one is: no retry helps, another node (in the right place) may.
  OUTSIDE_PLACEMENT: 'permission-denied',
}
