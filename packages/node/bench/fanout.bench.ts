// Fan-out: one publisher, many subscribers of one stream on one node daemon
// (WebSocket and MQTT subscribers), beside mosquitto with as many MQTT
// subscribers in the same run. The node runs in a child process, as mosquitto
// does; the publisher runs in this process and the subscribers in worker
// threads of it (fanoutSubscribers.ts), so one clock times every delivery.
//
// Runs per server, subscribers connected throughout:
// - burst: BURST messages sent as fast as the publishing socket takes them;
//   deliveries/s = deliveries to all subscribers / (first send → last delivery);
// - steady: RATE msgs/s for SECONDS; p50/p99 over every delivery;
// - the issue's scenario: ISSUE_RATE msgs/s for ISSUE_SECONDS, each publish
//   acknowledged (WebSocket `ack=accepted`, MQTT QoS 1): time to the last ack, p50/p99;
// - memory (the node only): RSS before the load, at its peak, and SETTLE s after it.
//
// Environment: BENCH_WS (WebSocket subscribers, default 200), BENCH_MQTT (MQTT
// subscribers, default 50), BENCH_BURST (default 5000), BENCH_RATE (default
// 200), BENCH_SECONDS (default 10), BENCH_ISSUE_RATE (default 1000),
// BENCH_ISSUE_SECONDS (default 10; 0 skips the run), BENCH_SETTLE (seconds,
// default 30), BENCH_SIZE (content bytes, default 100), BENCH_WORKERS
// (subscriber threads, default 2), BENCH_NODE_FLAGS (e.g. "--cpu-prof
// --cpu-prof-dir=/tmp/profile"), BENCH_MOSQUITTO (0 skips mosquitto: half the
// time, for iterating on the node), BENCH_NODE_LOG (the node's log level,
// default silent; info shows its collection after a load).
import { readFile } from 'node:fs/promises'
import { Socket } from 'node:net'
import { cpus, totalmem } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import mqtt, { type MqttClient } from 'mqtt'
import WebSocket from 'ws'
import type { SubscriberSpec, WorkerCommand, WorkerReport } from './fanoutSubscribers.js'
import { cpuSeconds } from './measure.js'
import { startMosquitto, MOSQUITTO_BINARY, type Mosquitto } from './mosquitto.js'
import { startBenchNetwork, type BenchNetwork } from './setup.js'

const WS_SUBSCRIBERS = Number(process.env.BENCH_WS ?? 200)
const MQTT_SUBSCRIBERS = Number(process.env.BENCH_MQTT ?? 50)
const SUBSCRIBERS = WS_SUBSCRIBERS + MQTT_SUBSCRIBERS
const BURST = Number(process.env.BENCH_BURST ?? 5_000)
const RATE = Number(process.env.BENCH_RATE ?? 200)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const ISSUE_RATE = Number(process.env.BENCH_ISSUE_RATE ?? 1_000)
const ISSUE_SECONDS = Number(process.env.BENCH_ISSUE_SECONDS ?? 10)
const SETTLE_S = Number(process.env.BENCH_SETTLE ?? 30)
const SIZE = Number(process.env.BENCH_SIZE ?? 100)
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2)
const IDLE_MS = 5_000
const WITH_MOSQUITTO = process.env.BENCH_MOSQUITTO !== '0'
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter((flag) => flag.length > 0)
const PAD = 'x'.repeat(Math.max(0, SIZE - `{"run":1,"i":1000,"at":1764812345678.123,"pad":""}`.length))

const now = (): number => performance.timeOrigin + performance.now()

/** The subscribers, spread over worker threads. */
class Subscribers {
  private constructor(private readonly workers: Worker[]) {}

