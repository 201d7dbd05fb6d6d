import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { StreamMessage, StreamPartId } from '@runnel/protocol'
import { trackerFor, type NetworkNode, type TrackerServer } from '../../src/index.js'
import { ChainPublisher, startWebSocketNode, startWebSocketTracker, waitFor } from '../helpers.js'

describe('several trackers', () => {
  let trackers: { tracker: TrackerServer; address: string }[]
  let nodes: NetworkNode[]
  const publishers = twoPerTracker(3)

  before(async () => {
    trackers = await Promise.all([0, 1, 2].map(() => startWebSocketTracker()))
    const addresses = trackers.map((t) => t.address)
    nodes = await Promise.all([0, 1, 2, 3].map(() => startWebSocketNode(addresses)))
    await Promise.all(
      publishers.flatMap((publisher) => nodes.map((node) => node.join(publisher.streamPartId, { minNeighbors: 2 }))),
    )
  })

  after(async () => {
    await Promise.all(nodes.map((node) => node.stop()))
    await Promise.all(trackers.map(({ tracker }) => tracker.stop()))
  })

  it('registers each stream part with the one tracker its id hashes to', () => {
    const addresses = trackers.map((t) => t.address)
    const used = new Set<string>()
    for (const { streamPartId } of publishers) {
      const responsible = trackerFor(streamPartId, addresses)
      used.add(responsible)
      for (const { tracker, address } of trackers) {
        assert.equal(tracker.members(streamPartId).length, address === responsible ? nodes.length : 0)
      }
    }
    assert.equal(used.size, trackers.length, 'the stream parts spread over every tracker')
  })

  it('delivers on every stream part', async () => {
    const received = new Map<StreamPartId, StreamMessage[]>(publishers.map((p) => [p.streamPartId, []]))
    for (const publisher of publishers) {
      nodes[3]!.addMessageListener(publisher.streamPartId, (message) =>
        received.get(publisher.streamPartId)!.push(message),
      )
    }
    for (const publisher of publishers) nodes[0]!.broadcast(await publisher.next())
    await waitFor(() => [...received.values()].every((list) => list.length === 1), 30_000, 'delivery on all parts')
  })
})

/**
 * Stream ids carry a random publisher address, so six random parts land on one
 * of three trackers now and then (1 in 243); draw until each tracker has two.
 */
function twoPerTracker(trackerCount: number): ChainPublisher[] {
  const slots = Array.from({ length: trackerCount }, (_, i) => `slot-${i}`)
  const perSlot = new Map<string, ChainPublisher[]>(slots.map((slot) => [slot, []]))
  for (let i = 0; [...perSlot.values()].some((list) => list.length < 2); i++) {
    const publisher = new ChainPublisher(`/multi/${i}`)
    const list = perSlot.get(trackerFor(publisher.streamPartId, slots))!
    if (list.length < 2) list.push(publisher)
  }
  return [...perSlot.values()].flat()
}

describe('propagation window', () => {
  let tracker: TrackerServer
  let address: string
  const nodes: NetworkNode[] = []

  before(async () => {
    ;({ tracker, address } = await startWebSocketTracker())
  })

  after(async () => {
    await Promise.all(nodes.map((node) => node.stop()))
    await tracker.stop()
  })

  it('a message broadcast before the node has neighbours reaches neighbours that connect soon after', async () => {
    const publisher = new ChainPublisher('/early')
    const early = await startWebSocketNode([address])
    nodes.push(early)
    const message = await publisher.next({ early: true })
    early.broadcast(message)
    assert.equal(early.getNeighbors(publisher.streamPartId).length, 0)
    const late = await startWebSocketNode([address])
    nodes.push(late)
    const received: StreamMessage[] = []
    late.addMessageListener(publisher.streamPartId, (m) => received.push(m))
    await waitFor(() => received.length === 1, 30_000, 'the early message')
    assert.equal(received[0]!.messageId.toString(), message.messageId.toString())
  })
})
