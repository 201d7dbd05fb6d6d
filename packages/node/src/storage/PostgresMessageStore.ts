import { createHash } from 'node:crypto'
import pg from 'pg'
import { NodeError } from '../errors.js'
import { storageFailed } from './errors.js'
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

export interface PostgresMessageStoreOptions extends PagingOptions {
  /** The schema that holds the tables; created if missing. Lowercase letters, digits and `_`. Default `runnel`. */
  readonly schema?: string
  /** Connections of the pool the store creates from a connection string. Default 10. */
  readonly maxConnections?: number
}

/** The version of the tables this code reads and writes; `schema_version` records what a schema holds. */
export const POSTGRES_SCHEMA_VERSION = 1

const KEY = 'timestamp, sequence_number, publisher_id, msg_chain_id'
const KEY_DESCENDING = 'timestamp DESC, sequence_number DESC, publisher_id DESC, msg_chain_id DESC'
const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/

/**
 * A schema name safe to splice into SQL (identifiers can't be query parameters).
 *
 * @throws {@link NodeError} `INVALID_CONFIG` otherwise
 */
export function checkSchemaName(schema: string): void {
  if (!SCHEMA_PATTERN.test(schema)) {
    throw new NodeError('INVALID_CONFIG', `storage: schema must match ${String(SCHEMA_PATTERN)}, got ${schema}`)
  }
}
const INT8_OID = 20

type KeyColumns = [timestamp: number, sequenceNumber: number, publisherId: string, msgChainId: string]
type PageRow = [...KeyColumns, payload: Buffer]

// BIGINT columns come back as numbers. Safe: every stored timestamp was a
// validated safe integer, and counts stay far below 2^53. Set per query, so a
// pool handed in by the caller keeps its own parsers.
const defaultTypeParser = pg.types.getTypeParser as (oid: number, format?: string) => (value: string) => unknown
const queryTypes = {
  getTypeParser: (oid: number, format?: string) => (oid === INT8_OID ? Number : defaultTypeParser(oid, format)),
} as pg.CustomTypesConfig

/**
 * A {@link MessageStore} in PostgreSQL, for operators who outgrow a file.
 * Batches are inserted with one `INSERT … SELECT FROM unnest(…) ON CONFLICT
 * DO NOTHING`: one statement, hence one transaction, whatever the batch
 * size. Statements are prepared once per connection. A commit is durable
 * when it returns as long as the server keeps `synchronous_commit` on (its
 * default).
 *
 * @example
 * ```ts
 * const store = await PostgresMessageStore.open('postgres://runnel:secret@db.internal/runnel', { schema: 'runnel' })
 * for await (const bytes of store.range(streamPartId, { timestamp: since, sequenceNumber: 0 })) send(bytes)
 * await store.close()
 * ```
 */
export class PostgresMessageStore extends PagedMessageStore {
  readonly #pool: pg.Pool
  readonly #ownsPool: boolean
  readonly #table: string
  readonly #queries = new Map<string, string>()

  private constructor(pool: pg.Pool, ownsPool: boolean, schema: string, options: PostgresMessageStoreOptions) {
    super(options)
    this.#pool = pool
    this.#ownsPool = ownsPool
    this.#table = `"${schema}".messages`
  }

  /**
   * Opens the store on `connection`: a connection string (the store then owns
   * its pool and ends it on close) or a pool the caller owns. Creates the
   * schema and tables when missing.
   *
   * @throws {@link NodeError} `INVALID_CONFIG` for a bad schema name; `INTERNAL` when the server cannot be reached or holds a newer schema
   */
  static async open(
    connection: string | pg.Pool,
    options: PostgresMessageStoreOptions = {},
  ): Promise<PostgresMessageStore> {
    const schema = options.schema ?? 'runnel'
    checkSchemaName(schema)
    const ownsPool = typeof connection === 'string'
    const pool =
      typeof connection === 'string'
        ? new pg.Pool({ connectionString: connection, max: options.maxConnections ?? 10 })
        : connection
    // An idle connection that breaks (server restart) is reported here; the
    // next query then reports the failure to its caller. Without a listener
    // the pool's error would crash the process.
    if (ownsPool) pool.on('error', () => {})
    try {
      const store = new PostgresMessageStore(pool, ownsPool, schema, options)
      await setUp(pool, schema)
      return store
    } catch (err) {
      if (ownsPool) await pool.end().catch(() => {})
      throw err instanceof NodeError ? err : storageFailed(`opening PostgreSQL schema ${schema}`, err)
    }
  }

