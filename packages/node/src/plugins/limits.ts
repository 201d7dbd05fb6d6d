import type { IncomingMessage, Server as HttpServer, ServerOptions, ServerResponse } from 'node:http'
import type { Server, Socket } from 'node:net'
import { TokenBucket } from '@runnel/network'
import { systemClock, type Clock } from '@runnel/protocol'
import { Counter } from 'prom-client'
import { QuotaError, type QuotaKind } from '../api/QuotaError.js'
import { NodeError } from '../errors.js'
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

/** Per-client quotas on the APIs (the node config's `quotas`); an unset rate or cap is no limit. */
export interface QuotaSettings {
  /** Messages a client may publish per second, over all APIs. */
  readonly messagesPerSecond?: number | undefined
  /** Bytes (payloads as received) a client may publish per second, over all APIs. */
  readonly bytesPerSecond?: number | undefined
  /** WebSocket and MQTT connections, and HTTP requests under way, a client may have open at once. */
  readonly maxConnections?: number | undefined
  /** Each rate allows a burst of this many seconds of it (the byte burst at least one largest payload). */
  readonly burstSeconds: number
  /** A WebSocket publisher refused this many frames in a row over its quota is closed (1008). */
  readonly closeAfterRefusals: number
  /** Clients tracked at once; beyond it the least recently seen without open connections is forgotten. */
  readonly maxClients: number
}

/** No quotas: every client may publish and connect as much as the listeners allow. */
export const NO_QUOTAS: QuotaSettings = { burstSeconds: 1, closeAfterRefusals: 100, maxClients: 10_000 }

interface ClientQuota {
  readonly messages: TokenBucket | undefined
  readonly bytes: TokenBucket | undefined
  connections: number
}

/** How many of the least recently seen clients eviction looks at for one without open connections. */
const EVICTION_SCAN = 32

/**
 * Quotas of API clients: messages and bytes published per second (token buckets), and connections open at once.
 * A client is its API key when the node requires keys, else its IP address. Every API charges the same client,
 * so a client can't get around its quota by switching API. Refusals throw {@link QuotaError} (`RATE_LIMITED`,
 * HTTP 429 with `Retry-After`) and are counted in `runnel_api_quota_refusals_total{api,quota}`. Memory: at most
 * `maxClients` clients with no open connection, each two buckets; clients with open connections are bounded by the
 * listeners' `maxConnections`.
 *
 * @example
 * ```ts
 * const quotas = new ApiQuotas({ messagesPerSecond: 100, burstSeconds: 1, closeAfterRefusals: 100, maxClients: 10_000 }, 512 * 1024, metrics, clock)
 * const client = quotas.clientOf(apiKey, socket.remoteAddress)
 * const release = quotas.openConnection('websocket', client) // throws QuotaError over maxConnections
 * quotas.takePublish('websocket', client, 1, payload.byteLength) // throws QuotaError over a rate
 * ```
 */
export class ApiQuotas {
  private readonly clients = new Map<string, ClientQuota>()
  private readonly refusals: Counter<'api' | 'quota'>
  private readonly byteBurst: number

  constructor(
    readonly settings: QuotaSettings,
    maxPayloadBytes: number,
    metrics: NodeMetrics,
    private readonly clock: Pick<Clock, 'now'> = systemClock,
  ) {
    this.byteBurst = Math.max((settings.bytesPerSecond ?? 0) * settings.burstSeconds, maxPayloadBytes)
    this.refusals = new Counter({
      name: 'runnel_api_quota_refusals_total',
      help: "Requests, frames and connections refused over a client's quota, by API and quota",
      labelNames: ['api', 'quota'],
      registers: [metrics.registry],
    })
  }

  /** True when any quota is set: with none, the APIs skip the checks. */
  get enabled(): boolean {
    const { messagesPerSecond, bytesPerSecond, maxConnections } = this.settings
    return messagesPerSecond !== undefined || bytesPerSecond !== undefined || maxConnections !== undefined
  }

  /** The client a request is charged to: `key:<API key>` when it carries a valid one, else `ip:<address>`. */
  clientOf(apiKey: string | Uint8Array | undefined, address: string | undefined, keysRequired: boolean): string {
    if (keysRequired && apiKey !== undefined && apiKey.length > 0) {
      return `key:${typeof apiKey === 'string' ? apiKey : Buffer.from(apiKey).toString('utf8')}`
    }
    return `ip:${address ?? 'unknown'}`
  }

  /**
   * Counts a connection (or an HTTP request under way) of `client`; the returned function ends it (idempotent).
   *
   * @throws {@link QuotaError} `connections` when the client already has `maxConnections` open
   */
  openConnection(api: ApiName, client: string): () => void {
    const { maxConnections } = this.settings
    if (maxConnections === undefined) return noop
    const quota = this.quotaOf(client)
    if (quota.connections >= maxConnections) {
      this.refusals.inc({ api, quota: 'connections' })
      throw new QuotaError(
        'connections',
        `this client already has ${quota.connections} connections open; the quota is ${maxConnections} (close one first)`,
        1,
      )
    }
    quota.connections++
    let open = true
    return () => {
      if (!open) return
      open = false
      quota.connections--
    }
  }

