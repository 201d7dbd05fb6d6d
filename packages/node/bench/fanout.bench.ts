// Fan-out: one publisher, many subscribers of one stream on one node daemon
// (WebSocket and MQTT subscribers), beside mosquitto with as many MQTT
// subscribers in the same run. The node runs in a child process, as mosquitto
// does; publisher and subscribers run in this process (one clock).
//
// Three runs per server, subscribers connected throughout:
// - burst: BURST messages sent as fast as the publishing socket takes them;
//   deliveries/s = deliveries to all subscribers / (first send → last delivery);
// - latency: RATE msgs/s for SECONDS; p50/p99 over every delivery;
// - memory (the node only): RSS before the load, at its peak, and SETTLE s after it.
//
// Environment: BENCH_WS (WebSocket subscribers, default 200), BENCH_MQTT (MQTT
// subscribers, default 50), BENCH_BURST (default 2000), BENCH_RATE (default
// 200), BENCH_SECONDS (default 10), BENCH_SETTLE (seconds, default 30),
// BENCH_SIZE (content bytes, default 100), BENCH_NODE_FLAGS (e.g.
// "--cpu-prof --cpu-prof-dir=/tmp/profile").
import { readFile } from 'node:fs/promises'
import { Socket } from 'node:net'
import { cpus, totalmem } from 'node:os'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import mqtt, { type MqttClient } from 'mqtt'
import WebSocket from 'ws'
import { startMosquitto, MOSQUITTO_BINARY, type Mosquitto } from './mosquitto.js'
import { startBenchNetwork, type BenchNetwork } from './setup.js'

const WS_SUBSCRIBERS = Number(process.env.BENCH_WS ?? 200)
const MQTT_SUBSCRIBERS = Number(process.env.BENCH_MQTT ?? 50)
const SUBSCRIBERS = WS_SUBSCRIBERS + MQTT_SUBSCRIBERS
const BURST = Number(process.env.BENCH_BURST ?? 2_000)
const RATE = Number(process.env.BENCH_RATE ?? 200)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const SETTLE_S = Number(process.env.BENCH_SETTLE ?? 30)
const SIZE = Number(process.env.BENCH_SIZE ?? 100)
const IDLE_MS = 5_000
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter((flag) => flag.length > 0)

/** Deliveries of one run, across every subscriber. */
class Run {
  private static nextId = 1
  readonly id = Run.nextId++
  /** Per subscriber and message: delivered (1) or not; a second delivery counts as a duplicate. */
  readonly seen: Uint8Array
  readonly latencies: Float64Array
  received = 0
  duplicates = 0
  lastReceivedAt = 0
  private readonly pad: string

  constructor(
    readonly count: number,
    readonly subscribers: number,
    size: number,
  ) {
    this.seen = new Uint8Array(count * subscribers)
    this.latencies = new Float64Array(count * subscribers)
    this.pad = 'x'.repeat(Math.max(0, size - `{"run":1,"i":1000,"at":12345.678901,"pad":""}`.length))
  }

  message(index: number): string {
    return `{"run":${this.id},"i":${index},"at":${performance.now()},"pad":"${this.pad}"}`
  }

  receive(subscriber: number, text: string, now: number): void {
    // A regular expression, not JSON.parse: the subscribers share this process, and its CPU is the bench's limit.
    const match = /^\{"run":(\d+),"i":(\d+),"at":([\d.]+)/.exec(text)
    if (match === null || Number(match[1]) !== this.id) return
    const slot = Number(match[2]) * this.subscribers + subscriber
    if (this.seen[slot] === 1) {
      this.duplicates++
      return
    }
    this.seen[slot] = 1
    this.latencies[this.received++] = now - Number(match[3])
    this.lastReceivedAt = now
  }

  get expected(): number {
    return this.count * this.subscribers
  }

  async settled(idleMs: number): Promise<void> {
    let last = -1
    let changed = performance.now()
    while (this.received < this.expected) {
      if (this.received !== last) {
        last = this.received
        changed = performance.now()
      } else if (performance.now() - changed > idleMs) return
      await sleep(20)
    }
  }

  percentile(p: number): number {
    if (this.received === 0) return NaN
    const sorted = this.latencies.slice(0, this.received).sort()
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
  }
}

interface Server {
  readonly name: string
  readonly pid: number
  subscribe(index: number, onText: (text: string) => void): Promise<() => Promise<void>>
  publisher(): Promise<{ send(text: string): Promise<void>; close(): Promise<void> }>
}

async function connectMqtt(url: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, clean: true, keepalive: 600 })
  if (client.stream instanceof Socket) client.stream.setNoDelay(true)
  return client
}

