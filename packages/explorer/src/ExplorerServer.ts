import { existsSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createAdaptorServer } from '@hono/node-server'
import { serveStatic } from '@hono/node-server/serve-static'
import { PERMISSION_NAMES, PUBLIC, holds } from '@runnel/chain'
import type { RunnelClient } from '@runnel/client'
import { ERROR_CATEGORIES, RunnelError } from '@runnel/protocol'
import { Hono, type Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import { bodyLimit } from 'hono/body-limit'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { Address } from 'viem'
import type { ApiError, SearchResults, StreamDetails } from './api.js'
import { DevBuyers, parseBuyBody, type DevAccount } from './devBuyers.js'
import { readIncentives } from './incentives.js'
import { Directory, type DirectoryOptions } from './Directory.js'
import { MarketReader } from './market.js'
import { NetworkQueries } from './queries.js'
import { Tails } from './Tails.js'

/** Where `npm run build` puts the web app: `dist/web` beside `src` and `dist`. */
export const DEFAULT_WEB_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'web')

export interface ExplorerOptions {
  /** Default 127.0.0.1. */
  readonly host?: string
  /** Default 7180; 0 picks a free port. */
  readonly port?: number
  /** The built web app. Default {@link DEFAULT_WEB_ROOT}. */
  readonly webRoot?: string
  /** How often `/api/live` sends the overview. Default 2 s. */
  readonly liveIntervalMs?: number
  /** Live feeds (overview and tails) open at once; more are refused with 429. Default 200. */
  readonly maxLiveFeeds?: number
  readonly directory?: DirectoryOptions
  /**
   * Funded development accounts the product page may buy with (`POST /api/products/:id/buy`). Only `runnel dev`
   * passes any (keys of its own chain, of no value); without them the explorer only reads, and buying answers 403.
   */
  readonly devAccounts?: readonly DevAccount[]
}

/** The explorer's default port. */
export const DEFAULT_EXPLORER_PORT = 7180

const MAX_SEARCH_RESULTS = 50
/** A buy request's body is a few fields: anything much larger is refused before it is parsed. */
const MAX_BUY_BODY_BYTES = 4_096

/**
 * The Network Explorer's server: the web app, and the `/api` it reads (see `api.ts`), answered from a client on
 * the network it explores. Nodes come from their metrics streams, overlays from node-info queries, streams and
 * permissions from the chain.
 *
 * @example
 * ```ts
 * const explorer = new ExplorerServer(client, { port: 0 })
 * console.log(await explorer.start()) // http://127.0.0.1:…
 * await explorer.stop()
 * ```
 */
export class ExplorerServer {
  private readonly directory: Directory
  private readonly tails: Tails
  private readonly queries: NetworkQueries
  private marketReader: MarketReader | undefined
  private devBuyers: DevBuyers | undefined
  private server: Server | undefined
  private liveFeeds = 0
  private readonly closers = new Set<() => void>()

  constructor(
    /** The client the explorer looks at the network from: its node joins what the pages look at. */
    readonly client: RunnelClient,
    private readonly options: ExplorerOptions = {},
  ) {
    this.directory = new Directory(client, options.directory)
    this.tails = new Tails(client)
    this.queries = new NetworkQueries(client)
  }

