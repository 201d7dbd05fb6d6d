import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { addressToBytes, type StreamMessage } from '@runnel/protocol'
import type { ConnectionManager } from '../../src/connection/ConnectionManager.js'
import type { PeerConnection } from '../../src/connection/PeerConnection.js'
import { RtcSignalKind, type ControlMessage } from '../../src/generated/runnel/network/v1/network_pb.js'
import { NetworkNode, type NodeId, type TrackerServer } from '../../src/index.js'
import { createNodeWebRtcTransport, WebSocketTransport } from '../../src/node/index.js'
import { MultiTransport } from '../../src/transport/MultiTransport.js'
import type { WebRtcTransport } from '../../src/transport/webrtc/WebRtcTransport.js'
import { ChainPublisher, newSigner, startRawPeer, startWebSocketTracker, verifier, waitFor } from '../helpers.js'

/** A node that runs no WebSocket server: peers can reach it over WebRTC only. */
async function startWebRtcNode(trackers: string[]): Promise<{ node: NetworkNode; webRtc: WebRtcTransport }> {
  const webRtc = createNodeWebRtcTransport()
  const transport = new MultiTransport([new WebSocketTransport(), webRtc])
  const node = new NetworkNode({ transport, signer: newSigner(), verifier }, { trackers })
  await node.start()
  return { node, webRtc }
}

/** A bare connection that sends whatever control messages a test writes, and keeps the ones it receives. */
async function startRoguePeer(): Promise<{
  connections: ConnectionManager
  nodeId: NodeId
  received: ControlMessage[]
}> {
  const signer = newSigner()
  const received: ControlMessage[] = []
  const connections = await startRawPeer(signer, 'full', signer.address, {
    onControl: (message) => received.push(message),
  })
  return { connections, nodeId: signer.address, received }
}

interface SignalFields {
  sourceId?: Uint8Array
  targetId?: Uint8Array
  connectionId?: string
  kind?: RtcSignalKind
  payload?: string
}

function sendSignal(peer: PeerConnection, fields: SignalFields & { sourceId: Uint8Array; targetId: Uint8Array }): void {
  peer.sendControl({
    case: 'rtcSignal',
    value: { connectionId: 'rogue-1', kind: RtcSignalKind.OFFER, payload: 'v=0', mid: '', ...fields },
  })
}

function unreachableAnswers(received: ControlMessage[], connectionId: string): number {
  return received.filter(
    (message) =>
      message.body.case === 'rtcSignal' &&
      message.body.value.kind === RtcSignalKind.UNREACHABLE &&
      message.body.value.connectionId === connectionId,
  ).length
}

