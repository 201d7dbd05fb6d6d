import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Timer } from '@runnel/protocol'
import { WebSocket, WebSocketServer } from 'ws'
import type { ApiGateway } from '../../api/ApiGateway.js'
import { API_KEY_HINT, apiKeyFromRequest } from '../../api/ApiKeyGuard.js'
import { parseFlag, parsePublishParams, parseSubscribeParams } from '../../api/requests.js'
import type { WebSocketPluginConfig } from '../../config.js'
import { NodeError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import type { ApiPlugin } from '../ApiPlugin.js'
import type { EgressSocket } from '../fanout/EgressWriter.js'
import { FanoutGroups } from '../fanout/FanoutGroups.js'
import { WebSocketSink } from '../fanout/WebSocketSink.js'
import { enforceHttpLimits, httpServerOptions } from '../limits.js'
import { close, listen, urlHost } from '../listen.js'
import { ENDPOINT_HINT, parseEndpoint, parseRequestUrl, type WebSocketAction } from './routes.js'
import { WebSocketConnection, refuseUpgrade } from './WebSocketConnection.js'

/**
 * Frames up to this much over the payload limit are read and answered with a
 * `PAYLOAD_TOO_LARGE` error frame; larger ones close the socket (1009) unread.
 */
const FRAME_MARGIN_BYTES = 64 * 1024
/** How long stop() waits for clients to answer the close handshake before cutting them off. */
const CLOSE_GRACE_MS = 2_000
/** How long a connection that made a plain HTTP request (answered 426) stays open for another: Node.js's default. */
const KEEP_ALIVE_TIMEOUT_MS = 5_000

/**
 * The WebSocket API: one socket per stream and direction.
 *
 * - `/streams/<url-encoded stream id>/subscribe` (`?partition=1` or `?partitions=0,2`; all by default) sends each
 *   message as a frame: JSON content as text, binary content as binary, or, with `?payloadMetadata=true`, a text
 *   frame `{ content, metadata }` (binary content in base64). `?resendLast=N` or `?resendFrom=<time>` (and
 *   `resendTo=`) send stored history first (per partition), then live messages, with no gap or duplicate between.
 * - `/streams/<url-encoded stream id>/publish` (`?partition=`, `partitionKey=` or `partitionKeyField=`;
 *   `timestamp=`, `msgChainId=`, `payloadMetadata=`) publishes each text frame as JSON and each binary frame as
 *   bytes, in the order received. A frame the node refuses is answered with a text frame
 *   `{"error":{"code":"BAD_REQUEST","message":"…"}}` and the socket stays open. With `?ack=accepted` or `?ack=stored`
 *   (`minStorageNodes=`, `ackTimeoutMs=`) each frame is acknowledged at that level with a text frame
 *   `{"ack":{"seq":N,"level":"stored","message":{…}}}` (N counts the connection's frames from 1), or answered with an
 *   error frame carrying the same `seq`; frames are still published in order without waiting for earlier acks.
 *
 * A connection the node can't serve is refused before the handshake with an HTTP status and the same JSON error
 * as the HTTP API gives: 401 (API key), 400 (bad parameter or path), 403 (no permission), 404 (no such stream),
 * 503 (the chain or the network can't be reached).
 * Subscribers of the same stream and partitions (without history) share one network subscription: each message is
 * validated and decrypted once and its frame built once for all of them (see `FanoutGroups`). A subscriber with more
 * than `delivery.maxSubscriberBufferBytes` unsent is closed with code 1008 (see `WebSocketSink`); a publish frame
 * that arrives while the node is saturated is answered with an `OVERLOADED` error frame carrying `retryAfterMs`,
 * and not published (see `Pushback`).
 * Every socket is pinged each `pingIntervalMs` and cut off when it missed the previous pong.
 *
 * @example
 * ```ts
 * import WebSocket from 'ws'
 *
 * const streamId = encodeURIComponent('0x7e5f4552091a69125d5dfcb7b8c2659029395bdf/sensors')
 * const socket = new WebSocket(`ws://127.0.0.1:7170/streams/${streamId}/subscribe?payloadMetadata=true`, {
 *   headers: { authorization: `Bearer ${apiKey}` },
 * })
 * socket.on('message', (data) => console.log(JSON.parse(String(data))))
 * socket.on('unexpected-response', (_request, response) => console.error('refused', response.statusCode))
 * ```
 * Or from a shell: `wscat -c 'ws://127.0.0.1:7170/streams/0x7e5f…%2Fsensors/publish'`, then type `{"celsius":21.5}`.
 */
export class WebSocketPlugin implements ApiPlugin {
  readonly name = 'websocket'
  private readonly logger: Logger
  private readonly sockets: WebSocketServer
  private server: Server | undefined
  private keepAlive: Timer | undefined
  private stopping = false
  /** Sockets whose upgrade is being checked (stream, permission); stop() cuts them off. */
  private readonly pending = new Set<Duplex>()
  private readonly connections = new Set<WebSocketConnection>()
  /** The quota client of each upgrade request (when quotas are set), for its publisher frames. */
  private readonly quotaClients = new WeakMap<IncomingMessage, string>()
  private lastConnectionSerial = 0
  /** Subscribers grouped by stream and partitions, one network subscription per group. */
  private readonly groups: FanoutGroups

  constructor(
    private readonly gateway: ApiGateway,
    private readonly config: WebSocketPluginConfig,
  ) {
    this.logger = gateway.logger.child({ api: 'websocket' })
    this.groups = new FanoutGroups((copies, bytes) => {
      // The gateway counted one delivery for the group's network subscription; the rest are fan-out.
      if (copies > 1) gateway.metrics.delivered.inc({ api: 'websocket' }, copies - 1)
      if (bytes > 0) gateway.metrics.deliveredBytes.inc({ api: 'websocket' }, bytes)
    }, gateway.egress.allocate)
    this.sockets = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: gateway.maxPayloadBytes + FRAME_MARGIN_BYTES,
    })
  }

  async start(): Promise<string> {
    // The upgrade request is an HTTP request: its headers are held to the timeout, and it has no body.
    const limits = {
      headersTimeoutMs: this.config.headersTimeoutMs,
      requestTimeoutMs: this.config.headersTimeoutMs,
      keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: this.config.maxConnections,
    }
    const server = createServer(httpServerOptions(limits), (request, response) => this.refuseHttp(request, response))
    // Upgraded sockets stay the server's connections, so the cap counts open WebSockets too.
    enforceHttpLimits(server, limits, 'websocket', this.gateway.metrics)
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      void this.upgrade(request, socket, head)
    })
    this.server = server
    const port = await listen(server, this.config.host, this.config.port, 'websocket')
    this.keepAlive = this.gateway.clock.setInterval(() => this.ping(), this.config.pingIntervalMs, { unref: true })
    return `ws://${urlHost(this.config.host, port)}`
  }

  async stop(): Promise<void> {
    this.stopping = true
    this.keepAlive?.cancel()
    for (const socket of this.pending) socket.destroy()
    const connections = [...this.connections]
    const closed = connections.map(
      ({ socket }) =>
        new Promise<void>((resolve) => {
          if (socket.readyState === WebSocket.CLOSED) resolve()
          else socket.once('close', () => resolve())
        }),
    )
    for (const connection of connections) {
      connection.release()
      connection.socket.close(1001, 'node stopping')
    }
    // A client that doesn't answer the close handshake (or a subscriber whose close frame is queued behind
    // megabytes of unread messages) must not hold up the node's shutdown.
    let timer: Timer | undefined
    await Promise.race([
      Promise.all(closed),
      new Promise<void>((resolve) => (timer = this.gateway.clock.setTimeout(resolve, CLOSE_GRACE_MS))),
    ])
    timer?.cancel()
    for (const connection of connections) connection.socket.terminate()
    this.groups.closeAll()
    if (this.server === undefined) return
    this.server.closeAllConnections()
    await close(this.server)
  }

  private refuseHttp(request: IncomingMessage, response: ServerResponse): void {
    const { path } = parseRequestUrl(request.url)
    const example = `ws://${request.headers.host ?? '<host>:<port>'}/streams/<url-encoded stream id>/subscribe`
    const error = this.gateway.fail(
      'websocket',
      new NodeError('BAD_REQUEST', `this is the WebSocket API: open a WebSocket, e.g. wscat -c '${example}'`),
      { path },
    )
    response.writeHead(426, { 'content-type': 'application/json', upgrade: 'websocket' })
    response.end(JSON.stringify({ error: { code: error.code, message: error.message } }))
  }

  /** Checks an upgrade request and accepts it, or answers with an HTTP error before any handshake. */
  private async upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // Until ws takes the socket over, a client reset must not become an uncaught 'error'.
    const onError = (): void => void socket.destroy()
    socket.on('error', onError)
    this.pending.add(socket)
    socket.once('close', () => this.pending.delete(socket))
    const { path, query } = parseRequestUrl(request.url)
    try {
      const apiKey = apiKeyFromRequest(request.headers.authorization, query)
      this.gateway.apiKeys.check(apiKey, API_KEY_HINT)
      this.chargeConnection(request, socket, apiKey)
      const endpoint = parseEndpoint(path)
      if (endpoint === undefined) {
        const notFound = new NodeError('BAD_REQUEST', `no such endpoint: ${path} (${ENDPOINT_HINT})`)
        return refuseUpgrade(socket, this.gateway.fail('websocket', notFound, { path }))
      }
      const wrapped = parseFlag(query, 'payloadMetadata', this.config.payloadMetadata)
      const accept = (streamId: string, release: () => void): WebSocketConnection | undefined => {
        socket.off('error', onError)
        this.pending.delete(socket)
        return this.accept(request, socket, head, streamId, endpoint.action, release)
      }
      if (endpoint.action === 'subscribe') {
        await this.acceptSubscriber(endpoint.streamId, query, wrapped, accept)
      } else {
        await this.acceptPublisher(endpoint.streamId, query, wrapped, accept)
      }
    } catch (err) {
      // stop() cut the socket off and destroyed the client under the check: that failure is no one's to hear.
      if (this.stopping) return void socket.destroy()
      refuseUpgrade(socket, this.gateway.fail('websocket', err, { path }))
    }
  }

  /**
   * Counts the connection against its client's quota until the socket closes (refused or not).
   *
   * @throws {@link QuotaError} over the client's `maxConnections`
   */
  private chargeConnection(request: IncomingMessage, socket: Duplex, apiKey: string | undefined): void {
    const { quotas } = this.gateway
    if (!quotas.enabled) return
    const client = quotas.clientOf(apiKey, request.socket.remoteAddress, this.gateway.apiKeys.required)
    socket.once('close', quotas.openConnection('websocket', client))
    this.quotaClients.set(request, client)
  }

  private async acceptSubscriber(
    streamId: string,
    query: URLSearchParams,
    wrapped: boolean,
    accept: (streamId: string, release: () => void) => WebSocketConnection | undefined,
  ): Promise<void> {
    const params = parseSubscribeParams(query)
    // Joining before the handshake turns an unknown stream, a missing permission or a bad partition into an HTTP
    // status the client can read, rather than a socket that opens and then closes. Messages that arrive while the
    // handshake is under way wait for the socket in the sink.
    let leave = (): void => {}
    const sink = new WebSocketSink(this.gateway, this.logger, streamId, wrapped, () => leave())
    const partitions = params.partitions === undefined ? 'all' : params.partitions.join(',')
    // With history, each subscriber reads its own from its start: a group of its own.
    const key =
      params.resend === undefined
        ? `${streamId}|${partitions}`
        : `${streamId}|${partitions}|history:${++this.lastConnectionSerial}`
    leave = await this.groups.join(key, sink, (onMessage, onResendError) =>
      this.gateway.subscribe('websocket', streamId, params, onMessage, onResendError),
    )
    const connection = accept(streamId, () => leave())
    if (connection === undefined) return
    connection.sink = sink
    sink.attach({
      socket: connection.socket,
      raw: connection.raw,
      answerError: (error) => connection.answerError(error),
    })
    this.logger.debug(
      { streamId, partitions: params.partitions ?? 'all', resend: params.resend, wrapped },
      'websocket subscriber connected',
    )
  }

  private async acceptPublisher(
    streamId: string,
    query: URLSearchParams,
    wrapped: boolean,
    accept: (streamId: string, release: () => void) => WebSocketConnection | undefined,
  ): Promise<void> {
    const params = parsePublishParams(query)
    // Checked now so that a wrong stream id fails at connect time, not on the first message.
    const stream = await this.gateway.client.getStream(streamId)
    if (params.partition !== undefined && params.partition >= stream.partitions) {
      throw new NodeError(
        'BAD_REQUEST',
        `partition ${params.partition} is out of range: ${stream.id} has ${stream.partitions} partition(s)`,
      )
    }
    if (!(await this.gateway.client.hasPermission(stream.id, 'publish'))) {
      const address = this.gateway.client.address.toLowerCase()
      throw new NodeError('PERMISSION_DENIED', `this node (${address}) may not publish to ${stream.id}`)
    }
    const connection = accept(stream.id, () => {})
    if (connection === undefined) return
    connection.publishFrames(params, wrapped)
    this.logger.debug({ streamId: stream.id, wrapped }, 'websocket publisher connected')
  }

  /** Completes the handshake; undefined (and `release` called) when the socket is gone or ws refused it. */
  private accept(
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    streamId: string,
    action: WebSocketAction,
    release: () => void,
  ): WebSocketConnection | undefined {
    if (this.stopping || socket.destroyed || !socket.writable) {
      release()
      socket.destroy()
      return undefined
    }
    let connection: WebSocketConnection | undefined
    let settled = false
    this.sockets.handleUpgrade(request, socket, head, (webSocket) => {
      // Without verifyClient, ws answers synchronously; a late callback would find its release already called.
      if (settled) return webSocket.terminate()
      connection = this.open(webSocket, socket, streamId, action, release, this.quotaClients.get(request))
    })
    settled = true
    // ws refused a malformed handshake (and answered the client itself).
    if (connection === undefined) release()
    return connection
  }

  private open(
    socket: WebSocket,
    raw: EgressSocket,
    streamId: string,
    action: WebSocketAction,
    release: () => void,
    quotaClient: string | undefined,
  ): WebSocketConnection {
    const context = { gateway: this.gateway, logger: this.logger, stopping: () => this.stopping, quotaClient }
    const caller = `ws:${++this.lastConnectionSerial}`
    const connection = new WebSocketConnection(context, socket, raw, streamId, action, caller, release)
    this.connections.add(connection)
    this.gateway.metrics.connections.inc({ api: 'websocket' })
    socket.on('pong', () => connection.pong())
    // ws reports protocol errors (a frame over maxPayload, bad UTF-8) here, then closes the socket with a code.
    socket.on('error', (err) => this.logger.debug({ err, streamId, action }, 'websocket error'))
    socket.once('close', (code, reason) => {
      this.connections.delete(connection)
      this.gateway.metrics.connections.dec({ api: 'websocket' })
      // After the frames still queued: published later, they would start the caller's chain again.
      const releaseCaller = (): void => this.gateway.releaseCaller(connection.caller)
      void connection.drained().then(releaseCaller, releaseCaller)
      connection.release()
      connection.sink?.closed()
      this.logger.debug({ streamId, action, code, reason: reason.toString() }, 'websocket closed')
    })
    return connection
  }

  private ping(): void {
    for (const connection of this.connections) {
      // A publisher paused by receive() can't read its pongs; the hold-up is the node's, not the client's.
      if (connection.socket.isPaused) continue
      if (!connection.alive) {
        this.logger.debug({ streamId: connection.streamId }, 'websocket missed a pong: closing it')
        this.gateway.metrics.connectionsCut.inc({ api: 'websocket', reason: 'ping_timeout' })
        connection.socket.terminate()
        continue
      }
      connection.alive = false
      connection.socket.ping()
    }
  }
}
