// End-to-end encryption costs: AES-256-GCM with a GroupKey (one call at a
// time, and 64 in flight, since Web Crypto is asynchronous), the key
// exchange's ECIES sealing, publishing to an encrypted stream against a plain
// one through the SDK, and how long a new subscriber of a busy encrypted
// stream waits for its first message. Run with `npm run bench`; figures go in
// docs/benchmarks.md ("Encryption").
import { createCipheriv, randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { TrackerServer } from '@runnel/network'
import { WebSocketTransport } from '@runnel/network/node'
import { MessageType, encodeJsonContent, generatePrivateKey } from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import { startDevChain } from '@runnel/dev-chain'
import { privateKeyToAccount } from 'viem/accounts'
import { GroupKey, MemoryKeyStore, type GroupKeyStore, type RunnelClient } from '../src/index.js'
import { generateExchangeKeyPair, openGroupKey, sealGroupKey } from '../src/encryption/keyExchange.js'
import { createRunnelClient } from '../src/node/index.js'

const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 500)
const WARMUP_MS = 200
const PIPELINE = 64
const BURST = Number(process.env.BENCH_BURST ?? 5_000)
const NEWCOMERS = Number(process.env.BENCH_SUBSCRIBERS ?? 10)
const PUBLISH_INTERVAL_MS = 20
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)

const format = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })

