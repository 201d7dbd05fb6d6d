import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { NetworkNode } from '../../src/index.js'
import { ChainPublisher, DISCOVERY_MODES, startDiscovery, startWebSocketNode, type TestDiscovery } from '../helpers.js'

// The signal is far longer than a join takes: a join that only resolved once a neighbour came (or the signal fired)
// would reject these tests with TIMEOUT instead of resolving.
const LONG = 120_000

for (const mode of DISCOVERY_MODES)
  describe(`joining until settled (${mode} discovery)`, () => {
    let discovery: TestDiscovery
    const nodes: NetworkNode[] = []

    before(async () => {
      discovery = await startDiscovery(mode)
    })

    after(async () => {
      await Promise.all(nodes.map((node) => node.stop()))
      await discovery.stop()
    })

    async function node(kind: 'full' | 'light' = 'full'): Promise<NetworkNode> {
      const started = await startWebSocketNode(discovery, { kind })
      nodes.push(started)
      return started
    }

    it("resolves for a stream part's first node as soon as discovery says it is alone", async () => {
      const streamPartId = new ChainPublisher('/alone').streamPartId
      const first = await node()
      await first.join(streamPartId, { minNeighbors: 1, orWhenSettled: true, signal: AbortSignal.timeout(LONG) })
      assert.deepEqual(first.getNeighbors(streamPartId), [])
      if (discovery.tracker !== undefined) assert.deepEqual(discovery.tracker.members(streamPartId), [first.nodeId])
    })

    it('waits for the neighbour discovery names when the stream part has one', async () => {
      const streamPartId = new ChainPublisher('/pair').streamPartId
      const [first, second] = [await node(), await node()]
      await first.join(streamPartId, { minNeighbors: 1, orWhenSettled: true, signal: AbortSignal.timeout(LONG) })
      await second.join(streamPartId, { minNeighbors: 1, orWhenSettled: true, signal: AbortSignal.timeout(LONG) })
      assert.deepEqual(second.getNeighbors(streamPartId), [first.nodeId])
    })

    it('resolves for a light node when the stream part has no full node to proxy through', async () => {
      const streamPartId = new ChainPublisher('/light-alone').streamPartId
      const light = await node('light')
      await light.join(streamPartId, { minNeighbors: 1, orWhenSettled: true, signal: AbortSignal.timeout(LONG) })
      assert.deepEqual(light.getNeighbors(streamPartId), [])
    })

    it('without orWhenSettled, still waits for minNeighbors', async () => {
      const streamPartId = new ChainPublisher('/strict').streamPartId
      const first = await node()
      let strictResolved = false
      const joined = first
        .join(streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(LONG) })
        .then(() => (strictResolved = true))
      // Settled (discovery has answered "no one") yet still waiting: the strict join resolves only with a neighbour.
      await first.join(streamPartId, { minNeighbors: 1, orWhenSettled: true, signal: AbortSignal.timeout(LONG) })
      assert.equal(strictResolved, false)
      const second = await node()
      await second.join(streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(LONG) })
      await joined
      assert.deepEqual(first.getNeighbors(streamPartId), [second.nodeId])
    })
  })
