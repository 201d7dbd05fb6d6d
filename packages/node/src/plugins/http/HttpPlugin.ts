import type { Server } from 'node:http'
import { createAdaptorServer } from '@hono/node-server'
import { Hono, type Context } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { ApiGateway } from '../../api/ApiGateway.js'
import { API_KEY_HINT, apiKeyFromRequest } from '../../api/ApiKeyGuard.js'
import { isNdjson, parseFlag, parseJsonMessage, parseNdjsonBatch, parsePublishParams } from '../../api/requests.js'
import type { HttpPluginConfig } from '../../config.js'
import { BatchPublishError, NodeError } from '../../errors.js'
import type { NodeInfo } from '../../RunnelNode.js'
import type { ApiPlugin } from '../ApiPlugin.js'
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

  constructor(
    private readonly gateway: ApiGateway,
    private readonly config: HttpPluginConfig,
    private readonly info: () => NodeInfo,
    /** Routes other plugins serve without an API key (storage's history: the data is signed, and readable on the network anyway). */
    private readonly publicRoutes: readonly ((app: Hono) => void)[] = [],
  ) {}

  async start(): Promise<string> {
    const server = createAdaptorServer({ fetch: this.routes().fetch, hostname: this.config.host }) as Server
    // Keep-alive connections would hold close() open; they are idle between requests and safe to end.
    server.keepAliveTimeout = 5_000
    this.server = server
    const port = await listen(server, this.config.host, this.config.port, 'http')
    return `http://${urlHost(this.config.host, port)}`
  }

  async stop(): Promise<void> {
    if (this.server === undefined) return
    this.server.closeAllConnections()
    await close(this.server)
  }

  private routes(): Hono {
    const app = new Hono()
    const gateway = this.gateway
    const fail = (c: Context, err: unknown): Response => {
      const error = gateway.fail('http', err, { path: c.req.path })
      return c.json({ error: { code: error.code, message: error.message } }, error.status as ContentfulStatusCode)
    }

    app.onError((err, c) => fail(c, err))
    app.notFound((c) =>
      fail(c, new NodeError('BAD_REQUEST', `no such endpoint: ${c.req.method} ${c.req.path} (see GET /openapi.json)`)),
    )

    // Liveness probes and API discovery work without a key; everything else needs one when keys are set.
    app.get('/health', (c) => c.json({ status: 'ok' }))
    app.get('/openapi.json', (c) => c.json(openApiDocument(this.info())))
    for (const add of this.publicRoutes) add(app)
    app.use('*', async (c, next) => {
      const key = apiKeyFromRequest(c.req.header('authorization'), new URL(c.req.url).searchParams)
      gateway.apiKeys.check(key, API_KEY_HINT)
      await next()
    })

    app.get('/info', (c) => {
      const metrics = gateway.client.networkNode.getMetrics()
      return c.json({ ...this.info(), network: { streamParts: metrics.neighborCounts } })
    })
    app.get('/metrics', async (c) => {
      const text = await gateway.metrics.registry.metrics()
      return c.text(text, 200, { 'content-type': gateway.metrics.registry.contentType })
    })

    const limit = (maxSize: number, what: string) =>
      bodyLimit({
        maxSize,
        onError: () => {
          throw new NodeError('PAYLOAD_TOO_LARGE', `the ${what} is larger than this node accepts (${maxSize} bytes)`)
        },
      })
    const messageLimit = limit(gateway.maxPayloadBytes, 'body')
    const batchLimit = limit(this.config.maxBatchBytes, 'batch')
    app.post(
      '/streams/:streamId',
      (c, next) => (isNdjson(c.req.header('content-type')) ? batchLimit(c, next) : messageLimit(c, next)),
      async (c) => {
        const streamId = c.req.param('streamId')
        const query = new URL(c.req.url).searchParams
        const params = parsePublishParams(query)
        const wrapped = parseFlag(query, 'payloadMetadata', false)
        const contentType = c.req.header('content-type')
        const body = new Uint8Array(await c.req.arrayBuffer())
        if (isNdjson(contentType)) {
          const batch = parseNdjsonBatch(body, wrapped, this.config.maxBatchMessages)
          try {
            const messages = await gateway.publishBatch('http', streamId, batch, params)
            return c.json({ count: messages.length, messages }, 200)
          } catch (err) {
            if (!(err instanceof BatchPublishError)) throw err
            const error = gateway.fail('http', err, { path: c.req.path })
            const body = { error: { code: error.code, message: error.message }, published: err.published }
            return c.json(body, error.status as ContentfulStatusCode)
          }
        }
        if ((contentType ?? '').toLowerCase().startsWith('application/octet-stream')) {
          if (wrapped) throw new NodeError('BAD_REQUEST', 'payloadMetadata needs a JSON body, not octet-stream')
          return c.json(await gateway.publish('http', streamId, body, body.byteLength, params), 200)
        }
        // Anything else is JSON: `curl -d` sends form-urlencoded by default.
        const { content, metadata } = parseJsonMessage(new TextDecoder().decode(body), wrapped)
        return c.json(await gateway.publish('http', streamId, content, body.byteLength, params, metadata), 200)
      },
    )
    app.all('/streams/:streamId', (c) =>
      fail(c, new NodeError('BAD_REQUEST', `${c.req.method} isn't supported here: POST a message to publish it`)),
    )
    return app
  }
}