  static async start(specs: readonly SubscriberSpec[]): Promise<Subscribers> {
    // Loaders don't carry over to workers: the worker registers tsx's first (as SignatureWorkers does).
    const tsx = import.meta.resolve('tsx/esm/api')
    const script = new URL('./fanoutSubscribers.ts', import.meta.url).href
    const workers = Array.from(
      { length: WORKERS },
      () =>
        new Worker(
          `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(script)}) })`,
          { eval: true },
        ),
    )
    for (const worker of workers) {
      worker.on('error', (err) => {
        console.error('a subscriber thread failed:', err)
        process.exit(1)
      })
    }
    const subscribers = new Subscribers(workers)
    await Promise.all(
      workers.map((_, w) =>
        subscribers.ask(w, { type: 'connect', subscribers: specs.filter((_spec, i) => i % WORKERS === w) }),
      ),
    )
    return subscribers
  }

  /** One question at a time per worker: its next message is the answer. */
  private ask(worker: number, command: WorkerCommand): Promise<WorkerReport> {
    return new Promise((resolve) => {
      const target = this.workers[worker]!
      target.once('message', resolve)
      target.postMessage(command)
    })
  }

  startRun(run: number, count: number): void {
    for (const worker of this.workers) worker.postMessage({ type: 'run', run, count } satisfies WorkerCommand)
  }

  async received(): Promise<number> {
    const reports = await Promise.all(this.workers.map((_, w) => this.ask(w, { type: 'progress' })))
    return reports.reduce((sum, report) => sum + (report.type === 'progress' ? report.received : 0), 0)
  }

  /** Resolves once `expected` deliveries arrived, or none did for `idleMs`. */
  async settled(expected: number, idleMs: number): Promise<void> {
    let last = -1
    let changed = performance.now()
    for (;;) {
      const received = await this.received()
      if (received >= expected) return
      if (received !== last) {
        last = received
        changed = performance.now()
      } else if (performance.now() - changed > idleMs) return
      await sleep(50)
    }
  }

  async finish(): Promise<{ received: number; duplicates: number; lastReceivedAt: number; latencies: Float64Array }> {
    const reports = await Promise.all(this.workers.map((_, w) => this.ask(w, { type: 'finish' })))
    const finished = reports.filter((report) => report.type === 'finished')
    const latencies = new Float64Array(finished.reduce((sum, report) => sum + report.received, 0))
    let offset = 0
    for (const report of finished) {
      latencies.set(report.latencies, offset)
      offset += report.received
    }
    latencies.sort()
    return {
      received: offset,
      duplicates: finished.reduce((sum, report) => sum + report.duplicates, 0),
      lastReceivedAt: Math.max(...finished.map((report) => report.lastReceivedAt)),
      latencies,
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((_, w) => this.ask(w, { type: 'close' })))
    await Promise.all(this.workers.map((worker) => worker.terminate()))
  }
}

interface Publisher {
  /** Resolves once written (`acked`: once acknowledged). */
  send(text: string): Promise<void>
  close(): Promise<void>
}

interface Server {
  readonly name: string
  readonly pid: number
  /** The server's heap and buffers, when it can tell (the node can). */
  memory?(): Promise<NodeJS.MemoryUsage>
  readonly subscribers: readonly SubscriberSpec[]
  publisher(acked: boolean): Promise<Publisher>
}

async function connectMqtt(url: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, clean: true, keepalive: 600 })
  if (client.stream instanceof Socket) client.stream.setNoDelay(true)
  return client
}

function openWebSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url)
    socket.once('open', () => resolve(socket))
    socket.once('error', reject)
    socket.once('unexpected-response', (_req, res) => reject(new Error(`${url}: HTTP ${res.statusCode}`)))
  })
}