  protected override async insertRows(rows: readonly MessageRow[]): Promise<number> {
    const streamIds: string[] = []
    const partitions: number[] = []
    const timestamps: number[] = []
    const sequenceNumbers: number[] = []
    const publisherIds: string[] = []
    const msgChainIds: string[] = []
    const payloads: Uint8Array[] = []
    for (const row of rows) {
      streamIds.push(row.streamId)
      partitions.push(row.partition)
      timestamps.push(row.timestamp)
      sequenceNumbers.push(row.sequenceNumber)
      publisherIds.push(row.publisherId)
      msgChainIds.push(row.msgChainId)
      payloads.push(row.payload)
    }
    // Seven array parameters, whatever the batch size: the statement is
    // prepared once and never hits the 65,535-parameter limit.
    const result = await this.#query(
      `INSERT INTO ${this.#table} (stream_id, partition, ${KEY}, payload)` +
        ' SELECT * FROM unnest($1::text[], $2::integer[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::bytea[])' +
        ' ON CONFLICT DO NOTHING',
      [streamIds, partitions, timestamps, sequenceNumbers, publisherIds, msgChainIds, payloads],
    )
    return result.rowCount ?? 0
  }

  protected override async findKey(query: KeyQuery): Promise<MessageKey | undefined> {
    const params: unknown[] = [query.streamId, query.partition]
    let where = 'stream_id = $1 AND partition = $2'
    if (query.atMost !== undefined) {
      params.push(query.atMost.timestamp, query.atMost.sequenceNumber)
      where += ` AND (timestamp, sequence_number) <= ($${params.length - 1}, $${params.length})`
    }
    where += filterSql(query, params)
    params.push(query.skip)
    const result = await this.#query<KeyColumns>(
      `SELECT ${KEY} FROM ${this.#table} WHERE ${where} ORDER BY ${KEY_DESCENDING} LIMIT 1 OFFSET $${params.length}`,
      params,
    )
    const row = result.rows[0]
    return row === undefined ? undefined : toKey(row)
  }

  protected override async readPage(query: PageQuery): Promise<Page> {
    const { after, upTo } = query
    const params: unknown[] = [query.streamId, query.partition]
    params.push(after.timestamp, after.sequenceNumber, after.publisherId, after.msgChainId)
    params.push(upTo.timestamp, upTo.sequenceNumber, upTo.publisherId, upTo.msgChainId)
    const filter = filterSql(query, params)
    params.push(query.maxRows, query.maxBytes)
    const limit = `$${params.length - 1}`
    const maxBytes = `$${params.length}`
    // The running sum cuts the page after the row that reaches maxBytes, on
    // the server: rows past the cut are never sent (nor detoasted).
    const result = await this.#query<PageRow>(
      `SELECT ${KEY}, payload FROM (` +
        `SELECT ${KEY}, payload, sum(octet_length(payload)) OVER (ORDER BY ${KEY} ROWS UNBOUNDED PRECEDING)` +
        ` - octet_length(payload) AS bytes_before FROM ${this.#table}` +
        ` WHERE stream_id = $1 AND partition = $2 AND (${KEY}) ${query.inclusive ? '>=' : '>'} ($3, $4, $5, $6)` +
        ` AND (${KEY}) <= ($7, $8, $9, $10)${filter} ORDER BY ${KEY} LIMIT ${limit}` +
        `) page WHERE bytes_before < ${maxBytes} ORDER BY ${KEY}`,
      params,
    )
    const payloads: Uint8Array[] = []
    let bytes = 0
    for (const row of result.rows) {
      const payload = row[4]
      payloads.push(new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength))
      bytes += payload.byteLength
    }
    const last = result.rows.at(-1)
    return { payloads, bytes, lastKey: last === undefined ? undefined : toKey(last) }
  }

  protected override async nextPartition(streamId: string, after: number): Promise<number | undefined> {
    const result = await this.#query<[number]>(
      `SELECT partition FROM ${this.#table} WHERE stream_id = $1 AND partition > $2 ORDER BY partition LIMIT 1`,
      [streamId, after],
    )
    return result.rows[0]?.[0]
  }

  protected override async deleteOldest(
    streamId: string,
    partition: number,
    before: number,
    limit: number,
  ): Promise<number> {
    const result = await this.#query(
      `DELETE FROM ${this.#table} WHERE (stream_id, partition, ${KEY}) IN (` +
        `SELECT stream_id, partition, ${KEY} FROM ${this.#table}` +
        ` WHERE stream_id = $1 AND partition = $2 AND timestamp < $3 ORDER BY ${KEY} LIMIT $4)`,
      [streamId, partition, before, limit],
    )
    return result.rowCount ?? 0
  }

  protected override async readDigests(
    streamId: string,
    partition: number,
    from: number,
    to: number,
    bucketMs: number,
  ): Promise<BucketDigest[]> {
    // Bucket numbers and sums come back as numbers (int8 parser), the sum reduced modulo 2^32 first.
    const result = await this.#query<[number, number, number]>(
      `SELECT (timestamp - $1) / $2 AS bucket, count(*),` +
        ` (sum(('x' || substr(md5(timestamp || '/' || sequence_number || '/' || publisher_id || '/' || msg_chain_id), 1, 8))::bit(32)::bigint)` +
        ` % 4294967296)::bigint FROM ${this.#table}` +
        ' WHERE stream_id = $3 AND partition = $4 AND timestamp >= $1 AND timestamp < $5 GROUP BY bucket ORDER BY bucket',
      [from, bucketMs, streamId, partition, to],
    )
    return result.rows.map(([bucket, count, digest]) => ({ start: from + bucket * bucketMs, count, digest }))
  }

  protected override async readStats(streamId: string | undefined): Promise<StreamPartStats[]> {
    const where = streamId === undefined ? '' : ' WHERE stream_id = $1'
    const result = await this.#query<[string, number, number, number]>(
      `SELECT stream_id, partition, count(*), coalesce(sum(octet_length(payload)), 0)::bigint FROM ${this.#table}${where}` +
        ' GROUP BY stream_id, partition ORDER BY stream_id, partition',
      streamId === undefined ? [] : [streamId],
    )
    return result.rows.map(([id, partition, messages, bytes]) => ({ streamId: id, partition, messages, bytes }))
  }

  protected override async release(): Promise<void> {
    if (this.#ownsPool) await this.#pool.end()
  }

  /** Runs a statement as a named (per-connection prepared) query returning rows as arrays. */
  #query<Row extends unknown[] = unknown[]>(text: string, values: unknown[]): Promise<pg.QueryArrayResult<Row>> {
    let name = this.#queries.get(text)
    if (name === undefined) {
      // Derived from the text, so two stores sharing a pool (other schemas)
      // never reuse one name for different statements.
      name = `runnel_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`
      this.#queries.set(text, name)
    }
    return this.#pool.query<Row>({ name, text, values, rowMode: 'array', types: queryTypes })
  }
}

