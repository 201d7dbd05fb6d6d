import { NetworkError } from '../../errors.js'
import type { Transport, TransportConnection } from '../Transport.js'
import { WebSocketConnection, type WebSocketLike, type WriteBatching } from './WebSocketConnection.js'

/** A WebSocket constructor: the browser's global, or `ws`'s in Node.js. */
export type WebSocketConstructor = new (url: string) => WebSocketLike

export interface WebSocketClientTransportOptions {
  /** Defaults to `globalThis.WebSocket`. */
  readonly WebSocket?: WebSocketConstructor
}

/**
 * Dial-only WebSocket transport for browsers (and any runtime with a WHATWG
 * WebSocket): light nodes use it to reach full nodes and trackers.
 *
 * @example
 * ```ts
 * const transport = new WebSocketClientTransport()
 * const node = new NetworkNode({ transport, signer, verifier }, { kind: 'light', trackers: ['ws://127.0.0.1:30300'] })
 * ```
 */
export class WebSocketClientTransport implements Transport {
  private readonly WebSocket: WebSocketConstructor
  private readonly connections = new Set<TransportConnection>()

  constructor(options: WebSocketClientTransportOptions = {}) {
    const constructor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (constructor === undefined) {
      throw new NetworkError('INVALID_OPTIONS', 'no WebSocket implementation: pass options.WebSocket')
    }
    this.WebSocket = constructor
  }

  start(): Promise<string[]> {
    return Promise.resolve([])
  }

  canDial(address: string): boolean {
    return isWebSocketAddress(address)
  }

  connect(address: string, signal?: AbortSignal): Promise<TransportConnection> {
    const forget = (connection: TransportConnection): void => void this.connections.delete(connection)
    return openWebSocket(() => new this.WebSocket(address), address, signal, forget).then((connection) => {
      this.connections.add(connection)
      return connection
    })
  }

  stop(): Promise<void> {
    for (const connection of this.connections) connection.close('transport stopped')
    this.connections.clear()
    return Promise.resolve()
  }
}

/** Whether an address is a `ws://` or `wss://` URL. */
export function isWebSocketAddress(address: string): boolean {
  return /^wss?:\/\//.test(address)
}

/** Opens a socket and resolves once it is open; shared by the browser and Node.js transports. */
export function openWebSocket(
  create: () => WebSocketLike,
  address: string,
  signal: AbortSignal | undefined,
  onClosed?: (connection: WebSocketConnection) => void,
  batching?: (socket: WebSocketLike) => WriteBatching | undefined,
): Promise<WebSocketConnection> {
  if (!isWebSocketAddress(address)) {
    return Promise.reject(new NetworkError('INVALID_ADDRESS', `not a WebSocket address: ${address}`))
  }
  if (signal?.aborted === true) {
    return Promise.reject(new NetworkError('ABORTED', `connecting to ${address} was aborted`))
  }
  return new Promise((resolve, reject) => {
    let socket: WebSocketLike
    try {
      socket = create()
    } catch (err) {
      reject(new NetworkError('CONNECTION_FAILED', `cannot connect to ${address}: ${String(err)}`, { cause: err }))
      return
    }
    const onAbort = (): void => {
      socket.close()
      reject(new NetworkError('ABORTED', `connecting to ${address} was aborted`))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    const opened = socket as WebSocketLike & { onopen: (() => void) | null }
    opened.onopen = () => {
      signal?.removeEventListener('abort', onAbort)
      opened.onopen = null
      resolve(new WebSocketConnection(socket, address, onClosed, batching?.(socket)))
    }
    socket.onerror = () => undefined
    socket.onclose = (event) => {
      signal?.removeEventListener('abort', onAbort)
      reject(new NetworkError('CONNECTION_FAILED', `cannot connect to ${address} (${event.code} ${event.reason})`))
    }
  })
}
