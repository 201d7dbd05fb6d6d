import pg from 'pg'

/** The PostgreSQL server the storage tests use; CI creates this role and database. */
export const POSTGRES_URL =
  process.env.RUNNEL_TEST_POSTGRES_URL ?? 'postgres://runnel:runnel@127.0.0.1:5432/runnel_test'

/** Why PostgreSQL can't be used, with what to do about it; undefined when it can. */
export async function checkPostgres(url: string = POSTGRES_URL): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
    return undefined
  } catch (err) {
    return (
      `PostgreSQL is not reachable at ${url.replace(/:[^:@/]*@/, ':***@')} (${String(err)}). ` +
      'Start it (pg_ctlcluster 15 main start), create the role and database, or set RUNNEL_TEST_POSTGRES_URL.'
    )
  } finally {
    await client.end().catch(() => {})
  }
}
