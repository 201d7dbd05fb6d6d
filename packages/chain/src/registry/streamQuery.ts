import { zeroAddress, type Address } from 'viem'
import { ChainError } from '../errors.js'
import { decodeMetadata } from '../metadata.js'
import { holds, type PermissionName, type Permissions } from '../permissions.js'
import type { ChainPosition, StreamIndex } from './eventIndex.js'
import type { Stream } from './types.js'

/** What {@link searchIndex} and `RunnelRegistry.searchStreams` filter by. */
export interface StreamFilter {
  /** Only streams whose id contains this. */
  readonly term?: string
  /** With `permission`: only streams where this user holds it now (for publish and subscribe, public grants count). */
  readonly user?: Address
  /** Only streams where `user` (or, without a user, everyone) holds this permission now. */
  readonly permission?: PermissionName
}

/** A page request of `RunnelRegistry.queryStreams`. */
export interface StreamQuery extends StreamFilter {
  /** `'id'` (lexicographic) or `'created'` (order of creation on chain). Default `'id'`. */
  readonly orderBy?: 'id' | 'created'
  /** Default `'asc'`. */
  readonly order?: 'asc' | 'desc'
  /** Streams per page, 1..{@link MAX_PAGE_SIZE}. Default 100. */
  readonly pageSize?: number
  /** `nextCursor` of the previous page; absent for the first page. */
  readonly cursor?: string
}

/** A stream as listed by a query, with where it was created. */
export interface ListedStream extends Stream {
  /** The block of the stream's creation. */
  readonly createdAtBlock: bigint
}

export interface StreamPage {
  readonly streams: readonly ListedStream[]
  /** Pass as `cursor` for the next page; absent on the last page. */
  readonly nextCursor?: string
}

export const MAX_PAGE_SIZE = 1_000
const DEFAULT_PAGE_SIZE = 100

function matches(
  id: string,
  users: ReadonlyMap<string, Permissions> | undefined,
  filter: StreamFilter,
  nowSeconds: bigint,
): boolean {
  if (filter.term !== undefined && !id.includes(filter.term)) return false
  if (filter.permission === undefined) return true
  const own = filter.user === undefined ? undefined : users?.get(filter.user.toLowerCase())
  const everyone = users?.get(zeroAddress)
  const isPublicKind = filter.permission === 'publish' || filter.permission === 'subscribe'
  return (
    (own !== undefined && holds(own, filter.permission, nowSeconds)) ||
    (isPublicKind && everyone !== undefined && holds(everyone, filter.permission, nowSeconds))
  )
}

/** Every stream of the index that passes `filter`, in creation order. */
export function searchIndex(index: StreamIndex, filter: StreamFilter, nowSeconds: bigint): Stream[] {
  const found: Stream[] = []
  for (const [id, stream] of index.streams) {
    if (matches(id, index.permissions.get(id), filter, nowSeconds)) {
      found.push({ id, metadata: decodeMetadata(stream.metadata) })
    }
  }
  return found
}

type SortKey = readonly [block: bigint, logIndex: number, id: string]

function compareKeys(a: SortKey, b: SortKey, orderBy: 'id' | 'created'): number {
  if (orderBy === 'created') {
    if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1
    if (a[1] !== b[1]) return a[1] - b[1]
  }
  return a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0
}

/**
 * Cursors name the last stream of a page by its sort key, not by an offset: a stream created or deleted between two
 * page requests neither repeats nor hides another one.
 */
function encodeCursor(orderBy: 'id' | 'created', key: SortKey): string {
  return orderBy === 'id' ? `id:${key[2]}` : `created:${key[0]}:${key[1]}:${key[2]}`
}

function decodeCursor(cursor: string, orderBy: 'id' | 'created'): SortKey {
  const bad = (): ChainError =>
    new ChainError(
      'INVALID_ARGUMENT',
      `cursor ${JSON.stringify(cursor)} is not a nextCursor of an orderBy '${orderBy}' query`,
    )
  if (orderBy === 'id') {
    if (!cursor.startsWith('id:')) throw bad()
    return [0n, 0, cursor.slice(3)]
  }
  const match = /^created:(\d+):(\d+):(.*)$/s.exec(cursor)
  if (match === null) throw bad()
  return [BigInt(match[1]!), Number(match[2]), match[3]!]
}

/** One page of the streams passing the query's filter, in the query's order. */
export function queryIndex(index: StreamIndex, query: StreamQuery, nowSeconds: bigint): StreamPage {
  const orderBy = query.orderBy ?? 'id'
  if (orderBy !== 'id' && orderBy !== 'created') {
    throw new ChainError('INVALID_ARGUMENT', `orderBy must be 'id' or 'created', got ${JSON.stringify(orderBy)}`)
  }
  const order = query.order ?? 'asc'
  if (order !== 'asc' && order !== 'desc') {
    throw new ChainError('INVALID_ARGUMENT', `order must be 'asc' or 'desc', got ${JSON.stringify(order)}`)
  }
  const pageSize = query.pageSize ?? DEFAULT_PAGE_SIZE
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    throw new ChainError('INVALID_ARGUMENT', `pageSize must be an integer 1..${MAX_PAGE_SIZE}, got ${String(pageSize)}`)
  }
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, orderBy)
  const sign = order === 'asc' ? 1 : -1
  const candidates: { key: SortKey; id: string; metadata: string; created: ChainPosition }[] = []
  for (const [id, stream] of index.streams) {
    const key: SortKey = [stream.created.block, stream.created.logIndex, id]
    if (after !== undefined && sign * compareKeys(key, after, orderBy) <= 0) continue
    if (!matches(id, index.permissions.get(id), query, nowSeconds)) continue
    candidates.push({ key, id, metadata: stream.metadata, created: stream.created })
  }
  candidates.sort((a, b) => sign * compareKeys(a.key, b.key, orderBy))
  const page = candidates.slice(0, pageSize)
  const streams = page.map(({ id, metadata, created }) => ({
    id,
    metadata: decodeMetadata(metadata),
    createdAtBlock: created.block,
  }))
  const last = page.at(-1)
  return candidates.length > pageSize && last !== undefined
    ? { streams, nextCursor: encodeCursor(orderBy, last.key) }
    : { streams }
}

/**
 * The users holding `permission` on a stream now, as lowercase addresses from the index; `PUBLIC`
 * (the zero address) among them means everyone holds it.
 */
export function holdersOf(
  users: ReadonlyMap<string, Permissions> | undefined,
  permission: PermissionName,
  nowSeconds: bigint,
): Address[] {
  const found: Address[] = []
  for (const [user, permissions] of users ?? []) {
    if (holds(permissions, permission, nowSeconds)) found.push(user as Address)
  }
  return found
}
