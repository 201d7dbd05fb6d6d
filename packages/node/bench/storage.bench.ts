// Message store throughput, per backend: messages stored per second through a
// BatchWriter (single store() calls, as a storage node receives them), bulk
// write() of large batches (how the read test is filled), the read rate of
// one range() over every stored message with the process's peak RSS while
// reading, and a chunked deleteBefore().
//
// Environment: BENCH_WRITE (messages through the BatchWriter, default
// 100000), BENCH_READ (messages stored, then read back, default 1000000),
// BENCH_BACKENDS (default "sqlite,postgres"), RUNNEL_TEST_POSTGRES_URL
// (default postgres://runnel:runnel@127.0.0.1:5432/runnel_test; a schema of
// its own is created and dropped).
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { ContentType, MessageId, StreamMessage, encodeJsonContent, encodeStreamMessage } from '@runnel/protocol'
import {
  BatchWriter,
  PostgresMessageStore,
  SqliteMessageStore,
  type MessageStore,
  type PagingOptions,
} from '../src/storage/index.js'

const WRITE_COUNT = Number(process.env.BENCH_WRITE ?? 100_000)
const READ_COUNT = Number(process.env.BENCH_READ ?? 1_000_000)
const BACKENDS = (process.env.BENCH_BACKENDS ?? 'sqlite,postgres').split(',')
const POSTGRES_URL = process.env.RUNNEL_TEST_POSTGRES_URL ?? 'postgres://runnel:runnel@127.0.0.1:5432/runnel_test'

const PUBLISHER = '0x3333333333333333333333333333333333333333'
const STREAM_ID = `${PUBLISHER}/bench/storage`
const T0 = 1_700_000_000_000
// Well-formed but signing nothing: stores never verify, and signing a
// million messages would measure the signer.
const SIGNATURE = Uint8Array.from({ length: 65 }, (_, i) => (i === 64 ? 27 : 1))
const PADDING = 'x'.repeat(80)

/** Message `i` of partition 0: four per millisecond, about 300 bytes encoded. */
function message(i: number, partition = 0): StreamMessage {
  return new StreamMessage({
    messageId: new MessageId(STREAM_ID, partition, T0 + Math.floor(i / 4), i % 4, PUBLISHER, 'bench-chain'),
    contentType: ContentType.Json,
    content: encodeJsonContent({ i, temperature: 21.5, padding: PADDING }),
    signature: SIGNATURE,
  })
}

interface Backend {
  readonly name: string
  open(options?: PagingOptions): Promise<MessageStore>
  dispose(): Promise<void>
}

async function sqliteBackend(synchronous: 'full' | 'normal'): Promise<Backend> {
  const dir = await mkdtemp(join(tmpdir(), 'runnel-bench-'))
  const path = join(dir, 'messages.db')
  return {
    name: `SQLite (synchronous=${synchronous})`,
    open: (options) => SqliteMessageStore.open(path, { synchronous, ...options }),
    dispose: () => rm(dir, { recursive: true, force: true }),
  }
}

function postgresBackend(): Backend {
  const schema = `runnel_bench_${randomBytes(6).toString('hex')}`
  return {
    name: 'PostgreSQL',
    open: (options) => PostgresMessageStore.open(POSTGRES_URL, { schema, ...options }),
    async dispose() {
      const client = new pg.Client({ connectionString: POSTGRES_URL })
      await client.connect()
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await client.end()
    },
  }
}

async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000 })
  try {
    await client.connect()
    return true
  } catch (err) {
    console.log(`PostgreSQL skipped: not reachable at ${POSTGRES_URL} (${String(err)})`)
    return false
  } finally {
    await client.end().catch(() => {})
  }
}

/** Single store() calls, the producer pausing on ready() as a storage node would. */
async function benchBatchWriter(store: MessageStore, count: number): Promise<string> {
  let batches = 0
  const counting = {
    write: (messages: readonly StreamMessage[]) => {
      batches++
      return store.write(messages)
    },
  }
  const writer = new BatchWriter({ store: counting }, { maxBatchSize: 500, maxDelayMs: 10 })
  // Built first so that the figure is the store's rate, not the cost of building messages.
  const messages = Array.from({ length: count }, (_, i) => message(i, 1))
  let committed = 0
  let failure: unknown
  const started = performance.now()
  for (const m of messages) {
    await writer.ready()
    void writer.store(m).then(
      () => committed++,
      (err: unknown) => (failure ??= err),
    )
  }
  await writer.close()
  const seconds = (performance.now() - started) / 1000
  if (failure !== undefined) throw new Error('a batch failed', { cause: failure })
  if (committed !== count) throw new Error(`${committed} of ${count} committed`)
  return `BatchWriter: ${rate(count, seconds)} msgs/s (${count} messages in ${batches} batches, ${seconds.toFixed(2)} s)`
}

