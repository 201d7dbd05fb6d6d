// What acknowledgement levels cost (issue 13): publish → ack latency with the default ack ("accepted": the node took
// the message and sent it on) beside `stored` (a storage node committed it and its signed receipt reached the
// publishing node), through the SDK, HTTP (one message, and NDJSON batches), and WebSocket; then NDJSON throughput
// with each ack. Everything runs in this process on 127.0.0.1: a dev chain, a tracker, an API node (HTTP and
// WebSocket), a storage node (SQLite, BatchWriter defaults) and an SDK client, so the figures include sharing two
// cores between all of them.
//
// Latency is sequential, one publish in flight: send, await the ack, send the next. Throughput sends NDJSON batches
// back to back over keep-alive connections, with one and with several requests in flight, alternating the two acks
// in rounds so that drift on a shared machine falls on both alike.
//
// Environment: BENCH_ACK_SAMPLES (latency samples per path, default 300), BENCH_ACK_BATCH_SAMPLES (NDJSON batches of
// 100 per ack, default 100), BENCH_ACK_THROUGHPUT (messages per ack and concurrency, default 10000, in batches of
// 500). A watchdog ends the run after BENCH_ACK_DEADLINE_S (default 170) seconds.
//
// Run: npm run bench -w @runnel/node (after the other node benches), or from packages/node:
//   node --conditions=runnel-source --import tsx bench/acks.bench.ts
import { rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import type { RunnelClient } from '@runnel/client'
import { createRunnelClient } from '@runnel/client/node'
import { RunnelNode, type NodeConfigInput } from '../src/index.js'
import { startChainAndTracker } from './setup.js'

const SAMPLES = Number(process.env.BENCH_ACK_SAMPLES ?? 300)
const BATCH_SAMPLES = Number(process.env.BENCH_ACK_BATCH_SAMPLES ?? 100)
const BATCH = 100
const THROUGHPUT_MESSAGES = Number(process.env.BENCH_ACK_THROUGHPUT ?? 10_000)
const THROUGHPUT_BATCH = 500
const THROUGHPUT_IN_FLIGHT = [1, 4]
/** Throughput runs alternate default and stored this many times, each round a share of the messages. */
const ROUNDS = 2
const WARMUP = 20
const DEADLINE_S = Number(process.env.BENCH_ACK_DEADLINE_S ?? 170)
const ACCOUNT = { owner: 1, storage: 2, api: 3, sdk: 4 } as const
const PAD = 'x'.repeat(60)

type Ack = 'default' | 'stored'

// The bench must end by itself even if an ack never comes: a hung run is reported and ended, not waited on.
let directory: string | undefined
const watchdog = setTimeout(() => {
  console.error(`acks bench: still running after ${DEADLINE_S} s, giving up`)
  if (directory !== undefined) rmSync(directory, { recursive: true, force: true })
  process.exit(2)
}, DEADLINE_S * 1000)
watchdog.unref()

let counter = 0
/** About 100 bytes of JSON, each message different. */
const content = (): string => `{"i":${counter++},"at":${Date.now()},"pad":"${PAD}"}`

interface Summary {
  readonly name: string
  readonly ack: string
  readonly samples: number
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly mean: number
}

function summarize(name: string, ack: string, times: readonly number[]): Summary {
  const sorted = Float64Array.from(times).sort()
  const pick = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
  const mean = sorted.reduce((sum, time) => sum + time, 0) / sorted.length
  return { name, ack, samples: sorted.length, p50: pick(0.5), p99: pick(0.99), max: sorted.at(-1)!, mean }
}

/** Runs `once` WARMUP times unmeasured, then `samples` times one after another, timing each. */
async function sequential(samples: number, once: () => Promise<void>): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await once()
  const times: number[] = []
  for (let i = 0; i < samples; i++) {
    const started = performance.now()
    await once()
    times.push(performance.now() - started)
  }
  return times
}

/** POSTs to one stream over keep-alive connections (`connections` of them); resolves on 200, rejects otherwise. */
function poster(
  httpUrl: string,
  streamId: string,
  connections: number,
): { post(query: string, contentType: string, body: string): Promise<void>; close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: connections })
  const base = `${httpUrl}/streams/${encodeURIComponent(streamId)}`
  return {
    post: (query, contentType, text) =>
      new Promise((resolve, reject) => {
        const body = Buffer.from(text)
        const req = request(
          `${base}${query}`,
          { method: 'POST', agent, headers: { 'content-type': contentType, 'content-length': body.byteLength } },
          (res) => {
            const chunks: Buffer[] = []
            res.on('data', (chunk: Buffer) => chunks.push(chunk))
            res.on('end', () => {
              if (res.statusCode === 200) resolve()
              else reject(new Error(`POST ${query}: HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString()}`))
            })
          },
        )
        req.on('error', reject)
        req.end(body)
      }),
    close: () => agent.destroy(),
  }
}

const ndjson = (count: number): string => Array.from({ length: count }, content).join('\n')

