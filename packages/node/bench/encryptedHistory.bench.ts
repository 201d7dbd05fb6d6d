// Encrypted history once its publisher is gone (issue 13), with the client's default key exchange settings
// (keyRequestTimeoutMs 5 s, keyRequestAttempts 3). A dev chain, a tracker and a storage node (SQLite) in this
// process, and SDK clients in it too. A publisher stores 480 messages under four keys (a rekey every 120, so each key
// needs a key exchange), as in the report. Measured:
//
// - a newly granted subscriber's subscribe({ resend }) until all 480 are delivered: with the publisher online, then
//   with the publisher destroyed and a subscriber that read them live (and so holds the keys) online;
// - with the publisher destroyed and nobody holding the keys: the latency of live messages another (online)
//   publisher sends meanwhile, and when each key is given up on.
//
// Environment: BENCH_READERS (new subscribers per case, default 3).
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { KeyUnavailableError, type RunnelClient } from '@runnel/client'
import { createRunnelClient } from '@runnel/client/node'
import { generatePrivateKey } from '@runnel/protocol'
import { RunnelNode } from '../src/index.js'
import { startChainAndTracker } from './setup.js'

const READERS = Number(process.env.BENCH_READERS ?? 3)
const KEYS = 4
const PER_KEY = 120
const MESSAGES = KEYS * PER_KEY
const ACCOUNT = { owner: 1, node: 2 } as const
const LIVE_INTERVAL_MS = 100

const cpu = cpus()
console.log(
  `machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node.js ${process.version}`,
)

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

