import type { AddressInfo, Socket } from 'node:net'
import { WebSocket, WebSocketServer } from 'ws'
import { NetworkError } from '../errors.js'
import type { Transport, TransportConnection } from '../transport/Transport.js'
import { isWebSocketAddress, openWebSocket } from '../transport/websocket/WebSocketClientTransport.js'
import {
  WebSocketConnection,
  type WebSocketLike,
  type WriteBatching,
} from '../transport/websocket/WebSocketConnection.js'

export interface WebSocketTransportOptions {
  /** Interface to listen on. Default '127.0.0.1'. Omit `port` to only dial. */
  readonly host?: string
  /** Port to listen on; 0 picks a free one. Undefined: don't listen. */
  readonly port?: number
  /** Address to announce instead of `ws://host:port` (e.g. behind a proxy). */
  readonly publicAddress?: string
  /** Largest frame accepted; bigger ones close the connection with 1009. Default 1 MiB + 1 KiB. */
  readonly maxFrameSize?: number
}

const DEFAULT_MAX_FRAME_SIZE = 1024 * 1024 + 1024

/**
 * WebSocket transport for Node.js (`ws`): listens and dials.
 *
 * @example
 * ```ts
 * const transport = new WebSocketTransport({ host: '127.0.0.1', port: 0 })
 * const [address] = await transport.start((connection) => handle(connection)) // 'ws://127.0.0.1:41234'
 * ```
 */
export class WebSocketTransport implements Transport {
  private server: WebSocketServer | undefined
  private readonly connections = new Set<TransportConnection>()
  private readonly maxFrameSize: number
  private readonly forget = (connection: TransportConnection): void => void this.connections.delete(connection)

  constructor(private readonly options: WebSocketTransportOptions = {}) {
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE
  }

  async start(onConnection: (connection: TransportConnection) => void): Promise<string[]> {
    if (this.options.port === undefined) return []
    const host = this.options.host ?? '127.0.0.1'
    const server = new WebSocketServer({
      host,
      port: this.options.port,
      maxPayload: this.maxFrameSize,
      perMessageDeflate: false,
    })
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve)
      server.once('error', (err) =>
        reject(new NetworkError('CONNECTION_FAILED', `cannot listen on ${host}:${this.options.port}: ${err.message}`)),
      )
    })
    server.on('connection', (socket, request) => {
      const connection = new WebSocketConnection(
        socket as unknown as WebSocketLike,
        socketAddress(request.socket.remoteAddress, request.socket.remotePort),
        this.forget,
        batchingFor(request.socket),
      )
      this.connections.add(connection)
      onConnection(connection)
    })
    const { port } = server.address() as AddressInfo
    return [this.options.publicAddress ?? `ws://${host.includes(':') ? `[${host}]` : host}:${port}`]
  }

  canDial(address: string): boolean {
    return isWebSocketAddress(address)
  }

  async connect(address: string, signal?: AbortSignal): Promise<TransportConnection> {
    const connection = await openWebSocket(
      () =>
        new WebSocket(address, { maxPayload: this.maxFrameSize, perMessageDeflate: false }) as unknown as WebSocketLike,
      address,
      signal,
      this.forget,
      (socket) => {
        const raw = (socket as unknown as { _socket?: Socket })._socket
        return raw === undefined ? undefined : batchingFor(raw)
      },
    )
    this.connections.add(connection)
    return connection
  }

  async stop(): Promise<void> {
    for (const connection of this.connections) connection.close('transport stopped')
    this.connections.clear()
    const server = this.server
    this.server = undefined
    if (server !== undefined) {
      for (const client of server.clients) client.terminate()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/**
 * Corks the TCP socket for the rest of the event-loop turn: a node relaying a
 * burst sends each neighbour many small frames, and one write per turn costs
 * far less than one system call per frame.
 */
function batchingFor(socket: Socket): WriteBatching {
  return { cork: () => socket.cork(), uncork: () => socket.uncork(), schedule: (callback) => setImmediate(callback) }
}

/**
 * `host:port`, an IPv6 host in brackets (`[::1]:5678`, `[::ffff:1.2.3.4]:5678`), so that per-address limits
 * read the host without the port.
 */
function socketAddress(host: string | undefined, port: number | undefined): string {
  const shown = host ?? 'unknown'
  return shown.includes(':') ? `[${shown}]:${port}` : `${shown}:${port}`
}