/** A publish socket with `?ack=`: send() resolves when the ack frame naming its frame arrives. */
async function ackingSocket(
  websocketUrl: string,
  streamId: string,
  ack: 'accepted' | 'stored',
): Promise<{ send(text: string): Promise<void>; close(): Promise<void> }> {
  const socket = new WebSocket(`${websocketUrl}/streams/${encodeURIComponent(streamId)}/publish?ack=${ack}`)
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
  })
  let sent = 0
  const waiting = new Map<number, { resolve(): void; reject(err: Error): void }>()
  socket.on('message', (data: Buffer) => {
    const frame = JSON.parse(data.toString()) as {
      ack?: { seq: number; level: string }
      error?: { code: string; message: string; seq?: number }
    }
    const seq = frame.ack?.seq ?? frame.error?.seq
    const waiter = seq === undefined ? undefined : waiting.get(seq)
    if (waiter === undefined) throw new Error(`unexpected frame: ${data.toString()}`)
    waiting.delete(seq!)
    if (frame.ack?.level === ack) waiter.resolve()
    else waiter.reject(new Error(`frame ${seq}: ${data.toString()}`))
  })
  return {
    send: (text) =>
      new Promise((resolve, reject) => {
        waiting.set(++sent, { resolve, reject })
        socket.send(text)
      }),
    close: () =>
      new Promise((resolve) => {
        socket.once('close', () => resolve())
        socket.close()
      }),
  }
}

/** Sends `total` messages as NDJSON batches of THROUGHPUT_BATCH, `inFlight` requests at a time; returns seconds. */
async function ndjsonBurst(
  httpUrl: string,
  streamId: string,
  total: number,
  inFlight: number,
  ack: Ack,
): Promise<number> {
  const http = poster(httpUrl, streamId, inFlight)
  const query = ack === 'stored' ? '?ack=stored' : ''
  // Bodies built before the clock starts: the client's JSON work isn't the node's.
  const bodies = Array.from({ length: Math.ceil(total / THROUGHPUT_BATCH) }, () => ndjson(THROUGHPUT_BATCH))
  let next = 0
  const started = performance.now()
  const worker = async (): Promise<void> => {
    while (next < bodies.length) await http.post(query, 'application/x-ndjson', bodies[next++]!)
  }
  try {
    await Promise.all(Array.from({ length: inFlight }, worker))
    return (performance.now() - started) / 1000
  } finally {
    http.close()
  }
}

function latencyTable(rows: readonly Summary[]): string {
  const ms = (value: number): string => value.toFixed(2)
  return [
    '| path | ack | samples | p50 ms | p99 ms | max ms | mean ms |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (row) =>
        `| ${row.name} | ${row.ack} | ${row.samples} | ${ms(row.p50)} | ${ms(row.p99)} | ${ms(row.max)} | ${ms(row.mean)} |`,
    ),
  ].join('\n')
}

const cpu = cpus()
console.log(
  `machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB; ` +
    `Node.js ${process.version}; load average at start ${loadavg()
      .map((load) => load.toFixed(2))
      .join(' ')}`,
)

