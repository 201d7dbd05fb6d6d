// Two processes with one private key, over real WebSockets on 127.0.0.1: the
// second is refused with IDENTITY_IN_USE instead of the two kicking each
// other out; a node restarted while its old tracker socket is half-open gets in.
import assert from 'node:assert/strict'
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net'
import { after, afterEach, before, describe, it } from 'node:test'
import { generatePrivateKey, type StreamMessage } from '@runnel/protocol'
import { createNativeSigner } from '@runnel/protocol/native'
import { NetworkError, NetworkNode, type TrackerServer } from '../../src/index.js'
import { WebSocketTransport } from '../../src/node/index.js'
import { ChainPublisher, startWebSocketNode, startWebSocketTracker, verifier, waitFor } from '../helpers.js'

const JOIN_TIMEOUT_MS = 30_000

async function startNodeWithKey(privateKey: string, trackers: string[]): Promise<NetworkNode> {
  const node = new NetworkNode(
    { transport: new WebSocketTransport({ port: 0 }), signer: createNativeSigner(privateKey), verifier },
    { trackers },
  )
  await node.start()
  return node
}

function isIdentityInUse(nodeId: string): (err: unknown) => boolean {
  return (err) =>
    err instanceof NetworkError &&
    err.code === 'IDENTITY_IN_USE' &&
    err.message.includes(nodeId) &&
    err.message.includes('give each process its own private key')
}

/**
 * A TCP relay that can go silent: after `blackhole()` its open connections
 * forward nothing and never close, as when a host vanishes without a FIN.
 */
class BlackholeProxy {
  private readonly sockets = new Set<Socket>()
  private readonly pairs: [Socket, Socket][] = []
  private server: Server | undefined

  async start(target: string): Promise<string> {
    const { hostname, port } = new URL(target)
    this.server = createServer((client) => {
      const upstream = connect(Number(port), hostname)
      for (const socket of [client, upstream]) {
        this.sockets.add(socket)
        // A reset on either leg is expected when the test ends; it must not crash the run.
        socket.on('error', () => undefined)
      }
      client.pipe(upstream)
      upstream.pipe(client)
      this.pairs.push([client, upstream])
    })
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  blackhole(): void {
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream)
      upstream.unpipe(client)
      client.pause()
      upstream.pause()
    }
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve())
  }
}

describe('two processes with the same private key', () => {
  let tracker: TrackerServer
  let address: string
  const nodes: NetworkNode[] = []

  before(async () => {
    ;({ tracker, address } = await startWebSocketTracker())
  })

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((node) => node.stop()))
  })

  after(async () => {
    await tracker.stop()
  })

  it('refuses the second with IDENTITY_IN_USE, stops it, and leaves the first connected', async () => {
    const privateKey = generatePrivateKey()
    const publisher = new ChainPublisher('/identity-in-use')
    const streamPartId = publisher.streamPartId
    const first = await startNodeWithKey(privateKey, [address])
    const other = await startWebSocketNode([address])
    nodes.push(first, other)
    await Promise.all(
      [first, other].map((node) =>
        node.join(streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(JOIN_TIMEOUT_MS) }),
      ),
    )

    const second = await startNodeWithKey(privateKey, [address])
    nodes.push(second)
    const failures: NetworkError[] = []
    second.addFailureListener((error) => failures.push(error))
    await assert.rejects(
      second.join(streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(JOIN_TIMEOUT_MS) }),
      isIdentityInUse(first.nodeId),
    )
    assert.equal(failures.length, 1)
    assert.ok(isIdentityInUse(first.nodeId)(failures[0]))
    // Stopped for good: no reconnect that would kick the first out.
    await assert.rejects(second.join(streamPartId), isIdentityInUse(first.nodeId))

    const received: StreamMessage[] = []
    first.addMessageListener(streamPartId, (message) => received.push(message))
    const message = await publisher.next()
    other.broadcast(message)
    await waitFor(() => received.length === 1, JOIN_TIMEOUT_MS, 'the first node to receive the message')
    assert.equal(received[0]!.messageId.toString(), message.messageId.toString())
    const { disconnects } = first.getMetrics()
    for (const cause of ['duplicate', 'identity-in-use', 'replaced', 'remote-goodbye'] as const) {
      assert.equal(disconnects[cause], undefined, `the first node saw no '${cause}' close`)
    }
    assert.deepEqual(tracker.members(streamPartId).sort(), [first.nodeId, other.nodeId].sort())
  })

  it('lets a restarted node in while its old tracker connection is half-open', async () => {
    const privateKey = generatePrivateKey()
    const publisher = new ChainPublisher('/identity-restart')
    const streamPartId = publisher.streamPartId
    // The tracker must not drop the dead connection by its idle timeout first: only the liveness check may.
    const { tracker: patientTracker, address: trackerAddress } = await startWebSocketTracker({
      peer: { idleTimeoutMs: 10 * 60_000 },
    })
    const proxy = new BlackholeProxy()
    try {
      const viaProxy = await proxy.start(trackerAddress)
      const old = await startNodeWithKey(privateKey, [viaProxy])
      const other = await startWebSocketNode([trackerAddress])
      nodes.push(other)
      await Promise.all(
        [old, other].map((node) =>
          node.join(streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(JOIN_TIMEOUT_MS) }),
        ),
      )
      // The old process vanishes: its goodbye to the tracker is swallowed and the tracker's socket stays open.
      proxy.blackhole()
      await old.stop()

      const restarted = await startNodeWithKey(privateKey, [trackerAddress])
      nodes.push(restarted)
      const failures: NetworkError[] = []
      restarted.addFailureListener((error) => failures.push(error))
      await restarted.join(streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(JOIN_TIMEOUT_MS) })
      const received: StreamMessage[] = []
      restarted.addMessageListener(streamPartId, (message) => received.push(message))
      other.broadcast(await publisher.next())
      await waitFor(() => received.length === 1, JOIN_TIMEOUT_MS, 'the restarted node to receive the message')
      assert.deepEqual(failures, [])
      assert.deepEqual(patientTracker.members(streamPartId).sort(), [restarted.nodeId, other.nodeId].sort())
    } finally {
      await Promise.all(nodes.splice(0).map((node) => node.stop()))
      await patientTracker.stop()
      await proxy.stop()
    }
  })
})