function nodeServer(network: BenchNetwork): Server {
  const { streamId, endpoints, nodePid } = network
  const path = `/streams/${encodeURIComponent(streamId)}`
  return {
    name: `Runnel node (${WS_SUBSCRIBERS} WebSocket + ${MQTT_SUBSCRIBERS} MQTT)`,
    pid: nodePid,
    memory: () => network.memory(),
    subscribers: Array.from({ length: SUBSCRIBERS }, (_, i) =>
      i < WS_SUBSCRIBERS
        ? { kind: 'websocket', url: endpoints.websocket!, target: `${path}/subscribe` }
        : { kind: 'mqtt', url: endpoints.mqtt!, target: streamId },
    ),
    async publisher(acked) {
      const socket = await openWebSocket(`${endpoints.websocket}${path}/publish${acked ? '?ack=accepted' : ''}`)
      // With acks, frame N (from 1) is answered by an ack or an error frame naming seq N.
      const waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>()
      let seq = 0
      socket.on('message', (data: Buffer) => {
        const answer = JSON.parse(data.toString()) as { ack?: { seq: number }; seq?: number; error?: { code: string } }
        const n = answer.ack?.seq ?? answer.seq
        if (n === undefined) return
        const pending = waiting.get(n)
        waiting.delete(n)
        if (answer.error !== undefined) pending?.reject(new Error(answer.error.code))
        else pending?.resolve()
      })
      return {
        send: (text) =>
          new Promise<void>((resolve, reject) => {
            const n = ++seq
            if (acked) waiting.set(n, { resolve, reject })
            socket.send(text, (err) => {
              if (err instanceof Error) reject(err)
              else if (!acked) resolve()
            })
          }),
        close: () => Promise.resolve(socket.terminate()),
      }
    },
  }
}

function mosquittoServer(broker: Mosquitto): Server {
  return {
    name: `mosquitto ${broker.version} (${SUBSCRIBERS} MQTT)`,
    pid: broker.pid,
    subscribers: Array.from({ length: SUBSCRIBERS }, () => ({
      kind: 'mqtt',
      url: broker.url,
      target: 'bench/fanout',
    })),
    async publisher(acked) {
      const client = await connectMqtt(broker.url)
      return {
        send: async (text) => void (await client.publishAsync('bench/fanout', text, { qos: acked ? 1 : 0 })),
        close: () => client.endAsync(true),
      }
    },
  }
}

/** RssAnon and RssFile (pages of the binary and libraries, paged in as code runs: kept, and shared) of a process. */
async function rssParts(pid: number): Promise<string> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const field = (name: string): string =>
    (Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024).toFixed(0)
  return `anonymous ${field('RssAnon')} MiB, file ${field('RssFile')} MiB`
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

interface RateResult {
  readonly p50: number
  readonly p99: number
  readonly lost: number
  /** First send → last acknowledgement, in s (acked runs). */
  readonly ackSeconds?: number
  /** The server's CPU time per delivery, in µs. */
  readonly cpuMicros: number
}

interface Result {
  readonly server: string
  readonly deliveriesPerSecond: number
  /** The server's CPU time per delivery in the burst, in µs. */
  readonly burstCpuMicros: number
  readonly burstLost: number
  readonly burstDuplicates: number
  readonly steady: RateResult
  readonly issue?: RateResult
  readonly rss?: { start: number; peak: number; after: number }
}

let nextRun = 1

/** Sends `count` messages at `rate` per second, or all at once (rate 0); resolves when every send has settled. */
async function sendRun(publisher: Publisher, run: number, count: number, rate: number): Promise<number> {
  const sends: Promise<void>[] = []
  let failed = 0
  const begin = performance.now()
  for (let i = 0; i < count; i++) {
    if (rate > 0) {
      const wait = begin + (i * 1000) / rate - performance.now()
      if (wait > 0) await sleep(wait)
    }
    sends.push(publisher.send(`{"run":${run},"i":${i},"at":${now()},"pad":"${PAD}"}`).catch(() => void failed++))
  }
  await Promise.all(sends)
  return failed
}

async function rateRun(
  server: Server,
  subscribers: Subscribers,
  publisher: Publisher,
  rate: number,
  seconds: number,
): Promise<RateResult> {
  const run = nextRun++
  const cpuBefore = (await cpuSeconds(server.pid)) ?? NaN
  const count = rate * seconds
  subscribers.startRun(run, count)
  const start = now()
  const failed = await sendRun(publisher, run, count, rate)
  const acked = now()
  await subscribers.settled(count * SUBSCRIBERS, IDLE_MS)
  const result = await subscribers.finish()
  const cpu = ((await cpuSeconds(server.pid)) ?? NaN) - cpuBefore
  if (failed > 0) console.log(`  ${failed} publishes failed`)
  return {
    cpuMicros: (cpu * 1e6) / Math.max(1, result.received),
    p50: percentile(result.latencies, 50),
    p99: percentile(result.latencies, 99),
    lost: count * SUBSCRIBERS - result.received,
    ackSeconds: (acked - start) / 1000,
  }
}