const begun = performance.now()
const stops: (() => Promise<unknown>)[] = []
try {
  const made = await mkdtemp(join(tmpdir(), 'runnel-acks-bench-'))
  directory = made
  stops.push(() => rm(made, { recursive: true, force: true }))
  const { dev, trackers, streamId } = await startChainAndTracker('/bench/acks', ACCOUNT.owner, stops)
  const contracts = {
    streamRegistry: dev.deployment.streamRegistry,
    storageNodeRegistry: dev.deployment.storageNodeRegistry,
  }
  const node = (account: number, plugins: NodeConfigInput['plugins']): RunnelNode =>
    new RunnelNode({
      privateKey: dev.chain.accountKeys[account],
      network: { trackers, listen: { host: '127.0.0.1', port: 0 } },
      chain: { rpcUrl: dev.chain.rpcUrl!, contracts },
      plugins,
      log: { level: 'silent' },
    })

  const storage = node(ACCOUNT.storage, {
    http: { host: '127.0.0.1', port: 0 },
    websocket: false,
    mqtt: false,
    storage: { sqlite: { path: join(made, 'storage.db') } },
  })
  stops.push(() => storage.stop())
  await storage.start()
  await dev.registryFor(ACCOUNT.owner).addStorageNode(streamId, storage.client.address)
  const deadline = Date.now() + 60_000
  while (!storage.storage!.storedStreams.includes(streamId)) {
    if (Date.now() > deadline) throw new Error('the storage node did not pick up the stream within 60 s')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }

  const api = node(ACCOUNT.api, {
    http: { host: '127.0.0.1', port: 0 },
    websocket: { host: '127.0.0.1', port: 0 },
    mqtt: false,
  })
  stops.push(() => api.stop())
  const { endpoints } = await api.start()
  const httpUrl = endpoints.http!
  const websocketUrl = endpoints.websocket!

  const sdk: RunnelClient = createRunnelClient({
    auth: { privateKey: dev.chain.accountKeys[ACCOUNT.sdk]! },
    chain: { rpcUrl: dev.chain.rpcUrl!, contracts },
    network: { trackers },
  })
  stops.push(() => sdk.destroy())
  console.log(`network up in ${((performance.now() - begun) / 1000).toFixed(1)} s`)

  const elapsed = (): string => `${((performance.now() - begun) / 1000).toFixed(0)} s`
  const rows: Summary[] = []
  const measure = async (name: string, ack: string, samples: number, once: () => Promise<void>): Promise<void> => {
    const row = summarize(name, ack, await sequential(samples, once))
    rows.push(row)
    console.log(
      `  ${name.padEnd(24)} ${ack.padEnd(9)} p50 ${row.p50.toFixed(2).padStart(7)} ms   p99 ${row.p99.toFixed(2).padStart(7)} ms   (at ${elapsed()})`,
    )
  }

  console.log(`\npublish → ack, one in flight (${SAMPLES} samples; NDJSON ${BATCH_SAMPLES} batches of ${BATCH})`)
  await measure('SDK publish', 'default', SAMPLES, async () => {
    await sdk.publish(streamId, JSON.parse(content()) as unknown)
  })
  await measure('SDK publish', 'stored', SAMPLES, async () => {
    await sdk.publish(streamId, JSON.parse(content()) as unknown, { ack: 'stored' })
  })

  const single = poster(httpUrl, streamId, 1)
  try {
    await measure('HTTP POST, one message', 'default', SAMPLES, () => single.post('', 'application/json', content()))
    await measure('HTTP POST, one message', 'stored', SAMPLES, () =>
      single.post('?ack=stored', 'application/json', content()),
    )
    await measure(`HTTP NDJSON, ${BATCH} a batch`, 'default', BATCH_SAMPLES, () =>
      single.post('', 'application/x-ndjson', ndjson(BATCH)),
    )
    await measure(`HTTP NDJSON, ${BATCH} a batch`, 'stored', BATCH_SAMPLES, () =>
      single.post('?ack=stored', 'application/x-ndjson', ndjson(BATCH)),
    )
  } finally {
    single.close()
  }

  for (const ack of ['accepted', 'stored'] as const) {
    const socket = await ackingSocket(websocketUrl, streamId, ack)
    try {
      await measure('WebSocket frame → ack', `?ack=${ack}`, SAMPLES, () => socket.send(content()))
    } finally {
      await socket.close()
    }
  }

  console.log(
    `\nNDJSON throughput: ${THROUGHPUT_MESSAGES} messages per ack and concurrency, batches of ${THROUGHPUT_BATCH}, ` +
      `${ROUNDS} alternating rounds`,
  )
  // Warm-up: the first large batches pay for JIT and buffer growth on both nodes.
  await ndjsonBurst(httpUrl, streamId, 4 * THROUGHPUT_BATCH, 1, 'stored')
  const throughput: { inFlight: number; rate: Record<Ack, number> }[] = []
  for (const inFlight of THROUGHPUT_IN_FLIGHT) {
    const seconds: Record<Ack, number> = { default: 0, stored: 0 }
    const share = Math.ceil(THROUGHPUT_MESSAGES / ROUNDS / THROUGHPUT_BATCH) * THROUGHPUT_BATCH
    for (let round = 0; round < ROUNDS; round++) {
      for (const ack of ['default', 'stored'] as const) {
        seconds[ack] += await ndjsonBurst(httpUrl, streamId, share, inFlight, ack)
      }
    }
    const rate = { default: (share * ROUNDS) / seconds.default, stored: (share * ROUNDS) / seconds.stored }
    throughput.push({ inFlight, rate })
    console.log(
      `  ${inFlight} in flight: default ${Math.round(rate.default)} msgs/s, stored ${Math.round(rate.stored)} msgs/s, ` +
        `stored/default ${((100 * rate.stored) / rate.default).toFixed(0)}%   (at ${elapsed()})`,
    )
  }

  console.log(`\n${latencyTable(rows)}\n`)
  console.log('| NDJSON batches of 500 | default msgs/s | ack=stored msgs/s | stored / default |')
  console.log('| --- | ---: | ---: | ---: |')
  for (const { inFlight, rate } of throughput) {
    console.log(
      `| ${inFlight} request${inFlight === 1 ? '' : 's'} in flight | ${Math.round(rate.default).toLocaleString('en-US')} | ` +
        `${Math.round(rate.stored).toLocaleString('en-US')} | ${((100 * rate.stored) / rate.default).toFixed(0)}% |`,
    )
  }
  console.log(
    `\nwhole run ${((performance.now() - begun) / 1000).toFixed(1)} s; load average at end ${loadavg()
      .map((load) => load.toFixed(2))
      .join(' ')}`,
  )
} finally {
  for (const stop of stops.reverse()) await stop()
}
