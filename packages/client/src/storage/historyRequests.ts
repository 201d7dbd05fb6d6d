import { MAX_SEQUENCE_NUMBER, MESSAGE_FRAMES_CONTENT_TYPE, MessageFrameReader } from '@runnel/protocol'
import { ClientError } from '../errors.js'

/** A point in a stream part's history: a timestamp, and a sequence number within it (default 0). */
export interface HistoryRef {
  readonly timestamp: number
  readonly sequenceNumber?: number
}

/** Which stored messages to fetch: the last N, everything from a point, or a closed range. */
export type HistoryQuery =
  | { readonly last: number }
  | { readonly from: HistoryRef; readonly publisherId?: string; readonly msgChainId?: string }
  | { readonly from: HistoryRef; readonly to: HistoryRef; readonly publisherId?: string; readonly msgChainId?: string }

/** Largest `last` a query may ask for; more history is read with `from`. */
export const MAX_LAST_COUNT = 1_000_000

/** Checks a query's shape, so a typo fails here with a clear message and not as a storage node's 400. */
export function checkHistoryQuery(query: HistoryQuery): void {
  const bad = (message: string): never => {
    throw new ClientError('INVALID_ARGUMENT', `resend: ${message}`)
  }
  if (typeof query !== 'object' || query === null) bad('options must be { last } or { from } or { from, to }')
  if ('last' in query) {
    if (!Number.isSafeInteger(query.last) || query.last < 0 || query.last > MAX_LAST_COUNT) {
      bad(`last must be an integer 0–${MAX_LAST_COUNT}, got ${String(query.last)}`)
    }
    return
  }
  if (!('from' in query)) bad('options must be { last } or { from } or { from, to }')
  const checkRef = (name: string, ref: HistoryRef): void => {
    if (typeof ref !== 'object' || ref === null || !Number.isSafeInteger(ref.timestamp) || ref.timestamp < 0) {
      bad(`${name}.timestamp must be milliseconds since 1970`)
    }
    if (ref.sequenceNumber !== undefined && (!Number.isSafeInteger(ref.sequenceNumber) || ref.sequenceNumber < 0)) {
      bad(`${name}.sequenceNumber must be a non-negative integer`)
    }
  }
  checkRef('from', query.from)
  if ('to' in query) {
    checkRef('to', query.to)
    const { from, to } = query
    // A `to` without a sequence number covers its whole millisecond.
    const toSequence = to.sequenceNumber ?? MAX_SEQUENCE_NUMBER
    if (to.timestamp < from.timestamp || (to.timestamp === from.timestamp && toSequence < (from.sequenceNumber ?? 0))) {
      bad('to must not come before from')
    }
  }
}

/** The history API URL of a query on one storage node (binary framing). */
export function historyUrl(baseUrl: string, streamId: string, partition: number, query: HistoryQuery): string {
  const base = `${baseUrl.replace(/\/+$/, '')}/streams/${encodeURIComponent(streamId)}/data/partitions/${partition}`
  const params = new URLSearchParams({ format: 'binary' })
  let kind: string
  if ('last' in query) {
    kind = 'last'
    params.set('count', String(query.last))
  } else {
    kind = 'to' in query ? 'range' : 'from'
    params.set('fromTimestamp', String(query.from.timestamp))
    params.set('fromSequenceNumber', String(query.from.sequenceNumber ?? 0))
    if ('to' in query) {
      params.set('toTimestamp', String(query.to.timestamp))
      params.set('toSequenceNumber', String(query.to.sequenceNumber ?? MAX_SEQUENCE_NUMBER))
    }
    if (query.publisherId !== undefined) params.set('publisherId', query.publisherId.toLowerCase())
    if (query.msgChainId !== undefined) params.set('msgChainId', query.msgChainId)
  }
  return `${base}/${kind}?${params.toString()}`
}

/**
 * Streams the encoded messages of one history request. Throws `ClientError`
 * `STORAGE_UNAVAILABLE` when the node can't be reached or answers with an
 * error, so the caller can try another node.
 */
export async function* fetchHistory(url: string, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  let response: Response
  try {
    response = await fetch(url, { headers: { accept: MESSAGE_FRAMES_CONTENT_TYPE }, ...(signal && { signal }) })
  } catch (err) {
    throw new ClientError('STORAGE_UNAVAILABLE', `can't reach ${new URL(url).origin}: ${(err as Error).message}`, {
      cause: err,
    })
  }
  if (!response.ok || response.body === null) {
    let detail = `HTTP ${response.status}`
    try {
      const body = (await response.json()) as { error?: { code?: string; message?: string } }
      if (body.error?.message !== undefined) detail += ` ${body.error.code ?? ''}: ${body.error.message}`
    } catch {
      // Not our JSON error: the status says enough.
    }
    const code =
      response.status >= 400 && response.status < 500 && response.status !== 404
        ? 'INVALID_ARGUMENT'
        : 'STORAGE_UNAVAILABLE'
    throw new ClientError(code, `${new URL(url).origin} refused the history request: ${detail}`)
  }
  const reader = new MessageFrameReader()
  const body = response.body.getReader()
  try {
    for (;;) {
      const { done, value } = await body.read()
      if (done) break
      for (const frame of reader.push(value)) yield frame
    }
    reader.end()
  } catch (err) {
    if (err instanceof ClientError) throw err
    throw new ClientError(
      'STORAGE_UNAVAILABLE',
      `the history stream from ${new URL(url).origin} broke off: ${(err as Error).message}`,
      {
        cause: err,
      },
    )
  } finally {
    // Stops the download when the consumer leaves early.
    await body.cancel().catch(() => {})
  }
}
