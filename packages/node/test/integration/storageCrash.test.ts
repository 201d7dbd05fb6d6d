// Crash safety: a child process writes batches through a BatchWriter and
// prints each batch's number once every store() of it resolved; the test
// kills it with SIGKILL mid-stream, then checks that every acknowledged
// message is there, that no batch is half there, and (SQLite) that the file
// is sound. Three rounds on the same database, so recovery of a killed
// writer's database is itself followed by a kill.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import pg from 'pg'
import { decodeStreamMessage } from '@runnel/protocol'
import { PostgresMessageStore, SqliteMessageStore, type MessageStore } from '../../src/storage/index.js'
import { POSTGRES_URL, checkPostgres } from '../support/postgres.js'

const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const STORAGE_MODULE = new URL('../../src/storage/index.ts', import.meta.url).href
const PUBLISHER = '0x2222222222222222222222222222222222222222'
const STREAM_PART = `${PUBLISHER}/crash#0`
const BATCH = 200
const T0 = 1_700_000_000_000

type Target = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string; schema: string }

// The child: continues after the newest stored batch, forever, until killed.
// Batch b is BATCH messages at timestamp T0 + b, sequence numbers 0..BATCH-1.
const CHILD = `
const { BatchWriter, SqliteMessageStore, PostgresMessageStore } = await import(${JSON.stringify(STORAGE_MODULE)})
const { ContentType, MessageId, StreamMessage, decodeStreamMessage, encodeJsonContent } = await import('@runnel/protocol')
const target = JSON.parse(process.env.CRASH_TARGET)
const store = target.kind === 'sqlite'
  ? await SqliteMessageStore.open(target.path)
  : await PostgresMessageStore.open(target.url, { schema: target.schema, maxConnections: 2 })
let next = 0
for await (const bytes of store.last(${JSON.stringify(STREAM_PART)}, 1)) next = decodeStreamMessage(bytes).timestamp - ${T0} + 1
const writer = new BatchWriter({ store }, { maxBatchSize: ${BATCH}, maxDelayMs: 1 })
const signature = Uint8Array.from({ length: 65 }, (_, i) => (i === 64 ? 27 : 1))
const padding = 'x'.repeat(250)
for (let batch = next; ; batch++) {
  const stored = []
  for (let i = 0; i < ${BATCH}; i++) {
    const messageId = new MessageId(${JSON.stringify(STREAM_PART.split('#')[0])}, 0, ${T0} + batch, i, ${JSON.stringify(PUBLISHER)}, 'crash')
    stored.push(writer.store(new StreamMessage({ messageId, contentType: ContentType.Json, content: encodeJsonContent({ batch, i, padding }), signature })))
  }
  await Promise.all(stored)
  process.stdout.write(batch + '\\n')
}
`

/** Runs the child until it acknowledged `acks` batches, kills it with SIGKILL, and returns the highest batch it acknowledged. */
async function writeAndKill(target: Target, acks: number): Promise<number> {
  const child = spawn(
    process.execPath,
    ['--conditions=runnel-source', '--import', 'tsx', '--input-type=module', '--eval', CHILD],
    {
      cwd: PACKAGE_DIR,
      env: { ...process.env, CRASH_TARGET: JSON.stringify(target) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  let buffered = ''
  let acknowledged = -1
  let seen = 0
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once('close', (_code, signal) => resolve(signal)),
  )
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk
    const lines = buffered.split('\n')
    buffered = lines.pop()!
    for (const line of lines) {
      acknowledged = Math.max(acknowledged, Number(line))
      // Lines that arrive after the kill still count: each was printed after its commit.
      if (++seen === acks) child.kill('SIGKILL')
    }
  })
  const signal = await exited
  assert.equal(signal, 'SIGKILL', `the writer ended on its own before ${acks} batches: ${stderr}`)
  return acknowledged
}

/** Asserts that batches 0..acknowledged are all there, whole, and that any later one is whole too. */
async function assertBatchesIntact(store: MessageStore, acknowledged: number): Promise<number> {
  const counts = new Map<number, number>()
  for await (const bytes of store.range(STREAM_PART, { timestamp: 0, sequenceNumber: 0 })) {
    const batch = decodeStreamMessage(bytes).timestamp - T0
    counts.set(batch, (counts.get(batch) ?? 0) + 1)
  }
  for (let batch = 0; batch <= acknowledged; batch++) {
    assert.equal(counts.get(batch), BATCH, `acknowledged batch ${batch} has ${counts.get(batch) ?? 0} messages`)
  }
  // The batch in flight at the kill may have committed before its
  // acknowledgement was printed: then it must be whole.
  for (const [batch, count] of counts) {
    assert.ok(batch <= acknowledged + 1, `batch ${batch} exists but the writer never got past ${acknowledged + 1}`)
    assert.equal(count, BATCH, `batch ${batch} is partly stored`)
  }
  return Math.max(...counts.keys())
}

describe('SqliteMessageStore survives kill -9 of its writer', () => {
  it('keeps every acknowledged message and a sound file, over three kills', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'runnel-crash-'))
    try {
      const path = join(dir, 'messages.db')
      let acknowledged = -1
      for (const acks of [15, 40, 25]) {
        acknowledged = await writeAndKill({ kind: 'sqlite', path }, acks)
        const db = new Database(path)
        assert.equal(db.pragma('integrity_check', { simple: true }), 'ok')
        db.close()
        const store = await SqliteMessageStore.open(path)
        try {
          await assertBatchesIntact(store, acknowledged)
        } finally {
          await store.close()
        }
      }
      assert.ok(acknowledged >= 79, `only ${acknowledged + 1} batches were acknowledged over three rounds`)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

const postgresProblem = await checkPostgres(POSTGRES_URL)
if (postgresProblem === undefined) {
  describe('PostgresMessageStore survives kill -9 of its client', () => {
    const schema = `runnel_test_crash_${process.pid}_${randomBytes(6).toString('hex')}`
    after(async () => {
      const admin = new pg.Client({ connectionString: POSTGRES_URL })
      await admin.connect()
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await admin.end()
    })

    it('keeps every acknowledged message, over two kills', async () => {
      for (const acks of [15, 25]) {
        const acknowledged = await writeAndKill({ kind: 'postgres', url: POSTGRES_URL, schema }, acks)
        const store = await PostgresMessageStore.open(POSTGRES_URL, { schema, maxConnections: 2 })
        try {
          await assertBatchesIntact(store, acknowledged)
        } finally {
          await store.close()
        }
      }
    })
  })
} else if (process.env.CI !== undefined) {
  it('PostgresMessageStore crash test: PostgreSQL is reachable (required when CI is set)', () => {
    assert.fail(postgresProblem)
  })
} else {
  describe('PostgresMessageStore survives kill -9 of its client', { skip: postgresProblem }, () => {})
}
