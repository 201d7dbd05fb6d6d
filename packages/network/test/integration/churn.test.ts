import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { StreamPartId } from '@runnel/protocol'
import type { NetworkNode, NodeId } from '../../src/index.js'
import { WebSocketTransport } from '../../src/node/index.js'
import { SeededRandom } from '../../src/transport/simulator/random.js'
import {
  ChainPublisher,
  DISCOVERY_MODES,
  startDiscovery,
  startWebSocketNode,
  waitFor,
  type TestDiscovery,
} from '../helpers.js'

const NODE_COUNT = 30
const CHURN = Math.round(NODE_COUNT * 0.2)
/** Re-convergence must happen within this bound. */
const CONVERGENCE_LIMIT_MS = 20_000

interface LiveNode {
  node: NetworkNode
  transport: WebSocketTransport
  received: Set<number>
}

function isConnected(nodes: NetworkNode[], streamPartId: StreamPartId): boolean {
  const live = new Set(nodes.map((node) => node.nodeId))
  const adjacency = new Map<NodeId, NodeId[]>(nodes.map((node) => [node.nodeId, node.getNeighbors(streamPartId)]))
  const seen = new Set<NodeId>([nodes[0]!.nodeId])
  const queue = [nodes[0]!.nodeId]
  while (queue.length > 0) {
    for (const next of adjacency.get(queue.pop()!) ?? []) {
      if (live.has(next) && !seen.has(next)) {
        seen.add(next)
        queue.push(next)
      }
    }
  }
  return seen.size === nodes.length
}

for (const mode of DISCOVERY_MODES)
  describe(`churn: ${CHURN} of ${NODE_COUNT} nodes die and as many join while a publisher sends (${mode} discovery)`, () => {
    let discovery: TestDiscovery
    let live: LiveNode[] = []
    const dead: LiveNode[] = []
    const publisher = new ChainPublisher('/churn')
    const streamPartId = publisher.streamPartId
    const random = new SeededRandom(2026)

    async function addNode(): Promise<LiveNode> {
      const transport = new WebSocketTransport({ port: 0 })
      const node = await startWebSocketNode(discovery, {}, transport)
      const entry: LiveNode = { node, transport, received: new Set() }
      node.addMessageListener(streamPartId, (message) => {
        entry.received.add((JSON.parse(new TextDecoder().decode(message.content)) as { i: number }).i)
      })
      await node.join(streamPartId)
      return entry
    }

    before(async () => {
      discovery = await startDiscovery(mode)
      for (let i = 0; i < NODE_COUNT; i++) live.push(await addNode())
      await waitFor(
        () => live.every(({ node }) => node.getNeighbors(streamPartId).length >= 2),
        30_000,
        'initial overlay',
      )
    })

    after(async () => {
      await Promise.all([...live, ...dead].map(({ node }) => node.stop()))
      await discovery.stop()
    })

    it('every live subscriber receives every message published after re-convergence', async () => {
      const publishing = live[0]!
      let sequence = 0
      let publishingDone = false
      const publishLoop = (async () => {
        while (!publishingDone) {
          publishing.node.broadcast(await publisher.next({ i: sequence++ }))
          await new Promise((resolve) => setTimeout(resolve, 10))
        }
      })()

      // Kill 20% abruptly (transport gone, no goodbye to the overlay), start as many new ones.
      const victims = live
        .slice(1)
        .map((entry) => ({ entry, key: random.nextFloat() }))
        .sort((a, b) => a.key - b.key)
        .slice(0, CHURN)
        .map(({ entry }) => entry)
      const killedAt = Date.now()
      // Stopping the transport first drops every connection without a goodbye;
      // stopping the node then only ends its timers, so it can't come back.
      await Promise.all(victims.map(({ transport }) => transport.stop()))
      await Promise.all(victims.map(({ node }) => node.stop()))
      dead.push(...victims)
      live = live.filter((entry) => !victims.includes(entry))
      for (let i = 0; i < CHURN; i++) live.push(await addNode())

      await waitFor(
        () =>
          live.every(({ node }) => node.getNeighbors(streamPartId).length >= 2) &&
          isConnected(
            live.map(({ node }) => node),
            streamPartId,
          ),
        CONVERGENCE_LIMIT_MS,
        're-convergence',
      )
      const convergedAt = Date.now()
      const firstAfter = sequence
      console.log(`re-converged ${convergedAt - killedAt} ms after the kill; first message after: #${firstAfter}`)
      await waitFor(() => sequence >= firstAfter + 200, 30_000, '200 more messages')
      publishingDone = true
      await publishLoop
      const last = sequence - 1

      await waitFor(
        () => live.every(({ received }) => received.has(last)),
        30_000,
        'the last message at every live node',
      )
      for (const { node, received } of live) {
        const missing: number[] = []
        for (let i = firstAfter; i <= last; i++) if (!received.has(i)) missing.push(i)
        assert.deepEqual(missing, [], `node ${node.nodeId} missed messages`)
      }
      if (discovery.tracker !== undefined) {
        assert.equal(discovery.tracker.members(streamPartId).length, NODE_COUNT, 'the tracker forgot the dead nodes')
      }
    })
  })
