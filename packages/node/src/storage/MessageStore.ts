import type { StreamMessage } from '@runnel/protocol'

/** A position in a stream part's history: a message ref without the publisher. */
export interface MessageRefLike {
  /** Milliseconds since the Unix epoch. */
  readonly timestamp: number
  readonly sequenceNumber: number
}

/** Narrows a history query to one publisher, and optionally to one of its message chains. */
export interface HistoryFilter {
  /** Lowercase `0x…` address, as in `MessageId.publisherId`. */
  readonly publisherId?: string | undefined
  readonly msgChainId?: string | undefined
}

/** What one stream part holds. */
export interface StreamPartStats {
  readonly streamId: string
  readonly partition: number
  readonly messages: number
  /** Sum of the encoded messages' sizes. */
  readonly bytes: number
}

/**
 * What a stream part holds in one time bucket: how many messages, and a
 * digest of their ids. Two stores that hold the same messages in a bucket
 * have the same count and digest, whatever the backend; storage nodes compare
 * these to find what one of them misses (anti-entropy, see `StorageRepair`).
 */
export interface BucketDigest {
  /** First millisecond of the bucket; it covers `start` to `start + bucketMs - 1`. */
  readonly start: number
  readonly count: number
  /**
   * The sum, modulo 2^32, of each message's id hash: the first 4 bytes (big
   * endian) of MD5 over `timestamp/sequenceNumber/publisherId/msgChainId`.
   * Order-independent and computed by the database; a checksum, not a
   * security measure (what a peer sends is verified message by message).
   */
  readonly digest: number
}

/** Most buckets one {@link MessageStore.digests} call may span. */
export const MAX_DIGEST_BUCKETS = 10_000

/**
 * Where a storage node keeps the messages of the streams assigned to it.
 *
 * Messages are keyed by their full message id and always come back in key
 * order: (timestamp, sequenceNumber, publisherId, msgChainId) ascending, as
 * the bytes they were written as (`encodeStreamMessage`). Reads are streamed
 * page by page, never built whole in memory, and stop querying as soon as the
 * consumer stops iterating. A read covers the messages stored when it began;
 * messages written meanwhile may show up too when they fall inside the range
 * already chosen (a late message with an older timestamp), never beyond it.
 *
 * Every method throws {@link NodeError} (code `INTERNAL` for a backend failure,
 * `BAD_REQUEST` for an invalid argument); the backend's error is the `cause`.
 *
 * @example
 * ```ts
 * const store = await SqliteMessageStore.open('/var/lib/runnel/messages.db')
 * await store.write([message])
 * for await (const bytes of store.last(message.streamPartId, 10)) {
 *   socket.send(bytes) // already the wire encoding
 * }
 * await store.close()
 * ```
 */
export interface MessageStore {
  /**
   * Stores messages in one transaction; a message whose full id is already
   * stored is ignored (the first copy wins). Resolves once the transaction is
   * committed, and not before: the caller may then acknowledge the messages.
   *
   * `encoded`, when the caller holds the messages' encodings already (bytes
   * it received and decoded), are stored as they are instead of encoding
   * each message again; `encoded[i]` must decode to `messages[i]`.
   *
   * @returns how many messages were new
   */
  write(messages: readonly StreamMessage[], encoded?: readonly Uint8Array[]): Promise<number>

  /** The last `count` messages of a stream part (with `filter`: the last `count` that match), oldest first. */
  last(streamPartId: string, count: number, filter?: HistoryFilter): AsyncIterable<Uint8Array>

  /**
   * The messages of a stream part from `from` to `to`, both inclusive and
   * compared on (timestamp, sequenceNumber); without `to`, up to the newest.
   */
  range(
    streamPartId: string,
    from: MessageRefLike,
    to?: MessageRefLike,
    filter?: HistoryFilter,
  ): AsyncIterable<Uint8Array>

  /**
   * Deletes a stream's messages (all partitions) with a timestamp below
   * `before`, in chunks of bounded size so that writes and reads go on
   * in between.
   *
   * @returns how many messages were deleted
   */
  deleteBefore(streamId: string, before: number): Promise<number>

  /**
   * The ref of the newest message of a stream part that matches `filter`, and
   * is at most `atMost` when given; undefined when there is none. One indexed
   * look-up: storage repair asks it to learn where a publisher chain stands.
   */
  newestRef(streamPartId: string, filter?: HistoryFilter, atMost?: MessageRefLike): Promise<MessageRefLike | undefined>

  /**
   * Count and digest per `bucketMs` bucket of a stream part's messages with a
   * timestamp from `from` (inclusive) to `to` (exclusive), oldest first; empty
   * buckets are left out. Bucket `i` starts at `from + i * bucketMs`. Computed
   * in one aggregate query over the primary key's range (no payload is read),
   * at most {@link MAX_DIGEST_BUCKETS} buckets.
   */
  digests(streamPartId: string, from: number, to: number, bucketMs: number): Promise<BucketDigest[]>

  /** Count and size per stream part, of one stream or of all. Scans what it counts: for tests and occasional metrics. */
  stats(streamId?: string): Promise<StreamPartStats[]>

  /**
   * Releases the file or the connection pool. Call it once writes and reads are
   * over: any later call rejects, and so does a read still iterating. Idempotent.
   */
  close(): Promise<void>
}
