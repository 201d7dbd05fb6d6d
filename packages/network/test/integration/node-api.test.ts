import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { addressToBytes, encodeStreamMessage, type StreamMessage } from '@runnel/protocol'
import { NetworkError, NetworkNode, Simulator, TrackerServer, constantLatency } from '../../src/index.js'
import {
  ChainPublisher,
  DISCOVERY_MODES,
  freePort,
  newSigner,
  startDiscovery,
  startRawPeer,
  startWebSocketNode,
  verifier,
  waitFor,
  type TestDiscovery,
} from '../helpers.js'

for (const mode of DISCOVERY_MODES)
  describe(`NetworkNode API over WebSocket (${mode} discovery)`, () => {
    let discovery: TestDiscovery
    let nodes: NetworkNode[]
    const publisher = new ChainPublisher('/api')
    const streamPartId = publisher.streamPartId

    before(async () => {
      discovery = await startDiscovery(mode)
      nodes = await Promise.all([0, 1, 2].map(() => startWebSocketNode(discovery)))
      await Promise.all(nodes.map((node) => node.join(streamPartId, { minNeighbors: 2 })))
    })

    after(async () => {
      await Promise.all(nodes.map((node) => node.stop()))
      await discovery.stop()
    })

    it('yields messages as an async iterable until its signal aborts', async () => {
      const controller = new AbortController()
      const iterable = nodes[1]!.messages(streamPartId, { signal: controller.signal })
      const sent = [await publisher.next({ n: 1 }), await publisher.next({ n: 2 }), await publisher.next({ n: 3 })]
      for (const message of sent) nodes[0]!.broadcast(message)
      const received: StreamMessage[] = []
      for await (const message of iterable) {
        received.push(message)
        if (received.length === sent.length) controller.abort()
      }
      assert.deepEqual(
        received.map((m) => m.messageId.toString()),
        sent.map((m) => m.messageId.toString()),
      )
      assert.equal(iterable.dropped, 0)
    })

    it('obeys overlay instructions only from its tracker, not from a peer claiming to be one', async () => {
      const impostorKey = newSigner()
      const impostor = await startRawPeer(impostorKey, 'tracker')
      try {
        const victim = nodes[0]!
        const neighborsBefore = victim.getNeighbors(streamPartId)
        const connection = await impostor.connect(victim.descriptor.addresses[0]!)
        connection.sendControl({
          case: 'trackerInstruction',
          value: { streamPartId, peers: [], dropNeighborIds: neighborsBefore.map((id) => addressToBytes(id)) },
        })
        // A ping round trip after the instruction proves the node has processed it.
        const pongs = connection.stats.framesIn
        connection.sendControl({ case: 'ping', value: { id: 7 } })
        await waitFor(() => connection.stats.framesIn > pongs, 10_000, 'pong')
        assert.deepEqual(new Set(victim.getNeighbors(streamPartId)), new Set(neighborsBefore))
      } finally {
        await impostor.stop()
      }
    })

    it('ends message iterables when the node leaves the stream part', async () => {
      const other = new ChainPublisher('/api/iterable')
      const iterable = nodes[0]!.messages(other.streamPartId)
      const consumed = (async () => {
        let count = 0
        for await (const message of iterable) if (message !== undefined) count++
        return count
      })()
      nodes[0]!.leave(other.streamPartId)
      assert.equal(await consumed, 0)
    })

    it('leave() removes the node from the overlay, its neighbours and its tracker (if any)', async () => {
      const leaver = nodes[2]!
      leaver.leave(streamPartId)
      assert.deepEqual(leaver.getNeighbors(streamPartId), [])
      assert.ok(!leaver.getStreamParts().includes(streamPartId))
      await waitFor(
        () =>
          !(discovery.tracker?.members(streamPartId).includes(leaver.nodeId) ?? false) &&
          nodes.slice(0, 2).every((node) => !node.getNeighbors(streamPartId).includes(leaver.nodeId)),
        10_000,
        'the others to forget the leaver',
      )
    })

    it('join() with minNeighbors times out with a typed error when no one else is there', async () => {
      const alone = new ChainPublisher('/api/alone')
      await assert.rejects(
        nodes[0]!.join(alone.streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(300) }),
        (err: unknown) => err instanceof NetworkError && err.code === 'TIMEOUT',
      )
      nodes[0]!.leave(alone.streamPartId)
    })

    it('flush() waits for a first neighbour to take what was published alone, and counts what reached no one', async () => {
      const part = new ChainPublisher('/api/flush')
      const first = await startWebSocketNode(discovery)
      const second = await startWebSocketNode(discovery)
      try {
        // Alone once discovery answered: nobody to send to, so flush says so at once.
        await first.join(part.streamPartId, { orWhenSettled: true })
        const early = await part.next({ n: 1 })
        first.broadcast(early)
        assert.equal(await first.flush(part.streamPartId), 1)

        // A node published at the moment it joins, before discovery answered: flush waits for the neighbour.
        const received: StreamMessage[] = []
        second.addMessageListener(part.streamPartId, (message) => received.push(message))
        void second.join(part.streamPartId)
        const late = await part.next({ n: 2 })
        second.broadcast(late)
        assert.equal(await second.flush(part.streamPartId, { signal: AbortSignal.timeout(60_000) }), 0)
        assert.deepEqual(second.getNeighbors(part.streamPartId), [first.nodeId])
        // The first node's buffered message went to its new neighbour too.
        const arrived = () => received.some((message) => message.sequenceNumber === early.sequenceNumber)
        await waitFor(arrived, 10_000, 'the message published alone to arrive')
        assert.equal(await first.flush(part.streamPartId), 0)
        assert.equal(await first.flush(new ChainPublisher('/api/flush/never-joined').streamPartId), 0)
      } finally {
        await Promise.all([first.stop(), second.stop()])
      }
    })

    it('flush() gives up when its signal fires, counting what is still unsent', async () => {
      // Discovery that never answers: the node can't know yet whether anyone else is there.
      const port = await freePort()
      const address = `ws://127.0.0.1:${port}`
      const node = await startWebSocketNode({
        ...discovery,
        options: mode === 'tracker' ? { trackers: [address] } : { discovery: 'dht', entryPoints: [address] },
      })
      try {
        const part = new ChainPublisher('/api/flush-timeout')
        void node.join(part.streamPartId)
        node.broadcast(await part.next({ n: 1 }))
        assert.equal(await node.flush(part.streamPartId, { signal: AbortSignal.timeout(300) }), 1)
      } finally {
        await node.stop()
      }
    })

    it('refuses calls before start and after stop, and bad options', async () => {
      const node = new NetworkNode(
        { transport: new Simulator().createTransport(), signer: newSigner(), verifier },
        {
          trackers: ['sim://0'],
        },
      )
      assert.throws(
        () => node.broadcast({} as StreamMessage),
        (err: unknown) => err instanceof NetworkError && err.code === 'INVALID_STATE',
      )
      await node.start()
      await node.stop()
      assert.throws(
        () => node.broadcast({} as StreamMessage),
        (err: unknown) => err instanceof NetworkError && err.code === 'INVALID_STATE',
      )
      assert.throws(
        () =>
          new NetworkNode(
            { transport: new Simulator().createTransport(), signer: newSigner(), verifier },
            { trackers: [] },
          ),
        (err: unknown) => err instanceof NetworkError && err.code === 'INVALID_OPTIONS',
      )
      assert.throws(
        () =>
          new NetworkNode(
            { transport: new Simulator().createTransport(), signer: newSigner(), verifier },
            { trackers: ['sim://0'], targetDegree: 8, maxDegree: 4 },
          ),
        (err: unknown) => err instanceof NetworkError && err.code === 'INVALID_OPTIONS',
      )
    })

    it('names the missing list when a discovery mode lacks its addresses', () => {
      const components = { transport: new Simulator().createTransport(), signer: newSigner(), verifier }
      const refusal = (pattern: RegExp) => (err: unknown) =>
        err instanceof NetworkError && err.code === 'INVALID_OPTIONS' && pattern.test(err.message)
      assert.throws(() => new NetworkNode(components, {}), refusal(/entryPoints/))
      assert.throws(
        () => new NetworkNode(components, { discovery: 'dht', trackers: ['sim://0'] }),
        refusal(/entryPoints/),
      )
      assert.throws(
        () => new NetworkNode(components, { discovery: 'tracker', entryPoints: ['sim://0'] }),
        refusal(/trackers/),
      )
      assert.throws(
        () => new NetworkNode(components, { discovery: 'gossip' as 'dht', entryPoints: ['sim://0'] }),
        refusal(/discovery must be/),
      )
      const trackerless = new NetworkNode(components, { entryPoints: ['sim://0'] })
      assert.notEqual(trackerless.dht, undefined, 'entry points alone mean dht mode')
      assert.equal(new NetworkNode({ ...components, signer: newSigner() }, { trackers: ['sim://0'] }).dht, undefined)
    })
  })

