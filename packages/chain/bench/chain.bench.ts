// Permission look-ups per second, straight from the chain and through the
// cache, on the embedded chain: in-process (EIP-1193) and over HTTP on
// 127.0.0.1 (what a node talking to a local RPC endpoint sees).
import { performance } from 'node:perf_hooks'
import { createPublicClient, http, type Address } from 'viem'
import { PermissionCache, PUBLIC, RunnelRegistry } from '../src/index.js'
import { startDevChain } from '@runnel/dev-chain'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2)

async function rate(name: string, lookup: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + SECONDS * 1000
  let count = 0
  const start = performance.now()
  while (performance.now() < deadline) {
    // 16 look-ups in flight, as when many messages from different publishers are checked at once.
    await Promise.all(Array.from({ length: 16 }, lookup))
    count += 16
  }
  const perSecond = count / ((performance.now() - start) / 1000)
  console.log(`${name.padEnd(44)} ${Math.round(perSecond).toLocaleString('en-US').padStart(12)} look-ups/s`)
}

const started = performance.now()
const dev = await startDevChain({ port: 0 })
console.log(`dev chain with contracts ready in ${(performance.now() - started).toFixed(0)} ms`)
const owner = dev.registryFor(1)
const { id } = await owner.createStream('/bench/permissions')
await owner.grantPermission(id, PUBLIC, 'subscribe')
const publisher: Address = dev.registryFor(2).account
await owner.grantPermission(id, publisher, 'publish')

const overHttp = new RunnelRegistry({
  publicClient: createPublicClient({ transport: http(dev.chain.rpcUrl) }),
  addresses: dev.deployment,
})
for (const [label, registry] of [
  ['in-process', owner],
  ['HTTP 127.0.0.1', overHttp],
] as const) {
  await rate(`hasPermission, chain call (${label})`, () => registry.hasPermission(id, publisher, 'publish'))
  const cache = new PermissionCache(registry, { ttlMs: 60_000 })
  await rate(`hasPermission, cached (${label})`, () => cache.hasPermission(id, publisher, 'publish'))
  console.log(`  cache: ${cache.stats.hits.toLocaleString('en-US')} hits, ${cache.stats.misses} misses`)
}
await dev.stop()