  /** Starts following the network and listening; resolves with the explorer's URL. */
  async start(): Promise<string> {
    await this.client.connect()
    await this.directory.start()
    const host = this.options.host ?? '127.0.0.1'
    const server = createAdaptorServer({ fetch: this.routes().fetch, hostname: host }) as Server
    this.server = server
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.options.port ?? DEFAULT_EXPLORER_PORT, host, () => {
        server.off('error', reject)
        resolve((server.address() as AddressInfo).port)
      })
    })
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}/`
  }

  async stop(): Promise<void> {
    for (const close of [...this.closers]) close()
    this.directory.stop()
    this.tails.stop()
    this.queries.stop()
    const server = this.server
    if (server === undefined) return
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  private routes(): Hono {
    const app = new Hono()
    const node = this.client.networkNode
    const discovery = node.dht === undefined ? 'tracker' : 'dht'

    app.get('/api/overview', (c) => c.json(this.directory.overview(node.nodeId, discovery)))

    app.get('/api/live', (c) =>
      this.liveFeed(c, (send, closed) => {
        const sendOverview = () => send('overview', this.directory.overview(node.nodeId, discovery))
        sendOverview()
        const timer = setInterval(sendOverview, this.options.liveIntervalMs ?? 2_000)
        void closed.then(() => clearInterval(timer))
      }),
    )

    app.get('/api/search', (c) => {
      const query = (c.req.query('q') ?? '').trim()
      if (query === '') return problem(c, 400, 'INVALID_QUERY', 'search for something: /api/search?q=<text>')
      const needle = query.toLowerCase()
      const results: SearchResults = {
        query,
        streams: this.directory
          .listStreams()
          .filter(
            (stream) => stream.id.toLowerCase().includes(needle) || stream.description.toLowerCase().includes(needle),
          )
          .slice(0, MAX_SEARCH_RESULTS),
        nodes: this.directory
          .listNodes()
          .filter((summary) => summary.address.includes(needle))
          .slice(0, MAX_SEARCH_RESULTS)
          .map((summary) => ({
            address: summary.address,
            region: summary.report?.node.region ?? null,
            kind: summary.report?.node.kind ?? null,
            live: summary.live,
          })),
      }
      return c.json(results)
    })

    app.get('/api/streams/:id', async (c) => {
      const found = await this.stream(c.req.param('id'))
      return 'error' in found ? problem(c, found.status, found.error.code, found.error.message) : c.json(found.stream)
    })

    app.get('/api/streams/:id/overlay', async (c) => {
      const found = await this.stream(c.req.param('id'))
      if ('error' in found) return problem(c, found.status, found.error.code, found.error.message)
      const partition = partitionOf(c.req.query('partition'), found.stream.partitions)
      if (typeof partition === 'string') return problem(c, 400, 'INVALID_PARTITION', partition)
      try {
        return c.json(await this.queries.overlay(found.stream.id, partition, found.stream.isPublic))
      } catch (err) {
        return problem(c, 502, 'CRAWL_FAILED', `the overlay couldn't be crawled: ${messageOf(err)}`)
      }
    })

    app.get('/api/streams/:id/tail', async (c) => {
      const found = await this.stream(c.req.param('id'))
      if ('error' in found) return problem(c, found.status, found.error.code, found.error.message)
      const partition = partitionOf(c.req.query('partition'), found.stream.partitions)
      if (typeof partition === 'string') return problem(c, 400, 'INVALID_PARTITION', partition)
      const { id, isPublic } = found.stream
      return this.liveFeed(c, (send, closed) => {
        if (!isPublic) {
          send('problem', {
            message: `${id} isn't publicly subscribable: its messages are end-to-end encrypted, so there is no tail`,
          })
          return
        }
        const stop = this.tails.watch(id, partition, {
          onMessage: (message) => send('message', message),
          onRate: (rate) => send('rate', rate),
          onProblem: (message) => send('problem', { message }),
        })
        void closed.then(stop)
      })
    })

    app.get('/api/nodes/:address', async (c) => {
      const summary = this.nodeOf(c.req.param('address'))
      if ('error' in summary) return problem(c, summary.status, summary.error.code, summary.error.message)
      return c.json(await this.queries.nodeDetails(summary.node))
    })

    app.get('/api/nodes/:address/history', async (c) => {
      const summary = this.nodeOf(c.req.param('address'))
      if ('error' in summary) return problem(c, summary.status, summary.error.code, summary.error.message)
      const period = c.req.query('period') ?? '5s'
      if (period !== '5s' && period !== '1m' && period !== '1h') {
        return problem(c, 400, 'INVALID_PERIOD', `period must be 5s, 1m or 1h, got ${JSON.stringify(period)}`)
      }
      return c.json(await this.queries.history(summary.node, period))
    })

    app.get('/api/incentives', async (c) => {
      try {
        return c.json(await readIncentives(this.client))
      } catch (err) {
        return problem(c, statusOf(err), 'CHAIN_FAILED', `the incentive contracts couldn't be read: ${messageOf(err)}`)
      }
    })

    this.marketRoutes(app)

    app.all('/api/*', (c) => problem(c, 404, 'NOT_FOUND', `no such API route: ${c.req.method} ${c.req.path}`))

    const webRoot = this.options.webRoot ?? DEFAULT_WEB_ROOT
    if (existsSync(join(webRoot, 'index.html'))) {
      app.use('/*', serveStatic({ root: webRoot }))
    } else {
      app.get('/', (c) =>
        c.text(`The explorer's web app isn't built (no ${webRoot}/index.html): run npm run build.\n`, 503),
      )
    }
    return app
  }

  /** The marketplace and Data Union routes: products, subscriptions, unions, and buying as a dev account. */
  private marketRoutes(app: Hono): void {
    const chainProblem = (c: Context, err: unknown, what: string) =>
      problem(c, statusOf(err), codeOf(err), `${what}: ${messageOf(err)}`)

    app.get('/api/products', async (c) => {
      const all = c.req.query('all')
      if (all !== undefined && all !== '0' && all !== '1') {
        return problem(c, 400, 'INVALID_QUERY', `all must be 0 or 1, got ${JSON.stringify(all)}`)
      }
      try {
        return c.json(await this.market().products(all === '1'))
      } catch (err) {
        return chainProblem(c, err, "the marketplace couldn't be read")
      }
    })

    app.get('/api/products/:id', async (c) => {
      const id = productIdOf(c.req.param('id'))
      if (typeof id === 'string') return problem(c, 400, 'INVALID_PRODUCT_ID', id)
      try {
        return c.json(await this.market().product(id))
      } catch (err) {
        return chainProblem(c, err, `product ${id} couldn't be read`)
      }
    })

    app.get('/api/dev-accounts', (c) => c.json(this.buyers().list()))

    app.post(
      '/api/products/:id/buy',
      bodyLimit({
        maxSize: MAX_BUY_BODY_BYTES,
        onError: (c) => problem(c, 413, 'BODY_TOO_LARGE', `a buy request is at most ${MAX_BUY_BODY_BYTES} bytes`),
      }),
      async (c) => {
        const buyers = this.buyers()
        if (!buyers.enabled) {
          return problem(
            c,
            403,
            'BUYING_DISABLED',
            'this explorer has no dev accounts to buy with: only the one `runnel dev` serves buys, with its dev keys',
          )
        }
        // Only the explorer's own page may spend the dev keys: another site's form or fetch (a "simple" text/plain
        // request needs no preflight) comes with another Origin, or can't set a JSON content type without asking.
        const origin = c.req.header('origin')
        if (origin !== undefined && origin !== new URL(c.req.url).origin) {
          return problem(c, 403, 'FOREIGN_ORIGIN', `buying is only for this explorer's own page, not ${origin}`)
        }
        if (!(c.req.header('content-type') ?? '').toLowerCase().startsWith('application/json')) {
          return problem(c, 415, 'NOT_JSON', 'a buy request is JSON: send content-type: application/json')
        }
        const id = productIdOf(c.req.param('id'))
        if (typeof id === 'string') return problem(c, 400, 'INVALID_PRODUCT_ID', id)
        let raw: unknown
        try {
          raw = await c.req.json()
        } catch {
          return problem(c, 400, 'INVALID_BODY', 'the body must be JSON: { "account": <label>, "seconds": <n> }')
        }
        const body = parseBuyBody(raw)
        if (typeof body === 'string') return problem(c, 400, 'INVALID_BODY', body)
        try {
          const purchase = await buyers.buy(id, body)
          if (purchase === undefined) {
            return problem(
              c,
              400,
              'UNKNOWN_ACCOUNT',
              `no dev account ${JSON.stringify(body.account)}: use one of ${buyers.labels().join(', ')}`,
            )
          }
          return c.json(purchase)
        } catch (err) {
          return chainProblem(c, err, `the purchase of product ${id} failed`)
        }
      },
    )

    app.get('/api/subscriptions/:address', async (c) => {
      const address = addressOf(c.req.param('address'), 'an account address')
      if (typeof address !== 'string') return problem(c, 400, 'INVALID_ADDRESS', address.problem)
      try {
        return c.json(await this.market().subscriptions(address))
      } catch (err) {
        return chainProblem(c, err, "the subscriptions couldn't be read")
      }
    })

    app.get('/api/dataunions', async (c) => {
      try {
        return c.json(await this.market().dataUnions())
      } catch (err) {
        return chainProblem(c, err, "the Data Unions couldn't be read")
      }
    })

    app.get('/api/dataunions/:address', async (c) => {
      const address = addressOf(c.req.param('address'), 'a Data Union address')
      if (typeof address !== 'string') return problem(c, 400, 'INVALID_ADDRESS', address.problem)
      try {
        return c.json(await this.market().dataUnion(address))
      } catch (err) {
        return chainProblem(c, err, `the Data Union ${address} couldn't be read`)
      }
    })
  }

  private market(): MarketReader {
    return (this.marketReader ??= new MarketReader(this.client.market))
  }

  private buyers(): DevBuyers {
    return (this.devBuyers ??= new DevBuyers(this.client.market, this.options.devAccounts ?? []))
  }

  /** A server-sent event stream: `start` gets a sender, and a promise that resolves when the page goes. */
  private liveFeed(
    c: Context,
    start: (send: (event: string, data: unknown) => void, closed: Promise<void>) => void,
  ): Response {
    if (this.liveFeeds >= (this.options.maxLiveFeeds ?? 200)) {
      c.header('Retry-After', '5')
      return problem(c, 429, 'TOO_MANY_FEEDS', 'too many live feeds are open: close some pages and retry')
    }
    this.liveFeeds++
    return streamSSE(c, async (stream) => {
      let close!: () => void
      const closed = new Promise<void>((resolve) => (close = resolve))
      this.closers.add(close)
      stream.onAbort(close)
      // A page that reads slower than events come must not grow the queue without bound: its events are skipped.
      let pending = 0
      start((event, data) => {
        if (pending > 100) return
        pending++
        void stream
          .writeSSE({ event, data: JSON.stringify(data) })
          .catch(close)
          .finally(() => pending--)
      }, closed)
      await closed
      this.closers.delete(close)
      this.liveFeeds--
    })
  }

  /** The stream and what the stream page shows of it, or the error the page should say. */
  private async stream(
    rawId: string,
  ): Promise<{ stream: StreamDetails } | (ApiError & { status: ContentfulStatusCode })> {
    const id = rawId.trim()
    try {
      const stream = await this.client.getStream(id)
      const [permissions, storageNodes] = await Promise.all([
        this.client.getPermissions(stream.id),
        this.client.getStorageNodes(stream.id),
      ])
      const now = BigInt(Math.floor(Date.now() / 1000))
      const rows = [...permissions].map(([user, held]) => ({
        user: user.toLowerCase() === PUBLIC ? 'public' : user.toLowerCase(),
        permissions: PERMISSION_NAMES.filter((name) => holds(held, name, now)),
      }))
      const holding = (name: 'publish' | 'subscribe') =>
        rows.filter((row) => row.permissions.includes(name)).map((row) => row.user)
      const description = stream.metadata.description
      return {
        stream: {
          id: stream.id,
          description: typeof description === 'string' ? description : '',
          partitions: stream.partitions,
          metadata: { ...stream.metadata },
          permissions: rows.filter((row) => row.permissions.length > 0),
          publishers: holding('publish'),
          subscribers: holding('subscribe'),
          storageNodes: storageNodes.map((address) => address.toLowerCase()),
          isPublic: holding('subscribe').includes('public'),
        },
      }
    } catch (err) {
      const code = err instanceof RunnelError ? (err as RunnelError<string>).code : 'CHAIN_FAILED'
      return { status: statusOf(err), error: { code, message: messageOf(err) } }
    }
  }

  private nodeOf(
    rawAddress: string,
  ): { node: NonNullable<ReturnType<Directory['node']>> } | (ApiError & { status: ContentfulStatusCode }) {
    const address = rawAddress.trim().toLowerCase()
    if (!/^0x[0-9a-f]{40}$/.test(address)) {
      return {
        status: 400,
        error: {
          code: 'INVALID_ADDRESS',
          message: `${JSON.stringify(rawAddress)} is not a node address (0x + 40 hex digits)`,
        },
      }
    }
    const node = this.directory.node(address)
    if (node === undefined) {
      return {
        status: 404,
        error: {
          code: 'NODE_NOT_FOUND',
          message: `no node ${address} is known: it publishes no metrics stream (${address}/runnel/metrics)`,
        },
      }
    }
    return { node }
  }
}

