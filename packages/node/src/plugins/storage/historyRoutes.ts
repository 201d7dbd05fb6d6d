import { MAX_SEQUENCE_NUMBER, MESSAGE_FRAMES_CONTENT_TYPE, frameMessage } from '@runnel/protocol'
import type { Hono } from 'hono'
import { parsePartition, parseRequestStreamId, parseTimestamp } from '../../api/requests.js'
import { NodeError } from '../../errors.js'
import { MAX_DIGEST_BUCKETS, type HistoryFilter, type MessageStore } from '../../storage/index.js'
import { toHistoryJsonLine } from './historyJson.js'

/** Largest `count` of a `last` request. */
export const MAX_LAST_COUNT = 1_000_000
/** Binary responses are written in chunks of about this size: one write per message would cost more than the bytes. */
const CHUNK_BYTES = 64 * 1024

export interface HistoryRoutesComponents {
  readonly store: () => MessageStore | undefined
  /** Whether this node stores the stream (assigned on chain). */
  readonly stores: (streamId: string) => boolean
  readonly onServed: (messages: number, bytes: number) => void
}

function badRequest(message: string): NodeError {
  return new NodeError('BAD_REQUEST', message)
}

function integer(query: URLSearchParams, name: string, fallback?: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = query.get(name)
  if (value === null || value === '') {
    if (fallback === undefined) throw badRequest(`${name} is required`)
    return fallback
  }
  if (!/^\d+$/.test(value) || Number(value) > max)
    throw badRequest(`${name} must be an integer 0–${max}, got '${value}'`)
  return Number(value)
}

function filterOf(query: URLSearchParams): HistoryFilter {
  const publisherId = query.get('publisherId') ?? undefined
  if (publisherId !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(publisherId)) {
    throw badRequest(`publisherId must be an 0x address, got '${publisherId}'`)
  }
  const msgChainId = query.get('msgChainId') ?? undefined
  return { publisherId: publisherId?.toLowerCase(), msgChainId }
}

/** Default width of a `digests` bucket. */
const DEFAULT_BUCKET_MS = 60_000

/**
 * `digests?fromTimestamp=&toTimestamp=&bucketMs=`: `{ bucketMs, buckets: [[start, count, digest], …] }` for the
 * messages with a timestamp from `fromTimestamp` (inclusive) to `toTimestamp` (exclusive), empty buckets left out.
 * What storage nodes compare to find what one of them misses.
 */
async function digestsOf(
  store: MessageStore,
  streamPartId: string,
  query: URLSearchParams,
): Promise<{ bucketMs: number; buckets: [number, number, number][] }> {
  const from = parseTimestamp(query.get('fromTimestamp') ?? '', 'fromTimestamp')
  const to = parseTimestamp(query.get('toTimestamp') ?? '', 'toTimestamp')
  const bucketMs = integer(query, 'bucketMs', DEFAULT_BUCKET_MS)
  if (bucketMs < 1) throw badRequest('bucketMs must be at least 1')
  if (to < from) throw badRequest('the range ends before it starts')
  if (Math.ceil((to - from) / bucketMs) > MAX_DIGEST_BUCKETS) {
    throw badRequest(`at most ${MAX_DIGEST_BUCKETS} buckets per request: widen bucketMs or narrow the range`)
  }
  const buckets = await store.digests(streamPartId, from, to, bucketMs)
  return { bucketMs, buckets: buckets.map((bucket) => [bucket.start, bucket.count, bucket.digest]) }
}

/**
 * The history API of a storage node: `GET /streams/<id>/data/partitions/<p>/last|from|range|digests`.
 * Responses are streamed as NDJSON (default) or length-prefixed binary frames
 * (`format=binary` or `Accept: application/vnd.runnel.messages`).
 */
