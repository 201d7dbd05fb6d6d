import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { StreamMessage } from '@runnel/protocol'
import type { NetworkNode } from '../../src/index.js'
import {
  ChainPublisher,
  DISCOVERY_MODES,
  startDiscovery,
  startWebSocketNode,
  waitFor,
  type TestDiscovery,
} from '../helpers.js'

for (const mode of DISCOVERY_MODES)
  describe(`three nodes over WebSocket (${mode} discovery)`, () => {
    let discovery: TestDiscovery
    let nodes: NetworkNode[]
    const owner = new ChainPublisher('/three')
    const streamPartId = owner.streamPartId

    before(async () => {
      discovery = await startDiscovery(mode)
      nodes = await Promise.all([0, 1, 2].map(() => startWebSocketNode(discovery)))
      await Promise.all(
        nodes.map((node) => node.join(streamPartId, { minNeighbors: 2, signal: AbortSignal.timeout(20_000) })),
      )
    })

    after(async () => {
      await Promise.all(nodes.map((node) => node.stop()))
      await discovery.stop()
    })

    it('forms a full mesh: every node neighbours the other two', () => {
      for (const node of nodes) {
        assert.deepEqual(
          new Set(node.getNeighbors(streamPartId)),
          new Set(nodes.filter((other) => other !== node).map((other) => other.nodeId)),
        )
      }
      if (discovery.tracker !== undefined) assert.equal(new Set(discovery.tracker.members(streamPartId)).size, 3)
    })

    it('delivers every message exactly once, in publish order per publisher', async () => {
      const received = nodes.map(() => [] as StreamMessage[])
      nodes.forEach((node, i) => node.addMessageListener(streamPartId, (message) => received[i]!.push(message)))
      const publishers = [new ChainPublisher('/three', 0, owner.signer), new ChainPublisher('/three', 0, owner.signer)]
      const COUNT = 200
      for (let i = 0; i < COUNT; i++) {
        nodes[0]!.broadcast(await publishers[0]!.next({ i }))
        nodes[1]!.broadcast(await publishers[1]!.next({ i }))
      }
      await waitFor(() => received.every((list) => list.length >= 2 * COUNT), 30_000, 'all messages')
      for (const list of received) {
        assert.equal(list.length, 2 * COUNT, 'no duplicates delivered')
        for (const publisher of publishers) {
          const own = list.filter((message) => message.publisherId === publisher.signer.address)
          assert.equal(own.length, COUNT)
          own.forEach((message, index) => {
            assert.deepEqual(JSON.parse(new TextDecoder().decode(message.content)), { i: index }, 'publish order kept')
          })
        }
      }
      const metrics = nodes.map((node) => node.getMetrics())
      assert.ok(metrics.every((m) => m.invalidSignatures === 0 && m.invalidMessages === 0))
      // Relayed copies trail the direct ones; each node drops them when they come.
      await waitFor(
        () => nodes.every((node) => node.getMetrics().duplicates >= COUNT),
        10_000,
        'duplicates via the third node',
      )
      assert.ok(
        received.every((list) => list.length === 2 * COUNT),
        'duplicates never reach listeners',
      )
    })
  })
