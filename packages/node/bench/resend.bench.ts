// End-to-end history reads from a storage node: a RunnelNode with the
// storage plugin (SQLite) in this process, on a dev chain and a tracker, and
// a stream part holding a million stored messages. Measured: one history
// request over plain HTTP for all of them, as binary frames and as NDJSON;
// and the SDK's client.resend(), which verifies every signature and checks
// the publisher's permission. For each, the process's RSS is sampled every
// 50 ms: history is streamed, so it should stay flat however long the read.
//
// The store is filled directly (SqliteMessageStore, before the node opens
// the file), not published over the network. Signing costs ~70 µs a message
// (libsecp256k1), so only the messages the SDK reads are signed for real; the
// rest carry a well-formed signature over nothing, which neither the store
// nor a raw HTTP read checks.
//
// Environment: BENCH_RESEND_MESSAGES (stored, default 1000000),
// BENCH_RESEND_SDK (read through the SDK, the oldest ones, default 100000).
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import type { RunnelClient } from '@runnel/client'
import { createRunnelClient } from '@runnel/client/node'
import {
  ContentType,
  MAX_SEQUENCE_NUMBER,
  MESSAGE_FRAMES_CONTENT_TYPE,
  MessageFrameReader,
  MessageId,
  MessageRef,
  StreamMessage,
  encodeJsonContent,
  signStreamMessage,
  type MessageSigner,
} from '@runnel/protocol'
import { createNativeSigner } from '@runnel/protocol/native'
import { RunnelNode } from '../src/index.js'
import { startChainAndTracker } from './setup.js'
import { SqliteMessageStore } from '../src/storage/index.js'

const MESSAGES = Number(process.env.BENCH_RESEND_MESSAGES ?? 1_000_000)
const SDK_MESSAGES = Math.min(MESSAGES, Number(process.env.BENCH_RESEND_SDK ?? 100_000))
const ACCOUNT = { owner: 1, node: 2, publisher: 3, reader: 4 } as const
/** Four messages per millisecond, ending an hour ago: well inside the stream's retention. */
const PER_MS = 4
const T0 = Date.now() - 3_600_000 - Math.ceil(MESSAGES / PER_MS)
const CHAIN_ID = 'bench-chain'
const PADDING = 'x'.repeat(80)
const UNSIGNED = Uint8Array.from({ length: 65 }, (_, i) => (i === 64 ? 27 : 1))
const WRITE_BATCH = 5_000
const SAMPLE_MS = 50

const refOf = (i: number): { timestamp: number; sequenceNumber: number } => ({
  timestamp: T0 + Math.floor(i / PER_MS),
  sequenceNumber: i % PER_MS,
})

/** Message `i` of the publisher's chain, about 300 bytes encoded; really signed when `sign` is set. */
async function message(streamId: string, i: number, signer: MessageSigner, sign: boolean): Promise<StreamMessage> {
  const { timestamp, sequenceNumber } = refOf(i)
  const previous = i === 0 ? undefined : refOf(i - 1)
  const fields = {
    messageId: new MessageId(streamId, 0, timestamp, sequenceNumber, signer.address, CHAIN_ID),
    prevMsgRef: previous === undefined ? undefined : new MessageRef(previous.timestamp, previous.sequenceNumber),
    contentType: ContentType.Json,
    content: encodeJsonContent({ i, temperature: 21.5, padding: PADDING }),
  }
  return sign ? signStreamMessage(fields, signer) : new StreamMessage({ ...fields, signature: UNSIGNED })
}

/** Writes the messages into the SQLite file, in batches built as they go. */
async function fill(path: string, streamId: string, signer: MessageSigner): Promise<string> {
  const store = await SqliteMessageStore.open(path)
  const started = performance.now()
  try {
    for (let i = 0; i < MESSAGES; i += WRITE_BATCH) {
      const batch: StreamMessage[] = []
      for (let j = i; j < Math.min(i + WRITE_BATCH, MESSAGES); j++) {
        batch.push(await message(streamId, j, signer, j < SDK_MESSAGES))
      }
      await store.write(batch)
    }
  } finally {
    await store.close()
  }
  const seconds = (performance.now() - started) / 1000
  return `filled ${MESSAGES.toLocaleString('en-US')} messages (${SDK_MESSAGES.toLocaleString('en-US')} signed) in ${seconds.toFixed(1)} s`
}

interface Reading {
  readonly name: string
  readonly messages: number
  readonly bytes: number
  readonly seconds: number
  readonly rssBefore: number
  readonly rssPeak: number
}

/** Runs `read` (which returns messages and bytes read) while sampling the RSS. */
async function measure(name: string, read: () => Promise<{ messages: number; bytes: number }>): Promise<Reading> {
  global.gc?.()
  const rssBefore = process.memoryUsage.rss()
  let rssPeak = rssBefore
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage.rss())), SAMPLE_MS)
  const started = performance.now()
  try {
    const { messages, bytes } = await read()
    const seconds = (performance.now() - started) / 1000
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss())
    return { name, messages, bytes, seconds, rssBefore, rssPeak }
  } finally {
    clearInterval(sampler)
  }
}

/** Reads a whole HTTP response body chunk by chunk, handing each chunk to `onChunk`. */
async function readBody(url: string, accept: string, onChunk: (chunk: Uint8Array) => void): Promise<number> {
  const response = await fetch(url, { headers: { accept } })
  if (response.status !== 200 || response.body === null) {
    throw new Error(`${url} answered ${response.status}: ${await response.text()}`)
  }
  const reader = response.body.getReader()
  let bytes = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return bytes
    bytes += value.byteLength
    onChunk(value)
  }
}

