// Two processes with one private key, over real WebSockets on 127.0.0.1: the
// second is refused with IDENTITY_IN_USE instead of the two kicking each
// other out; a node restarted while its old socket to the tracker (dht mode:
// the entry point) is half-open gets in. Both discovery modes: the tracker
// refuses the second in tracker mode; in dht mode the second finds out itself,
// by dialling where a peer or a lookup says its node id is held.
import assert from 'node:assert/strict'
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net'
import { after, afterEach, before, describe, it } from 'node:test'
import { generatePrivateKey, type StreamMessage } from '@runnel/protocol'
import { createNativeSigner } from '@runnel/protocol/native'
import { NetworkError, NetworkNode, type NetworkNodeOptions } from '../../src/index.js'
import { WebSocketTransport } from '../../src/node/index.js'
import {
  ChainPublisher,
  DISCOVERY_MODES,
  freePort,
  startDiscovery,
  startWebSocketNode,
  startWebSocketTracker,
  verifier,
  waitFor,
  type TestDiscovery,
  type TestDiscoveryMode,
} from '../helpers.js'

const JOIN_TIMEOUT_MS = 30_000

type DiscoveryOptions = TestDiscovery['options']

async function startNodeWithKey(privateKey: string, options: DiscoveryOptions): Promise<NetworkNode> {
  const node = new NetworkNode(
    { transport: new WebSocketTransport({ port: 0 }), signer: createNativeSigner(privateKey), verifier },
    options satisfies Partial<NetworkNodeOptions>,
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

/**
 * A tracker (tracker mode) or an entry point (dht mode) that keeps a dead
 * connection until the liveness check drops it: its idle timeout must not
 * drop it first.
 */
async function startPatientDiscovery(mode: TestDiscoveryMode): Promise<{
  options: DiscoveryOptions
  members: (streamPartId: string) => string[] | undefined
  stop(): Promise<void>
}> {
  const peer = { idleTimeoutMs: 10 * 60_000 }
  if (mode === 'tracker') {
    const { tracker, address } = await startWebSocketTracker({ peer })
    return {
      options: { trackers: [address] },
      members: (streamPartId) => tracker.members(streamPartId),
      stop: () => tracker.stop(),
    }
  }
  const port = await freePort()
  const entryPoints = [`ws://127.0.0.1:${port}`]
  const entryPoint = new NetworkNode(
    { transport: new WebSocketTransport({ port }), signer: createNativeSigner(generatePrivateKey()), verifier },
    { discovery: 'dht', entryPoints, peer },
  )
  await entryPoint.start()
  return {
    options: { discovery: 'dht', entryPoints },
    members: () => undefined,
    stop: () => entryPoint.stop(),
  }
}

/** The same discovery options, reaching the tracker or entry point at `address` instead. */
function through(options: DiscoveryOptions, address: string): DiscoveryOptions {
  return options.trackers !== undefined ? { trackers: [address] } : { discovery: 'dht', entryPoints: [address] }
}

for (const mode of DISCOVERY_MODES)
  describe(`two processes with the same private key (${mode} discovery)`, () => {
    let discovery: TestDiscovery
    const nodes: NetworkNode[] = []

    before(async () => {
      discovery = await startDiscovery(mode)
    })

    afterEach(async () => {
      await Promise.all(nodes.splice(0).map((node) => node.stop()))
    })

    after(async () => {
      await discovery.stop()
    })

    it('refuses the second with IDENTITY_IN_USE, stops it, and leaves the first connected', async () => {
      const privateKey = generatePrivateKey()
      const publisher = new ChainPublisher('/identity-in-use')
      const streamPartId = publisher.streamPartId
      const first = await startNodeWithKey(privateKey, discovery.options)
      const other = await startWebSocketNode(discovery)
      nodes.push(first, other)
      await Promise.all(
        [first, other].map((node) =>
          node.join(streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(JOIN_TIMEOUT_MS) }),
        ),
      )

      // Two nodes that dialled each other at once close one connection as a duplicate: what counts is what the second causes.
      const before = { ...first.getMetrics().disconnects }
      const second = await startNodeWithKey(privateKey, discovery.options)
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
        assert.equal(disconnects[cause], before[cause], `the first node saw no '${cause}' close`)
      }
      if (discovery.tracker !== undefined) {
        assert.deepEqual(discovery.tracker.members(streamPartId).sort(), [first.nodeId, other.nodeId].sort())
      } else {
        // No tracker: one of the two dialled the other (the second, unless the first was refused meanwhile where
        // the second had got in), the handshake proved the shared key, and the newer one stopped.
        assert.ok((disconnects['identity-check'] ?? 0) >= 1, 'a check connection reached the first')
        assert.deepEqual(first.getNeighbors(streamPartId), [other.nodeId])
      }
    })

    it('lets a restarted node in while its old connection to the tracker or entry point is half-open', async () => {
      const privateKey = generatePrivateKey()
      const publisher = new ChainPublisher('/identity-restart')
      const streamPartId = publisher.streamPartId
      const patient = await startPatientDiscovery(mode)
      const [patientAddress] = patient.options.trackers ?? patient.options.entryPoints!
      const proxy = new BlackholeProxy()
      try {
        const viaProxy = await proxy.start(patientAddress!)
        const old = await startNodeWithKey(privateKey, through(patient.options, viaProxy))
        const other = await startNodeWithKey(generatePrivateKey(), patient.options)
        nodes.push(other)
        await Promise.all(
          [old, other].map((node) =>
            node.join(streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(JOIN_TIMEOUT_MS) }),
          ),
        )
        // The old process vanishes: its goodbye through the proxy is swallowed and that socket stays open.
        proxy.blackhole()
        await old.stop()

        const restarted = await startNodeWithKey(privateKey, patient.options)
        nodes.push(restarted)
        const failures: NetworkError[] = []
        restarted.addFailureListener((error) => failures.push(error))
        await restarted.join(streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(JOIN_TIMEOUT_MS) })
        const received: StreamMessage[] = []
        restarted.addMessageListener(streamPartId, (message) => received.push(message))
        other.broadcast(await publisher.next())
        await waitFor(() => received.length === 1, JOIN_TIMEOUT_MS, 'the restarted node to receive the message')
        assert.deepEqual(failures, [])
        const members = patient.members(streamPartId)
        if (members !== undefined) {
          assert.deepEqual(members.sort(), [restarted.nodeId, other.nodeId].sort())
        } else {
          // The entry point knew the id at the old process's address and said so; nothing answered there.
          const checks = restarted.getMetrics().identityCheck
          assert.ok(checks !== undefined && checks.stale >= 1, `a stale entry was checked: ${JSON.stringify(checks)}`)
        }
      } finally {
        await Promise.all(nodes.splice(0).map((node) => node.stop()))
        await patient.stop()
        await proxy.stop()
      }
    })
  })

