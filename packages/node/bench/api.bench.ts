// Publish → receive latency and delivered msgs/s through each API of the node
// daemon (MQTT, WebSocket, HTTP) on 127.0.0.1, beside the same figures for
// Debian's mosquitto broker measured in the same run. The node runs in a
// child process, as mosquitto does; both apps (publisher and subscriber) of
// every path run in this process, so send and receive times share one clock.
//
// Environment: BENCH_SECONDS (latency run, default 5), BENCH_SIZES (content
// bytes, default "100,1024"), BENCH_BURST (throughput run, default 10000;
// HTTP uses a fifth), BENCH_APIS (default "mqtt,websocket,http"),
// BENCH_NODE_FLAGS (extra Node.js flags for the node's process, e.g.
// "--cpu-prof --cpu-prof-dir=/tmp/profile").
import { cpus, totalmem } from 'node:os'
import { startMosquitto, MOSQUITTO_BINARY, type Mosquitto } from './mosquitto.js'
import { idleShare, measurePath, type MeasureOptions, type PathResult } from './measure.js'
import { httpBatchPath, httpPath, mqttPath, webSocketPath, type ApiPath } from './paths.js'
import { startBenchNetwork, type BenchNetwork } from './setup.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const RATE = 200
const SIZES = (process.env.BENCH_SIZES ?? '100,1024').split(',').map(Number)
const BURST = Number(process.env.BENCH_BURST ?? 10_000)
const HTTP_BURST = Math.round(BURST / 5)
const HTTP_CONNECTIONS = 16
const WARMUP = 300
const IDLE_SAMPLE_MS = 2_000
const IDLE_MS = 3_000
const APIS = new Set((process.env.BENCH_APIS ?? 'mqtt,websocket,http').split(','))
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter((flag) => flag.length > 0)

const cpu = cpus()
console.log(`machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB`)
console.log(
  `Node.js ${process.version}; latency at ${RATE} msgs/s for ${SECONDS} s; bursts of ${BURST} (HTTP ${HTTP_BURST})`,
)

const results: PathResult[] = []
let network: BenchNetwork | undefined
let mosquitto: Mosquitto | undefined
try {
  network = await startBenchNetwork({
    plugins: { http: APIS.has('http'), websocket: APIS.has('websocket'), mqtt: APIS.has('mqtt') },
    nodeFlags: NODE_FLAGS,
  })
  mosquitto = await startMosquitto()
  if (mosquitto === undefined) console.log(`${MOSQUITTO_BINARY} is not installed: the mosquitto comparison is skipped`)
  else console.log(`mosquitto ${mosquitto.version} at ${mosquitto.url}`)

  const { streamId, endpoints, nodePid } = network
  const idle = [`node ${percent(await idleShare(nodePid, IDLE_SAMPLE_MS))}`]
  if (mosquitto !== undefined) idle.push(`mosquitto ${percent(await idleShare(mosquitto.pid, IDLE_SAMPLE_MS))}`)
  console.log(`CPU while idle (share of one core over ${IDLE_SAMPLE_MS / 1000} s): ${idle.join(', ')}`)
  for (const size of SIZES) {
    const options = (serverPid: number): MeasureOptions => ({
      size,
      rate: RATE,
      seconds: SECONDS,
      warmup: WARMUP,
      idleMs: IDLE_MS,
      serverPid,
    })
    const runnel: ApiPath[] = []
    if (endpoints.mqtt !== undefined) {
      for (const qos of [0, 1] as const) {
        runnel.push(
          mqttPath({ name: `Runnel MQTT QoS ${qos}`, url: endpoints.mqtt, topic: streamId, qos, burst: BURST }),
        )
      }
    }
    if (endpoints.websocket !== undefined) {
      runnel.push(webSocketPath({ websocketUrl: endpoints.websocket, streamId, burst: BURST }))
      if (endpoints.http !== undefined) {
        runnel.push(
          httpPath({
            httpUrl: endpoints.http,
            websocketUrl: endpoints.websocket,
            streamId,
            burst: HTTP_BURST,
            connections: HTTP_CONNECTIONS,
          }),
          httpBatchPath({
            httpUrl: endpoints.http,
            websocketUrl: endpoints.websocket,
            streamId,
            burst: BURST,
            connections: 4,
            batchSize: 100,
          }),
        )
      }
    }
    for (const path of runnel) {
      results.push(report(await Promise.race([measurePath(path, options(nodePid)), network.crashed])))
    }
    if (mosquitto !== undefined) {
      for (const qos of [0, 1] as const) {
        const path = mqttPath({
          name: `mosquitto QoS ${qos}`,
          url: mosquitto.url,
          topic: 'bench/api',
          qos,
          burst: BURST,
        })
        results.push(report(await measurePath(path, options(mosquitto.pid))))
      }
    }
  }
} finally {
  await mosquitto?.stop()
  await network?.stop()
}

printTable(results)
console.log(
  '\nEvery message through Runnel is signed by the node (secp256k1, ~40 µs native) and passes its permission ' +
    'check (cached); mosquitto does neither. Both servers ran on this machine beside the clients.',
)

function report(result: PathResult): PathResult {
  const { latency: l, throughput: t } = result
  console.log(
    `${result.path}, ${result.size} B: latency p50 ${ms(l.p50)} p90 ${ms(l.p90)} p99 ${ms(l.p99)} max ${ms(l.max)} ms` +
      ` (${l.received} received, ${l.lost} lost, server CPU ${micros(l.serverCpuMicros)} µs/msg); burst: ${count(t.rate)} msgs/s delivered, sent at ${count(t.sendRate)}/s,` +
      ` ${t.received}/${t.sent + t.failed} received, ${t.failed} failed, ${t.duplicates} duplicates;` +
      ` CPU per message: server ${micros(t.serverCpuMicros)} µs, clients ${micros(t.clientCpuMicros)} µs`,
  )
  return result
}

function printTable(rows: readonly PathResult[]): void {
  const header = [
    'path',
    'content',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'max ms',
    'msgs/s',
    'lost',
    `server CPU µs/msg at ${RATE}/s`,
    'server CPU µs/msg in burst',
    'clients CPU µs/msg in burst',
  ]
  const lines = rows.map((row) => [
    row.path,
    `${row.size} B`,
    ms(row.latency.p50),
    ms(row.latency.p90),
    ms(row.latency.p99),
    ms(row.latency.max),
    count(row.throughput.rate),
    `${row.latency.lost} / ${row.throughput.lost}`,
    micros(row.latency.serverCpuMicros),
    micros(row.throughput.serverCpuMicros),
    micros(row.throughput.clientCpuMicros),
  ])
  console.log(`\n| ${header.join(' | ')} |`)
  console.log(`| ${header.map((_, column) => (column < 2 ? '---' : '---:')).join(' | ')} |`)
  for (const line of lines) console.log(`| ${line.join(' | ')} |`)
  console.log('\nlost: in the latency run / in the burst; msgs/s: the burst, first send → last delivery')
}

function ms(value: number): string {
  return Number.isNaN(value) ? '–' : value.toFixed(2)
}

function count(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '–'
}

function percent(share: number | undefined): string {
  return share === undefined ? '–' : `${(share * 100).toFixed(1)}%`
}

function micros(value: number | undefined): string {
  return value === undefined ? '–' : value.toFixed(1)
}
