import {
  blockCommitToJson,
  memberProofToJson,
  memberViewToJson,
  totalsToJson,
  type BlockSnapshot,
  type DataUnionState,
} from '@runnel/chain'
import { Hono, type Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { getAddress, isAddress, type Address } from 'viem'
import { toApiError } from '../../api/ApiError.js'
import { NodeError } from '../../errors.js'
import type { PeerComparison } from './PeerCheck.js'

/** The header every answer carries: which instance answered. */
export const INSTANCE_HEADER = 'x-runnel-instance'
/** The most members one page lists. */
export const MAX_MEMBERS_PAGE = 1_000
/** The most snapshots one history page lists. */
export const MAX_HISTORY_PAGE = 1_000

/** A stream record kept beside the state (never part of its hash). */
export interface MemberRequest {
  readonly type: 'join' | 'part'
  readonly txHash: string | undefined
  readonly receivedAt: number
}

/** What the routes read from the server. */
export interface StateQueries {
  readonly instance: string
  state(address: Address): DataUnionState | undefined
  dataUnions(): readonly Address[]
  comparisons(address: Address): readonly PeerComparison[]
  lastRequest(address: Address, member: Address): MemberRequest | undefined
  /** Called once per answered query. */
  served(): void
}

/**
 * The state server's JSON API. Bigints are decimal strings; every answer about a union names the block and the state
 * hash it is from, so a client can check it against other instances.
 */
export function stateRoutes(queries: StateQueries): Hono {
  const app = new Hono()
  const fail = (c: Context, err: unknown): Response => {
    const error = toApiError(err)
    return c.json({ error: { code: error.code, message: error.message } }, error.status as ContentfulStatusCode)
  }
  app.onError((err, c) => fail(c, err))
  app.notFound((c) => fail(c, new NodeError('BAD_REQUEST', `no such endpoint: ${c.req.method} ${c.req.path}`)))
  app.use('*', async (c, next) => {
    c.header(INSTANCE_HEADER, queries.instance)
    await next()
    if (c.res.status < 400) queries.served()
  })

  const union = (c: Context): DataUnionState => {
    const address = parseAddress(c.req.param('address') ?? '', 'Data Union address')
    const state = queries.state(address)
    if (state === undefined) throw new NodeError('NOT_FOUND', `this instance doesn't follow the Data Union ${address}`)
    if (state.head === undefined) {
      throw new NodeError('UNAVAILABLE', `this instance hasn't caught up with ${address} yet: try another, or later`)
    }
    return state
  }
  const headOf = (state: DataUnionState) => blockCommitToJson(state.head!)

  app.get('/health', (c) => c.json({ status: 'ok', instance: queries.instance }))
  app.get('/dataunions', (c) =>
    c.json({
      dataUnions: queries.dataUnions().map((address) => {
        const head = queries.state(address)?.head
        return { dataUnion: address, head: head === undefined ? null : blockCommitToJson(head) }
      }),
    }),
  )
  app.get('/dataunions/:address/head', (c) => {
    const state = union(c)
    return c.json({ dataUnion: state.dataUnion, instance: queries.instance, ...headOf(state) })
  })
  app.get('/dataunions/:address/hash/:block', (c) => {
    const state = union(c)
    const block = parseBlock(c.req.param('block') ?? '')
    const snapshot = state.snapshotAt(block)
    if (snapshot === undefined) {
      const kept = `blocks ${state.oldestBlock ?? '?'} to ${state.head!.block} are kept`
      throw new NodeError('NOT_FOUND', `no hash of block ${block} here (${kept})`)
    }
    return c.json({ dataUnion: state.dataUnion, instance: queries.instance, ...blockCommitToJson(snapshot) })
  })
  app.get('/dataunions/:address/members/:member', (c) => {
    const state = union(c)
    const address = parseAddress(c.req.param('member') ?? '', 'member address')
    const view = state.member(address)
    if (view === undefined) throw new NodeError('NOT_FOUND', `${address} never joined ${state.dataUnion}`)
    const request = queries.lastRequest(state.dataUnion, address)
    return c.json({ ...headOf(state), member: memberViewToJson(view), lastRequest: request ?? null })
  })
  app.get('/dataunions/:address/proof/:member', (c) => {
    const state = union(c)
    const address = parseAddress(c.req.param('member') ?? '', 'member address')
    const proof = state.proof(address)
    if (proof === undefined) throw new NodeError('NOT_FOUND', `${address} never joined ${state.dataUnion}`)
    return c.json({ proof: memberProofToJson(proof) })
  })
  app.get('/dataunions/:address/members', (c) => {
    const state = union(c)
    const query = new URL(c.req.url).searchParams
    const offset = parseCount(query.get('offset'), 'offset', 0, Number.MAX_SAFE_INTEGER)
    const limit = parseCount(query.get('limit'), 'limit', 100, MAX_MEMBERS_PAGE)
    const members = state.members(offset, limit).map(memberViewToJson)
    return c.json({ ...headOf(state), total: state.size, offset, members })
  })
  app.get('/dataunions/:address/stats', (c) => {
    const state = union(c)
    const stats = state.stats()
    return c.json({
      ...headOf(state),
      stats: {
        ...totalsToJson(stats),
        eventsApplied: stats.eventsApplied,
        problemCount: stats.problemCount,
        joinAgents: stats.joinAgents,
      },
      problems: state.problems.slice(-20).map((problem) => ({
        ...problem,
        blockNumber: problem.blockNumber.toString(),
      })),
    })
  })
  app.get('/dataunions/:address/history', (c) => {
    const state = union(c)
    const query = new URL(c.req.url).searchParams
    const from = query.get('fromBlock')
    const limit = parseCount(query.get('limit'), 'limit', 100, MAX_HISTORY_PAGE)
    const snapshots = state.snapshots(from === null ? 0n : parseBlock(from), limit).map(snapshotToJson)
    return c.json({ ...headOf(state), snapshots })
  })
  app.get('/dataunions/:address/peers', (c) => {
    const state = union(c)
    const comparisons = queries.comparisons(state.dataUnion).map((comparison) => ({
      ...comparison,
      block: comparison.block.toString(),
      majorityHash: comparison.majorityHash ?? null,
    }))
    return c.json({ instance: queries.instance, comparisons })
  })
  return app
}

function snapshotToJson(snapshot: BlockSnapshot): Record<string, string | number> {
  return {
    ...blockCommitToJson(snapshot),
    totalRevenue: snapshot.totalRevenue.toString(),
    totalWithdrawn: snapshot.totalWithdrawn.toString(),
    adminEarned: snapshot.adminEarned.toString(),
    revenuePerWeight: snapshot.revenuePerWeight.toString(),
    totalWeight: snapshot.totalWeight.toString(),
    activeMemberCount: snapshot.activeMemberCount.toString(),
    memberCount: snapshot.memberCount.toString(),
    events: snapshot.events,
  }
}

/** @throws {@link NodeError} `BAD_REQUEST` */
export function parseAddress(text: string, what: string): Address {
  if (!isAddress(text, { strict: false })) {
    throw new NodeError('BAD_REQUEST', `the ${what} isn't a 0x-prefixed 20-byte hex address: ${text.slice(0, 100)}`)
  }
  return getAddress(text)
}

function parseBlock(text: string): bigint {
  if (!/^\d{1,20}$/.test(text)) {
    throw new NodeError('BAD_REQUEST', `a block number is a decimal integer, not ${text.slice(0, 100)}`)
  }
  return BigInt(text)
}

function parseCount(text: string | null, name: string, fallback: number, max: number): number {
  if (text === null) return fallback
  if (!/^\d{1,16}$/.test(text) || Number(text) > max) {
    throw new NodeError('BAD_REQUEST', `${name} must be an integer from 0 to ${max}, not ${text.slice(0, 100)}`)
  }
  return Number(text)
}
