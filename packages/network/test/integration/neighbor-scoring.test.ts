// Neighbour scoring on real sockets: four nodes on 127.0.0.1 around a tracker, one of them a dropper (it takes every
// message and relays none). The honest nodes probe their neighbours by holding messages back; the dropper never
// relays one, so it is rotated out and refused, while the honest nodes keep getting every message.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { StreamMessage } from '@runnel/protocol'
import { NetworkNode, type NetworkNodeOptions } from '../../src/index.js'
import { WebSocketTransport } from '../../src/node/index.js'
import { ChainPublisher, newSigner, recordingLogger, startWebSocketTracker, verifier, waitFor } from '../helpers.js'

describe('neighbour scoring over WebSockets', () => {
  const owner = new ChainPublisher('/scoring')
  const streamPartId = owner.streamPartId
  let stopTracker: () => Promise<void>
  const nodes: NetworkNode[] = []
  const logs: ReturnType<typeof recordingLogger>[] = []
  let publisher: NetworkNode
  let dropper: NetworkNode
  let subscribers: NetworkNode[]

  before(async () => {
    const { tracker, address } = await startWebSocketTracker({ targetDegree: 3 })
    stopTracker = () => tracker.stop()
    const start = async (options: NetworkNodeOptions): Promise<NetworkNode> => {
      const log = recordingLogger()
      const node = new NetworkNode(
        { transport: new WebSocketTransport({ port: 0 }), signer: newSigner(), verifier, logger: log.logger },
        { trackers: [address], targetDegree: 3, ...options },
      )
      await node.start()
      nodes.push(node)
      logs.push(log)
      return node
    }
    const scoring: NetworkNodeOptions = {
      neighborScoring: { probeEvery: 1, probeTimeoutMs: 500, maxFailedProbes: 2, minRotationIntervalMs: 500 },
    }
    publisher = await start(scoring)
    dropper = await start({ dropRelayedMessages: true })
    subscribers = [await start(scoring), await start(scoring)]
    await Promise.all(nodes.map((node) => node.join(streamPartId, { minNeighbors: 3 })))
  })

  after(async () => {
    await Promise.all(nodes.map((node) => node.stop()))
    await stopTracker()
  })

  it('rotates the dropper out of the publisher’s neighbours, and honest nodes get every message meanwhile', async () => {
    assert.ok(publisher.getNeighbors(streamPartId).includes(dropper.nodeId), 'four nodes of degree 3: all connected')
    const received = subscribers.map(() => new Set<string>())
    subscribers.forEach((node, index) =>
      node.addMessageListener(streamPartId, (message: StreamMessage) =>
        received[index]!.add(message.messageId.toString()),
      ),
    )
    const sent: string[] = []
    const publish = async (): Promise<void> => {
      const message = await owner.next({ n: sent.length })
      sent.push(message.messageId.toString())
      publisher.broadcast(message)
    }
    // Messages flow until the publisher has rotated the dropper out (each probe waits up to 500 ms).
    const rotatedOut = (): boolean =>
      publisher.getMetrics().scoring.rotations > 0 && !publisher.getNeighbors(streamPartId).includes(dropper.nodeId)
    while (!rotatedOut()) {
      if (sent.length > 400)
        assert.fail(`no rotation after ${sent.length} messages: ${JSON.stringify(publisher.getMetrics().scoring)}`)
      await publish()
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const rotation = logs[0]!.entries.find((entry) => entry.message === 'rotated out a neighbour that does not relay')
    assert.equal(rotation?.fields?.peerId, dropper.nodeId, 'the dropper, not an honest node, was rotated out')
    // Every message held back was sent late at worst: nothing lost on the way.
    await waitFor(
      () => received.every((ids) => sent.every((id) => ids.has(id))),
      10_000,
      'every message at both honest subscribers',
    )
    // Refused while banned: the dropper's next request (it wants neighbours again) doesn't bring it back.
    await publish()
    await waitFor(() => received.every((ids) => ids.size === sent.length), 10_000, 'one more message')
    assert.ok(!publisher.getNeighbors(streamPartId).includes(dropper.nodeId))
  })
})