export function addHistoryRoutes(app: Hono, components: HistoryRoutesComponents): void {
  app.get('/streams/:streamId/data/partitions/:partition/:kind', async (c) => {
    const streamId = parseRequestStreamId(c.req.param('streamId'))
    const kind = c.req.param('kind')
    const partition = parsePartition(c.req.param('partition'))
    const query = new URL(c.req.url).searchParams
    const store = components.store()
    if (store === undefined) throw new NodeError('INTERNAL', 'storage is not running')
    if (!components.stores(streamId)) {
      throw new NodeError('STREAM_NOT_FOUND', `this node doesn't store ${streamId} (see its storage nodes on chain)`)
    }
    if (kind === 'digests') return c.json(await digestsOf(store, `${streamId}#${partition}`, query))
    const format =
      query.get('format') ??
      ((c.req.header('accept') ?? '').includes(MESSAGE_FRAMES_CONTENT_TYPE) ? 'binary' : 'ndjson')
    if (format !== 'ndjson' && format !== 'binary') throw badRequest(`format must be ndjson or binary, got '${format}'`)
    const streamPartId = `${streamId}#${partition}`
    const filter = filterOf(query)
    let messages: AsyncIterable<Uint8Array>
    switch (kind) {
      case 'last':
        messages = store.last(streamPartId, integer(query, 'count', 100, MAX_LAST_COUNT), filter)
        break
      case 'from':
        messages = store.range(
          streamPartId,
          {
            timestamp: parseTimestamp(query.get('fromTimestamp') ?? '', 'fromTimestamp'),
            sequenceNumber: integer(query, 'fromSequenceNumber', 0, MAX_SEQUENCE_NUMBER),
          },
          undefined,
          filter,
        )
        break
      case 'range': {
        const from = {
          timestamp: parseTimestamp(query.get('fromTimestamp') ?? '', 'fromTimestamp'),
          sequenceNumber: integer(query, 'fromSequenceNumber', 0, MAX_SEQUENCE_NUMBER),
        }
        const to = {
          timestamp: parseTimestamp(query.get('toTimestamp') ?? '', 'toTimestamp'),
          sequenceNumber: integer(query, 'toSequenceNumber', MAX_SEQUENCE_NUMBER, MAX_SEQUENCE_NUMBER),
        }
        if (
          to.timestamp < from.timestamp ||
          (to.timestamp === from.timestamp && to.sequenceNumber < from.sequenceNumber)
        ) {
          throw badRequest('the range ends before it starts')
        }
        messages = store.range(streamPartId, from, to, filter)
        break
      }
      default:
        throw badRequest(`unknown history request '${kind}': use last, from, range or digests`)
    }
    const contentType = format === 'binary' ? MESSAGE_FRAMES_CONTENT_TYPE : 'application/x-ndjson'
    const encode =
      format === 'binary' ? frameMessage : (bytes: Uint8Array) => new TextEncoder().encode(toHistoryJsonLine(bytes))
    return new Response(responseBody(messages, encode, components.onServed), {
      headers: { 'content-type': contentType },
    })
  })
}

/**
 * A pull-based body: the store is read only as fast as the client takes the
 * bytes. A failure midway errors the body, so the client sees a broken
 * response rather than a short one that looks complete.
 */
function responseBody(
  messages: AsyncIterable<Uint8Array>,
  encode: (message: Uint8Array) => Uint8Array,
  onServed: (messages: number, bytes: number) => void,
): ReadableStream<Uint8Array> {
  const iterator = messages[Symbol.asyncIterator]()
  let count = 0
  let bytes = 0
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunk: Uint8Array[] = []
      let size = 0
      while (size < CHUNK_BYTES) {
        const next = await iterator.next()
        if (next.done === true) {
          if (chunk.length > 0) controller.enqueue(Buffer.concat(chunk))
          controller.close()
          onServed(count, bytes)
          return
        }
        const piece = encode(next.value)
        chunk.push(piece)
        size += piece.length
        count++
        bytes += next.value.length
      }
      controller.enqueue(Buffer.concat(chunk))
    },
    async cancel() {
      await iterator.return?.()
    },
  })
}