/** Fills partition 0 with write() batches of 5,000, built as they go (a million messages would not fit in memory at once). */
async function fill(store: MessageStore, count: number): Promise<string> {
  const started = performance.now()
  for (let i = 0; i < count; i += 5_000) {
    const batch = Array.from({ length: Math.min(5_000, count - i) }, (_, j) => message(i + j))
    await store.write(batch)
  }
  const seconds = (performance.now() - started) / 1000
  return `bulk write(5000): ${rate(count, seconds)} msgs/s including building and encoding (${seconds.toFixed(1)} s)`
}

async function benchRead(store: MessageStore, expected: number, pages: { count: number }): Promise<string> {
  global.gc?.()
  const rssBefore = process.memoryUsage.rss()
  let peak = rssBefore
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20)
  let count = 0
  let bytes = 0
  pages.count = 0
  const started = performance.now()
  for await (const payload of store.range(`${STREAM_ID}#0`, { timestamp: 0, sequenceNumber: 0 })) {
    count++
    bytes += payload.byteLength
  }
  const seconds = (performance.now() - started) / 1000
  clearInterval(sampler)
  peak = Math.max(peak, process.memoryUsage.rss())
  if (count !== expected) throw new Error(`read ${count} of ${expected}`)
  return (
    `range(): ${rate(count, seconds)} msgs/s, ${(bytes / 2 ** 20 / seconds).toFixed(0)} MiB/s ` +
    `(${count} messages, ${(bytes / 2 ** 20).toFixed(0)} MiB in ${pages.count} pages, ${seconds.toFixed(1)} s); ` +
    `RSS ${mib(rssBefore)} MiB before, peak ${mib(peak)} MiB while reading`
  )
}

async function benchDelete(store: MessageStore, count: number): Promise<string> {
  const started = performance.now()
  // Four messages per millisecond: this cut removes the oldest tenth of
  // partition 0, and all of partition 1 (the BatchWriter's messages).
  const deleted = await store.deleteBefore(STREAM_ID, T0 + Math.floor(count / 40))
  const seconds = (performance.now() - started) / 1000
  return `deleteBefore(): ${rate(deleted, seconds)} msgs/s (${deleted} deleted in chunks of 1000, ${seconds.toFixed(2)} s)`
}

function rate(count: number, seconds: number): string {
  return Math.round(count / seconds).toLocaleString('en-US')
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(0)
}

const cpu = cpus()
console.log(`machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores; Node.js ${process.version}`)
console.log(
  `message size: ${encodeStreamMessage(message(0)).length} bytes encoded; ` +
    `${WRITE_COUNT} through the BatchWriter, ${READ_COUNT} stored and read back`,
)

const backends: Backend[] = []
if (BACKENDS.includes('sqlite')) backends.push(await sqliteBackend('full'), await sqliteBackend('normal'))
if (BACKENDS.includes('postgres') && (await postgresReachable())) backends.push(postgresBackend())

for (const [index, backend] of backends.entries()) {
  console.log(`\n${backend.name}`)
  const pages = { count: 0 }
  const store = await backend.open({ onPageRead: () => pages.count++ })
  try {
    console.log('  ' + (await benchBatchWriter(store, WRITE_COUNT)))
    // The read figures need the stored million once per engine, not per
    // SQLite durability setting: the second SQLite run only measures writes.
    if (backend.name.includes('normal')) continue
    console.log('  ' + (await fill(store, READ_COUNT)))
    console.log('  ' + (await benchRead(store, READ_COUNT, pages)))
    console.log('  ' + (await benchDelete(store, READ_COUNT)))
  } finally {
    await store.close()
    await backend.dispose()
  }
  if (index < backends.length - 1) global.gc?.()
}