async function setUp(pool: pg.Pool, schema: string): Promise<void> {
  const client = await pool.connect()
  let failure: Error | undefined
  try {
    await client.query('BEGIN')
    // Two nodes opening the same schema at once would otherwise race in
    // CREATE TABLE IF NOT EXISTS (a unique violation in the catalog).
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`runnel-storage:${schema}`])
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`)
    await client.query(`CREATE TABLE IF NOT EXISTS "${schema}".schema_version (version integer NOT NULL)`)
    // COLLATE "C": ids sort by their bytes, as in SQLite, whatever the
    // database's locale. sequence_number is unsigned 32-bit, so BIGINT.
    await client.query(
      `CREATE TABLE IF NOT EXISTS "${schema}".messages (
        stream_id text COLLATE "C" NOT NULL,
        partition integer NOT NULL,
        timestamp bigint NOT NULL,
        sequence_number bigint NOT NULL,
        publisher_id text COLLATE "C" NOT NULL,
        msg_chain_id text COLLATE "C" NOT NULL,
        payload bytea NOT NULL,
        PRIMARY KEY (stream_id, partition, ${KEY})
      )`,
    )
    const result = await client.query<{ version: number | null }>(
      `SELECT max(version) AS version FROM "${schema}".schema_version`,
    )
    const version = result.rows[0]?.version ?? null
    if (version === null) {
      await client.query(`INSERT INTO "${schema}".schema_version (version) VALUES ($1)`, [POSTGRES_SCHEMA_VERSION])
    } else if (version > POSTGRES_SCHEMA_VERSION) {
      throw new NodeError(
        'STORAGE_UNAVAILABLE',
        `storage: PostgreSQL schema ${schema} has version ${version}; this node reads up to ${POSTGRES_SCHEMA_VERSION}`,
      )
    }
    // Versions below the current one will be migrated here.
    await client.query('COMMIT')
  } catch (err) {
    failure = err instanceof Error ? err : new Error(String(err))
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    // A connection that failed is discarded rather than returned to the pool.
    client.release(failure)
  }
}

/** Appends the history filter with numbered placeholders. */
function filterSql(query: KeyQuery | PageQuery, params: unknown[]): string {
  let sql = ''
  if (query.filter.publisherId !== undefined) {
    params.push(query.filter.publisherId)
    sql += ` AND publisher_id = $${params.length}`
  }
  if (query.filter.msgChainId !== undefined) {
    params.push(query.filter.msgChainId)
    sql += ` AND msg_chain_id = $${params.length}`
  }
  return sql
}

function toKey(row: KeyColumns | PageRow): MessageKey {
  return { timestamp: row[0], sequenceNumber: row[1], publisherId: row[2], msgChainId: row[3] }
}
