// Flood benchmark: stream Y's latency while one publisher floods stream X through the nodes that carry both.
// Real sockets over loopback WebSockets, one tracker. RELAYS nodes join X and Y; Y has a publisher and Y_SUBSCRIBERS
// subscribers of its own (all in this process); X has a flooder whose node keeps no limits, in a child process of
// its own (an attacker's CPU isn't its victims'). Each network is measured twice: Y alone, then Y while X is
// flooded. Once with relay limits on the shared nodes, once without.
// Method and results: docs/benchmarks.md ("Floods"). About two minutes.
//
//   npm run bench:flood -w @runnel/network
//   BENCH_FLOOD_RATE=5000 BENCH_FLOOD_SECONDS=5 npm run bench:flood -w @runnel/network
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { setPriority } from 'node:os'
import { performance } from 'node:perf_hooks'
import {
  ContentType,
  MessageId,
  MessageRef,
  generatePrivateKey,
  signStreamMessage,
  toStreamId,
  toStreamPartId,
  type MessageSigner,
  type StreamMessage,
  type StreamPartId,
} from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import { NetworkNode, TrackerServer, type NetworkNodeOptions } from '../src/index.js'
import { WebSocketTransport } from '../src/node/index.js'

const RELAYS = Number(process.env.BENCH_RELAYS ?? 8)
const Y_SUBSCRIBERS = Number(process.env.BENCH_Y_SUBSCRIBERS ?? 4)
const Y_RATE = Number(process.env.BENCH_Y_RATE ?? 50)
const FLOOD_RATE = Number(process.env.BENCH_FLOOD_RATE ?? 2_500)
const SECONDS = Number(process.env.BENCH_FLOOD_SECONDS ?? 8)
/**
 * What an operator of the shared nodes would set: Y's rate fits, the flood's doesn't. Low, because all the relays
 * here share one process (one core): each message a relay takes costs it a signature check, and eight relays taking
 * 200 msg/s of X would cost this process what eight machines would spend.
 */
const LIMITS: NetworkNodeOptions['relayLimits'] = {
  publisherMessagesPerSecond: Number(process.env.BENCH_PUBLISHER_LIMIT ?? 50),
  streamPartMessagesPerSecond: Number(process.env.BENCH_STREAM_PART_LIMIT ?? 100),
  burstSeconds: 1,
  ...(process.env.BENCH_MAX_EXCESS !== undefined && { maxNeighborExcess: Number(process.env.BENCH_MAX_EXCESS) }),
}

class Chain {
  private sequence = 0
  private previous: MessageRef | undefined
  readonly signer: MessageSigner
  private readonly streamId: ReturnType<typeof toStreamId>
  readonly streamPartId: StreamPartId

  constructor(
    path: string,
    readonly privateKey = generatePrivateKey(),
  ) {
    this.signer = createNativeSigner(privateKey)
    this.streamId = toStreamId(this.signer.address, path)
    this.streamPartId = toStreamPartId(this.streamId, 0)
  }

