// Crash test of a whole storage node daemon (`runnel node --config`, a real
// child process): a publisher sends a burst of messages while the test reads
// the node's history API, and counts a message as acknowledged only once the
// node served it back, after every message before it. Once 1,000 are
// acknowledged the daemon is killed with SIGKILL, with later messages on their
// way; the publisher carries on with the rest of the burst while it is down.
// The daemon is started again on the same config: every acknowledged message
// must come back from the SDK's resend, whole, in order and once; it must
// store what is published after the restart; and the SQLite file must be sound.
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { setImmediate as yieldToEventLoop, setTimeout as delay } from 'node:timers/promises'
import Database from 'better-sqlite3'
import type { PublishedMessage, RunnelClient } from '@runnel/client'
import { addressFromPrivateKey, type PrivateKeyHex } from '@runnel/protocol'
import type { NodeConfigInput } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'
import { freePort, startDaemon, type Daemon } from '../support/daemon.js'

/** Messages in the burst. */
const BURST = 2_000
/** The daemon is killed as soon as this many messages are acknowledged. */
const KILL_AT = 1_000
/** Until the kill, the publisher stays at most this many messages ahead of the acknowledged ones: the kill lands mid-burst whatever the speeds. */
const AHEAD = 200
/** Messages published after the restart. */
const AFTER_RESTART = 5
/** Between two reads of the history API while acknowledging. */
const POLL_MS = 20

interface Content {
  readonly i: number
  readonly text: string
}

const contentOf = (i: number): Content => ({ i, text: `message ${i} of the crash burst` })

/** One line of the history API's NDJSON. */
interface StoredLine {
  readonly timestamp: number
  readonly sequenceNumber: number
  readonly content: Content
}

/** Polls `check` every POLL_MS until it holds. */
async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await delay(POLL_MS)
  }
}

/** The stored messages after `after` (exclusive), read from the history API. */
async function readStoredAfter(
  partitionUrl: string,
  after: { timestamp: number; sequenceNumber: number },
): Promise<StoredLine[]> {
  const response = await fetch(
    `${partitionUrl}/from?fromTimestamp=${after.timestamp}&fromSequenceNumber=${after.sequenceNumber}`,
  )
  const text = await response.text()
  if (response.status !== 200) throw new Error(`history answered ${response.status}: ${text}`)
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as StoredLine)
    .filter(
      (line) =>
        line.timestamp > after.timestamp ||
        (line.timestamp === after.timestamp && line.sequenceNumber > after.sequenceNumber),
    )
}