const stops: (() => Promise<unknown>)[] = []
try {
  const directory = await mkdtemp(join(tmpdir(), 'runnel-encrypted-history-bench-'))
  stops.push(() => rm(directory, { recursive: true, force: true }))
  const { dev, trackers } = await startChainAndTracker('/bench/unused', ACCOUNT.owner, stops)
  const owner = dev.registryFor(ACCOUNT.owner)
  const contracts = {
    streamRegistry: dev.deployment.streamRegistry,
    storageNodeRegistry: dev.deployment.storageNodeRegistry,
  }
  const node = new RunnelNode({
    privateKey: dev.chain.accountKeys[ACCOUNT.node],
    network: { trackers, listen: { host: '127.0.0.1', port: 0 } },
    chain: { rpcUrl: dev.chain.rpcUrl!, contracts },
    plugins: { http: { host: '127.0.0.1', port: 0 }, storage: { sqlite: { path: join(directory, 'storage.db') } } },
    log: { level: 'silent' },
  })
  stops.push(() => node.stop())
  const { endpoints } = await node.start()

  const newClient = (): RunnelClient => {
    const client = createRunnelClient({
      auth: { privateKey: generatePrivateKey() },
      chain: { rpcUrl: dev.chain.rpcUrl!, contracts },
      network: { trackers },
    })
    stops.push(() => client.destroy())
    return client
  }
  const storedCount = async (streamId: string): Promise<number> => {
    const url = `${endpoints.storage!}/streams/${encodeURIComponent(streamId)}/data/partitions/0/last?count=10000`
    return (await (await fetch(url)).text()).split('\n').filter((line) => line.length > 0).length
  }

  /** A private stored stream; `holder` (if any) subscribes before the publisher stores its messages. */
  const prepare = async (
    path: string,
    holder: RunnelClient | undefined,
    ...publishers: RunnelClient[]
  ): Promise<{ streamId: string; publisher: RunnelClient }> => {
    const { id } = await owner.createStream(path)
    for (const publisher of publishers) await owner.grantPermission(id, publisher.address, 'publish')
    await owner.addStorageNode(id, node.client.address)
    await waitUntil(() => node.storage!.storedStreams.includes(id), 'the assignment')
    let held = 0
    if (holder !== undefined) {
      await owner.grantPermission(id, holder.address, 'subscribe')
      await holder.subscribe(id, () => held++)
    }
    const publisher = publishers[0]!
    for (let key = 0; key < KEYS; key++) {
      if (key > 0) await publisher.updateEncryptionKey({ streamId: id, distributionMethod: 'rekey' })
      for (let i = 0; i < PER_KEY; i++) await publisher.publish(id, { key, i })
    }
    let stored = 0
    await waitUntil(() => {
      void storedCount(id).then((count) => (stored = count))
      return stored === MESSAGES && (holder === undefined || held === MESSAGES)
    }, 'everything stored (and read by the holder)')
    return { streamId: id, publisher }
  }

  /** A new subscriber's subscribe({ resend }) until every stored message is delivered, in ms. */
  const readAll = async (streamId: string): Promise<number> => {
    const reader = newClient()
    await owner.grantPermission(streamId, reader.address, 'subscribe')
    await reader.connect()
    const errors: Error[] = []
    reader.on('error', (err) => errors.push(err))
    let received = 0
    const started = performance.now()
    await reader.subscribe(streamId, () => received++, { resend: { last: MESSAGES } })
    await waitUntil(() => received === MESSAGES || errors.length > 0, `${MESSAGES} messages`)
    if (errors.length > 0) throw new Error(`the reader failed: ${errors.join('; ')}`)
    const ms = performance.now() - started
    await reader.destroy()
    return ms
  }

  const rows: string[] = []
  const publisherOnline = await prepare('/bench/held-keys', newClient(), newClient())
  const online: number[] = []
  for (let r = 0; r < READERS; r++) online.push(await readAll(publisherOnline.streamId))
  rows.push(`| publisher online | ${median(online).toFixed(0)} | ${Math.max(...online).toFixed(0)} |`)
  await publisherOnline.publisher.destroy()
  const throughHolder: number[] = []
  for (let r = 0; r < READERS; r++) throughHolder.push(await readAll(publisherOnline.streamId))
  rows.push(
    `| publisher destroyed, a holder online | ${median(throughHolder).toFixed(0)} | ${Math.max(...throughHolder).toFixed(0)} |`,
  )
  console.log(
    `\n${MESSAGES} stored messages under ${KEYS} keys, a new subscriber's subscribe({ resend }), ${READERS} each\n`,
  )
  console.log('| case | median ms | max ms |\n| --- | ---: | ---: |\n' + rows.join('\n'))

  // Nobody holds the keys: live messages of another publisher during the undecryptable history.
  const live = newClient()
  const stuck = await prepare('/bench/stuck', undefined, newClient(), live)
  await stuck.publisher.destroy()
  const reader = newClient()
  await owner.grantPermission(stuck.streamId, reader.address, 'subscribe')
  await reader.connect()
  const started = performance.now()
  const failures: number[] = []
  reader.on('error', (err) => {
    if (err instanceof KeyUnavailableError) failures.push(performance.now() - started)
  })
  const latencies: number[] = []
  await reader.subscribe(
    stuck.streamId,
    (message) => {
      const { sentAt } = message.content as { sentAt?: number }
      if (sentAt !== undefined) latencies.push(performance.now() - sentAt)
    },
    { resend: { last: MESSAGES } },
  )
  let sent = 0
  const sender = setInterval(() => {
    sent++
    live.publish(stuck.streamId, { sentAt: performance.now() }).catch(() => undefined)
  }, LIVE_INTERVAL_MS)
  await waitUntil(() => failures.length === KEYS, `${KEYS} key failures`)
  clearInterval(sender)
  await waitUntil(() => latencies.length === sent, 'the last live messages', 10_000)
  const sorted = [...latencies].sort((a, b) => a - b)
  console.log(
    `\nundecryptable history (publisher destroyed, no holder), live messages every ${LIVE_INTERVAL_MS} ms from another publisher meanwhile\n`,
  )
  console.log('| measure | value |\n| --- | ---: |')
  console.log(`| live messages delivered | ${latencies.length} of ${sent} |`)
  console.log(
    `| live latency p50 / p99 / max, ms | ${median(sorted).toFixed(1)} / ${sorted[Math.floor(sorted.length * 0.99)]!.toFixed(1)} / ${sorted.at(-1)!.toFixed(1)} |`,
  )
  console.log(`| each key given up on after, s | ${failures.map((ms) => (ms / 1000).toFixed(1)).join(', ')} |`)
} finally {
  for (const stop of stops.reverse()) await stop()
}