  async sign(count: number, payloadBytes = 100): Promise<StreamMessage[]> {
    const streamId = this.streamId
    const messages: StreamMessage[] = []
    for (let i = 0; i < count; i++) {
      const ref = new MessageRef(1_700_000_000_000 + this.sequence, 0)
      const content = new Uint8Array(payloadBytes)
      new DataView(content.buffer).setUint32(0, this.sequence++)
      messages.push(
        await signStreamMessage(
          {
            messageId: new MessageId(streamId, 0, ref.timestamp, 0, this.signer.address, 'bench'),
            prevMsgRef: this.previous,
            contentType: ContentType.Binary,
            content,
          },
          this.signer,
        ),
      )
      this.previous = ref
    }
    return messages
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return true
}

/** Sends `messages` at `rate` per second through `send`, on schedule (each tick sends what is due by now). */
function paced(messages: StreamMessage[], rate: number, send: (message: StreamMessage) => void): Promise<void> {
  return new Promise((resolve) => {
    const start = performance.now()
    let sent = 0
    const tick = (): void => {
      const due = Math.min(messages.length, Math.floor(((performance.now() - start) / 1000) * rate) + 1)
      while (sent < due) send(messages[sent++]!)
      if (sent >= messages.length) resolve()
      else setTimeout(tick, Math.max(1, Math.min(10, 1000 / rate)))
    }
    tick()
  })
}

interface Phase {
  latencies: number[]
  /** Latencies of the messages sent more than a second after the phase began (after the limits caught the flood). */
  settled: number[]
  expected: number
  delivered: number
}

interface NetworkResult {
  unflooded: Phase
  flooded: Phase
  xDelivered: number
  rateLimited: number
  floodingDisconnects: number
}

/** Messages between the bench and its flooder process. */
type FlooderMessage =
  | { type: 'start'; trackerAddress: string; privateKey: string; path: string }
  | { type: 'ready' }
  | { type: 'go' }
  | { type: 'done' }

function nextMessage(child: ChildProcess | NodeJS.Process): Promise<FlooderMessage> {
  return once(child, 'message').then(([message]) => message as FlooderMessage)
}

/** The flooder's process: signs the flood, joins X with no limits of its own, floods when told. */
async function runFlooder(): Promise<void> {
  // The attacker's CPU is its own: on a shared machine, it mustn't take the relays' core.
  setPriority(19)
  const start = await nextMessage(process)
  if (start.type !== 'start') throw new Error(`expected start, got ${start.type}`)
  const x = new Chain(start.path, start.privateKey)
  const flood = await x.sign(Math.round(FLOOD_RATE * SECONDS))
  const node = new NetworkNode(
    {
      transport: new WebSocketTransport({ port: 0 }),
      signer: createNativeSigner(generatePrivateKey()),
      verifier: nativeSignatureVerifier,
    },
    { trackers: [start.trackerAddress], relayLimits: false },
  )
  await node.start()
  await node.join(x.streamPartId)
  await until(() => node.getNeighbors(x.streamPartId).length >= 2, 30_000)
  process.send!({ type: 'ready' } satisfies FlooderMessage)
  await nextMessage(process)
  await paced(flood, FLOOD_RATE, (message) => node.broadcast(message))
  process.send!({ type: 'done' } satisfies FlooderMessage)
  await nextMessage(process)
  await node.stop()
  process.exit(0)
}

async function measure(limits: NetworkNodeOptions['relayLimits'], x: Chain, y: Chain): Promise<NetworkResult> {
  const tracker = new TrackerServer({
    transport: new WebSocketTransport({ port: 0 }),
    signer: createNativeSigner(generatePrivateKey()),
    verifier: nativeSignatureVerifier,
  })
  const [trackerAddress] = await tracker.start()
  const start = async (options: NetworkNodeOptions): Promise<NetworkNode> => {
    const node = new NetworkNode(
      {
        transport: new WebSocketTransport({ port: 0 }),
        signer: createNativeSigner(generatePrivateKey()),
        verifier: nativeSignatureVerifier,
      },
      { trackers: [trackerAddress!], ...options },
    )
    await node.start()
    return node
  }
  const relays = await Promise.all(Array.from({ length: RELAYS }, () => start({ relayLimits: limits })))
  for (const relay of relays) {
    await relay.join(x.streamPartId)
    await relay.join(y.streamPartId)
  }
  const yPublisher = await start({ relayLimits: limits })
  const ySubscribers = await Promise.all(Array.from({ length: Y_SUBSCRIBERS }, () => start({ relayLimits: limits })))
  const everyone = [...relays, yPublisher, ...ySubscribers]
  await yPublisher.join(y.streamPartId)
  for (const node of ySubscribers) await node.join(y.streamPartId)
  const flooder = fork(process.argv[1]!, {
    env: { ...process.env, BENCH_FLOOD_CHILD: '1' },
    execArgv: process.execArgv,
  })
  flooder.send({ type: 'start', trackerAddress: trackerAddress!, privateKey: x.privateKey, path: '/flood-x' })
  await nextMessage(flooder)
  await until(
    () =>
      everyone.every((node) => node.getNeighbors(y.streamPartId).length >= 2) &&
      relays.every((node) => node.getNeighbors(x.streamPartId).length >= 2),
    30_000,
  )

  const sentAt = new Map<number, number>()
  let phase: Phase = { latencies: [], settled: [], expected: 0, delivered: 0 }
  let phaseStart = 0
  for (const node of ySubscribers) {
    node.addMessageListener(y.streamPartId, (message) => {
      const index = new DataView(message.content.buffer, message.content.byteOffset).getUint32(0)
      const at = sentAt.get(index)
      if (at === undefined) return
      phase.latencies.push(performance.now() - at)
      if (at - phaseStart > 1_000) phase.settled.push(performance.now() - at)
      phase.delivered++
    })
  }
  let xDelivered = 0
  for (const relay of relays) relay.addMessageListener(x.streamPartId, () => xDelivered++)

  const runY = async (flood: boolean): Promise<Phase> => {
    const yMessages = await y.sign(Math.round(Y_RATE * SECONDS))
    phase = { latencies: [], settled: [], expected: yMessages.length * Y_SUBSCRIBERS, delivered: 0 }
    phaseStart = performance.now()
    let flooding = Promise.resolve()
    if (flood) {
      flooding = nextMessage(flooder).then(() => undefined)
      flooder.send({ type: 'go' } satisfies FlooderMessage)
    }
    await paced(yMessages, Y_RATE, (message) => {
      sentAt.set(new DataView(message.content.buffer, message.content.byteOffset).getUint32(0), performance.now())
      yPublisher.broadcast(message)
    })
    await flooding
    await until(() => phase.delivered >= phase.expected, 10_000)
    return phase
  }

  const unflooded = await runY(false)
  const flooded = await runY(true)
  const rateLimited = everyone.reduce((sum, node) => sum + node.getMetrics().rateLimited, 0)
  const floodingDisconnects = everyone.reduce((sum, node) => sum + (node.getMetrics().disconnects.flooding ?? 0), 0)
  flooder.send({ type: 'go' } satisfies FlooderMessage)
  await once(flooder, 'exit')
  await Promise.all(everyone.map((node) => node.stop()))
  await tracker.stop()
  return { unflooded, flooded, xDelivered, rateLimited, floodingDisconnects }
}

function describe(phase: Phase): string {
  const sorted = [...phase.latencies].sort((a, b) => a - b)
  const delivery = phase.expected === 0 ? NaN : (phase.delivered / phase.expected) * 100
  const settled = [...phase.settled].sort((a, b) => a - b)
  return (
    `p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms ` +
    `(after the first second: p99 ${percentile(settled, 99).toFixed(1)} ms), delivery ${delivery.toFixed(2)}%`
  )
}

function p99(phase: Phase): number {
  return percentile(
    [...phase.latencies].sort((a, b) => a - b),
    99,
  )
}

if (process.env.BENCH_FLOOD_CHILD === '1') {
  await runFlooder()
} else {
  console.log(
    `flood bench: ${RELAYS} relays in X and Y, Y ${Y_RATE} msg/s to ${Y_SUBSCRIBERS} subscribers, ` +
      `X flooded at ${FLOOD_RATE} msg/s for ${SECONDS} s; limits ${JSON.stringify(LIMITS)}`,
  )
  for (const [label, limits] of [
    ['relay limits on', LIMITS],
    ['relay limits off', false],
  ] as const) {
    const result = await measure(limits, new Chain('/flood-x'), new Chain('/flood-y'))
    console.log(`${label}:`)
    console.log(`  Y unflooded: ${describe(result.unflooded)}`)
    console.log(`  Y flooded:   ${describe(result.flooded)}`)
    console.log(
      `  Y p99 flooded / unflooded: ${(p99(result.flooded) / p99(result.unflooded)).toFixed(2)}×; ` +
        `X messages delivered at the relays ${result.xDelivered} of ${RELAYS * Math.round(FLOOD_RATE * SECONDS)}, ` +
        `dropped over limits ${result.rateLimited}, flooding disconnects ${result.floodingDisconnects}`,
    )
  }
  process.exit(0)
}