describe('storage node daemon killed with SIGKILL mid-burst', () => {
  let network: TestNetwork
  let directory: string
  let configPath: string
  let databasePath: string
  let streamId: string
  let historyUrl: string
  let nodeKey: PrivateKeyHex
  let owner: RunnelClient
  let publisher: RunnelClient
  let reader: RunnelClient
  const daemons: Daemon[] = []

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'runnel-storage-crash-'))
    network = await startTestNetwork()
    streamId = await network.createPublicStream('/crash')
    owner = network.client(1)
    publisher = network.client(3)
    reader = network.client(4)
    nodeKey = network.dev.chain.accountKeys[7]!
    // A fixed port: the history URL registered on chain has to stay valid across the restart.
    const port = await freePort()
    historyUrl = `http://127.0.0.1:${port}`
    databasePath = join(directory, 'storage.db')
    const config: NodeConfigInput = {
      ...network.nodeConfig(7),
      plugins: { http: { host: '127.0.0.1', port }, storage: { sqlite: { path: databasePath } } },
      log: { level: 'warn' },
    }
    configPath = join(directory, 'node.json')
    await writeFile(configPath, JSON.stringify(config))
  })

  after(async () => {
    for (const daemon of daemons)
      if (daemon.child.exitCode === null && daemon.child.signalCode === null) daemon.child.kill('SIGKILL')
    await Promise.all(daemons.map((daemon) => daemon.exited))
    await network?.stop()
    if (directory !== undefined) await rm(directory, { recursive: true, force: true })
  })

  it('serves every acknowledged message after the restart, once and in order, and keeps storing', async (t) => {
    const first = await startDaemon(configPath)
    daemons.push(first)
    assert.match(first.output(), new RegExp(`^ {2}storage +${historyUrl}$`, 'm'))
    await owner.addStreamToStorageNode(streamId, addressFromPrivateKey(nodeKey) as `0x${string}`)
    const partitionUrl = `${historyUrl}/streams/${encodeURIComponent(streamId)}/data/partitions/0`
    // 404 until the node follows the assignment on chain and subscribes.
    await until(
      async () => (await fetch(`${partitionUrl}/last?count=0`)).status === 200,
      60_000,
      'the node to store the stream',
    )

    // Acknowledged: what the node served back from its history, every message before it included.
    let acknowledged = 0
    let position = { timestamp: 0, sequenceNumber: 0 }
    let killed = false
    let failed = false
    let published = 0
    const atKill = { acknowledged: 0, published: 0 }
    const acknowledging = (async () => {
      while (!killed && !failed) {
        let lines: StoredLine[]
        try {
          lines = await readStoredAfter(partitionUrl, position)
        } catch (err) {
          if (killed) return
          throw err
        }
        // A response that completed after the kill still counts: the node served it from committed data.
        for (const line of lines) {
          assert.equal(line.content.i, acknowledged, 'the node stores the chain in order, without gaps')
          acknowledged++
          position = { timestamp: line.timestamp, sequenceNumber: line.sequenceNumber }
        }
        if (acknowledged >= KILL_AT) {
          first.child.kill('SIGKILL')
          killed = true
          Object.assign(atKill, { acknowledged, published })
        }
        await delay(POLL_MS)
      }
    })().catch((err: unknown) => {
      failed = true
      throw err
    })
    const publishing = (async () => {
      for (let i = 0; i < BURST && !failed; i++) {
        // Until the kill, stay at most AHEAD messages ahead of the acknowledged ones; after it, send the rest
        // of the burst while the node is down.
        if (!killed) {
          await waitFor(() => failed || acknowledged >= i - AHEAD, 120_000, `message ${i - AHEAD} to be stored`)
        }
        await publisher.publish(streamId, contentOf(i))
        published++
        // publish() may return without a macrotask in between: let the history reads and the socket writes run.
        await yieldToEventLoop()
      }
    })()
    try {
      await Promise.all([acknowledging, publishing])
    } finally {
      if (!killed) first.child.kill('SIGKILL')
    }
    const { signal } = await first.exited
    assert.equal(signal, 'SIGKILL')
    assert.ok(atKill.published < BURST, 'the kill came in the middle of the burst')

    const second = await startDaemon(configPath)
    daemons.push(second)
    assert.equal((await fetch(`${historyUrl}/health`)).status, 200)
    const afterRestart: PublishedMessage[] = []
    for (let i = BURST; i < BURST + AFTER_RESTART; i++) {
      afterRestart.push(await publisher.publish(streamId, contentOf(i)))
    }
    for (const message of afterRestart) await publisher.waitForStorage(message, { timeoutMs: 60_000 })

    const resent: Content[] = []
    for await (const message of reader.resend(streamId, { from: { timestamp: 0 } })) {
      resent.push(message.content as Content)
    }
    const indexes = resent.map((content) => content.i)
    // The SDK skips anything at or before its last position: read the raw history as well to see duplicates.
    const raw = await readStoredAfter(partitionUrl, { timestamp: 0, sequenceNumber: 0 })
    assert.deepEqual(
      raw.map((line) => line.content.i),
      indexes,
      'the history API and the SDK see the same messages',
    )
    assert.deepEqual(
      resent.slice(0, acknowledged),
      Array.from({ length: acknowledged }, (_, i) => contentOf(i)),
      'every acknowledged message, whole and in order',
    )
    // Beyond them, in chain order and each once: messages committed before the kill but not read back yet;
    // the burst's last messages, which the publisher's network node re-offers to a peer that joins within
    // its propagation window (up to 256 per stream part, 10 s); and what was published after the restart.
    assert.ok(
      indexes.every((i, k) => k === 0 || i > indexes[k - 1]!),
      'no message is stored twice, or out of order',
    )
    assert.deepEqual(
      resent,
      indexes.map((i) => contentOf(i)),
      'every message whole',
    )
    assert.deepEqual(
      indexes.slice(-AFTER_RESTART),
      Array.from({ length: AFTER_RESTART }, (_, k) => BURST + k),
      'the restarted node stores new messages',
    )
    let committedBeforeKill = acknowledged
    while (committedBeforeKill < atKill.published && indexes[committedBeforeKill] === committedBeforeKill) {
      committedBeforeKill++
    }
    const reoffered = indexes.length - AFTER_RESTART - committedBeforeKill

    second.child.kill('SIGTERM')
    const stopped = await second.exited
    assert.equal(stopped.code, 0, second.output())
    const db = new Database(databasePath, { readonly: true })
    try {
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok')
    } finally {
      db.close()
    }
    t.diagnostic(
      `killed with ${atKill.acknowledged} acknowledged and ${atKill.published} published ` +
        `(${acknowledged} acknowledged counting history reads that completed after the kill); ` +
        `resent after the restart: ${acknowledged} acknowledged, ${committedBeforeKill - acknowledged} more committed ` +
        `before the kill, ${reoffered} of the ${BURST - atKill.published} published while the node was down ` +
        `(re-offered by the publisher's node), ${AFTER_RESTART} published after the restart`,
    )
  })
})
