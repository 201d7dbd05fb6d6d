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
  /**
   * How long {@link WebSocketTransport.stop} waits for peers to answer the close of connections they dialled before
   * it cuts them. Default 2000 ms.
   */
  readonly closeTimeoutMs?: number
}

const DEFAULT_MAX_FRAME_SIZE = 1024 * 1024 + 1024
const DEFAULT_CLOSE_TIMEOUT_MS = 2_000

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
  private readonly closeTimeoutMs: number
  private readonly forget = (connection: TransportConnection): void => void this.connections.delete(connection)

  constructor(private readonly options: WebSocketTransportOptions = {}) {
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE
    this.closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS
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

  /**
   * Closes every connection and stops listening. Connections peers dialled are closed, not cut: a cut socket loses
   * what was sent on it last (still corked for the turn, or queued in `ws`), such as a one-shot publisher's messages
   * and goodbye to a neighbour that dialled it. A peer that hasn't answered the close within `closeTimeoutMs` is cut.
   */
  async stop(): Promise<void> {
    for (const connection of this.connections) connection.close('transport stopped')
    this.connections.clear()
    const server = this.server
    this.server = undefined
    if (server === undefined) return
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
    const open = [...server.clients].filter((client) => client.readyState !== WebSocket.CLOSED)
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.all(open.map((client) => new Promise((resolve) => client.once('close', resolve)))),
      new Promise((resolve) => (timer = setTimeout(resolve, this.closeTimeoutMs))),
    ])
    clearTimeout(timer)
    for (const client of server.clients) client.terminate()
    await stopped
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