async function measure(server: Server, withMemory: boolean): Promise<Result> {
  const subscribers = await Subscribers.start(server.subscribers)
  const publisher = await server.publisher(false)
  const ackedPublisher = ISSUE_SECONDS > 0 ? await server.publisher(true) : undefined
  try {
    // Warm-up: joining, permission look-ups, JIT.
    const warmup = nextRun++
    subscribers.startRun(warmup, 200)
    for (let i = 0; i < 200; i++) await publisher.send(`{"run":${warmup},"i":${i},"at":${now()},"pad":""}`)
    await subscribers.settled(200 * SUBSCRIBERS, 10_000)

    const rssStart = withMemory ? await rssMiB(server.pid) : NaN
    const heapStart = withMemory ? await server.memory?.() : undefined
    const partsStart = withMemory ? await rssParts(server.pid) : ''
    let rssPeak = rssStart
    const sampler = withMemory
      ? setInterval(() => void rssMiB(server.pid).then((rss) => (rssPeak = Math.max(rssPeak, rss))), 200)
      : undefined

    const burst = nextRun++
    subscribers.startRun(burst, BURST)
    const burstCpuBefore = (await cpuSeconds(server.pid)) ?? NaN
    const start = now()
    await sendRun(publisher, burst, BURST, 0)
    await subscribers.settled(BURST * SUBSCRIBERS, IDLE_MS)
    const burstResult = await subscribers.finish()
    const burstCpuMicros = ((((await cpuSeconds(server.pid)) ?? NaN) - burstCpuBefore) * 1e6) / burstResult.received
    const deliveriesPerSecond = burstResult.received / ((burstResult.lastReceivedAt - start) / 1000)
    console.log(
      `${server.name}: burst of ${BURST}: ${Math.round(deliveriesPerSecond).toLocaleString('en-US')} deliveries/s, ` +
        `${BURST * SUBSCRIBERS - burstResult.received} lost, ${burstResult.duplicates} duplicates, ` +
        `server CPU ${burstCpuMicros.toFixed(2)} µs/delivery`,
    )

    const steady = await rateRun(server, subscribers, publisher, RATE, SECONDS)
    console.log(
      `${server.name}: ${RATE} msgs/s for ${SECONDS} s: p50 ${steady.p50.toFixed(2)} ms, p99 ${steady.p99.toFixed(2)} ms, ${steady.lost} lost, server CPU ${steady.cpuMicros.toFixed(2)} µs/delivery`,
    )
    let issue: RateResult | undefined
    if (ackedPublisher !== undefined) {
      issue = await rateRun(server, subscribers, ackedPublisher, ISSUE_RATE, ISSUE_SECONDS)
      console.log(
        `${server.name}: ${ISSUE_RATE} msgs/s for ${ISSUE_SECONDS} s, acknowledged: last ack after ${issue.ackSeconds!.toFixed(1)} s, ` +
          `p50 ${issue.p50.toFixed(2)} ms, p99 ${issue.p99.toFixed(2)} ms, ${issue.lost} lost`,
      )
    }
    let rss: Result['rss']
    if (sampler !== undefined) {
      clearInterval(sampler)
      await sleep(SETTLE_S * 1000)
      rss = { start: rssStart, peak: rssPeak, after: await rssMiB(server.pid) }
      const heapAfter = await server.memory?.()
      const mib = (usage: NodeJS.MemoryUsage | undefined): string =>
        usage === undefined
          ? '–'
          : `heap ${(usage.heapUsed / 2 ** 20).toFixed(0)}/${(usage.heapTotal / 2 ** 20).toFixed(0)} MiB, ` +
            `external ${(usage.external / 2 ** 20).toFixed(0)} MiB (array buffers ${(usage.arrayBuffers / 2 ** 20).toFixed(0)})`
      console.log(`${server.name}: before the load ${mib(heapStart)}; ${SETTLE_S} s after ${mib(heapAfter)}`)
      console.log(
        `${server.name}: RSS before the load ${partsStart}; ${SETTLE_S} s after ${await rssParts(server.pid)}`,
      )
      console.log(
        `${server.name}: RSS ${rss.start.toFixed(0)} MiB before, ${rss.peak.toFixed(0)} MiB at peak, ` +
          `${rss.after.toFixed(0)} MiB ${SETTLE_S} s after`,
      )
    }
    return {
      server: server.name,
      deliveriesPerSecond,
      burstCpuMicros,
      burstLost: BURST * SUBSCRIBERS - burstResult.received,
      burstDuplicates: burstResult.duplicates,
      steady,
      ...(issue !== undefined && { issue }),
      ...(rss !== undefined && { rss }),
    }
  } finally {
    await publisher.close()
    await ackedPublisher?.close()
    await subscribers.close()
  }
}

