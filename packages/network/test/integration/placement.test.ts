import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { systemClock, type NodeLocation, type PlacementConstraint, type StreamPartId } from '@runnel/protocol'
import { ConnectionManager } from '../../src/connection/ConnectionManager.js'
import type { ControlMessage } from '../../src/generated/runnel/network/v1/network_pb.js'
import { NetworkError, type NetworkNode } from '../../src/index.js'
import { WebSocketTransport } from '../../src/node/index.js'
import { NETWORK_PROTOCOL_VERSION } from '../../src/wire/frames.js'
import {
  ChainPublisher,
  DISCOVERY_MODES,
  freePort,
  newSigner,
  startDiscovery,
  startWebSocketNode,
  startWebSocketTracker,
  verifier,
  waitFor,
  type TestDiscovery,
} from '../helpers.js'

const EU: PlacementConstraint = { countries: ['EU'] }
const DE: NodeLocation = { country: 'DE', region: 'eu-central' }
const FR: NodeLocation = { country: 'FR' }
const US: NodeLocation = { country: 'US', region: 'us-east' }

/** A bare full peer at `location` that records the answers it gets: to ask a node directly, as any peer may. */
async function startLocatedPeer(location: NodeLocation): Promise<{
  connections: ConnectionManager
  answers: ControlMessage['body'][]
}> {
  const signer = newSigner()
  const answers: ControlMessage['body'][] = []
  const connections = new ConnectionManager({
    transport: new WebSocketTransport({ port: 0 }),
    signer,
    verifier,
    clock: systemClock,
    events: {
      onPeerReady: () => undefined,
      onControl: (_peer, message) => answers.push(message.body),
      onData: () => undefined,
      onPeerClosed: () => undefined,
    },
  })
  await connections.start((addresses) => ({
    nodeId: signer.address,
    kind: 'full',
    addresses,
    protocolVersion: NETWORK_PROTOCOL_VERSION,
    location,
  }))
  return { connections, answers }
}

/**
 * `asker` asks `peers` itself every 500 ms until `done`: a request of its own discovery may have been under way to one
 * of them (then skipped by `requestPeers`) and lost to a dial race, and discovery waits a while before asking again.
 */
async function askUntil(
  asker: NetworkNode,
  streamPartId: StreamPartId,
  peers: readonly NetworkNode[],
  done: () => boolean,
  what: string,
): Promise<void> {
  const ask = (): void =>
    asker.requestPeers(
      streamPartId,
      peers.map((node) => node.descriptor),
    )
  ask()
  const asking = setInterval(ask, 500)
  try {
    await waitFor(done, 15_000, what)
  } finally {
    clearInterval(asking)
  }
}

