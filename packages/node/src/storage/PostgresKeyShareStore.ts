import pg from 'pg'
import { storageClosed, storageFailed } from './errors.js'
import type { KeyShareStore, StoredKeyShare } from './KeyShareStore.js'
import { checkSchemaName } from './PostgresMessageStore.js'

interface Row {
  stream_id: string
  publisher_id: string
  group_key_id: string
  manifest: string
  signature: string
  share: Buffer
  stored_at: string
}

/**
 * Key shares in PostgreSQL, in a `key_shares` table of the message store's
 * schema, through a small pool of their own.
 *
 * @example
 * ```ts
 * const shares = await PostgresKeyShareStore.open('postgres://runnel:secret@db.internal/runnel', { schema: 'runnel' })
 * ```
 */
export class PostgresKeyShareStore implements KeyShareStore {
  #closed = false

  private constructor(
    private readonly pool: pg.Pool,
    private readonly table: string,
  ) {}

  /** @throws {@link NodeError} `INVALID_CONFIG` for a bad schema name; `STORAGE_FAILED` when the server can't be reached */
  static async open(url: string, options: { schema?: string } = {}): Promise<PostgresKeyShareStore> {
    const schema = options.schema ?? 'runnel'
    checkSchemaName(schema)
    const pool = new pg.Pool({ connectionString: url, max: 2 })
    // A broken idle connection is reported to the next query; unhandled, the pool's error would end the process.
    pool.on('error', () => {})
    const table = `"${schema}".key_shares`
    try {
      await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`)
      await pool.query(
        `CREATE TABLE IF NOT EXISTS ${table} (
          stream_id TEXT NOT NULL,
          publisher_id TEXT NOT NULL,
          group_key_id TEXT NOT NULL,
          manifest TEXT NOT NULL,
          signature TEXT NOT NULL,
          share BYTEA NOT NULL,
          stored_at BIGINT NOT NULL,
          PRIMARY KEY (stream_id, publisher_id, group_key_id)
        )`,
      )
      return new PostgresKeyShareStore(pool, table)
    } catch (err) {
      await pool.end().catch(() => {})
      throw storageFailed(`opening the key shares in PostgreSQL schema ${schema}`, err)
    }
  }

  async put(share: StoredKeyShare): Promise<boolean> {
    this.#assertOpen()
    try {
      const result = await this.pool.query(
        `INSERT INTO ${this.table} (stream_id, publisher_id, group_key_id, manifest, signature, share, stored_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
        [
          share.streamId,
          share.publisherId,
          share.groupKeyId,
          share.manifest,
          share.signature,
          Buffer.from(share.share),
          share.storedAt,
        ],
      )
      return result.rowCount === 1
    } catch (err) {
      throw storageFailed('storing a key share', err)
    }
  }

  async get(streamId: string, publisherId: string, groupKeyIds: readonly string[]): Promise<StoredKeyShare[]> {
    this.#assertOpen()
    try {
      const result = await this.pool.query<Row>(
        `SELECT stream_id, publisher_id, group_key_id, manifest, signature, share, stored_at FROM ${this.table}
         WHERE stream_id = $1 AND publisher_id = $2 AND group_key_id = ANY($3)`,
        [streamId, publisherId, [...new Set(groupKeyIds)]],
      )
      return result.rows.map((row) => ({
        streamId: row.stream_id,
        publisherId: row.publisher_id,
        groupKeyId: row.group_key_id,
        manifest: row.manifest,
        signature: row.signature,
        share: new Uint8Array(row.share),
        storedAt: Number(row.stored_at),
      }))
    } catch (err) {
      throw storageFailed('reading key shares', err)
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.pool.end()
  }

  #assertOpen(): void {
    if (this.#closed) throw storageClosed('the key share store')
  }
}