function problem(c: Context, status: ContentfulStatusCode, code: string, message: string): Response {
  return c.json({ error: { code, message } } satisfies ApiError, status)
}

/** The partition a query names (default 0), or what is wrong with it. */
function partitionOf(raw: string | undefined, partitions: number): number | string {
  if (raw === undefined) return 0
  const partition = Number(raw)
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(partition) || partition >= partitions) {
    return `partition must be a whole number from 0 to ${partitions - 1}, got ${JSON.stringify(raw)}`
  }
  return partition
}

/** A product id from a path (a positive whole number), or what is wrong with it. */
function productIdOf(raw: string): number | string {
  const id = Number(raw)
  if (!/^\d{1,15}$/.test(raw) || id < 1) {
    return `a product id is a whole number from 1, got ${JSON.stringify(raw)}`
  }
  return id
}

/** A lower-case address from a path, or what is wrong with it. */
function addressOf(raw: string, what: string): Address | { readonly problem: string } {
  const address = raw.trim().toLowerCase()
  if (/^0x[0-9a-f]{40}$/.test(address)) return address as Address
  return { problem: `${JSON.stringify(raw)} is not ${what} (0x + 40 hex digits)` }
}

function codeOf(err: unknown): string {
  return err instanceof RunnelError ? (err as RunnelError<string>).code : 'CHAIN_FAILED'
}

/**
 * The status every API of the project answers for an error's category (STREAM_NOT_FOUND 404, INVALID_* 400, an
 * unreachable chain 503…); 502 for anything else a remote part threw.
 */
function statusOf(err: unknown): ContentfulStatusCode {
  return err instanceof RunnelError ? (ERROR_CATEGORIES[err.category].httpStatus as ContentfulStatusCode) : 502
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
