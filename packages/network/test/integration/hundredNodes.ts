// Shared by hundred-nodes.test.ts (tracker discovery) and hundred-nodes-dht.test.ts (trackerless): one file per
// mode keeps each under a minute.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { NetworkNode } from '../../src/index.js'
import {
  ChainPublisher,
  startDiscovery,
  startWebSocketNode,
  waitFor,
  type TestDiscovery,
  type TestDiscoveryMode,
} from '../helpers.js'

const NODE_COUNT = 100
const PUBLISHERS = 4
const MESSAGES = 1_000

export function describeHundredNodes(mode: TestDiscoveryMode): void {
  describe(`${NODE_COUNT} nodes over real WebSockets in one process (${mode} discovery)`, () => {
    let discovery: TestDiscovery
    const nodes: NetworkNode[] = []
    const owner = new ChainPublisher('/hundred')
    const streamPartId = owner.streamPartId

    before(async () => {
      discovery = await startDiscovery(mode)
      // Ten at a time: a trackerless node's start joins the DHT, a few round trips.
      for (let i = 0; i < NODE_COUNT; i += 10) {
        nodes.push(...(await Promise.all(Array.from({ length: 10 }, () => startWebSocketNode(discovery)))))
      }
      await Promise.all(
        nodes.map((node) => node.join(streamPartId, { minNeighbors: 3, signal: AbortSignal.timeout(60_000) })),
      )
    })

    after(async () => {
      await Promise.all(nodes.map((node) => node.stop()))
      await discovery.stop()
    })

    it(`delivers all ${MESSAGES} messages from ${PUBLISHERS} publishers to every node`, async () => {
      const counts = nodes.map(() => new Map<string, number>())
      nodes.forEach((node, i) =>
        node.addMessageListener(streamPartId, (message) => {
          const key = `${message.publisherId}/${message.sequenceNumber}/${message.timestamp}`
          counts[i]!.set(key, (counts[i]!.get(key) ?? 0) + 1)
        }),
      )
      const publishers = Array.from({ length: PUBLISHERS }, () => new ChainPublisher('/hundred', 0, owner.signer))
      const publishingNodes = publishers.map((_, i) => nodes[i * 17]!)
      for (let i = 0; i < MESSAGES / PUBLISHERS; i++) {
        for (let p = 0; p < PUBLISHERS; p++) publishingNodes[p]!.broadcast(await publishers[p]!.next({ i }))
        // Let the event loop move frames between publishes, like real publishers spaced in time.
        if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve))
      }
      await waitFor(() => counts.every((map) => map.size >= MESSAGES), 120_000, 'delivery to every node')
      for (const map of counts) {
        assert.equal(map.size, MESSAGES)
        assert.ok(
          [...map.values()].every((count) => count === 1),
          'each message delivered exactly once',
        )
      }
      const metrics = nodes.map((node) => node.getMetrics())
      const dropped = metrics.reduce((sum, m) => sum + m.dropped, 0)
      assert.equal(dropped, 0)
      const degrees = nodes.map((node) => node.getNeighbors(streamPartId).length)
      const sorted = [...degrees].sort((a, b) => a - b)
      console.log(`${mode}: degrees min ${sorted[0]}, median ${sorted[50]}, max ${sorted.at(-1)}`)
      assert.ok(Math.max(...degrees) <= 8, `degree bounded above: ${Math.max(...degrees)}`)
    })
  })
}
