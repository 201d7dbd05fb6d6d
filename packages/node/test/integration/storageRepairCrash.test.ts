// Two storage nodes of one stream; one is a real daemon (`runnel node
// --config`, SQLite) killed with SIGKILL while a publisher keeps publishing,
// and started again on the same file. The other (in this process, PostgreSQL
// when reachable) stays up. Afterwards both hold exactly the same messages,
// with no break in the publisher's chain, through storage-to-storage repair:
// more is published while the daemon is down than the publisher's network
// node keeps to re-offer a returning peer, and the daemon's metrics show what
// hole fill brought in.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import pg from 'pg'
import type { RunnelClient } from '@runnel/client'
import { addressFromPrivateKey } from '@runnel/protocol'
import type { NodeConfigInput, RunnelNode } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'
import { freePort, startDaemon, type Daemon } from '../support/daemon.js'
import { chainBreaks, heldMessages, idsOf } from '../support/history.js'
import { POSTGRES_URL, checkPostgres } from '../support/postgres.js'

const BEFORE_KILL = 200
/** More than the publisher's network node keeps for a peer that joins (256 per stream part). */
const WHILE_DOWN = 400
const AFTER_RESTART = 100

const postgresProblem = await checkPostgres(POSTGRES_URL)
if (postgresProblem !== undefined && process.env.CI !== undefined) throw new Error(postgresProblem)

/** A counter of a daemon's Prometheus text, summed over its label sets. */
async function scrape(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  let sum = 0
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}

describe('two storage nodes, one killed with SIGKILL and restarted while publishing goes on', () => {
  let network: TestNetwork
  let directory: string
  let configPath: string
  let daemonUrl: string
  let streamId: string
  let publisher: RunnelClient
  let nodeB: RunnelNode
  const schema = `runnel_repair_crash_${process.pid}_${randomBytes(4).toString('hex')}`
  const daemons: Daemon[] = []

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'runnel-repair-crash-'))
    network = await startTestNetwork()
    streamId = await network.createPublicStream('/repair-crash')
    // The publisher side keeps one message to re-offer: what a storage node misses comes from the other one.
    publisher = network.clientWith(3, { retention: { maxMessages: 1 } })
    const port = await freePort()
    daemonUrl = `http://127.0.0.1:${port}`
    const repair = { intervalMs: 0, holeGraceMs: 200 }
    const config: NodeConfigInput = {
      ...network.nodeConfig(7),
      plugins: {
        http: { host: '127.0.0.1', port },
        storage: { sqlite: { path: join(directory, 'a.db') }, repair },
      },
      log: { level: 'warn' },
    }
    configPath = join(directory, 'node.json')
    await writeFile(configPath, JSON.stringify(config))
    nodeB = await network.startNode(6, {
      plugins: {
        http: { port: 0 },
        websocket: false,
        mqtt: false,
        storage:
          postgresProblem === undefined
            ? { backend: 'postgres', postgres: { url: POSTGRES_URL, schema }, repair }
            : { sqlite: { path: join(directory, 'b.db') }, repair },
      },
    })
  })

  after(async () => {
    for (const daemon of daemons) {
      if (daemon.child.exitCode === null && daemon.child.signalCode === null) daemon.child.kill('SIGKILL')
    }
    await Promise.all(daemons.map((daemon) => daemon.exited))
    await publisher?.destroy()
    await network?.stop()
    if (postgresProblem === undefined) {
      const admin = new pg.Client({ connectionString: POSTGRES_URL })
      await admin.connect()
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await admin.end()
    }
    if (directory !== undefined) await rm(directory, { recursive: true, force: true })
  })

  it('ends with both nodes holding exactly the same messages, with no gap', async (t) => {
    const first = await startDaemon(configPath)
    daemons.push(first)
    const owner = network.client(1)
    await owner.addStreamToStorageNode(
      streamId,
      addressFromPrivateKey(network.dev.chain.accountKeys[7]!) as `0x${string}`,
    )
    await owner.addStreamToStorageNode(streamId, nodeB.client.address)
    const partitionUrl = `${daemonUrl}/streams/${encodeURIComponent(streamId)}/data/partitions/0`
    await waitFor(() => nodeB.storage!.storedStreams.includes(streamId), 30_000, 'node B to store the stream')
    for (const deadline = Date.now() + 60_000; (await fetch(`${partitionUrl}/last?count=0`)).status !== 200;) {
      if (Date.now() > deadline) throw new Error('the daemon never stored the stream')
      await new Promise((resolve) => setTimeout(resolve, 50))
    }

    let published = 0
    const publish = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        await publisher.publish(streamId, { i: published++ })
        await yieldToEventLoop()
      }
    }
    await publish(BEFORE_KILL)
    // Killed mid-stream: the publisher doesn't pause, so messages are on their way and in the daemon's batch.
    const publishing = publish(WHILE_DOWN)
    first.child.kill('SIGKILL')
    assert.equal((await first.exited).signal, 'SIGKILL')
    await publishing
    const second = await startDaemon(configPath)
    daemons.push(second)
    await publish(AFTER_RESTART)

    const total = BEFORE_KILL + WHILE_DOWN + AFTER_RESTART
    const holding = async (url: string) => (await heldMessages(url, streamId)).length
    for (const deadline = Date.now() + 45_000; ;) {
      const [a, b] = await Promise.all([holding(daemonUrl), holding(nodeB.info().endpoints.storage!)])
      if (a === total && b === total) break
      if (Date.now() > deadline) throw new Error(`the daemon holds ${a}, node B ${b}, of ${total}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const a = await heldMessages(daemonUrl, streamId)
    const b = await heldMessages(nodeB.info().endpoints.storage!, streamId)
    assert.deepEqual(idsOf(a), idsOf(b), 'both nodes hold the same messages')
    assert.deepEqual(
      a.map((message) => (JSON.parse(new TextDecoder().decode(message.content)) as { i: number }).i),
      Array.from({ length: total }, (_, i) => i),
      'every message published, once and in order',
    )
    assert.deepEqual(chainBreaks(a), [], 'no gap in the publisher chain')
    const repaired = await scrape(daemonUrl, 'runnel_storage_repair_messages_total')
    assert.ok(repaired >= WHILE_DOWN - 256 - 1, `hole fill brought ${repaired} messages`)
    t.diagnostic(`the daemon repaired ${repaired} of the ${WHILE_DOWN} messages published while it was down`)
  })
})
