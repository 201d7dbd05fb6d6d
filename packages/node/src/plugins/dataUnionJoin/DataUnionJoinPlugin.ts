import type { Server } from 'node:http'
import { timingSafeEqual } from 'node:crypto'
import { createAdaptorServer, type HttpBindings } from '@hono/node-server'
import { TokenBucket } from '@runnel/network'
import { Hono, type Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { Address, Hex } from 'viem'
import { toApiError } from '../../api/ApiError.js'
import { NodeError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import { httpServerOptions, readBody } from '../limits.js'
import { close, listen, urlHost } from '../listen.js'
import type { DataUnionJoinPluginConfig } from './config.js'
import { JoinBatcher } from './JoinBatcher.js'
import { parseJoinBody, verifyJoinRequest, type JoinRequest, type MembershipAction } from './joinRequest.js'
import type { DataUnionMembership } from './membership.js'
import { UsedSignatures } from './UsedSignatures.js'

/**
 * An app's own admission rule, for embedders: resolve `true` to let the member in (after its signature and any secret
 * were checked), `false` to refuse with 403.
 */
export type JoinCheck = (request: JoinRequest) => boolean | Promise<boolean>

/** What the join/part stream carries for each change. */
export interface JoinPartRecord {
  readonly type: MembershipAction
  readonly member: Address
  readonly txHash: Hex
  readonly metadata?: string
}

export interface DataUnionJoinComponents {
  readonly membership: DataUnionMembership
  /** Publishes a record to a union's join/part stream (as the node). */
  readonly publish: (streamId: string, record: JoinPartRecord) => Promise<unknown>
  readonly logger: Logger
  /** Milliseconds since the epoch. */
  readonly now: () => number
  readonly check?: JoinCheck
}

/** IP addresses with a rate bucket kept at once; the oldest is forgotten beyond it. */
const MAX_TRACKED_CLIENTS = 10_000

/**
 * A Data Union join server: `POST /dataunions/<address>/join` and `/part` with a request the member signed
 * (`joinRequestMessage`). Joins pass the union's secret and the embedder's `check`, and are added on chain by the
 * node's key, batched; each change is published to the union's join/part stream when one is configured.
 */
export class DataUnionJoinPlugin {
  readonly name = 'dataUnionJoin'
  /** Where the server listens, once started. */
  url: string | undefined
  private server: Server | undefined
  private readonly batcher: JoinBatcher
  private readonly used: UsedSignatures
  private readonly buckets = new Map<string, TokenBucket>()

  constructor(
    private readonly components: DataUnionJoinComponents,
    private readonly config: DataUnionJoinPluginConfig,
  ) {
    for (const [dataUnion, union] of Object.entries(config.dataUnions)) {
      if (union.secrets === undefined && !union.open && components.check === undefined) {
        throw new NodeError(
          'INVALID_CONFIG',
          `plugins.dataUnionJoin.dataUnions.${dataUnion}: admits anyone who signs; give it secrets, an app check ` +
            '(the dataUnionJoinCheck component), or "open": true to mean it',
        )
      }
    }
    this.batcher = new JoinBatcher((dataUnion, members) => components.membership.addMembers(dataUnion, members))
    // A timestamp may be up to the skew ahead, and is accepted until the skew behind: remembered over both.
    this.used = new UsedSignatures(config.maxClockSkewMs, config.maxRemembered)
  }

  /** Starts listening; resolves with the server's URL. Unions this key may not add to are logged, not refused. */
  async start(): Promise<string> {
    for (const dataUnion of Object.keys(this.config.dataUnions) as Address[]) {
      this.components.membership.isJoinAgent(dataUnion).then(
        (agent) => {
          if (!agent) {
            this.components.logger.warn(
              { dataUnion, account: this.components.membership.account },
              "the join server's key is not a join agent of this Data Union: joins will fail until the admin adds it",
            )
          }
        },
        (err: unknown) => this.components.logger.warn({ err, dataUnion }, "can't check the join server's Data Union"),
      )
    }
    const server = createAdaptorServer({
      fetch: this.routes().fetch,
      hostname: this.config.host,
      serverOptions: httpServerOptions(this.config),
    }) as Server
    server.maxConnections = this.config.maxConnections
    this.server = server
    const port = await listen(server, this.config.host, this.config.port, 'dataUnionJoin')
    this.url = `http://${urlHost(this.config.host, port)}`
    return this.url
  }

  async stop(): Promise<void> {
    if (this.server === undefined) return
    this.server.closeAllConnections()
    await close(this.server)
  }

  private routes(): Hono {
    const app = new Hono()
    app.onError((err, c) => this.fail(c, err))
    app.notFound((c) =>
      this.fail(
        c,
        new NodeError(
          'BAD_REQUEST',
          `no such endpoint: ${c.req.method} ${c.req.path} (POST /dataunions/<address>/join)`,
        ),
      ),
    )
    app.get('/health', (c) => c.json({ status: 'ok' }))
    for (const action of ['join', 'part'] as const) {
      app.post(`/dataunions/:address/${action}`, async (c) => {
        const { incoming } = c.env as HttpBindings
        this.takeRate(incoming.socket.remoteAddress ?? 'unknown')
        const dataUnion = this.servedUnion(c.req.param('address'))
        const body = await readBody(incoming, this.config.maxBodyBytes, 'body')
        const request = parseJoinBody(action, dataUnion, body)
        const now = this.components.now()
        await verifyJoinRequest(request, now, this.config.maxClockSkewMs)
        const txHash = action === 'join' ? await this.join(request, now) : await this.part(request, now)
        await this.announce(dataUnion, { type: action, member: request.member, txHash, ...metadataOf(request) })
        return c.json({ dataUnion, member: request.member, txHash }, 200)
      })
    }
    return app
  }

  private async join(request: JoinRequest, now: number): Promise<Hex> {
    const union = this.config.dataUnions[request.dataUnion]!
    if (union.secrets !== undefined && !union.secrets.some((secret) => sameText(secret, request.secret))) {
      throw new NodeError(
        'PERMISSION_DENIED',
        request.secret === undefined ? 'this Data Union needs a secret to join' : 'wrong secret for this Data Union',
      )
    }
    if (this.components.check !== undefined && !(await this.components.check(request))) {
      throw new NodeError('PERMISSION_DENIED', "the app's check refused this member")
    }
    // Remembered only once the app's check passed: requests that fail it can't fill the memory.
    this.used.use(requestKey(request), request.timestamp, now)
    const status = await this.components.membership.memberStatus(request.dataUnion, request.member)
    if (status === 'active') throw new NodeError('CONFLICT', `${request.member} is a member already`)
    return this.batcher.add(request.dataUnion, request.member)
  }

  private async part(request: JoinRequest, now: number): Promise<Hex> {
    this.used.use(requestKey(request), request.timestamp, now)
    const status = await this.components.membership.memberStatus(request.dataUnion, request.member)
    if (status !== 'active') throw new NodeError('CONFLICT', `${request.member} is not a member`)
    return this.components.membership.partMember(request.dataUnion, request.member)
  }

  /** A failed announcement doesn't undo the change on chain: it is logged, and the answer is still the change's. */
  private async announce(dataUnion: Address, record: JoinPartRecord): Promise<void> {
    const stream = this.config.dataUnions[dataUnion]?.joinPartStream
    if (stream === undefined) return
    try {
      await this.components.publish(stream, record)
    } catch (err) {
      this.components.logger.warn({ err, dataUnion, stream }, "couldn't publish to the Data Union's join/part stream")
    }
  }

  private servedUnion(param: string): Address {
    const dataUnion = param.toLowerCase() as Address
    if (!/^0x[0-9a-f]{40}$/.test(dataUnion)) {
      throw new NodeError('BAD_REQUEST', 'the path must name a Data Union by its 0x-prefixed 20-byte hex address')
    }
    if (this.config.dataUnions[dataUnion] === undefined) {
      throw new NodeError('NOT_FOUND', `this server doesn't serve Data Union ${dataUnion}`)
    }
    return dataUnion
  }

  private takeRate(client: string): void {
    let bucket = this.buckets.get(client)
    if (bucket === undefined) {
      const perSecond = this.config.requestsPerMinute / 60
      bucket = new TokenBucket(
        perSecond,
        Math.max(1, Math.floor(this.config.requestsPerMinute / 6)),
        this.components.now,
      )
      if (this.buckets.size >= MAX_TRACKED_CLIENTS) this.buckets.delete(this.buckets.keys().next().value!)
    } else {
      this.buckets.delete(client)
    }
    // Re-inserted: the map's order is least recently seen first.
    this.buckets.set(client, bucket)
    if (!bucket.take(1)) {
      throw new NodeError('RATE_LIMITED', `more than ${this.config.requestsPerMinute} requests a minute: slow down`)
    }
  }

  private fail(c: Context, err: unknown): Response {
    const error = toApiError(err)
    if (error.status >= 500) this.components.logger.warn({ err, path: c.req.path }, 'a join request failed')
    return c.json({ error: { code: error.code, message: error.message } }, error.status as ContentfulStatusCode)
  }
}

function metadataOf(request: JoinRequest): { metadata?: string } {
  return request.metadata === undefined ? {} : { metadata: request.metadata }
}

function sameText(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false
  const a = Buffer.from(expected)
  const b = Buffer.from(given)
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * What a request's signature vouches for, as the replay memory's key. Not the signature's bytes: the same statement
 * has other valid signatures (v as 0/1 or 27/28, s or n − s), each of which would pass for a new request.
 */
function requestKey(request: JoinRequest): string {
  return `${request.action}:${request.dataUnion}:${request.member.toLowerCase()}:${request.timestamp}`
}
