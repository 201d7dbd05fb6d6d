import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { StreamMessage } from '@runnel/protocol'
import type { NetworkNode, NetworkNodeOptions } from '../../src/index.js'
import { ChainPublisher, startDiscovery, startWebSocketNode, waitFor, type TestDiscovery } from '../helpers.js'

/** Tight limits, so a flood a test can sign in a second or two meets them; Y's publisher stays well within. */
const LIMITS: NetworkNodeOptions['relayLimits'] = {
  publisherMessagesPerSecond: 100,
  streamPartMessagesPerSecond: 200,
  burstSeconds: 1,
}
const FLOOD = 6_000
const Y_MESSAGES = 50

describe('a publisher flooding stream X through nodes shared with stream Y (real sockets)', () => {
  let discovery: TestDiscovery
  let relays: NetworkNode[]
  let flooder: NetworkNode
  let yPublisher: NetworkNode
  let ySubscriber: NetworkNode
  let xSubscriber: NetworkNode
  const x = new ChainPublisher('/flood-x')
  const y = new ChainPublisher('/flood-y')

  before(async () => {
    discovery = await startDiscovery('tracker')
    const join = (node: NetworkNode, streamPartId: typeof x.streamPartId): Promise<void> =>
      node.join(streamPartId, { minNeighbors: 1, signal: AbortSignal.timeout(20_000) })
    relays = await Promise.all([0, 1, 2].map(() => startWebSocketNode(discovery, { relayLimits: LIMITS })))
    await Promise.all(relays.flatMap((relay) => [join(relay, x.streamPartId), join(relay, y.streamPartId)]))
    const [first, second, third] = await Promise.all(
      [0, 1, 2].map(() => startWebSocketNode(discovery, { relayLimits: LIMITS })),
    )
    xSubscriber = first!
    ySubscriber = second!
    yPublisher = third!
    // The flooder's own node keeps no limits: it sends whatever its publisher makes.
    flooder = await startWebSocketNode(discovery, { relayLimits: false })
    await Promise.all([
      join(xSubscriber, x.streamPartId),
      join(ySubscriber, y.streamPartId),
      join(yPublisher, y.streamPartId),
      join(flooder, x.streamPartId),
    ])
  })

  after(async () => {
    await Promise.all([...relays, flooder, yPublisher, ySubscriber, xSubscriber].map((node) => node.stop()))
    await discovery.stop()
  })

  it("delivers every message of Y while X's flood is dropped and counted, and the flooder is disconnected", async () => {
    const receivedY: StreamMessage[] = []
    let receivedX = 0
    ySubscriber.addMessageListener(y.streamPartId, (message) => receivedY.push(message))
    xSubscriber.addMessageListener(x.streamPartId, () => receivedX++)
    const flood: StreamMessage[] = []
    for (let i = 0; i < FLOOD; i++) flood.push(await x.next({ i }))
    const yMessages: StreamMessage[] = []
    for (let i = 0; i < Y_MESSAGES; i++) yMessages.push(await y.next({ i }))

    // Y publishes at 25 msg/s while X's flood goes out as fast as the flooder's node can send it.
    const publishingY = (async () => {
      for (const message of yMessages) {
        yPublisher.broadcast(message)
        await new Promise((resolve) => setTimeout(resolve, 40))
      }
    })()
    for (let start = 0; start < FLOOD; start += 500) {
      for (const message of flood.slice(start, start + 500)) flooder.broadcast(message)
      await new Promise((resolve) => setImmediate(resolve))
    }
    await publishingY

    await waitFor(() => receivedY.length >= Y_MESSAGES, 20_000, 'every message of Y')
    assert.deepEqual(
      receivedY.map((message) => message.messageId.toString()).sort(),
      yMessages.map((message) => message.messageId.toString()).sort(),
      'all of Y, each once',
    )
    const limitedNodes = [...relays, xSubscriber]
    await waitFor(
      () => limitedNodes.some((node) => (node.getMetrics().disconnects.flooding ?? 0) > 0),
      20_000,
      'a neighbour of the flooder disconnecting it',
    )
    const rateLimited = limitedNodes.reduce((sum, node) => sum + node.getMetrics().rateLimited, 0)
    assert.ok(rateLimited > FLOOD / 2, `the flood was dropped over the limits (${rateLimited} drops)`)
    assert.ok(receivedX < FLOOD / 2, `X's subscriber got only what the limits let through (${receivedX} of ${FLOOD})`)
    // Y's own nodes never met a limit: nothing of Y was dropped.
    for (const node of [yPublisher, ySubscriber]) assert.equal(node.getMetrics().rateLimited, 0)
  })
})
