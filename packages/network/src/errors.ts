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
  | 'TIMEOUT'
  | 'ABORTED'
  /** An address no transport here can dial. */
  | 'INVALID_ADDRESS'
  /** The node isn't started, is stopped, or the call doesn't fit its kind (e.g. relaying on a light node). */
  | 'INVALID_STATE'
  | 'INVALID_OPTIONS'
  /** No full node accepted a light node's proxy request. */
  | 'PROXY_REFUSED'
  /**
   * Another running process is connected with this node's id (the same
   * private key): the tracker refused this one. The node stops; give each
   * process its own key.
   */
  | 'IDENTITY_IN_USE'

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
export class NetworkError extends Error {
  override readonly name = 'NetworkError'
  readonly code: NetworkErrorCode

  constructor(code: NetworkErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
  }
}
