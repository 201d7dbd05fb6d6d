import { createHash } from 'node:crypto'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import Database from 'better-sqlite3'
import { NodeError } from '../errors.js'
import { storageClosed, storageFailed } from './errors.js'
import type { BucketDigest, StreamPartStats } from './MessageStore.js'
import {
  PagedMessageStore,
  type KeyQuery,
  type MessageKey,
  type MessageRow,
  type Page,
  type PageQuery,
  type PagingOptions,
} from './PagedMessageStore.js'

export interface SqliteMessageStoreOptions extends PagingOptions {
  /**
   * When a commit reaches the disk. `'full'` (default): the WAL is fsynced at
   * every commit, so an acknowledged message survives a power cut as well as a
   * crash. `'normal'`: fsync only at checkpoints; a crash of the process (even
   * `kill -9`) still loses nothing committed, since the OS holds the written
   * WAL, but a power cut may lose the last commits (never corrupting the file).
   *
   * FULL is the default because a storage node acknowledges what it stored:
   * an acknowledgement should outlive the machine, not only the process. Its
   * cost is one fsync per commit, and with a `BatchWriter` a commit
   * covers a whole batch (storage.bench.ts: about 52k msgs/s FULL against 80k
   * NORMAL, batches of 500 messages of 300 bytes).
   */
  readonly synchronous?: 'full' | 'normal'
}

/** The version of the tables this code reads and writes; `schema_version` records what a file holds. */
export const SQLITE_SCHEMA_VERSION = 1

/** Digests are sums of 32-bit hashes kept modulo 2^32, in range of both backends' integers. */
const DIGEST_MODULUS = 4_294_967_296
const KEY = 'timestamp, sequence_number, publisher_id, msg_chain_id'
const KEY_DESCENDING = 'timestamp DESC, sequence_number DESC, publisher_id DESC, msg_chain_id DESC'

type KeyColumns = [timestamp: number, sequenceNumber: number, publisherId: string, msgChainId: string]
type PageRow = [...KeyColumns, payload: Buffer]

/**
 * A {@link MessageStore} in one SQLite file (the embedded default), through
 * better-sqlite3. The file is in WAL mode, so readers never wait for the
 * writer; the table is clustered on the message key (`WITHOUT ROWID`), so a
 * history read is one sequential walk of the B-tree.
 *
 * better-sqlite3 is synchronous: each query blocks the event loop while it
 * runs. Every query here is short (one page, one chunk, one batch) and reads
 * and deletions yield to the event loop before each step.
 *
 * @example
 * ```ts
 * const store = await SqliteMessageStore.open('/var/lib/runnel/messages.db')
 * const writer = new BatchWriter({ store })
 * await writer.store(message) // committed
 * ```
 */
export class SqliteMessageStore extends PagedMessageStore {
  readonly #db: Database.Database
  readonly #statements = new Map<string, Database.Statement>()

  private constructor(db: Database.Database, options: SqliteMessageStoreOptions) {
    super(options)
    this.#db = db
  }

  /**
   * Opens (creating if needed) the store in the file at `path`; `':memory:'`
   * gives a private in-memory database, for tests.
   *
   * @throws {@link NodeError} `INTERNAL` when the file cannot be opened or was written by a newer schema
   */
  static open(path: string, options: SqliteMessageStoreOptions = {}): Promise<SqliteMessageStore> {
    let db: Database.Database | undefined
    try {
      db = new Database(path)
      const store = new SqliteMessageStore(db, options)
      setUp(db, options.synchronous ?? 'full', path)
      db.function('runnel_id_hash', { deterministic: true }, idHash)
      return Promise.resolve(store)
    } catch (err) {
      db?.close()
      return Promise.reject(err instanceof NodeError ? err : storageFailed(`opening SQLite file ${path}`, err))
    }
  }