describe('WebRTC signalling through a tracker', () => {
  let tracker: TrackerServer
  let trackerAddress: string
  let alice: { node: NetworkNode; webRtc: WebRtcTransport }
  let bob: { node: NetworkNode; webRtc: WebRtcTransport }
  let rogue: Awaited<ReturnType<typeof startRoguePeer>>
  let rogueToTracker: PeerConnection
  const publisher = new ChainPublisher('/webrtc-signalling')
  const streamPartId = publisher.streamPartId

  before(async () => {
    ;({ tracker, address: trackerAddress } = await startWebSocketTracker())
    alice = await startWebRtcNode([trackerAddress])
    bob = await startWebRtcNode([trackerAddress])
    rogue = await startRoguePeer()
    rogueToTracker = await rogue.connections.connect(trackerAddress, undefined, AbortSignal.timeout(10_000))
  })

  after(async () => {
    await rogue.connections.stop()
    await Promise.all([alice.node.stop(), bob.node.stop()])
    await tracker.stop()
  })

  async function assertStreamFlows(count: number): Promise<void> {
    const received: StreamMessage[] = []
    const remove = bob.node.addMessageListener(streamPartId, (message) => received.push(message))
    const sent: string[] = []
    for (let index = 0; index < count; index++) {
      const message = await publisher.next({ index })
      sent.push(message.messageId.toString())
      alice.node.broadcast(message)
    }
    await waitFor(() => received.length === count, 15_000, `${count} messages at bob`)
    remove()
    assert.deepEqual(
      received.map((message) => message.messageId.toString()),
      sent,
    )
  }

  it('two nodes without WebSocket servers become neighbours over WebRTC and carry a stream', async () => {
    assert.deepEqual(alice.node.descriptor.addresses, [`webrtc:${alice.node.nodeId}`])
    await Promise.all([alice, bob].map(({ node }) => node.join(streamPartId, { minNeighbors: 1 })))
    assert.deepEqual(alice.node.getNeighbors(streamPartId), [bob.node.nodeId])

    await assertStreamFlows(50)
    assert.ok(tracker.metrics.signalling.relayed >= 2, 'the tracker relayed at least the offer and the answer')
    assert.equal(alice.webRtc.metrics.opened + bob.webRtc.metrics.opened, 2, 'one session, open at both ends')
  })

  it("refuses and counts a signal whose source isn't the node that sent it", async () => {
    const before = tracker.metrics.signalling.refused['forged-source'] ?? 0
    const delivered = bob.node.getMetrics().signalling.delivered
    sendSignal(rogueToTracker, {
      sourceId: addressToBytes(alice.node.nodeId),
      targetId: addressToBytes(bob.node.nodeId),
      connectionId: 'forged',
    })
    await waitFor(() => (tracker.metrics.signalling.refused['forged-source'] ?? 0) === before + 1)
    assert.equal(bob.node.getMetrics().signalling.delivered, delivered, 'nothing reached bob')
  })

  it('refuses a signal for a node the relay is not connected to, and tells the offer it is unreachable', async () => {
    const before = tracker.metrics.signalling.refused['target-not-connected'] ?? 0
    sendSignal(rogueToTracker, {
      sourceId: addressToBytes(rogue.nodeId),
      targetId: addressToBytes(newSigner().address),
      connectionId: 'nobody-there',
    })
    await waitFor(() => unreachableAnswers(rogue.received, 'nobody-there') === 1)
    assert.equal(tracker.metrics.signalling.refused['target-not-connected'], before + 1)
  })

  it('refuses and counts oversized payloads, ids of the wrong length and unknown kinds', async () => {
    const refused = (): Partial<Record<string, number>> => tracker.metrics.signalling.refused
    const oversizedBefore = refused().oversized ?? 0
    const malformedBefore = refused().malformed ?? 0
    const rogueId = addressToBytes(rogue.nodeId)
    const bobId = addressToBytes(bob.node.nodeId)
    sendSignal(rogueToTracker, { sourceId: rogueId, targetId: bobId, payload: 'x'.repeat(9_000) })
    sendSignal(rogueToTracker, { sourceId: rogueId.subarray(0, 19), targetId: bobId })
    sendSignal(rogueToTracker, { sourceId: rogueId, targetId: bobId, kind: 99 as RtcSignalKind })
    sendSignal(rogueToTracker, { sourceId: rogueId, targetId: bobId, connectionId: 'c'.repeat(65) })
    await waitFor(
      () => (refused().oversized ?? 0) === oversizedBefore + 1 && (refused().malformed ?? 0) === malformedBefore + 3,
    )
    assert.equal(bob.node.getMetrics().signalling.refused.malformed ?? 0, 0, 'none reached bob')
  })

  it("counts garbage SDP at the target's transport, tells the dialler, and the nodes keep serving", async () => {
    const before = bob.webRtc.metrics.refused['invalid-description'] ?? 0
    sendSignal(rogueToTracker, {
      sourceId: addressToBytes(rogue.nodeId),
      targetId: addressToBytes(bob.node.nodeId),
      connectionId: 'garbage-sdp',
      payload: 'this is not SDP\r\n\u0000\u00ff',
    })
    await waitFor(() => unreachableAnswers(rogue.received, 'garbage-sdp') === 1)
    assert.equal(bob.webRtc.metrics.refused['invalid-description'], before + 1)
    await assertStreamFlows(5)
  })

  it('a signal for the tracker itself is refused: it runs no WebRTC transport', async () => {
    const before = tracker.metrics.signalling.refused['no-webrtc'] ?? 0
    sendSignal(rogueToTracker, {
      sourceId: addressToBytes(rogue.nodeId),
      targetId: addressToBytes(tracker.nodeId),
      connectionId: 'to-tracker',
    })
    await waitFor(() => unreachableAnswers(rogue.received, 'to-tracker') === 1)
    assert.equal(tracker.metrics.signalling.refused['no-webrtc'], before + 1)
  })
})