for (const mode of DISCOVERY_MODES)
  describe(`placement constraints (${mode} discovery)`, () => {
    let discovery: TestDiscovery
    let eu: NetworkNode[]
    let us: NetworkNode
    const owner = new ChainPublisher('/placement')
    const streamPartId = owner.streamPartId

    before(async () => {
      discovery = await startDiscovery(mode)
      eu = await Promise.all([DE, DE, FR].map((location) => startWebSocketNode(discovery, { location })))
      us = await startWebSocketNode(discovery, { location: US })
    })

    after(async () => {
      await Promise.all([...eu, us].map((node) => node.stop()))
      await discovery.stop()
    })

    it('a node outside the constraint gets a typed error naming it and its own location when it joins', async () => {
      await assert.rejects(
        us.join(streamPartId, { placement: EU }),
        (err: unknown) =>
          err instanceof NetworkError &&
          err.code === 'OUTSIDE_PLACEMENT' &&
          err.category === 'permission-denied' &&
          err.message.includes('US/us-east') &&
          err.message.includes('countries EU'),
      )
      assert.deepEqual(us.getStreamParts(), [], 'the refused join left nothing behind')
    })

    it('nodes inside form the overlay; one outside that ignores the constraint never becomes their neighbour', async () => {
      // The US node joins first, without the constraint (an old or careless node), so it is there to be found
      // (a tracker member, an entry point in the DHT) when the EU nodes join.
      await us.join(streamPartId)
      const [first, ...rest] = eu
      await first!.join(streamPartId, { placement: EU })
      await Promise.all(
        rest.map((node) =>
          node.join(streamPartId, { placement: EU, minNeighbors: 1, signal: AbortSignal.timeout(20_000) }),
        ),
      )
      await waitFor(() => eu.every((node) => node.getNeighbors(streamPartId).length === 2), 20_000, 'an EU mesh')
      // The US node asks each EU node itself: each refuses (counted), and the US node stays without neighbours.
      await askUntil(
        us,
        streamPartId,
        eu,
        () => eu.every((node) => node.getMetrics().placementRefusals >= 1),
        'every EU node to refuse the US node',
      )
      assert.deepEqual(us.getNeighbors(streamPartId), [])
      for (const node of eu) {
        assert.ok(!node.getNeighbors(streamPartId).includes(us.nodeId), 'the US node is no EU node neighbour')
        assert.deepEqual(
          new Set(node.getNeighbors(streamPartId)),
          new Set(eu.filter((other) => other !== node).map((other) => other.nodeId)),
        )
      }
      if (discovery.tracker !== undefined) {
        // The tracker holds it as a member, but apart: it suggested it to no one and no one to it.
        assert.ok(discovery.tracker.members(streamPartId).includes(us.nodeId))
      }
    })

    it("messages published inside stay inside: the US node's listener gets none", async () => {
      const received: number[] = []
      const usReceived: number[] = []
      eu[2]!.addMessageListener(streamPartId, () => received.push(1))
      us.addMessageListener(streamPartId, () => usReceived.push(1))
      const publisher = new ChainPublisher('/placement', 0, owner.signer)
      for (let i = 0; i < 20; i++) eu[0]!.broadcast(await publisher.next({ i }))
      await waitFor(() => received.length === 20, 10_000, 'the FR node to get every message')
      assert.equal(usReceived.length, 0)
      assert.equal(us.getMetrics().messagesIn, 0, 'no data frame reached the US node')
    })

    it('light nodes: one of unknown location reads through a proxy inside, one that says it is in the US gets none', async () => {
      const reader = await startWebSocketNode(discovery, { kind: 'light' })
      const usLight = await startWebSocketNode(discovery, { kind: 'light', location: US })
      try {
        // A light node that doesn't say where it is may read, through proxies inside (its client passes the placement).
        await reader.join(streamPartId, { placement: EU, minNeighbors: 1, signal: AbortSignal.timeout(20_000) })
        const euIds = eu.map((node) => node.nodeId)
        assert.ok(reader.getNeighbors(streamPartId).every((proxy) => euIds.includes(proxy)))
        const refusedBefore = eu.reduce((sum, node) => sum + node.getMetrics().placementRefusals, 0)
        await usLight.join(streamPartId)
        await askUntil(
          usLight,
          streamPartId,
          eu,
          () => eu.reduce((sum, node) => sum + node.getMetrics().placementRefusals, 0) >= refusedBefore + 2,
          'two EU nodes (proxyCount) to refuse the US light node',
        )
        // (It may find the US full node, which ignores the constraint too: the two are alone together.)
        assert.ok(usLight.getNeighbors(streamPartId).every((proxy) => !euIds.includes(proxy)))
      } finally {
        await Promise.all([reader.stop(), usLight.stop()])
      }
    })

    it('a peer outside is answered with a refusal naming the placement', async () => {
      const peer = await startLocatedPeer(US)
      try {
        const connection = await peer.connections.connect(eu[0]!.descriptor.addresses[0]!)
        connection.sendControl({ case: 'neighborRequest', value: { streamPartId } })
        await waitFor(() => peer.answers.some((body) => body.case === 'neighborResponse'), 10_000, 'an answer')
        const answer = peer.answers.find((body) => body.case === 'neighborResponse')!.value
        assert.equal(answer.accepted, false)
        assert.match(answer.reason, /^outside placement \(allowed: countries EU; peer at US\/us-east\)$/)
      } finally {
        await peer.connections.stop()
      }
    })
  })

describe('trackers and entry points named by a placement', () => {
  it('tracker mode: nodes report the stream part to the placement’s tracker, not their own', async () => {
    const own = await startWebSocketTracker()
    const trusted = await startWebSocketTracker()
    const nodes = await Promise.all([DE, FR].map(() => startWebSocketNode([own.address], { location: DE })))
    const owner = new ChainPublisher('/trusted-tracker')
    const placement = { countries: ['EU'], trackers: [trusted.address] }
    try {
      await Promise.all(
        nodes.map((node) =>
          node.join(owner.streamPartId, { placement, minNeighbors: 1, signal: AbortSignal.timeout(20_000) }),
        ),
      )
      assert.deepEqual(new Set(trusted.tracker.members(owner.streamPartId)), new Set(nodes.map((node) => node.nodeId)))
      assert.deepEqual(own.tracker.members(owner.streamPartId), [])
      assert.deepEqual(nodes[0]!.getNeighbors(owner.streamPartId), [nodes[1]!.nodeId])
    } finally {
      await Promise.all(nodes.map((node) => node.stop()))
      await Promise.all([own.tracker.stop(), trusted.tracker.stop()])
    }
  })

  it('dht mode: a node asks the placement’s entry points directly, even one its DHT doesn’t know', async () => {
    const discovery = await startDiscovery('dht')
    // A node of another DHT (its own entry point), so only the placement can lead to it.
    const port = await freePort()
    const elsewhere = await startWebSocketNode(
      { ...discovery, options: { discovery: 'dht', entryPoints: [`ws://127.0.0.1:${port}`] } },
      { location: FR },
      new WebSocketTransport({ port }),
    )
    const node = await startWebSocketNode(discovery, { location: DE })
    const owner = new ChainPublisher('/trusted-entry-point')
    const placement = { countries: ['EU'], entryPoints: [`ws://127.0.0.1:${port}`] }
    try {
      await elsewhere.join(owner.streamPartId, { placement })
      await node.join(owner.streamPartId, { placement, minNeighbors: 1, signal: AbortSignal.timeout(20_000) })
      assert.deepEqual(node.getNeighbors(owner.streamPartId), [elsewhere.nodeId])
    } finally {
      await Promise.all([node.stop(), elsewhere.stop()])
      await discovery.stop()
    }
  })
})