  protected override insertRows(rows: readonly MessageRow[]): Promise<number> {
    const insert = this.#statement(
      `INSERT OR IGNORE INTO messages (stream_id, partition, ${KEY}, payload) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    )
    const inserted = this.#db.transaction(() => {
      let count = 0
      for (const row of rows) {
        count += insert.run(
          row.streamId,
          row.partition,
          row.timestamp,
          row.sequenceNumber,
          row.publisherId,
          row.msgChainId,
          toBuffer(row.payload),
        ).changes
      }
      return count
    })()
    return Promise.resolve(inserted)
  }

  protected override findKey(query: KeyQuery): Promise<MessageKey | undefined> {
    const params: unknown[] = [query.streamId, query.partition]
    let where = 'stream_id = ? AND partition = ?'
    if (query.atMost !== undefined) {
      where += ' AND (timestamp, sequence_number) <= (?, ?)'
      params.push(query.atMost.timestamp, query.atMost.sequenceNumber)
    }
    where += filterSql(query, params)
    params.push(query.skip)
    const row = this.#statement(
      `SELECT ${KEY} FROM messages WHERE ${where} ORDER BY ${KEY_DESCENDING} LIMIT 1 OFFSET ?`,
    ).get(...params) as KeyColumns | undefined
    return Promise.resolve(row === undefined ? undefined : toKey(row))
  }

  protected override async readPage(query: PageQuery): Promise<Page> {
    await yieldToEventLoop()
    this.#assertOpen()
    const { after, upTo } = query
    const params: unknown[] = [query.streamId, query.partition]
    params.push(after.timestamp, after.sequenceNumber, after.publisherId, after.msgChainId)
    params.push(upTo.timestamp, upTo.sequenceNumber, upTo.publisherId, upTo.msgChainId)
    const filter = filterSql(query, params)
    params.push(query.maxRows)
    const statement = this.#statement(
      `SELECT ${KEY}, payload FROM messages WHERE stream_id = ? AND partition = ?` +
        ` AND (${KEY}) ${query.inclusive ? '>=' : '>'} (?, ?, ?, ?) AND (${KEY}) <= (?, ?, ?, ?)${filter}` +
        ` ORDER BY ${KEY} LIMIT ?`,
    )
    const payloads: Uint8Array[] = []
    let bytes = 0
    let last: PageRow | undefined
    // Stepping the cursor row by row (rather than .all()) lets the byte limit
    // end the page without reading the rows past it.
    for (const row of statement.iterate(...params) as IterableIterator<PageRow>) {
      const payload = row[4]
      payloads.push(new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength))
      bytes += payload.byteLength
      last = row
      if (payloads.length >= query.maxRows || bytes >= query.maxBytes) break
    }
    return { payloads, bytes, lastKey: last === undefined ? undefined : toKey(last) }
  }

  protected override nextPartition(streamId: string, after: number): Promise<number | undefined> {
    const row = this.#statement(
      'SELECT partition FROM messages WHERE stream_id = ? AND partition > ? ORDER BY partition LIMIT 1',
    ).get(streamId, after) as [number] | undefined
    return Promise.resolve(row?.[0])
  }

  protected override async deleteOldest(
    streamId: string,
    partition: number,
    before: number,
    limit: number,
  ): Promise<number> {
    await yieldToEventLoop()
    this.#assertOpen()
    return this.#statement(
      `DELETE FROM messages WHERE stream_id = ? AND partition = ? AND (${KEY}) IN (` +
        `SELECT ${KEY} FROM messages WHERE stream_id = ? AND partition = ? AND timestamp < ? ORDER BY ${KEY} LIMIT ?)`,
    ).run(streamId, partition, streamId, partition, before, limit).changes
  }

  protected override async readDigests(
    streamId: string,
    partition: number,
    from: number,
    to: number,
    bucketMs: number,
  ): Promise<BucketDigest[]> {
    await yieldToEventLoop()
    this.#assertOpen()
    // The same expression as PostgreSQL's, with MD5 from node:crypto (SQLite has none): both backends agree.
    const rows = this.#statement(
      `SELECT (timestamp - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS bucket, count(*),` +
        ` sum(runnel_id_hash(timestamp || '/' || sequence_number || '/' || publisher_id || '/' || msg_chain_id)) % ${DIGEST_MODULUS}` +
        ' FROM messages WHERE stream_id = ? AND partition = ? AND timestamp >= ? AND timestamp < ?' +
        ' GROUP BY bucket ORDER BY bucket',
    ).all(from, bucketMs, streamId, partition, from, to) as [number, number, number][]
    return rows.map(([bucket, count, digest]) => ({ start: from + bucket * bucketMs, count, digest }))
  }

  protected override readStats(streamId: string | undefined): Promise<StreamPartStats[]> {
    const where = streamId === undefined ? '' : ' WHERE stream_id = ?'
    const rows = this.#statement(
      `SELECT stream_id, partition, count(*), coalesce(sum(length(payload)), 0) FROM messages${where}` +
        ' GROUP BY stream_id, partition ORDER BY stream_id, partition',
    ).all(...(streamId === undefined ? [] : [streamId])) as [string, number, number, number][]
    return Promise.resolve(
      rows.map(([id, partition, messages, bytes]) => ({ streamId: id, partition, messages, bytes })),
    )
  }

  protected override release(): Promise<void> {
    this.#db.close()
    return Promise.resolve()
  }

  #statement(sql: string): Database.Statement {
    let statement = this.#statements.get(sql)
    if (statement === undefined) {
      statement = this.#db.prepare(sql)
      // Arrays, not objects: one allocation less per row.
      if (statement.reader) statement.raw(true)
      this.#statements.set(sql, statement)
    }
    return statement
  }

  #assertOpen(): void {
    // Reads and deletions yield before each step; close() may have run meanwhile.
    if (this.closed) throw storageClosed('the message store')
  }
}

function setUp(db: Database.Database, synchronous: 'full' | 'normal', path: string): void {
  // WAL: a commit appends to the log, readers see the last commit without
  // blocking on the writer, and a crash at any point leaves the last commit
  // intact (an incomplete transaction at the log's end is ignored on open).
  const mode = db.pragma('journal_mode = WAL', { simple: true }) as string
  if (mode !== 'wal' && path !== ':memory:' && path !== '') {
    throw new NodeError(
      'STORAGE_UNAVAILABLE',
      `storage: SQLite file ${path} cannot use WAL mode (journal_mode is ${mode})`,
    )
  }
  db.pragma(`synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`)
  db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)')
    // Clustered on the full message id: a history read walks one stream part's
    // rows in key order, with the payload in the same B-tree pages.
    db.exec(
      `CREATE TABLE IF NOT EXISTS messages (
        stream_id TEXT NOT NULL,
        partition INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        sequence_number INTEGER NOT NULL,
        publisher_id TEXT NOT NULL,
        msg_chain_id TEXT NOT NULL,
        payload BLOB NOT NULL,
        PRIMARY KEY (stream_id, partition, ${KEY})
      ) WITHOUT ROWID`,
    )
    const row = db.prepare('SELECT max(version) AS version FROM schema_version').get() as { version: number | null }
    if (row.version === null) {
      db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(SQLITE_SCHEMA_VERSION)
    } else if (row.version > SQLITE_SCHEMA_VERSION) {
      throw new NodeError(
        'STORAGE_UNAVAILABLE',
        `storage: SQLite file ${path} has schema version ${row.version}; this node reads up to ${SQLITE_SCHEMA_VERSION}`,
      )
    }
    // Versions below the current one will be migrated here.
  }).immediate()
}

/**
 * Appends the history filter. The unary `+` keeps SQLite from treating these
 * columns as index constraints, which would make it give up the primary key's
 * order and sort the whole range in a temporary B-tree.
 */
function filterSql(query: KeyQuery | PageQuery, params: unknown[]): string {
  let sql = ''
  if (query.filter.publisherId !== undefined) {
    sql += ' AND +publisher_id = ?'
    params.push(query.filter.publisherId)
  }
  if (query.filter.msgChainId !== undefined) {
    sql += ' AND +msg_chain_id = ?'
    params.push(query.filter.msgChainId)
  }
  return sql
}

/** First 4 bytes of MD5, as PostgreSQL's `('x' || substr(md5(id), 1, 8))::bit(32)::bigint`. */
function idHash(id: unknown): number {
  return createHash('md5').update(String(id)).digest().readUInt32BE(0)
}

function toKey(row: KeyColumns | PageRow): MessageKey {
  return { timestamp: row[0], sequenceNumber: row[1], publisherId: row[2], msgChainId: row[3] }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
