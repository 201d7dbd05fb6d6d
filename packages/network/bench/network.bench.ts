// Network benchmark: N nodes in one process over loopback WebSockets, one
// publisher, everyone else subscribed, 100-byte payloads. Method and results:
// docs/benchmarks.md. Bounded: about a minute per configuration.
//
//   npm run bench -w @runnel/network                 # N = 16 and 64, relay verification on and off, tracker and trackerless
//   BENCH_NODES=16 BENCH_VERIFY=off npm run bench -w @runnel/network
//   BENCH_DISCOVERY=dht BENCH_NODES=64 BENCH_VERIFY=off npm run bench -w @runnel/network   # trackerless only
import { createServer } from 'node:net'
import { performance } from 'node:perf_hooks'
import {
  ContentType,
  MessageId,
  MessageRef,
  generatePrivateKey,
  signStreamMessage,
  toStreamId,
  toStreamPartId,
  type StreamMessage,
} from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import { NetworkNode, TrackerServer, type NetworkNodeOptions, type NodeId } from '../src/index.js'
import { WebSocketTransport } from '../src/node/index.js'

const SIZES = (process.env.BENCH_NODES ?? '16,64').split(',').map(Number)
const VERIFY_MODES = (process.env.BENCH_VERIFY ?? 'on,off').split(',').map((mode) => mode === 'on')
/** 'tracker': one tracker builds the overlay; 'dht': trackerless, members found through the DHT (issue 15). */
const DISCOVERY_MODES = (process.env.BENCH_DISCOVERY ?? 'tracker,dht').split(',') as ('tracker' | 'dht')[]
/** Trackerless: the first nodes listen on ports known in advance and every node is given them as entry points. */
const ENTRY_POINTS = 3
const RATES = [10, 100, 250, 500, 1_000, 2_500, 5_000, 10_000]
const STEP_SECONDS = Number(process.env.BENCH_STEP_SECONDS ?? 3)
const PAYLOAD_BYTES = 100

interface RunResult {
  rate: number
  sent: number
  deliveries: number
  expected: number
  latencies: number[]
  cpuMicros: number
  bytesOut: number
  framesOut: number
}

const publisherSigner = createNativeSigner(generatePrivateKey())
const streamId = toStreamId(publisherSigner.address, '/bench')
const streamPartId = toStreamPartId(streamId, 0)
let chainSequence = 0
let previous: MessageRef | undefined

async function signBatch(count: number): Promise<StreamMessage[]> {
  const messages: StreamMessage[] = []
  for (let i = 0; i < count; i++) {
    const ref = new MessageRef(1_700_000_000_000 + chainSequence, 0)
    const content = new Uint8Array(PAYLOAD_BYTES)
    new DataView(content.buffer).setUint32(0, chainSequence)
    chainSequence++
    messages.push(
      await signStreamMessage(
        {
          messageId: new MessageId(streamId, 0, ref.timestamp, 0, publisherSigner.address, 'bench'),
          prevMsgRef: previous,
          contentType: ContentType.Binary,
          content,
        },
        publisherSigner,
      ),
    )
    previous = ref
  }
  return messages
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
  return true
}

function isConnected(nodes: NetworkNode[]): boolean {
  const adjacency = new Map<NodeId, NodeId[]>(nodes.map((node) => [node.nodeId, node.getNeighbors(streamPartId)]))
  const seen = new Set<NodeId>([nodes[0]!.nodeId])
  const queue = [nodes[0]!.nodeId]
  while (queue.length > 0) {
    for (const next of adjacency.get(queue.pop()!) ?? []) {
      if (!seen.has(next)) {
        seen.add(next)
        queue.push(next)
      }
    }
  }
  return seen.size === nodes.length
}

/** Ports free right now, for the entry points, whose addresses every node needs before any starts. */
async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer())
  const ports = await Promise.all(
    servers.map(
      (server) =>
        new Promise<number>((resolve, reject) => {
          server.once('error', reject)
          server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port))
        }),
    ),
  )
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
  return ports
}

