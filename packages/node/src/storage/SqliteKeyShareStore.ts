import Database from 'better-sqlite3'
import { storageClosed, storageFailed } from './errors.js'
import type { KeyShareStore, StoredKeyShare } from './KeyShareStore.js'

type Row = [
  streamId: string,
  publisherId: string,
  groupKeyId: string,
  manifest: string,
  signature: string,
  share: Buffer,
  storedAt: number,
]

/**
 * Key shares in the storage node's SQLite file, in a `key_shares` table next
 * to `messages`, through a connection of their own (WAL lets it write beside
 * the message store's). Shares are few (one per group key) and small (about
 * 1 kB with the manifest), so every statement is one short query.
 *
 * @example
 * ```ts
 * const shares = await SqliteKeyShareStore.open('/var/lib/runnel/storage.db')
 * await shares.put(share)
 * ```
 */
export class SqliteKeyShareStore implements KeyShareStore {
  #closed = false

  private constructor(readonly db: Database.Database) {}

  /** @throws {@link NodeError} `STORAGE_FAILED` when the file can't be opened */
  static open(path: string): Promise<SqliteKeyShareStore> {
    let db: Database.Database | undefined
    try {
      db = new Database(path)
      db.pragma('journal_mode = WAL')
      db.pragma('synchronous = FULL')
      // Another connection (the message store's) may hold the write lock for a batch: wait rather than fail.
      db.pragma('busy_timeout = 5000')
      db.exec(
        `CREATE TABLE IF NOT EXISTS key_shares (
          stream_id TEXT NOT NULL,
          publisher_id TEXT NOT NULL,
          group_key_id TEXT NOT NULL,
          manifest TEXT NOT NULL,
          signature TEXT NOT NULL,
          share BLOB NOT NULL,
          stored_at INTEGER NOT NULL,
          PRIMARY KEY (stream_id, publisher_id, group_key_id)
        ) WITHOUT ROWID`,
      )
      return Promise.resolve(new SqliteKeyShareStore(db))
    } catch (err) {
      db?.close()
      return Promise.reject(storageFailed(`opening the key shares in SQLite file ${path}`, err))
    }
  }

  put(share: StoredKeyShare): Promise<boolean> {
    return this.#run('storing a key share', () => {
      const result = this.db
        .prepare(
          `INSERT OR IGNORE INTO key_shares (stream_id, publisher_id, group_key_id, manifest, signature, share, stored_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          share.streamId,
          share.publisherId,
          share.groupKeyId,
          share.manifest,
          share.signature,
          Buffer.from(share.share),
          share.storedAt,
        )
      return result.changes === 1
    })
  }

  get(streamId: string, publisherId: string, groupKeyIds: readonly string[]): Promise<StoredKeyShare[]> {
    return this.#run('reading key shares', () => {
      const statement = this.db
        .prepare(
          `SELECT stream_id, publisher_id, group_key_id, manifest, signature, share, stored_at FROM key_shares
           WHERE stream_id = ? AND publisher_id = ? AND group_key_id = ?`,
        )
        .raw()
      const found: StoredKeyShare[] = []
      for (const id of new Set(groupKeyIds)) {
        const row = statement.get(streamId, publisherId, id) as Row | undefined
        if (row !== undefined) found.push(toShare(row))
      }
      return found
    })
  }

  close(): Promise<void> {
    if (!this.#closed) this.db.close()
    this.#closed = true
    return Promise.resolve()
  }

  #run<T>(operation: string, query: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(storageClosed('the key share store'))
    try {
      return Promise.resolve(query())
    } catch (err) {
      return Promise.reject(storageFailed(operation, err))
    }
  }
}

function toShare(row: Row): StoredKeyShare {
  const [streamId, publisherId, groupKeyId, manifest, signature, share, storedAt] = row
  return { streamId, publisherId, groupKeyId, manifest, signature, share: new Uint8Array(share), storedAt }
}
