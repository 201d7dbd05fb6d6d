// Two Node.js processes without WebSocket servers of their own connect over WebRTC after signalling through a
// tracker (the third node, over WebSocket) and carry a stream: every message published in one arrives in the other.
import assert from 'node:assert/strict'
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { generatePrivateKey } from '@runnel/protocol'
import { createNativeSigner } from '@runnel/protocol/native'
import type { TrackerServer } from '../../src/index.js'
import { ChainPublisher, startWebSocketTracker, waitFor } from '../helpers.js'

const COUNT = 500
const script = fileURLToPath(new URL('../support/webrtcPeer.ts', import.meta.url))
const packageRoot = fileURLToPath(new URL('../../', import.meta.url))

type PeerEvent = { type: string } & Record<string, unknown>

/** A child process running test/support/webrtcPeer.ts, with the events it printed. */
class PeerProcess {
  readonly events: PeerEvent[] = []
  readonly stderr: string[] = []
  exitCode: number | null | undefined
  private readonly child: ChildProcessWithoutNullStreams

  constructor(config: Record<string, unknown>) {
    this.child = spawn(process.execPath, ['--conditions=runnel-source', '--import', 'tsx', script], {
      cwd: packageRoot,
      env: { ...process.env, CONFIG: JSON.stringify(config) },
    })
    createInterface({ input: this.child.stdout }).on('line', (line) => this.events.push(JSON.parse(line) as PeerEvent))
    createInterface({ input: this.child.stderr }).on('line', (line) => this.stderr.push(line))
    this.child.on('exit', (code) => (this.exitCode = code))
  }

  async event(type: string, timeoutMs = 30_000): Promise<PeerEvent> {
    await waitFor(
      () => this.events.some((event) => event.type === type) || this.exitCode !== undefined,
      timeoutMs,
      `a '${type}' event`,
    )
    const event = this.events.find((candidate) => candidate.type === type)
    assert.ok(event !== undefined, `the process exited (${this.exitCode}) before '${type}': ${this.stderr.join('\n')}`)
    return event
  }

  send(command: string): void {
    this.child.stdin.write(`${command}\n`)
  }

  /** Ends its stdin: the node stops, and the process should then exit by itself. */
  stop(): void {
    this.child.stdin.end()
  }

  kill(): void {
    if (this.exitCode === undefined) this.child.kill()
  }
}

describe('two Node.js processes over WebRTC, signalled through a tracker', () => {
  let tracker: TrackerServer
  let trackerAddress: string
  const processes: PeerProcess[] = []

  before(async () => {
    ;({ tracker, address: trackerAddress } = await startWebSocketTracker())
  })

  after(async () => {
    for (const peer of processes) peer.kill()
    await tracker.stop()
  })

  it(`every one of ${COUNT} messages published in one process arrives in the other, and both exit on their own`, async () => {
    const publisherKey = generatePrivateKey()
    const { streamPartId } = new ChainPublisher('/webrtc-processes', 0, undefined, {
      signer: createNativeSigner(publisherKey),
    })
    const subscriber = new PeerProcess({ trackers: [trackerAddress], streamPartId, expect: COUNT })
    const publisher = new PeerProcess({ trackers: [trackerAddress], streamPartId, publisherKey })
    processes.push(subscriber, publisher)

    const [subscriberStarted, publisherStarted] = await Promise.all([
      subscriber.event('started'),
      publisher.event('started'),
    ])
    // Neither listens on WebSocket: a WebRTC address is all either offers.
    assert.deepEqual(subscriberStarted.addresses, [`webrtc:${String(subscriberStarted.nodeId)}`])
    assert.deepEqual(publisherStarted.addresses, [`webrtc:${String(publisherStarted.nodeId)}`])
    const [subscriberJoined] = await Promise.all([subscriber.event('joined'), publisher.event('joined')])
    assert.deepEqual(subscriberJoined.neighbors, [publisherStarted.nodeId])

    publisher.send(`publish ${COUNT}`)
    const [published, received] = await Promise.all([publisher.event('published'), subscriber.event('received')])
    assert.deepEqual(received.messageIds, published.messageIds, 'every message, in order')
    assert.ok(tracker.metrics.signalling.relayed >= 2, 'the offer and the answer went through the tracker')

    publisher.stop()
    subscriber.stop()
    const stopped = await Promise.all([publisher.event('stopped'), subscriber.event('stopped')])
    const opened = stopped.map((event) => (event.webRtc as { opened: number }).opened)
    assert.equal(opened[0]! + opened[1]!, 2, 'one WebRTC session, open at both ends')
    await waitFor(
      () => publisher.exitCode !== undefined && subscriber.exitCode !== undefined,
      10_000,
      'both processes to exit by themselves',
    )
    assert.deepEqual([publisher.exitCode, subscriber.exitCode], [0, 0])
  })
})