/** A dht entry point (not started) that keeps one connection at most, and the entry-point list naming it. */
async function oneConnectionEntryPoint(): Promise<{ entryPoint: NetworkNode; entryPoints: string[] }> {
  const port = await freePort()
  const entryPoints = [`ws://127.0.0.1:${port}`]
  const entryPoint = new NetworkNode(
    { transport: new WebSocketTransport({ port }), signer: createNativeSigner(generatePrivateKey()), verifier },
    { discovery: 'dht', entryPoints, maxConnections: 1 },
  )
  return { entryPoint, entryPoints }
}

describe('two processes with the same private key, the first connected to none of the second’s peers (dht)', () => {
  it('the second finds the first through its self-lookup, dials it, and stops with IDENTITY_IN_USE', async () => {
    // One connection at most: a newcomer evicts whoever was connected, so the first is known but not connected here.
    const { entryPoint, entryPoints } = await oneConnectionEntryPoint()
    const started: NetworkNode[] = [entryPoint]
    try {
      await entryPoint.start()
      const privateKey = generatePrivateKey()
      const first = await startNodeWithKey(privateKey, { discovery: 'dht', entryPoints })
      started.push(first)
      await waitFor(() => first.dht?.joined === true, JOIN_TIMEOUT_MS, 'the first node to join the DHT')
      assert.deepEqual(
        entryPoint.dht?.contacts().map((contact) => contact.nodeId),
        [first.nodeId],
      )
      // A light node (never a contact, so no one the second asks names it) takes the entry point's one connection.
      const light = new NetworkNode(
        { transport: new WebSocketTransport({}), signer: createNativeSigner(generatePrivateKey()), verifier },
        { discovery: 'dht', entryPoints, kind: 'light' },
      )
      started.push(light)
      await light.start()
      await waitFor(
        () => entryPoint.getMetrics().disconnects.evicted === 1,
        JOIN_TIMEOUT_MS,
        'the entry point to drop the first',
      )

      const second = await startNodeWithKey(privateKey, { discovery: 'dht', entryPoints })
      started.push(second)
      const failures: NetworkError[] = []
      second.addFailureListener((error) => failures.push(error))
      await waitFor(() => failures.length > 0, JOIN_TIMEOUT_MS, 'the second to fail')
      assert.equal(failures.length, 1)
      assert.ok(isIdentityInUse(first.nodeId)(failures[0]), String(failures[0]))
      assert.equal(first.getMetrics().disconnects['identity-check'], 1, 'the second checked the first once')
      const { hints, dials, answered, stale } = second.getMetrics().identityCheck!
      // Hints repeating an address already checked are counted as ignored.
      assert.deepEqual({ hints, dials, answered, stale }, { hints: 1, dials: 1, answered: 1, stale: 0 })
    } finally {
      await Promise.all(started.map((node) => node.stop()))
    }
  })
})