async function benchmark(nodeCount: number, verifySignatures: boolean, discovery: 'tracker' | 'dht'): Promise<void> {
  global.gc?.()
  const rssBefore = process.memoryUsage().rss
  const tracker =
    discovery === 'tracker'
      ? new TrackerServer({
          transport: new WebSocketTransport({ port: 0 }),
          signer: createNativeSigner(generatePrivateKey()),
          verifier: nativeSignatureVerifier,
        })
      : undefined
  const trackerAddress = tracker === undefined ? undefined : (await tracker.start())[0]!
  const entryPorts = discovery === 'dht' ? await freePorts(Math.min(ENTRY_POINTS, nodeCount)) : []
  const nodeOptions: NetworkNodeOptions =
    discovery === 'tracker'
      ? { trackers: [trackerAddress!], verifySignatures }
      : { discovery: 'dht', entryPoints: entryPorts.map((port) => `ws://127.0.0.1:${port}`), verifySignatures }
  const formStart = performance.now()
  const nodes = await Promise.all(
    Array.from({ length: nodeCount }, async (_, index) => {
      const node = new NetworkNode(
        {
          transport: new WebSocketTransport({ port: entryPorts[index] ?? 0 }),
          signer: createNativeSigner(generatePrivateKey()),
          verifier: nativeSignatureVerifier,
        },
        nodeOptions,
      )
      await node.start()
      await node.join(streamPartId)
      return node
    }),
  )
  const minDegree = Math.min(3, nodeCount - 1)
  const formed = await until(
    () => nodes.every((node) => node.getNeighbors(streamPartId).length >= minDegree) && isConnected(nodes),
    60_000,
  )
  const formMs = performance.now() - formStart
  const totalBytesOut = (): number => nodes.reduce((sum, node) => sum + node.getMetrics().bytesOut, 0)
  const formBytes = totalBytesOut()
  let runDeliveries = 0
  global.gc?.()
  const rssPerNode = (process.memoryUsage().rss - rssBefore) / nodeCount
  const degrees = nodes.map((node) => node.getNeighbors(streamPartId).length)

  const publisher = nodes[0]!
  const subscribers = nodes.slice(1)
  const sentAt: number[] = []
  let deliveries = 0
  let latencies: number[] = []
  // Resolved by the listener itself, so waiting costs no CPU that would count as delivery work.
  let onAllDelivered: { expected: number; resolve: () => void } | undefined
  for (const node of subscribers) {
    node.addMessageListener(streamPartId, (message) => {
      const index = new DataView(message.content.buffer, message.content.byteOffset).getUint32(0)
      latencies.push(performance.now() - sentAt[index]!)
      deliveries++
      if (onAllDelivered !== undefined && deliveries >= onAllDelivered.expected) onAllDelivered.resolve()
    })
  }
  const allDelivered = (expected: number, timeoutMs: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs)
      onAllDelivered = {
        expected,
        resolve: () => {
          clearTimeout(timer)
          onAllDelivered = undefined
          resolve()
        },
      }
      if (deliveries >= expected) onAllDelivered.resolve()
    })

  async function run(rate: number, seconds: number): Promise<RunResult> {
    const total = Math.max(1, Math.round(rate * seconds))
    const messages = await signBatch(total)
    const bytesBefore = nodes.reduce((sum, node) => sum + node.getMetrics().bytesOut, 0)
    const framesBefore = nodes.reduce((sum, node) => sum + node.getMetrics().messagesOut, 0)
    deliveries = 0
    latencies = []
    const cpuBefore = process.cpuUsage()
    const start = performance.now()
    let sent = 0
    // Publish on schedule: each tick sends what the rate calls for by now.
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1)
        while (sent < due) {
          const message = messages[sent]!
          sentAt[new DataView(message.content.buffer, message.content.byteOffset).getUint32(0)] = performance.now()
          publisher.broadcast(message)
          sent++
        }
        if (sent >= total) resolve()
        else setTimeout(tick, Math.max(1, Math.min(10, 1000 / rate)))
      }
      tick()
    })
    const expected = total * subscribers.length
    await allDelivered(expected, 5_000)
    const cpu = process.cpuUsage(cpuBefore)
    runDeliveries += deliveries
    return {
      rate,
      sent: total,
      deliveries,
      expected,
      latencies: [...latencies].sort((a, b) => a - b),
      cpuMicros: cpu.user + cpu.system,
      bytesOut: nodes.reduce((sum, node) => sum + node.getMetrics().bytesOut, 0) - bytesBefore,
      framesOut: nodes.reduce((sum, node) => sum + node.getMetrics().messagesOut, 0) - framesBefore,
    }
  }

  const describe = (result: RunResult): string => {
    const ratio = result.deliveries / result.expected
    const l = result.latencies
    return (
      `${String(result.rate).padStart(6)} msg/s  delivery ${(ratio * 100).toFixed(2).padStart(6)}%  ` +
      `p50 ${percentile(l, 50).toFixed(2)} p95 ${percentile(l, 95).toFixed(2)} p99 ${percentile(l, 99).toFixed(2)} ` +
      `max ${(l[l.length - 1] ?? NaN).toFixed(2)} ms  ` +
      `CPU/delivery ${(result.cpuMicros / Math.max(1, result.deliveries)).toFixed(1)} µs  ` +
      `wire/delivery ${(result.bytesOut / Math.max(1, result.deliveries)).toFixed(0)} B (${(result.framesOut / Math.max(1, result.deliveries)).toFixed(2)} frames)`
    )
  }

  console.log(
    `\nN=${nodeCount}, ${discovery === 'dht' ? 'trackerless (dht)' : 'tracker'}, relay verification ${verifySignatures ? 'on' : 'off'}: ` +
      `formed ${formed ? 'in' : 'NOT within'} ` +
      `${formMs.toFixed(0)} ms; degree min ${Math.min(...degrees)} mean ${(degrees.reduce((a, b) => a + b, 0) / nodeCount).toFixed(2)} ` +
      `max ${Math.max(...degrees)}; RSS ${(rssPerNode / 1024 / 1024).toFixed(2)} MiB per node; ` +
      `sent while forming ${(formBytes / nodeCount / 1024).toFixed(1)} KiB per node`,
  )
  console.log(`latency at 10 msg/s (10 s):`)
  console.log('  ' + describe(await run(10, 10)))
  let best: RunResult | undefined
  console.log(`rate steps (${STEP_SECONDS} s each), pass = delivery ≥ 99.9% and p99 ≤ 500 ms:`)
  for (const rate of RATES.slice(1)) {
    const result = await run(rate, STEP_SECONDS)
    const pass = result.deliveries / result.expected >= 0.999 && percentile(result.latencies, 99) <= 500
    console.log(`  ${describe(result)}  ${pass ? 'pass' : 'FAIL'}`)
    if (!pass) break
    best = result
    // Let queues drain before the next step.
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  console.log(`highest passing rate: ${best === undefined ? 'none' : `${best.rate} msg/s`}`)
  // Everything the nodes sent from their start (forming, discovery, keep-alives, every step) over every delivery.
  console.log(
    `whole run: ${(totalBytesOut() / 1024).toFixed(0)} KiB sent, ${runDeliveries} deliveries, ` +
      `${(totalBytesOut() / Math.max(1, runDeliveries)).toFixed(0)} B per delivery`,
  )
  await Promise.all(nodes.map((node) => node.stop()))
  await tracker?.stop()
}

if (process.env.BENCH_CHILD === '1') {
  await benchmark(SIZES[0]!, VERIFY_MODES[0]!, DISCOVERY_MODES[0]!)
} else {
  // One process per configuration: RSS and CPU figures then belong to that configuration alone.
  const { spawnSync } = await import('node:child_process')
  for (const discovery of DISCOVERY_MODES) {
    for (const size of SIZES) {
      for (const verify of VERIFY_MODES) {
        const child = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!], {
          stdio: 'inherit',
          env: {
            ...process.env,
            BENCH_CHILD: '1',
            BENCH_NODES: String(size),
            BENCH_VERIFY: verify ? 'on' : 'off',
            BENCH_DISCOVERY: discovery,
          },
        })
        if (child.status !== 0) process.exitCode = 1
      }
    }
  }
}
