// A tracker that restarts (same key, same address) loses its whole picture of
// the overlay. The nodes must notice, register again, and keep delivering; a
// node that joins afterwards must find the ones that were there before.
import { after, describe, it } from 'node:test'
import type { StreamMessage } from '@runnel/protocol'
import { generatePrivateKey } from '@runnel/protocol'
import { createNativeSigner } from '@runnel/protocol/native'
import { TrackerServer, type NetworkNode } from '../../src/index.js'
import { WebSocketTransport } from '../../src/node/index.js'
import { ChainPublisher, startWebSocketNode, verifier, waitFor } from '../helpers.js'

describe('a tracker restart', () => {
  const nodes: NetworkNode[] = []
  let tracker: TrackerServer | undefined

  after(async () => {
    await Promise.all(nodes.map((node) => node.stop()))
    await tracker?.stop()
  })

  it('leaves delivery running, and a node joining after it finds the nodes from before', async () => {
    const trackerKey = generatePrivateKey()
    const startTracker = async (port: number): Promise<string> => {
      tracker = new TrackerServer({
        transport: new WebSocketTransport({ port }),
        signer: createNativeSigner(trackerKey),
        verifier,
      })
      const [address] = await tracker.start()
      return address!
    }
    const address = await startTracker(0)
    const port = Number(new URL(address).port)
    const publisher = new ChainPublisher('/tracker-restart')
    const [source, before] = [await startWebSocketNode([address]), await startWebSocketNode([address])]
    nodes.push(source, before)
    await Promise.all([source, before].map((node) => node.join(publisher.streamPartId, { minNeighbors: 1 })))
    const seenBefore: StreamMessage[] = []
    before.addMessageListener(publisher.streamPartId, (message) => seenBefore.push(message))
    source.broadcast(await publisher.next({ n: 1 }))
    await waitFor(() => seenBefore.length === 1, 30_000, 'the first message')

    await tracker!.stop()
    // The overlay doesn't need the tracker to deliver: neighbours stay connected while it is away.
    source.broadcast(await publisher.next({ n: 2 }))
    await waitFor(() => seenBefore.length === 2, 30_000, 'a message while the tracker is down')

    await startTracker(port)
    const late = await startWebSocketNode([address])
    nodes.push(late)
    const seenLate: StreamMessage[] = []
    late.addMessageListener(publisher.streamPartId, (message) => seenLate.push(message))
    // Only nodes that registered again with the new tracker can be its neighbours.
    await late.join(publisher.streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(30_000) })
    source.broadcast(await publisher.next({ n: 3 }))
    await waitFor(
      () => seenLate.some((m) => m.getMessageRef().compareTo(seenBefore[1]!.getMessageRef()) > 0),
      30_000,
      'a message after the restart on the new node',
    )
    await waitFor(() => seenBefore.length === 3, 30_000, 'a message after the restart on the old node')
  })
})