function mqttSubscribe(url: string, topic: string) {
  return async (_index: number, onText: (text: string) => void): Promise<() => Promise<void>> => {
    const client = await connectMqtt(url)
    client.on('message', (_topic, payload) => onText(payload.toString()))
    await client.subscribeAsync(topic, { qos: 0 })
    return () => client.endAsync(true)
  }
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
  const viaMqtt = mqttSubscribe(endpoints.mqtt!, streamId)
  return {
    name: `Runnel node (${WS_SUBSCRIBERS} WebSocket + ${MQTT_SUBSCRIBERS} MQTT subscribers)`,
    pid: nodePid,
    async subscribe(index, onText) {
      if (index >= WS_SUBSCRIBERS) return viaMqtt(index, onText)
      const socket = await openWebSocket(`${endpoints.websocket}${path}/subscribe`)
      socket.on('message', (data: Buffer) => onText(data.toString()))
      return () => Promise.resolve(socket.terminate())
    },
    async publisher() {
      const socket = await openWebSocket(`${endpoints.websocket}${path}/publish`)
      return {
        send: (text) =>
          new Promise<void>((resolve, reject) =>
            socket.send(text, (err) => (err instanceof Error ? reject(err) : resolve())),
          ),
        close: () => Promise.resolve(socket.terminate()),
      }
    },
  }
}

function mosquittoServer(broker: Mosquitto): Server {
  return {
    name: `mosquitto ${broker.version} (${SUBSCRIBERS} MQTT subscribers)`,
    pid: broker.pid,
    subscribe: mqttSubscribe(broker.url, 'bench/fanout'),
    async publisher() {
      const client = await connectMqtt(broker.url)
      return {
        send: async (text) => void (await client.publishAsync('bench/fanout', text, { qos: 0 })),
        close: () => client.endAsync(true),
      }
    },
  }
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024
}

interface Result {
  readonly server: string
  readonly deliveriesPerSecond: number
  readonly burstLost: number
  readonly burstDuplicates: number
  readonly p50: number
  readonly p99: number
  readonly rateLost: number
  readonly rss?: { start: number; peak: number; after: number }
}