async function readBinary(partitionUrl: string): Promise<{ messages: number; bytes: number }> {
  const frames = new MessageFrameReader()
  let messages = 0
  const bytes = await readBody(
    `${partitionUrl}/range?fromTimestamp=0&toTimestamp=${Date.now()}&format=binary`,
    MESSAGE_FRAMES_CONTENT_TYPE,
    (chunk) => (messages += frames.push(chunk).length),
  )
  return { messages, bytes }
}

async function readNdjson(partitionUrl: string): Promise<{ messages: number; bytes: number }> {
  let messages = 0
  const bytes = await readBody(
    `${partitionUrl}/range?fromTimestamp=0&toTimestamp=${Date.now()}`,
    'application/x-ndjson',
    (chunk) => {
      for (let at = chunk.indexOf(0x0a); at !== -1; at = chunk.indexOf(0x0a, at + 1)) messages++
    },
  )
  return { messages, bytes }
}

async function readSdk(
  client: RunnelClient,
  streamId: string,
  bytesPerMessage: number,
): Promise<{ messages: number; bytes: number }> {
  const last = refOf(SDK_MESSAGES - 1)
  let messages = 0
  let invalid = 0
  client.on('invalidMessage', () => invalid++)
  for await (const received of client.resend(
    { id: streamId, partition: 0 },
    { from: { timestamp: 0 }, to: { timestamp: last.timestamp, sequenceNumber: MAX_SEQUENCE_NUMBER } },
  )) {
    if ((received.content as { i: number }).i !== messages) throw new Error(`message ${messages} came out of order`)
    messages++
  }
  if (invalid > 0) throw new Error(`${invalid} messages failed validation`)
  return { messages, bytes: messages * bytesPerMessage }
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

function table(readings: readonly Reading[]): string {
  const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(0)
  const rows = readings.map((reading) => [
    reading.name,
    reading.messages.toLocaleString('en-US'),
    `${reading.seconds.toFixed(1)} s`,
    Math.round(reading.messages / reading.seconds).toLocaleString('en-US'),
    (reading.bytes / 1e6 / reading.seconds).toFixed(1),
    `${mib(reading.rssBefore)} → ${mib(reading.rssPeak)} MiB`,
  ])
  const header = ['read', 'messages', 'time', 'msgs/s', 'MB/s', 'RSS before → peak']
  return [
    `| ${header.join(' | ')} |`,
    `| --- | ${header
      .slice(1)
      .map(() => '---:')
      .join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n')
}

const cpu = cpus()
console.log(
  `machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node.js ${process.version}`,
)

const stops: (() => Promise<unknown>)[] = []
try {
  const directory = await mkdtemp(join(tmpdir(), 'runnel-resend-bench-'))
  stops.push(() => rm(directory, { recursive: true, force: true }))
  const { dev, trackers, streamId } = await startChainAndTracker('/bench/resend', ACCOUNT.owner, stops)
  const stream = { id: streamId }

  const path = join(directory, 'storage.db')
  const signer = createNativeSigner(dev.chain.accountKeys[ACCOUNT.publisher]!)
  console.log(await fill(path, stream.id, signer))

  const contracts = {
    streamRegistry: dev.deployment.streamRegistry,
    storageNodeRegistry: dev.deployment.storageNodeRegistry,
  }
  const node = new RunnelNode({
    privateKey: dev.chain.accountKeys[ACCOUNT.node],
    network: { trackers, listen: { host: '127.0.0.1', port: 0 } },
    chain: { rpcUrl: dev.chain.rpcUrl!, contracts },
    plugins: { http: { host: '127.0.0.1', port: 0 }, storage: { sqlite: { path } } },
    log: { level: 'silent' },
  })
  stops.push(() => node.stop())
  const { endpoints } = await node.start()
  await dev.registryFor(ACCOUNT.owner).addStorageNode(stream.id, node.client.address)
  await waitUntil(() => node.storage!.storedStreams.includes(stream.id), 'the node to store the stream')
  const partitionUrl = `${endpoints.storage!}/streams/${encodeURIComponent(stream.id)}/data/partitions/0`

  const reader = createRunnelClient({
    auth: { privateKey: dev.chain.accountKeys[ACCOUNT.reader]! },
    chain: { rpcUrl: dev.chain.rpcUrl!, contracts },
    network: { trackers },
  })
  stops.push(() => reader.destroy())

  const readings: Reading[] = []
  const binary = await measure('HTTP, binary frames', () => readBinary(partitionUrl))
  readings.push(binary)
  readings.push(await measure('HTTP, NDJSON', () => readNdjson(partitionUrl)))
  // MB/s of the SDK: the binary frames it fetched (it asks for binary), at the average frame size above.
  readings.push(
    await measure('SDK `client.resend()`', () => readSdk(reader, stream.id, binary.bytes / binary.messages)),
  )
  for (const reading of readings.slice(0, 2)) {
    if (reading.messages !== MESSAGES) throw new Error(`${reading.name}: read ${reading.messages} of ${MESSAGES}`)
  }
  if (readings[2]!.messages !== SDK_MESSAGES) throw new Error(`SDK: read ${readings[2]!.messages} of ${SDK_MESSAGES}`)
  console.log(
    `\n${(binary.bytes / binary.messages).toFixed(0)} bytes per binary frame; node and reader share this process\n`,
  )
  console.log(table(readings))
} finally {
  for (const stop of stops.reverse()) await stop()
}
