import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import { createAdaptorServer, type HttpBindings } from '@hono/node-server'
import { Hono, type Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { ApiGateway } from '../../api/ApiGateway.js'
import { API_KEY_HINT, apiKeyFromRequest } from '../../api/ApiKeyGuard.js'
import {
  decodeJsonText,
  isNdjson,
  parseFlag,
  parseJsonMessage,
  parseNdjsonBatch,
  parseAckLevel,
  parsePublishParams,
  parseRequestStreamId,
  type PublishParams,
} from '../../api/requests.js'
import type { HttpPluginConfig } from '../../config.js'
import { BatchPublishError, NodeError } from '../../errors.js'
import type { NodeInfo } from '../../NodeInfo.js'
import type { ApiPlugin } from '../ApiPlugin.js'
import { enforceHttpLimits, httpServerOptions, readBody } from '../limits.js'
import { close, listen, urlHost } from '../listen.js'
import { openApiDocument } from './openapi.js'

/**
 * The HTTP API: `POST /streams/<stream id>` publishes one message, or a batch
 * of them as NDJSON (one JSON message per line, in order); `/health`, `/info`,
 * `/metrics` (Prometheus) and `/openapi.json` describe the node.
 */
export class HttpPlugin implements ApiPlugin {
  readonly name = 'http'
  private server: Server | undefined
  /** Each connection as an API caller (its own chain for explicit timestamps), ended when the connection closes. */
  private readonly callers = new WeakMap<Socket, string>()
  private lastConnectionSerial = 0

  constructor(
    private readonly gateway: ApiGateway,
    private readonly config: HttpPluginConfig,
    private readonly info: () => NodeInfo,
    /** Routes other plugins serve without an API key (storage's history: the data is signed, and readable on the network anyway). */
    private readonly publicRoutes: readonly ((app: Hono) => void)[] = [],
  ) {}

  async start(): Promise<string> {
    const server = createAdaptorServer({
      fetch: this.routes().fetch,
      hostname: this.config.host,
      serverOptions: httpServerOptions(this.config),
    }) as Server
    enforceHttpLimits(server, this.config, 'http', this.gateway.metrics)
    this.server = server
    const port = await listen(server, this.config.host, this.config.port, 'http')
    return `http://${urlHost(this.config.host, port)}`
  }

  async stop(): Promise<void> {
    if (this.server === undefined) return
    this.server.closeAllConnections()
    await close(this.server)
  }

  /**
   * HTTP has no session, so a client is its connection: requests over one keep-alive connection share a chain for
   * their explicit timestamps, and two clients never do, even from one address (behind a proxy or NAT).
   */
  private callerOf(socket: Socket): string {
    let caller = this.callers.get(socket)
    if (caller === undefined) {
      const created = `http:${++this.lastConnectionSerial}`
      this.callers.set(socket, created)
      socket.once('close', () => this.gateway.releaseCaller(created))
      caller = created
    }
    return caller
  }

  private routes(): Hono {
    const app = new Hono()
    const gateway = this.gateway
    const fail = (c: Context, err: unknown): Response => {
      const error = gateway.fail('http', err, { path: c.req.path })
      if (error.retryAfterSeconds !== undefined) c.header('Retry-After', String(error.retryAfterSeconds))
      // Pushback (the node is saturated): when to try again, in whole seconds as Retry-After has it.
      else if (error.code === 'OVERLOADED')
        c.header('Retry-After', String(Math.ceil(gateway.pushback.retryAfterMs / 1000)))
      return c.json({ error: { code: error.code, message: error.message } }, error.status as ContentfulStatusCode)
    }
    /** The client quotas charge: its API key, or its address (see `ApiQuotas`). */
    const quotaClient = (c: Context): string => {
      const { incoming } = c.env as HttpBindings
      const key = apiKeyFromRequest(incoming.headers.authorization, new URL(c.req.url).searchParams)
      return gateway.quotas.clientOf(key, incoming.socket.remoteAddress, gateway.apiKeys.required)
    }

    app.onError((err, c) => fail(c, err))
    app.notFound((c) =>
      fail(c, new NodeError('BAD_REQUEST', `no such endpoint: ${c.req.method} ${c.req.path} (see GET /openapi.json)`)),
    )

    // Liveness probes and API discovery work without a key; everything else needs one when keys are set.
    app.get('/health', (c) => c.json({ status: 'ok' }))
    app.get('/openapi.json', (c) => c.json(openApiDocument(this.info())))
    for (const add of this.publicRoutes) add(app)
    app.use('*', async (c: Context, next) => {
      const key = apiKeyFromRequest(c.req.header('authorization'), new URL(c.req.url).searchParams)
      gateway.apiKeys.check(key, API_KEY_HINT)
      if (!gateway.quotas.enabled) return next()
      // A request under way counts as one of the client's connections.
      const release = gateway.quotas.openConnection('http', quotaClient(c))
      try {
        await next()
      } finally {
        release()
      }
    })

    app.get('/info', (c) => {
      const metrics = gateway.client.networkNode.getMetrics()
      return c.json({ ...this.info(), network: { streamParts: metrics.neighborCounts } })
    })
    app.get('/metrics', async (c) => {
      const text = await gateway.metrics.registry.metrics()
      return c.text(text, 200, { 'content-type': gateway.metrics.registry.contentType })
    })

    app.post('/streams/:streamId', async (c) => {
      const streamId = parseRequestStreamId(c.req.param('streamId'))
      const query = new URL(c.req.url).searchParams
      const params = withAckHeader(parsePublishParams(query), c.req.header('runnel-ack'))
      const wrapped = parseFlag(query, 'payloadMetadata', false)
      const contentType = c.req.header('content-type')
      const batch = isNdjson(contentType)
      // The server is @hono/node-server's, so env holds the Node.js request.
      const { incoming } = c.env as HttpBindings
      const caller = this.callerOf(incoming.socket)
      const body = batch
        ? await readBody(incoming, this.config.maxBatchBytes, 'batch')
        : await readBody(incoming, gateway.maxPayloadBytes, 'body')
      if (batch) {
        const messages = parseNdjsonBatch(body, wrapped, this.config.maxBatchMessages)
        if (gateway.quotas.enabled) gateway.quotas.takePublish('http', quotaClient(c), messages.length, body.byteLength)
        const admitted = gateway.pushback.admit(messages.length)
        try {
          const published = await gateway.publishBatch('http', caller, streamId, messages, params)
          return c.json({ count: published.length, messages: published }, 200)
        } catch (err) {
          if (!(err instanceof BatchPublishError)) throw err
          const error = gateway.fail('http', err, { path: c.req.path })
          const body = { error: { code: error.code, message: error.message }, published: err.published }
          return c.json(body, error.status as ContentfulStatusCode)
        } finally {
          admitted()
        }
      }
      if (gateway.quotas.enabled) gateway.quotas.takePublish('http', quotaClient(c), 1, body.byteLength)
      const admitted = gateway.pushback.admit()
      try {
        if ((contentType ?? '').toLowerCase().startsWith('application/octet-stream')) {
          if (wrapped) throw new NodeError('BAD_REQUEST', 'payloadMetadata needs a JSON body, not octet-stream')
          return c.json(await gateway.publish('http', caller, streamId, body, body.byteLength, params), 200)
        }
        // Anything else is JSON: `curl -d` sends form-urlencoded by default.
        const { content, metadata } = parseJsonMessage(decodeJsonText(body), wrapped)
        return c.json(await gateway.publish('http', caller, streamId, content, body.byteLength, params, metadata), 200)
      } finally {
        admitted()
      }
    })
    app.all('/streams/:streamId', (c) =>
      fail(c, new NodeError('BAD_REQUEST', `${c.req.method} isn't supported here: POST a message to publish it`)),
    )
    return app
  }
}

/** `Runnel-Ack: stored` asks what `?ack=stored` asks; when both are given they must agree. */
function withAckHeader(params: PublishParams, header: string | undefined): PublishParams {
  if (header === undefined) return params
  const ack = parseAckLevel(header.trim(), 'the Runnel-Ack header')
  if (params.ack !== undefined && params.ack !== ack) {
    throw new NodeError('BAD_REQUEST', `?ack=${params.ack} and Runnel-Ack: ${ack} disagree: give one`)
  }
  return { ...params, ack }
}