describe('a light second process with the key of a full first one (dht)', () => {
  it('finds the first (its entry-point record, or a refusal once the first got back in), dials it, and stops', async () => {
    // One connection at most, so the first is not connected here when the second comes; and a light node is in
    // no routing table, so no self-lookup names the first: the first's record for the stream part does (or the
    // entry point's refusal, when the first, alone in its stream part and looking again, got back in first).
    const { entryPoint, entryPoints } = await oneConnectionEntryPoint()
    const started: NetworkNode[] = [entryPoint]
    const startLight = async (privateKey: string): Promise<NetworkNode> => {
      const node = new NetworkNode(
        { transport: new WebSocketTransport({}), signer: createNativeSigner(privateKey), verifier },
        { discovery: 'dht', entryPoints, kind: 'light' },
      )
      started.push(node)
      await node.start()
      return node
    }
    try {
      await entryPoint.start()
      const privateKey = generatePrivateKey()
      const streamPartId = new ChainPublisher('/identity-record').streamPartId
      const first = await startNodeWithKey(privateKey, { discovery: 'dht', entryPoints })
      started.push(first)
      await first.join(streamPartId)
      await waitFor(
        () => first.getMetrics().discovery?.entryPointsHeld === 1,
        JOIN_TIMEOUT_MS,
        'the first to store its record',
      )
      await startLight(generatePrivateKey())
      await waitFor(
        () => entryPoint.getMetrics().disconnects.evicted === 1,
        JOIN_TIMEOUT_MS,
        'the entry point to drop the first',
      )

      const second = await startLight(privateKey)
      const failures: NetworkError[] = []
      second.addFailureListener((error) => failures.push(error))
      await assert.rejects(
        second.join(streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(JOIN_TIMEOUT_MS) }),
        isIdentityInUse(first.nodeId),
      )
      assert.equal(failures.length, 1)
      assert.equal(first.getMetrics().disconnects['identity-check'], 1, 'the second checked the first once')
      const { hints, dials, answered, stale } = second.getMetrics().identityCheck!
      // Hints repeating an address already checked are counted as ignored.
      assert.deepEqual({ hints, dials, answered, stale }, { hints: 1, dials: 1, answered: 1, stale: 0 })
    } finally {
      await Promise.all(started.map((node) => node.stop()))
    }
  })
})
