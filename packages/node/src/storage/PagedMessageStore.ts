import {
  MessageRef,
  encodeStreamMessage,
  parseEthereumAddress,
  parseStreamId,
  parseStreamPartId,
  splitStreamPartId,
  type StreamMessage,
} from '@runnel/protocol'
import { NodeError } from '../errors.js'
import { invalidArgument, storageClosed, storageFailed } from './errors.js'
import {
  MAX_DIGEST_BUCKETS,
  type BucketDigest,
  type HistoryFilter,
  type MessageRefLike,
  type MessageStore,
  type StreamPartStats,
} from './MessageStore.js'

/** The primary key of a message within its stream part, in sort order. */
export interface MessageKey {
  readonly timestamp: number
  readonly sequenceNumber: number
  readonly publisherId: string
  readonly msgChainId: string
}

/** One message as the tables hold it: the key columns and the encoded bytes. */
export interface MessageRow extends MessageKey {
  readonly streamId: string
  readonly partition: number
  readonly payload: Uint8Array
}

/** Selects the newest key of a stream part (that matches `filter` and is at most `atMost`), after skipping `skip` newer ones. */
export interface KeyQuery {
  readonly streamId: string
  readonly partition: number
  readonly filter: HistoryFilter
  readonly atMost: MessageRefLike | undefined
  readonly skip: number
}

/** Selects one page of a stream part in key order: keys after `after` (or equal when `inclusive`) up to `upTo` inclusive. */
export interface PageQuery {
  readonly streamId: string
  readonly partition: number
  readonly filter: HistoryFilter
  readonly after: MessageKey
  readonly inclusive: boolean
  readonly upTo: MessageKey
  /** At most this many rows… */
  readonly maxRows: number
  /** …and no row after the one that brings the page's payloads to this many bytes. */
  readonly maxBytes: number
}

export interface Page {
  readonly payloads: Uint8Array[]
  readonly bytes: number
  /** Key of the page's last row; the next page starts after it. */
  readonly lastKey: MessageKey | undefined
}

/** How reads and deletions are cut into steps; shared by every backend. */
export interface PagingOptions {
  /** Most rows one read query returns. Default 1,000. */
  readonly pageSize?: number
  /**
   * A page ends after the row that brings it to this many bytes, so a read
   * holds about this much (plus one message) however large the messages are.
   * Default 4 MiB.
   */
  readonly maxPageBytes?: number
  /** Most rows one delete transaction removes. Default 1,000. */
  readonly deleteChunkSize?: number
  /** Called after every page read, with its row count and bytes: for metrics, and for tests to watch the paging. */
  readonly onPageRead?: (rows: number, bytes: number) => void
}

/** Sorts before every stored key: timestamps are non-negative and ids non-empty. */
const FIRST_KEY: MessageKey = { timestamp: 0, sequenceNumber: 0, publisherId: '', msgChainId: '' }

/**
 * The query logic every backend shares: argument checks, keyset pagination,
 * chunked deletion and error wrapping. A backend supplies a handful of
 * single-statement primitives; each runs one short query, so a long read or
 * delete is many short steps with other work in between.
 */
export abstract class PagedMessageStore implements MessageStore {
  readonly #pageSize: number
  readonly #maxPageBytes: number
  readonly #deleteChunkSize: number
  readonly #onPageRead: ((rows: number, bytes: number) => void) | undefined
  #closed = false

  protected constructor(options: PagingOptions) {
    this.#pageSize = positiveInteger(options.pageSize ?? 1_000, 'pageSize')
    this.#maxPageBytes = positiveInteger(options.maxPageBytes ?? 4 * 1024 * 1024, 'maxPageBytes')
    this.#deleteChunkSize = positiveInteger(options.deleteChunkSize ?? 1_000, 'deleteChunkSize')
    this.#onPageRead = options.onPageRead
  }

  /** Inserts the rows in one transaction, ignoring those whose key exists; returns how many were new. */
  protected abstract insertRows(rows: readonly MessageRow[]): Promise<number>
  protected abstract findKey(query: KeyQuery): Promise<MessageKey | undefined>
  protected abstract readPage(query: PageQuery): Promise<Page>
  /** The lowest partition above `after` that holds messages of the stream. */
  protected abstract nextPartition(streamId: string, after: number): Promise<number | undefined>
  /** Deletes up to `limit` of the oldest messages of a stream part with a timestamp below `before`; returns how many. */
  protected abstract deleteOldest(streamId: string, partition: number, before: number, limit: number): Promise<number>
  /** One aggregate query; `from` and `to` checked, `to - from` at most MAX_DIGEST_BUCKETS buckets. */
  protected abstract readDigests(
    streamId: string,
    partition: number,
    from: number,
    to: number,
    bucketMs: number,
  ): Promise<BucketDigest[]>
  protected abstract readStats(streamId: string | undefined): Promise<StreamPartStats[]>
  protected abstract release(): Promise<void>