describe('back-pressure', () => {
  it('drops and counts frames for a slow peer instead of buffering without bound', async () => {
    // A 2-second link: everything sent waits in the send buffer that long.
    const simulator = new Simulator({ seed: 1, latency: constantLatency(2_000) })
    const tracker = new TrackerServer({ transport: simulator.createTransport(), signer: newSigner(), verifier })
    const [trackerAddress] = await tracker.start()
    const limit = 64 * 1024
    const nodes = await Promise.all(
      [0, 1].map(async () => {
        const transport = simulator.createTransport()
        const node = new NetworkNode(
          { transport, signer: newSigner(), verifier },
          { trackers: [trackerAddress!], peer: { sendBufferLimit: limit } },
        )
        await node.start()
        return { node, transport }
      }),
    )
    try {
      const publisher = new ChainPublisher('/slow')
      await Promise.all(nodes.map(({ node }) => node.join(publisher.streamPartId, { minNeighbors: 1 })))
      const payload = 'x'.repeat(1_000)
      const messages = await Promise.all(Array.from({ length: 500 }, (_, i) => publisher.next({ i, payload })))
      for (const message of messages) nodes[0]!.node.broadcast(message)
      const { dropped, messagesOut } = nodes[0]!.node.getMetrics()
      assert.ok(dropped > 0, 'frames beyond the limit are dropped')
      assert.ok(messagesOut < 500 && messagesOut + dropped >= 500, `sent ${messagesOut}, dropped ${dropped}`)
      // What is queued stays within the limit plus the frame that crossed it.
      const frameSize = encodeStreamMessage(messages[0]!).length + 1
      assert.ok(messagesOut * frameSize <= limit + frameSize, `queued ${messagesOut} frames of ${frameSize} bytes`)
    } finally {
      await Promise.all(nodes.map(({ node }) => node.stop()))
      await tracker.stop()
      simulator.stop()
    }
  })
})
