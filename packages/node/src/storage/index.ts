/**
 * The message store behind storage nodes: one {@link MessageStore} interface,
 * two backends (SQLite, PostgreSQL) and a {@link BatchWriter} that groups
 * single messages into transactions.
 *
 * @example
 * ```ts
 * import { BatchWriter, SqliteMessageStore } from './storage/index.js'
 *
 * const store = await SqliteMessageStore.open('messages.db')
 * const writer = new BatchWriter({ store })
 * await writer.store(message) // resolves once committed
 * for await (const bytes of store.last(message.streamPartId, 100)) send(bytes)
 * await writer.close()
 * await store.close()
 * ```
 * @packageDocumentation
 */
export {
  MAX_DIGEST_BUCKETS,
  type BucketDigest,
  type HistoryFilter,
  type MessageRefLike,
  type MessageStore,
  type StreamPartStats,
} from './MessageStore.js'
export type { PagingOptions } from './PagedMessageStore.js'
export { SQLITE_SCHEMA_VERSION, SqliteMessageStore, type SqliteMessageStoreOptions } from './SqliteMessageStore.js'
export {
  POSTGRES_SCHEMA_VERSION,
  PostgresMessageStore,
  type PostgresMessageStoreOptions,
} from './PostgresMessageStore.js'
export { BatchWriter, type BatchTimers, type BatchWriterComponents, type BatchWriterOptions } from './BatchWriter.js'
export type { KeyShareStore, StoredKeyShare } from './KeyShareStore.js'
export { SqliteKeyShareStore } from './SqliteKeyShareStore.js'
export { PostgresKeyShareStore } from './PostgresKeyShareStore.js'