const cpu = cpus()
console.log(`machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB`)
console.log(
  `Node.js ${process.version}; ${SUBSCRIBERS} subscribers in ${WORKERS} threads; burst of ${BURST}; ` +
    `${RATE} msgs/s for ${SECONDS} s; ${ISSUE_RATE} msgs/s acked for ${ISSUE_SECONDS} s; ${SIZE} B`,
)
const results: Result[] = []
let network: BenchNetwork | undefined
let broker: Mosquitto | undefined
try {
  network = await startBenchNetwork({ plugins: { http: false, websocket: true, mqtt: true }, nodeFlags: NODE_FLAGS })
  broker = WITH_MOSQUITTO ? await startMosquitto() : undefined
  if (!WITH_MOSQUITTO) console.log('BENCH_MOSQUITTO=0: the mosquitto comparison is skipped')
  else if (broker === undefined)
    console.log(`${MOSQUITTO_BINARY} is not installed: the mosquitto comparison is skipped`)
  results.push(await Promise.race([measure(nodeServer(network), true), network.crashed]))
  if (broker !== undefined) results.push(await measure(mosquittoServer(broker), false))
} finally {
  await broker?.stop()
  await network?.stop()
}

const ms = (value: number | undefined): string => (value === undefined ? '–' : value.toFixed(1))
console.log(
  `\n| server | deliveries/s (burst of ${BURST}) | server CPU µs/delivery | lost / dup | ${RATE}/s p50 ms | ` +
    `${RATE}/s p99 ms | server CPU µs/delivery | ${ISSUE_RATE}/s acked: last ack s | p50 ms | p99 ms | ` +
    `RSS MiB before / peak / ${SETTLE_S} s after |`,
)
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |')
for (const r of results) {
  const rss =
    r.rss === undefined ? '–' : `${r.rss.start.toFixed(0)} / ${r.rss.peak.toFixed(0)} / ${r.rss.after.toFixed(0)}`
  console.log(
    `| ${r.server} | ${Math.round(r.deliveriesPerSecond).toLocaleString('en-US')} | ${r.burstCpuMicros.toFixed(2)} | ` +
      `${r.burstLost} / ${r.burstDuplicates} | ${ms(r.steady.p50)} | ${ms(r.steady.p99)} | ${r.steady.cpuMicros.toFixed(2)} | ` +
      `${ms(r.issue?.ackSeconds)} | ${ms(r.issue?.p50)} | ${ms(r.issue?.p99)} | ${rss} |`,
  )
}
const [node, mosquitto] = results
if (node !== undefined && mosquitto !== undefined) {
  const ratio = node.deliveriesPerSecond / mosquitto.deliveriesPerSecond
  console.log(`\nnode / mosquitto deliveries/s: ${(ratio * 100).toFixed(0)}% (target ≥ 50%)`)
}
if (node !== undefined) console.log(`node p99 at ${RATE} msgs/s: ${ms(node.steady.p99)} ms (target ≤ 50 ms)`)
if (node?.rss !== undefined) {
  const growth = node.rss.after / node.rss.start - 1
  console.log(`node RSS ${SETTLE_S} s after the load: ${(growth * 100).toFixed(1)}% above the start (target ≤ 10%)`)
}
process.exit(0)