function table(headers: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`
  const rule = headers.map((_, i) => (i === 0 ? '---' : '---:'))
  return [line(headers), line(rule), ...rows.map(line)].join('\n')
}

/** Completed operations per second with `concurrency` of them in flight, over TIME_MS after a warm-up. */
async function throughput(concurrency: number, operation: () => Promise<unknown>): Promise<number> {
  const run = async (ms: number): Promise<number> => {
    const end = performance.now() + ms
    let done = 0
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          await operation()
          done++
        }
      }),
    )
    return done
  }
  await run(WARMUP_MS)
  const start = performance.now()
  const done = await run(TIME_MS)
  return done / ((performance.now() - start) / 1000)
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/**
 * Runs each measurement ROUNDS times, the rounds interleaved so that a burst
 * of load elsewhere on the machine hits every measurement alike; the median
 * round counts.
 */
async function rounds(measurements: (() => Promise<number>)[]): Promise<number[]> {
  const results = measurements.map((): number[] => [])
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, measure] of measurements.entries()) results[i]!.push(await measure())
  }
  return results.map(median)
}

// ---- 1. GroupKey: AES-256-GCM ----

const key = GroupKey.generate()
const pair = await generateExchangeKeyPair()
const sealedKey = await sealGroupKey(pair.publicKey, key)
const operations: [string, () => Promise<unknown>][] = []
for (const size of [100, 1024]) {
  const plaintext = globalThis.crypto.getRandomValues(new Uint8Array(size))
  const sealed = await key.encrypt(plaintext)
  const label = size === 1024 ? '1 KB' : `${size} B`
  operations.push([`encrypt, ${label}`, () => key.encrypt(plaintext)], [`decrypt, ${label}`, () => key.decrypt(sealed)])
}
// The key exchange's crypto, once per request: the publisher seals (ephemeral ECDH + HKDF + AES); the subscriber
// makes a one-off key pair for its request and opens the answer.
operations.push(
  ['seal a group key (publisher, per request)', () => sealGroupKey(pair.publicKey, key)],
  [
    'key pair + open (subscriber, per request)',
    () => generateExchangeKeyPair().then(() => openGroupKey(pair, key.id, sealedKey)),
  ],
)
// For comparison: the same AES-256-GCM through node:crypto, synchronously (no thread-pool round trip per call).
const plaintext100 = globalThis.crypto.getRandomValues(new Uint8Array(100))
operations.push([
  'reference: node:crypto encrypt, 100 B, synchronous',
  () => {
    const cipher = createCipheriv('aes-256-gcm', key.bytes, randomBytes(12))
    cipher.update(plaintext100)
    cipher.final()
    cipher.getAuthTag()
    return Promise.resolve()
  },
])
const cryptoFigures = await rounds(
  operations.flatMap(([, operation]) => [() => throughput(1, operation), () => throughput(PIPELINE, operation)]),
)
const cryptoRows = operations.map(([name], i) => {
  const sequential = cryptoFigures[2 * i]!
  return [name, format(sequential), format(1e6 / sequential, 1), format(cryptoFigures[2 * i + 1]!)]
})

// ---- Network: a dev chain, a tracker, a publisher and a subscriber ----

const dev = await startDevChain()
const tracker = new TrackerServer({
  transport: new WebSocketTransport({ port: 0 }),
  signer: createNativeSigner(generatePrivateKey()),
  verifier: nativeSignatureVerifier,
})
const trackers = await tracker.start()
const clientFor = (privateKey: string, keyStore?: GroupKeyStore, joinTimeoutMs?: number): RunnelClient =>
  createRunnelClient(
    {
      auth: { privateKey },
      network: { trackers },
      ...(joinTimeoutMs !== undefined && { joinTimeoutMs }),
      chain: { provider: dev.chain.provider, contracts: dev.deployment, fromBlock: dev.deployment.deployBlock },
    },
    keyStore === undefined ? {} : { keyStore },
  )
const publisher = clientFor(dev.chain.accountKeys[1]!)
const subscriber = clientFor(dev.chain.accountKeys[2]!)
// Alone in its stream parts: its first publish needn't wait long for a neighbour that never comes.
const soloPublisher = clientFor(dev.chain.accountKeys[3]!, undefined, 200)

// ---- 2. The publish path: plain (public stream) vs encrypted ----

// 100 bytes of JSON, like the protocol bench's message.
const payload = (i: number): unknown => ({ sensor: 'greenhouse-1', celsius: 21.5, humidity: 0.43, i, note: '' })
const padding = 100 - encodeJsonContent(payload(0)).length
const content = (i: number): unknown => ({ ...(payload(i) as object), note: 'x'.repeat(padding) })

/**
 * Sets up a stream of that kind, with the subscriber on it or with nobody
 * else in the stream part (`alone`: the publisher's own cost, without a
 * subscriber in the same process competing for the event loop), and returns
 * a function that measures one burst: publish msgs/s, and delivered msgs/s.
 */
async function publishPath(
  kind: 'plain' | 'encrypted',
  alone: boolean,
): Promise<() => Promise<[number, number | undefined]>> {
  const from = alone ? soloPublisher : publisher
  const { id } = await from.createStream(`/bench/${kind}${alone ? '-alone' : ''}`)
  if (kind === 'plain') await from.grantPermissions(id, 'public', 'subscribe')
  else if (!alone) await from.grantPermissions(id, subscriber.address, 'subscribe')
  let received = 0
  let target = Infinity
  let onTarget: (() => void) | undefined
  if (!alone) {
    await subscriber.subscribe(id, () => {
      if (++received >= target) onTarget?.()
    })
  }
  const allReceived = (count: number): Promise<void> =>
    new Promise((resolve) => {
      target = count
      onTarget = resolve
      if (alone || received >= count) resolve()
    })
  // Warm up: joins, permission caches and (encrypted) the subscriber's key exchange stay out of the timed part.
  for (let i = 0; i < 100; i++) await from.publish(id, content(i))
  await allReceived(100)
  return async () => {
    received = 0
    const start = performance.now()
    for (let i = 0; i < BURST; i++) await from.publish(id, content(i))
    const publishSeconds = (performance.now() - start) / 1000
    if (alone) return [BURST / publishSeconds, undefined]
    await allReceived(BURST)
    return [BURST / publishSeconds, BURST / ((performance.now() - start) / 1000)]
  }
}
const setups = [
  ['plain, subscriber in the same process', await publishPath('plain', false)],
  ['encrypted, subscriber in the same process', await publishPath('encrypted', false)],
  ['plain, publisher alone', await publishPath('plain', true)],
  ['encrypted, publisher alone', await publishPath('encrypted', true)],
] as const
const bursts = setups.map((): [number, number | undefined][] => [])
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, [, measure]] of setups.entries()) bursts[i]!.push(await measure())
}
const publishRows = setups.map(([name], i) => {
  const delivered = bursts[i]!.map(([, rate]) => rate).filter((rate) => rate !== undefined)
  return [
    name,
    format(median(bursts[i]!.map(([rate]) => rate))),
    delivered.length === 0 ? '–' : format(median(delivered)),
  ]
})
await Promise.all([subscriber.destroy(), soloPublisher.destroy()])

// ---- 3. A new subscriber of a busy encrypted stream ----

const { id: busy } = await publisher.createStream('/bench/busy')
const newcomerKeys = Array.from({ length: NEWCOMERS }, () => generatePrivateKey())
for (const privateKey of newcomerKeys) {
  await publisher.grantPermissions(busy, privateKeyToAccount(privateKey as `0x${string}`).address, 'subscribe')
}
let publishing = true
const publishLoop = (async () => {
  for (let i = 0; publishing; i++) {
    await publisher.publish(busy, content(i))
    await new Promise((resolve) => setTimeout(resolve, PUBLISH_INTERVAL_MS))
  }
})()
// Longer than the network's propagation window (10 s): newcomers then get replayed messages from the middle of the
// chain, as from any long-running publisher, not the chain's first message.
await new Promise((resolve) => setTimeout(resolve, 11_000))

interface Timeline {
  /** subscribe() resolved. */
  subscribed: number
  /** The first encrypted message reached the encryption layer (a key store miss). */
  firstEncrypted: number
  requestSent: number
  keyStored: number
  firstDelivered: number
  /** How old the first delivered message was: neighbours replay what they sent in the last propagation window. */
  firstAge: number
}

/** Times every step for one new subscriber, relative to its subscribe() call. */
async function newcomer(privateKey: string): Promise<Timeline> {
  const times: Partial<Record<keyof Timeline, number>> = {}
  let t0 = 0
  const mark = (step: keyof Timeline): void => {
    times[step] ??= performance.now() - t0
  }
  const memory = new MemoryKeyStore()
  const keyStore: GroupKeyStore = {
    async get(publisherId, keyId) {
      const found = await memory.get(publisherId, keyId)
      if (found === undefined) mark('firstEncrypted')
      return found
    },
    async add(publisherId, groupKey) {
      await memory.add(publisherId, groupKey)
      mark('keyStored')
    },
  }
  const client = clientFor(privateKey, keyStore)
  const node = client.networkNode
  const broadcast = node.broadcast.bind(node)
  node.broadcast = (message) => {
    if (message.messageType === MessageType.GroupKeyRequest) mark('requestSent')
    broadcast(message)
  }
  let delivered: () => void = () => {}
  const first = new Promise<void>((resolve) => (delivered = resolve))
  const errors: Error[] = []
  client.on('error', (err) => errors.push(err))
  t0 = performance.now()
  await client.subscribe(busy, (message) => {
    mark('firstDelivered')
    times.firstAge ??= Date.now() - message.timestamp
    delivered()
  })
  mark('subscribed')
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`no message after 30 s: ${errors.map(String).join('; ')}`)), 30_000).unref(),
  )
  await Promise.race([first, timeout])
  await client.destroy()
  for (const step of [
    'subscribed',
    'firstEncrypted',
    'requestSent',
    'keyStored',
    'firstDelivered',
    'firstAge',
  ] as const) {
    if (times[step] === undefined) throw new Error(`step ${step} never happened`)
  }
  return times as Timeline
}

const timelines: Timeline[] = []
for (const privateKey of newcomerKeys) timelines.push(await newcomer(privateKey))
publishing = false
await publishLoop

const stat = (values: number[]): string[] => [format(median(values), 1), format(Math.max(...values), 1)]
const steps: [string, (t: Timeline) => number][] = [
  ['`subscribe()` call → resolved', (t) => t.subscribed],
  ['`subscribe()` call → first encrypted message at the client', (t) => t.firstEncrypted],
  ['key exchange round trip (request sent → key stored)', (t) => t.keyStored - t.requestSent],
  ['`subscribe()` call → key stored (the first message decryptable)', (t) => t.keyStored],
  ['key stored → first message delivered', (t) => t.firstDelivered - t.keyStored],
  ['**`subscribe()` call → first decrypted message delivered**', (t) => t.firstDelivered],
  ['age of that first message (published → delivered)', (t) => t.firstAge],
]

await publisher.destroy()
await tracker.stop()
await dev.stop()

console.log(`\nGroupKey (AES-256-GCM) and key-exchange crypto; ${PIPELINE} in flight for "pipelined"\n`)
console.log(table(['operation', 'sequential ops/s', 'µs per op', `${PIPELINE} in flight ops/s`], cryptoRows))
console.log(`\nPublish path through the SDK: ${format(BURST)} 100-byte JSON messages, each publish() awaited\n`)
console.log(table(['stream', 'publish msgs/s', 'delivered end to end msgs/s'], publishRows))
console.log(
  `\nA new subscriber of an encrypted stream published to every ${PUBLISH_INTERVAL_MS} ms: ${timelines.length} subscribers, ms\n`,
)
console.log(
  table(
    ['step', 'median ms', 'max ms'],
    steps.map(([name, pick]) => [name, ...stat(timelines.map(pick))]),
  ),
)
