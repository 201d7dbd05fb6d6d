// Through the SDK, signing and validation included: publish rate, and
// publish → deliver latency between two clients in one process over
// WebSockets on 127.0.0.1, with the embedded chain in-process.
import { performance } from 'node:perf_hooks'
import { TrackerServer } from '@runnel/network'
import { WebSocketTransport } from '@runnel/network/node'
import { generatePrivateKey } from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import { startDevChain } from '@runnel/dev-chain'
import { createRunnelClient } from '../src/node/index.js'

const BURST = Number(process.env.BENCH_BURST ?? 5_000)
const RATE = 100
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)

const dev = await startDevChain()
const tracker = new TrackerServer({
  transport: new WebSocketTransport({ port: 0 }),
  signer: createNativeSigner(generatePrivateKey()),
  verifier: nativeSignatureVerifier,
})
const trackers = await tracker.start()
const clientFor = (index: number): ReturnType<typeof createRunnelClient> =>
  createRunnelClient({
    auth: { privateKey: dev.chain.accountKeys[index]! },
    network: { trackers },
    chain: { provider: dev.chain.provider, contracts: dev.deployment, fromBlock: dev.deployment.deployBlock },
  })
const publisher = clientFor(1)
const subscriber = clientFor(2)
const { id } = await publisher.createStream('/bench/client')
await publisher.grantPermissions(id, 'public', 'subscribe')

let received = 0
let latencies: number[] = []
let onTarget: (() => void) | undefined
let target = Infinity
await subscriber.subscribe(id, (message) => {
  latencies.push(performance.now() - (message.content as { at: number }).at)
  if (++received >= target) onTarget?.()
})
const allReceived = (count: number): Promise<void> =>
  new Promise((resolve) => {
    target = count
    onTarget = resolve
    if (received >= count) resolve()
  })

// 1. Publish as fast as the SDK allows (each publish awaited: sign, permission check from cache, send).
received = 0
const start = performance.now()
for (let i = 0; i < BURST; i++) await publisher.publish(id, { at: performance.now(), i })
const publishSeconds = (performance.now() - start) / 1000
await allReceived(BURST)
const deliverSeconds = (performance.now() - start) / 1000
console.log(
  `publish: ${Math.round(BURST / publishSeconds).toLocaleString('en-US')} msgs/s (${BURST} messages, awaited one by one)`,
)
console.log(
  `delivered all ${BURST} to the subscriber in ${deliverSeconds.toFixed(2)} s (${Math.round(BURST / deliverSeconds).toLocaleString('en-US')} msgs/s end to end)`,
)

// 2. Latency at a steady rate.
received = 0
latencies = []
const steady = RATE * SECONDS
const begin = performance.now()
for (let i = 0; i < steady; i++) {
  const due = begin + (i * 1000) / RATE
  const wait = due - performance.now()
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
  await publisher.publish(id, { at: performance.now(), i })
}
await allReceived(steady)
const sorted = [...latencies].sort((a, b) => a - b)
const pick = (p: number): string =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!.toFixed(2)
console.log(
  `latency at ${RATE} msgs/s, publish() call → subscriber callback: p50 ${pick(50)} p95 ${pick(95)} p99 ${pick(99)} max ${sorted[sorted.length - 1]!.toFixed(2)} ms`,
)

await Promise.all([publisher.destroy(), subscriber.destroy()])
await tracker.stop()
await dev.stop()
