import type { IncomingMessage, Server as HttpServer, ServerOptions, ServerResponse } from 'node:http'
import type { Server, Socket } from 'node:net'
import type { ApiName, CutReason, NodeMetrics } from '../metrics.js'

/** What an HTTP listener (the HTTP API, and the WebSocket API's upgrade requests) allows a client. */
export interface HttpLimits {
  /** A request's headers must have arrived whole this long after it began. */
  readonly headersTimeoutMs: number
  /** A request, headers and body, must have arrived whole this long after it began. */
  readonly requestTimeoutMs: number
  /** How long a connection stays open after a response, for the client's next request. */
  readonly keepAliveTimeoutMs: number
  /** A connection with nothing moving either way for this long mid-request or mid-response is closed. Default: none. */
  readonly idleTimeoutMs?: number
  readonly maxConnections: number
}

/** The shortest and longest wait between Node.js's checks for requests that took too long. */
const MIN_CHECKING_INTERVAL_MS = 50
const MAX_CHECKING_INTERVAL_MS = 1_000

/**
 * Options for `http.createServer` that make Node.js enforce the header and
 * request timeouts. Node.js looks for expired requests only every
 * `connectionsCheckingInterval` (30 s unless set), so a timeout would fire up
 * to that much late: the interval is a quarter of the shortest timeout, at most 1 s.
 */
export function httpServerOptions(limits: HttpLimits): ServerOptions {
  const shortest = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs)
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(
      MIN_CHECKING_INTERVAL_MS,
      Math.min(MAX_CHECKING_INTERVAL_MS, Math.floor(shortest / 4)),
    ),
  }
}

/**
 * Caps an HTTP server's connections, applies its idle timeout, and counts
 * the connections cut in `runnel_api_connections_cut_total`. The header and
 * request timeouts come with {@link httpServerOptions}: Node.js answers
 * `408 Request Timeout` and closes the connection.
 */
export function enforceHttpLimits(server: HttpServer, limits: HttpLimits, api: ApiName, metrics: NodeMetrics): void {
  const cut = (reason: CutReason): void => metrics.connectionsCut.inc({ api, reason })
  capConnections(server, limits.maxConnections, () => cut('max_connections'))
  // The latest request on each connection tells a body that didn't arrive from headers that didn't, and a stuck
  // exchange from a keep-alive connection waiting for its next request.
  const exchanges = new WeakMap<Socket, { request: IncomingMessage; response: ServerResponse }>()
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    exchanges.set(request.socket, { request, response })
  })
  server.on('connection', (socket: Socket) => {
    // Node.js destroys the socket with this error once headersTimeout or requestTimeout has passed.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ERR_HTTP_REQUEST_TIMEOUT') return
      const request = exchanges.get(socket)?.request
      cut(request !== undefined && !request.complete ? 'request_timeout' : 'headers_timeout')
    })
  })
  if (limits.idleTimeoutMs === undefined) return
  server.timeout = limits.idleTimeoutMs
  // With a 'timeout' listener, Node.js leaves closing the socket to it (keep-alive connections that expire too).
  server.on('timeout', (socket: Socket) => {
    const exchange = exchanges.get(socket)
    const betweenRequests = exchange !== undefined && exchange.request.complete && exchange.response.writableFinished
    if (!betweenRequests) cut('idle_timeout')
    socket.destroy()
  })
}

/**
 * Closes each connection beyond `maxConnections` as it arrives (Node.js's
 * `server.maxConnections`), leaving the open ones alone; `onRefused` counts them.
 */
export function capConnections(server: Server, maxConnections: number, onRefused: () => void): void {
  server.maxConnections = maxConnections
  server.on('drop', onRefused)
}
