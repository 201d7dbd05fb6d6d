// Catch-up speed: how fast a storage node that was away recovers, from another
// storage node of the stream, the messages it missed. Two RunnelNodes with the
// storage plugin (SQLite), on a dev chain and a tracker in this process: the
// peer, in a process of its own (nodeProcess.ts), holds N messages of one
// publisher chain, all really signed; the returning node, in this process,
// holds only the first. A live message that follows the N-th
// reveals the hole (what happens when a returning node stores its first live
// message), and the returning node fetches the range from its peer as binary
// frames, checks every message (decode, range, signature, the publisher's
// permission) and writes it to its SQLite file in batches of 1,000. Timed from
// the hole's detection (grace 0) until the last message is committed. Then the
// same N through one anti-entropy round, into a third, empty node.
// The returning node checks signatures on its worker threads (repair.workers,
// default the CPUs, up to 4), which load when the hole is seen: their start is
// in the time. Environment: BENCH_REPAIR_MESSAGES (default
// 100000), BENCH_REPAIR_WORKERS.
import { fork } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  ContentType,
  MessageId,
  MessageRef,
  encodeJsonContent,
  signStreamMessage,
  type MessageSigner,
  type StreamMessage,
} from '@runnel/protocol'
import { createNativeSigner } from '@runnel/protocol/native'
import { RunnelNode, type NodeConfigInput } from '../src/index.js'
import { SqliteMessageStore } from '../src/storage/index.js'
import type { NodeProcessCommand, NodeProcessReport } from './nodeProcess.js'
import { startChainAndTracker } from './setup.js'

const MESSAGES = Number(process.env.BENCH_REPAIR_MESSAGES ?? 100_000)
const ACCOUNT = { owner: 1, peer: 2, returning: 3, fresh: 4, publisher: 5 } as const
const PER_MS = 4
/** The chain ends ten minutes ago: inside the anti-entropy window, outside its settle time. */
const T0 = Date.now() - 600_000 - Math.ceil(MESSAGES / PER_MS)
const CHAIN_ID = 'bench-chain'
const PADDING = 'x'.repeat(80)

const refOf = (i: number) => ({ timestamp: T0 + Math.floor(i / PER_MS), sequenceNumber: i % PER_MS })

function message(streamId: string, i: number, signer: MessageSigner): Promise<StreamMessage> {
  const { timestamp, sequenceNumber } = refOf(i)
  const previous = i === 0 ? undefined : refOf(i - 1)
  return signStreamMessage(
    {
      messageId: new MessageId(streamId, 0, timestamp, sequenceNumber, signer.address, CHAIN_ID),
      prevMsgRef: previous === undefined ? undefined : new MessageRef(previous.timestamp, previous.sequenceNumber),
      contentType: ContentType.Json,
      content: encodeJsonContent({ i, temperature: 21.5, padding: PADDING }),
    },
    signer,
  )
}

async function fill(path: string, messages: readonly StreamMessage[]): Promise<void> {
  const store = await SqliteMessageStore.open(path)
  try {
    for (let i = 0; i < messages.length; i += 5_000) await store.write(messages.slice(i, i + 5_000))
  } finally {
    await store.close()
  }
}

async function counter(node: RunnelNode, name: string): Promise<number> {
  const metric = node.metrics.registry.getSingleMetric(name)
  if (metric === undefined) return 0
  return (await metric.get()).values.reduce((sum, value) => sum + value.value, 0)
}