  protected get closed(): boolean {
    return this.#closed
  }

  async write(messages: readonly StreamMessage[], encoded?: readonly Uint8Array[]): Promise<number> {
    this.#assertOpen()
    if (messages.length === 0) return 0
    if (encoded !== undefined && encoded.length !== messages.length) {
      throw invalidArgument(`${encoded.length} encodings for ${messages.length} messages`)
    }
    const rows = messages.map((message, i) => toMessageRow(message, encoded?.[i]))
    return this.#run(`writing ${rows.length} messages`, () => this.insertRows(rows))
  }

  last(streamPartId: string, count: number, filter: HistoryFilter = {}): AsyncIterable<Uint8Array> {
    const part = parsePart(streamPartId)
    if (!Number.isSafeInteger(count) || count < 0) {
      throw invalidArgument(`count must be a non-negative integer, got ${String(count)}`)
    }
    return this.#readLast(part, count, parseFilter(filter))
  }

  range(
    streamPartId: string,
    from: MessageRefLike,
    to?: MessageRefLike,
    filter: HistoryFilter = {},
  ): AsyncIterable<Uint8Array> {
    const part = parsePart(streamPartId)
    const start = parseRef(from, 'from')
    const end = to === undefined ? undefined : parseRef(to, 'to')
    return this.#readRange(part, start, end, parseFilter(filter))
  }

  async deleteBefore(streamId: string, before: number): Promise<number> {
    let id: string
    try {
      id = parseStreamId(streamId)
    } catch (err) {
      throw invalidArgument(`invalid stream id: ${errorMessage(err)}`, err)
    }
    if (!Number.isSafeInteger(before)) throw invalidArgument(`before must be an integer, got ${String(before)}`)
    let deleted = 0
    let partition = await this.#run('finding partitions', () => this.nextPartition(id, -1))
    while (partition !== undefined) {
      const current = partition
      for (;;) {
        this.#assertOpen()
        const count = await this.#run('deleting old messages', () =>
          this.deleteOldest(id, current, before, this.#deleteChunkSize),
        )
        deleted += count
        if (count < this.#deleteChunkSize) break
      }
      partition = await this.#run('finding partitions', () => this.nextPartition(id, current))
    }
    return deleted
  }

  async newestRef(
    streamPartId: string,
    filter: HistoryFilter = {},
    atMost?: MessageRefLike,
  ): Promise<MessageRefLike | undefined> {
    const part = parsePart(streamPartId)
    const query = { ...part, filter: parseFilter(filter), atMost: atMost && parseRef(atMost, 'atMost'), skip: 0 }
    const key = await this.#run('reading', () => this.findKey(query))
    return key === undefined ? undefined : pickRef(key)
  }

  async digests(streamPartId: string, from: number, to: number, bucketMs: number): Promise<BucketDigest[]> {
    const part = parsePart(streamPartId)
    if (!Number.isSafeInteger(from) || from < 0)
      throw invalidArgument(`from must be a timestamp ≥ 0, got ${String(from)}`)
    if (!Number.isSafeInteger(to) || to < from)
      throw invalidArgument(`to must be a timestamp ≥ from, got ${String(to)}`)
    if (!Number.isSafeInteger(bucketMs) || bucketMs < 1) {
      throw invalidArgument(`bucketMs must be a positive integer, got ${String(bucketMs)}`)
    }
    if (Math.ceil((to - from) / bucketMs) > MAX_DIGEST_BUCKETS) {
      throw invalidArgument(`at most ${MAX_DIGEST_BUCKETS} buckets per call: widen bucketMs or narrow the range`)
    }
    if (to === from) return []
    return this.#run('computing digests', () => this.readDigests(part.streamId, part.partition, from, to, bucketMs))
  }

  async stats(streamId?: string): Promise<StreamPartStats[]> {
    return this.#run('reading stats', () => this.readStats(streamId))
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    try {
      await this.release()
    } catch (err) {
      throw storageFailed('closing', err)
    }
  }

  async *#readLast(part: StreamPart, count: number, filter: HistoryFilter): AsyncGenerator<Uint8Array> {
    if (count === 0) return
    const query = { ...part, filter, atMost: undefined }
    const upTo = await this.#run('reading', () => this.findKey({ ...query, skip: 0 }))
    if (upTo === undefined) return
    // The cut-off is the count-th newest row, found by skipping along the index
    // backwards; from there the rows stream in ascending pages like a range.
    const first = count === 1 ? upTo : await this.#run('reading', () => this.findKey({ ...query, skip: count - 1 }))
    yield* this.#readPages(part, filter, first ?? FIRST_KEY, upTo)
  }