  /**
   * Charges `messages` messages of `bytes` bytes in all to `client`: both rates must allow them, or nothing is taken.
   *
   * @throws {@link QuotaError} `messages` or `bytes` when a rate is exceeded, with the seconds until it wouldn't be
   */
  takePublish(api: ApiName, client: string, messages: number, bytes: number): void {
    if (this.settings.messagesPerSecond === undefined && this.settings.bytesPerSecond === undefined) return
    const quota = this.quotaOf(client)
    const over = this.over(quota, messages, bytes)
    if (over === undefined) {
      quota.messages?.take(messages)
      quota.bytes?.take(bytes)
      return
    }
    this.refusals.inc({ api, quota: over })
    const bucket = over === 'messages' ? quota.messages! : quota.bytes!
    const amount = over === 'messages' ? messages : bytes
    const waitMs = bucket.msUntil(amount)
    const rate =
      over === 'messages' ? `${this.settings.messagesPerSecond} messages/s` : `${this.settings.bytesPerSecond} bytes/s`
    if (!Number.isFinite(waitMs)) {
      throw new QuotaError(
        over,
        `${amount} ${over} at once is more than this client's quota of ${rate} allows: send fewer at a time`,
        undefined,
      )
    }
    const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000))
    throw new QuotaError(
      over,
      `this client is over its quota of ${rate}: retry in ${retryAfterSeconds} s`,
      retryAfterSeconds,
    )
  }

  private over(quota: ClientQuota, messages: number, bytes: number): QuotaKind | undefined {
    if (quota.messages !== undefined && !quota.messages.has(messages)) return 'messages'
    if (quota.bytes !== undefined && !quota.bytes.has(bytes)) return 'bytes'
    return undefined
  }

  private quotaOf(client: string): ClientQuota {
    let quota = this.clients.get(client)
    if (quota !== undefined) {
      // Most recently seen last, so eviction finds the idle ones first.
      this.clients.delete(client)
      this.clients.set(client, quota)
      return quota
    }
    if (this.clients.size >= this.settings.maxClients) this.evictOne()
    const { messagesPerSecond, bytesPerSecond, burstSeconds } = this.settings
    const now = (): number => this.clock.now()
    quota = {
      messages:
        messagesPerSecond === undefined
          ? undefined
          : new TokenBucket(messagesPerSecond, Math.max(1, messagesPerSecond * burstSeconds), now),
      bytes: bytesPerSecond === undefined ? undefined : new TokenBucket(bytesPerSecond, this.byteBurst, now),
      connections: 0,
    }
    this.clients.set(client, quota)
    return quota
  }

  /** Forgets the least recently seen client without open connections (its buckets start full if it comes back). */
  private evictOne(): void {
    let scanned = 0
    for (const [client, quota] of this.clients) {
      if (quota.connections === 0) {
        this.clients.delete(client)
        return
      }
      if (++scanned >= EVICTION_SCAN) return
    }
  }
}

function noop(): void {}

/**
 * Charges a WebSocket publisher's frame to its client's quota. Over it, the frame is answered with an error frame
 * (`RATE_LIMITED`, with `retryAfterSeconds`) and dropped; after `closeAfterRefusals` refusals in a row the socket
 * is closed with 1008 (policy violation). Returns true when the frame may be published.
 */
export function admitWebSocketFrame(
  quotas: ApiQuotas,
  state: { refusedInARow: number },
  client: string,
  bytes: number,
  answer: (err: unknown) => void,
  close: (code: number, reason: string) => void,
): boolean {
  try {
    quotas.takePublish('websocket', client, 1, bytes)
    state.refusedInARow = 0
    return true
  } catch (err) {
    answer(err)
    if (++state.refusedInARow >= quotas.settings.closeAfterRefusals) {
      close(1008, 'RATE_LIMITED: over the publish quota')
    }
    return false
  }
}

/**
 * Reads a request body from the Node.js request itself: through the web
 * `Request` (a `ReadableStream` per request) a one-message request cost the
 * node more than twice the CPU. Refuses a declared or actual length above
 * `maxBytes` as soon as it is known.
 *
 * @throws {@link NodeError} `PAYLOAD_TOO_LARGE`
 */
export async function readBody(incoming: IncomingMessage, maxBytes: number, what: string): Promise<Uint8Array> {
  const tooLarge = (): NodeError =>
    new NodeError('PAYLOAD_TOO_LARGE', `the ${what} is larger than this node accepts (${maxBytes} bytes)`)
  const declared = Number(incoming.headers['content-length'] ?? Number.NaN)
  if (declared > maxBytes) throw tooLarge()
  const chunks: Buffer[] = []
  let length = 0
  for await (const chunk of incoming as AsyncIterable<Buffer>) {
    length += chunk.byteLength
    if (length > maxBytes) throw tooLarge()
    chunks.push(chunk)
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length)
}