async function waitForRepaired(node: RunnelNode, count: number, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while ((await counter(node, 'runnel_storage_repair_messages_total')) < count) {
    if (Date.now() > deadline)
      throw new Error(`timed out: ${await counter(node, 'runnel_storage_repair_messages_total')} of ${count} repaired`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Starts the peer in a process of its own; returns its history URL. */
async function startPeer(config: NodeConfigInput, stops: (() => Promise<unknown>)[]): Promise<string> {
  const child = fork(fileURLToPath(new URL('./nodeProcess.ts', import.meta.url)), {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  stops.unshift(async () => {
    if (child.connected) child.send({ type: 'stop' } satisfies NodeProcessCommand)
    await exited
  })
  const report = await new Promise<NodeProcessReport>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the peer's process exited (code ${String(code)})`)))
    child.once('message', resolve)
    child.send({ type: 'start', config } satisfies NodeProcessCommand)
  })
  if (report.type !== 'started') throw new Error(`the peer failed to start: ${report.message}`)
  return report.endpoints.storage!
}

async function main(): Promise<void> {
  const stops: (() => Promise<unknown>)[] = []
  const directory = await mkdtemp(join(tmpdir(), 'runnel-repair-bench-'))
  stops.push(() => rm(directory, { recursive: true, force: true }))
  try {
    const { dev, trackers, streamId } = await startChainAndTracker('/bench/repair', ACCOUNT.owner, stops)
    const signer = createNativeSigner(dev.chain.accountKeys[ACCOUNT.publisher]!)
    let started = performance.now()
    const messages: StreamMessage[] = []
    for (let i = 0; i <= MESSAGES; i++) messages.push(await message(streamId, i, signer))
    const live = messages.pop()!
    await fill(join(directory, 'peer.db'), messages)
    await fill(join(directory, 'returning.db'), messages.slice(0, 1))
    console.log(
      `signed and stored ${MESSAGES.toLocaleString('en-US')} messages in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    )

    const config = (account: number, file: string): NodeConfigInput => ({
      privateKey: dev.chain.accountKeys[account]!,
      network: { trackers },
      chain: {
        rpcUrl: dev.chain.rpcUrl!,
        contracts: {
          streamRegistry: dev.deployment.streamRegistry,
          storageNodeRegistry: dev.deployment.storageNodeRegistry,
        },
      },
      log: { level: (process.env.BENCH_LOG_LEVEL ?? 'warn') as 'warn' },
      plugins: {
        http: { host: '127.0.0.1', port: 0 },
        storage: {
          sqlite: { path: join(directory, file) },
          repair: {
            intervalMs: 0,
            holeGraceMs: 0,
            ...(process.env.BENCH_REPAIR_WORKERS !== undefined && {
              workers: Number(process.env.BENCH_REPAIR_WORKERS),
            }),
          },
        },
      },
    })
    const owner = dev.registryFor(ACCOUNT.owner)
    const peerUrl = await startPeer(config(ACCOUNT.peer, 'peer.db'), stops)
    await owner.addStorageNode(streamId, dev.registryFor(ACCOUNT.peer).account)
    const returning = new RunnelNode(config(ACCOUNT.returning, 'returning.db'))
    await returning.start()
    stops.unshift(() => returning.stop())
    await owner.addStorageNode(streamId, returning.client.address)
    while (!returning.storage!.storedStreams.includes(streamId)) await new Promise((resolve) => setTimeout(resolve, 10))
    const partitionUrl = `${peerUrl}/streams/${encodeURIComponent(streamId)}/data/partitions/0`
    while ((await fetch(`${partitionUrl}/last?count=0`)).status !== 200) {
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    const repair = returning.storage!.repair!

    // Hole fill: the live message's prevMsgRef is message N-1; the node holds message 0.
    started = performance.now()
    const cpuBefore = process.cpuUsage()
    repair.observe(live)
    await waitForRepaired(returning, MESSAGES - 1)
    const holeSeconds = (performance.now() - started) / 1000
    const cpu = process.cpuUsage(cpuBefore)
    const cpuPerMessage = (cpu.user + cpu.system) / (MESSAGES - 1)
    const holeRate = Math.round((MESSAGES - 1) / holeSeconds)

    // Anti-entropy: a third node, assigned with nothing stored, compares and copies in one round.
    const fresh = new RunnelNode(config(ACCOUNT.fresh, 'fresh.db'))
    await fresh.start()
    stops.unshift(() => fresh.stop())
    await owner.addStorageNode(streamId, fresh.client.address)
    while (!fresh.storage!.storedStreams.includes(streamId)) await new Promise((resolve) => setTimeout(resolve, 10))
    started = performance.now()
    const round = await fresh.storage!.repair!.runRound()
    const roundSeconds = (performance.now() - started) / 1000
    const roundRepaired = await counter(fresh, 'runnel_storage_repair_messages_total')

    console.log(
      `\nload average ${loadavg()
        .map((load) => load.toFixed(1))
        .join(
          ', ',
        )}; ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node.js ${process.version}\n`,
    )
    console.log('| catch-up from one peer (SQLite) | messages | time | msgs/s |')
    console.log('| --- | ---: | ---: | ---: |')
    console.log(
      `| hole fill (a returning node) | ${(MESSAGES - 1).toLocaleString('en-US')} | ${holeSeconds.toFixed(2)} s | ${holeRate.toLocaleString('en-US')} |`,
    )
    console.log(
      `| one anti-entropy round (an empty node; ${round.bucketsCompared} buckets compared, ${round.bucketsDiffering} differing) | ${roundRepaired.toLocaleString('en-US')} | ${roundSeconds.toFixed(2)} s | ${Math.round(roundRepaired / roundSeconds).toLocaleString('en-US')} |`,
    )
    console.log(
      `\nhole fill: ${cpuPerMessage.toFixed(1)} µs of CPU per message in the returning node's process (all threads)`,
    )
  } finally {
    for (const stop of stops) await stop().catch((err: unknown) => console.error(err))
  }
}

await main()