  async *#readRange(
    part: StreamPart,
    from: MessageRefLike,
    to: MessageRefLike | undefined,
    filter: HistoryFilter,
  ): AsyncGenerator<Uint8Array> {
    // The newest matching key bounds the read: a stream written faster than it
    // is read would otherwise never end.
    const upTo = await this.#run('reading', () => this.findKey({ ...part, filter, atMost: to, skip: 0 }))
    if (upTo === undefined) return
    yield* this.#readPages(part, filter, { ...FIRST_KEY, ...pickRef(from) }, upTo)
  }

  async *#readPages(
    part: StreamPart,
    filter: HistoryFilter,
    from: MessageKey,
    upTo: MessageKey,
  ): AsyncGenerator<Uint8Array> {
    let after = from
    let inclusive = true
    for (;;) {
      this.#assertOpen()
      const query: PageQuery = {
        ...part,
        filter,
        after,
        inclusive,
        upTo,
        maxRows: this.#pageSize,
        maxBytes: this.#maxPageBytes,
      }
      const page = await this.#run('reading', () => this.readPage(query))
      this.#onPageRead?.(page.payloads.length, page.bytes)
      yield* page.payloads
      // A page cut short by neither limit is the last one, which saves the
      // empty query that would otherwise confirm it.
      const full = page.payloads.length >= this.#pageSize || page.bytes >= this.#maxPageBytes
      if (page.lastKey === undefined || !full) return
      after = page.lastKey
      inclusive = false
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw storageClosed('the message store')
  }

  async #run<T>(operation: string, step: () => Promise<T>): Promise<T> {
    this.#assertOpen()
    try {
      return await step()
    } catch (err) {
      if (err instanceof NodeError) throw err
      // A step that failed because close() ran meanwhile says so, rather than
      // surfacing the driver's "connection closed".
      if (this.#closed) throw storageClosed('the message store')
      throw storageFailed(operation, err)
    }
  }
}

interface StreamPart {
  readonly streamId: string
  readonly partition: number
}

function toMessageRow(message: StreamMessage, encoded: Uint8Array | undefined): MessageRow {
  let payload: Uint8Array
  try {
    payload = encoded ?? encodeStreamMessage(message)
  } catch (err) {
    throw invalidArgument(`cannot encode message ${message.messageId.toString()}: ${errorMessage(err)}`, err)
  }
  const id = message.messageId
  return {
    streamId: id.streamId,
    partition: id.streamPartition,
    timestamp: id.timestamp,
    sequenceNumber: id.sequenceNumber,
    publisherId: id.publisherId,
    msgChainId: id.messageChainId,
    payload,
  }
}

function parsePart(streamPartId: string): StreamPart {
  try {
    return splitStreamPartId(parseStreamPartId(streamPartId))
  } catch (err) {
    throw invalidArgument(errorMessage(err), err)
  }
}

function parseRef(ref: MessageRefLike, name: string): MessageRefLike {
  try {
    // MessageRef checks the ranges the wire allows.
    return pickRef(new MessageRef(ref.timestamp, ref.sequenceNumber))
  } catch (err) {
    throw invalidArgument(`${name}: ${errorMessage(err)}`, err)
  }
}

function pickRef(ref: MessageRefLike): MessageRefLike {
  return { timestamp: ref.timestamp, sequenceNumber: ref.sequenceNumber }
}

function parseFilter(filter: HistoryFilter): HistoryFilter {
  const { publisherId, msgChainId } = filter
  if (msgChainId !== undefined && typeof msgChainId !== 'string') {
    throw invalidArgument(`msgChainId must be a string`)
  }
  if (publisherId === undefined) return { msgChainId }
  try {
    // Stored ids are lowercase; a checksummed filter must match them too.
    return { publisherId: parseEthereumAddress(publisherId), msgChainId }
  } catch (err) {
    throw invalidArgument(`publisherId: ${errorMessage(err)}`, err)
  }
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new NodeError('INVALID_CONFIG', `storage: ${name} must be a positive integer, got ${String(value)}`)
  }
  return value
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
