import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { StreamMessage } from '@runnel/protocol'
import { WebSocket } from 'ws'
import { NetworkError, WebSocketClientTransport, type NetworkNode } from '../../src/index.js'
import type { WebSocketConstructor } from '../../src/transport/websocket/WebSocketClientTransport.js'
import {
  ChainPublisher,
  DISCOVERY_MODES,
  startDiscovery,
  startWebSocketNode,
  waitFor,
  type TestDiscovery,
} from '../helpers.js'

// The browser transport, driven here by `ws`'s WHATWG-compatible WebSocket.
const clientTransport = (): WebSocketClientTransport =>
  new WebSocketClientTransport({ WebSocket: WebSocket as unknown as WebSocketConstructor })

for (const mode of DISCOVERY_MODES)
  describe(`light nodes publish and subscribe through proxies without relaying (${mode} discovery)`, () => {
    let discovery: TestDiscovery
    let fullNodes: NetworkNode[]
    let refusing: NetworkNode
    const publisher = new ChainPublisher('/light')
    const streamPartId = publisher.streamPartId

    before(async () => {
      discovery = await startDiscovery(mode)
      fullNodes = await Promise.all([0, 1, 2].map(() => startWebSocketNode(discovery)))
      refusing = await startWebSocketNode(discovery, { acceptProxies: false })
      await Promise.all([...fullNodes, refusing].map((node) => node.join(streamPartId, { minNeighbors: 2 })))
    })

    after(async () => {
      await Promise.all([...fullNodes, refusing].map((node) => node.stop()))
      await discovery.stop()
    })

    it('a light node gets messages from the overlay and publishes into it', async () => {
      const light = await startWebSocketNode(discovery, { kind: 'light', proxyCount: 2 }, clientTransport())
      try {
        await light.join(streamPartId, { minNeighbors: 2, signal: AbortSignal.timeout(20_000) })
        const proxies = light.getNeighbors(streamPartId)
        assert.equal(proxies.length, 2)
        assert.ok(!proxies.includes(refusing.nodeId), 'a node that refuses proxies is not used')
        assert.deepEqual(light.descriptor.addresses, [], 'a light node accepts no connections')

        const toLight: StreamMessage[] = []
        light.addMessageListener(streamPartId, (message) => toLight.push(message))
        const fromFull = await publisher.next({ from: 'full' })
        fullNodes[0]!.broadcast(fromFull)
        await waitFor(() => toLight.length === 1, 10_000, 'delivery to the light node')

        const received = fullNodes.map(() => [] as StreamMessage[])
        fullNodes.forEach((node, i) => node.addMessageListener(streamPartId, (message) => received[i]!.push(message)))
        light.broadcast(await publisher.next({ from: 'light' }))
        await waitFor(() => received.every((list) => list.length === 1), 10_000, 'delivery from the light node')

        const metrics = light.getMetrics()
        // It sent its own message to its two proxies and relayed nothing.
        assert.equal(metrics.messagesOut, 2)
        assert.ok(metrics.duplicates >= 0)
        assert.equal(toLight.length, 2, 'its own message once, and the full node’s once')
      } finally {
        await light.stop()
      }
    })

    it('a light node that only finds nodes refusing proxies times out with a clear error', async () => {
      const lonelyPublisher = new ChainPublisher('/light/refused')
      await refusing.join(lonelyPublisher.streamPartId)
      const light = await startWebSocketNode(discovery, { kind: 'light', statusRetryMs: 100 }, clientTransport())
      try {
        await assert.rejects(
          light.join(lonelyPublisher.streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(1_500) }),
          (err: unknown) =>
            err instanceof NetworkError && err.code === 'TIMEOUT' && /0 of 1 neighbours/.test(err.message),
        )
      } finally {
        await light.stop()
        refusing.leave(lonelyPublisher.streamPartId)
      }
    })
  })