async function measure(server: Server, withMemory: boolean): Promise<Result> {
  let current: Run | undefined
  const closers: (() => Promise<void>)[] = []
  for (let index = 0; index < SUBSCRIBERS; index++) {
    closers.push(await server.subscribe(index, (text) => current?.receive(index, text, performance.now())))
  }
  const publisher = await server.publisher()
  try {
    // Warm-up: joining, permission look-ups, JIT.
    current = new Run(200, SUBSCRIBERS, SIZE)
    for (let i = 0; i < current.count; i++) await publisher.send(current.message(i))
    await current.settled(10_000)

    const rssStart = withMemory ? await rssMiB(server.pid) : NaN
    let rssPeak = rssStart
    const sampler = withMemory
      ? setInterval(() => void rssMiB(server.pid).then((rss) => (rssPeak = Math.max(rssPeak, rss))), 200)
      : undefined

    const burst = (current = new Run(BURST, SUBSCRIBERS, SIZE))
    const start = performance.now()
    const sends: Promise<void>[] = []
    for (let i = 0; i < burst.count; i++) sends.push(publisher.send(burst.message(i)))
    await Promise.allSettled(sends)
    await burst.settled(IDLE_MS)
    const deliveriesPerSecond = burst.received / ((burst.lastReceivedAt - start) / 1000)
    console.log(
      `${server.name}: burst of ${BURST}: ${Math.round(deliveriesPerSecond).toLocaleString('en-US')} deliveries/s, ` +
        `${burst.expected - burst.received} lost, ${burst.duplicates} duplicates`,
    )

    const steady = (current = new Run(RATE * SECONDS, SUBSCRIBERS, SIZE))
    const begin = performance.now()
    for (let i = 0; i < steady.count; i++) {
      const wait = begin + (i * 1000) / RATE - performance.now()
      if (wait > 0) await sleep(wait)
      void publisher.send(steady.message(i)).catch(() => undefined)
    }
    await steady.settled(IDLE_MS)
    const p50 = steady.percentile(50)
    const p99 = steady.percentile(99)
    console.log(
      `${server.name}: ${RATE} msgs/s for ${SECONDS} s: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, ` +
        `${steady.expected - steady.received} lost`,
    )
    current = undefined
    let rss: Result['rss']
    if (sampler !== undefined) {
      clearInterval(sampler)
      await sleep(SETTLE_S * 1000)
      rss = { start: rssStart, peak: rssPeak, after: await rssMiB(server.pid) }
      console.log(
        `${server.name}: RSS ${rss.start.toFixed(0)} MiB before, ${rss.peak.toFixed(0)} MiB at peak, ` +
          `${rss.after.toFixed(0)} MiB ${SETTLE_S} s after`,
      )
    }
    return {
      server: server.name,
      deliveriesPerSecond,
      burstLost: burst.expected - burst.received,
      burstDuplicates: burst.duplicates,
      p50,
      p99,
      rateLost: steady.expected - steady.received,
      ...(rss !== undefined && { rss }),
    }
  } finally {
    current = undefined
    await publisher.close()
    await Promise.all(closers.map((close) => close()))
  }
}

const cpu = cpus()
console.log(`machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB`)
console.log(
  `Node.js ${process.version}; ${SUBSCRIBERS} subscribers; burst of ${BURST}; ${RATE} msgs/s for ${SECONDS} s; ${SIZE} B`,
)
const results: Result[] = []
let network: BenchNetwork | undefined
let broker: Mosquitto | undefined
try {
  network = await startBenchNetwork({ plugins: { http: false, websocket: true, mqtt: true }, nodeFlags: NODE_FLAGS })
  broker = await startMosquitto()
  if (broker === undefined) console.log(`${MOSQUITTO_BINARY} is not installed: the mosquitto comparison is skipped`)
  results.push(await Promise.race([measure(nodeServer(network), true), network.crashed]))
  if (broker !== undefined) results.push(await measure(mosquittoServer(broker), false))
} finally {
  await broker?.stop()
  await network?.stop()
}

console.log(
  '\n| server | deliveries/s (burst) | lost / dup | p50 ms | p99 ms | lost at rate | RSS MiB before / peak / after |',
)
console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- |')
for (const r of results) {
  const rss =
    r.rss === undefined ? '–' : `${r.rss.start.toFixed(0)} / ${r.rss.peak.toFixed(0)} / ${r.rss.after.toFixed(0)}`
  console.log(
    `| ${r.server} | ${Math.round(r.deliveriesPerSecond).toLocaleString('en-US')} | ${r.burstLost} / ${r.burstDuplicates} | ` +
      `${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.rateLost} | ${rss} |`,
  )
}
const [node, mosquitto] = results
if (node !== undefined && mosquitto !== undefined) {
  const ratio = node.deliveriesPerSecond / mosquitto.deliveriesPerSecond
  console.log(`\nnode / mosquitto deliveries/s: ${(ratio * 100).toFixed(0)}% (target ≥ 50%)`)
}
if (node?.rss !== undefined) {
  const growth = node.rss.after / node.rss.start - 1
  console.log(`node RSS ${SETTLE_S} s after the load: ${(growth * 100).toFixed(1)}% above the start (target ≤ 10%)`)
}
process.exit(0)
