import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { addressToBytes, generatePrivateKey } from '@runnel/protocol'
import { createNativeSigner } from '@runnel/protocol/native'
import { SignalRelay, type SignalRelayConnections, type SignalRelayPeer } from '../../src/connection/SignalRelay.js'
import { RtcSignalKind, type RtcSignal as RtcSignalProto } from '../../src/generated/runnel/network/v1/network_pb.js'
import type { NodeId, NodeKind } from '../../src/identity.js'
import type { RtcSignal } from '../../src/transport/webrtc/signalling.js'
import type { ControlMessageInit } from '../../src/wire/frames.js'

function newId(): NodeId {
  return createNativeSigner(generatePrivateKey()).address
}

/** A connected peer that records the signals sent to it. */
class FakePeer implements SignalRelayPeer {
  readonly sent: Omit<RtcSignalProto, '$typeName'>[] = []
  readonly peer

  constructor(
    readonly peerId: NodeId,
    kind: NodeKind = 'full',
  ) {
    this.peer = { nodeId: peerId, kind, addresses: [], protocolVersion: 1 }
  }

  sendControl(body: ControlMessageInit): boolean {
    if (body?.case === 'rtcSignal') this.sent.push(body.value as Omit<RtcSignalProto, '$typeName'>)
    return true
  }
}

class FakeConnections implements SignalRelayConnections {
  readonly peers = new Map<NodeId, FakePeer>()

  add(kind: NodeKind = 'full', id = newId()): FakePeer {
    const peer = new FakePeer(id, kind)
    this.peers.set(id, peer)
    return peer
  }

  get(peerId: NodeId): FakePeer | undefined {
    return this.peers.get(peerId)
  }

  connectedPeers(): Iterable<FakePeer> {
    return this.peers.values()
  }
}

function signal(sourceId: NodeId, targetId: NodeId, kind: RtcSignal['kind'], connectionId = 'c1'): RtcSignal {
  return { sourceId, targetId, connectionId, kind, payload: 'p', mid: '' }
}

function wire(sourceId: NodeId, targetId: NodeId, kind: RtcSignalKind, connectionId = 'c1'): RtcSignalProto {
  return {
    $typeName: 'runnel.network.v1.RtcSignal',
    sourceId: addressToBytes(sourceId),
    targetId: addressToBytes(targetId),
    connectionId,
    kind,
    payload: 'p',
    mid: '',
  }
}

describe('SignalRelay routes', () => {
  it('sends straight to the target when connected to it', () => {
    const connections = new FakeConnections()
    const self = newId()
    const target = connections.add()
    connections.add('tracker')
    const relay = new SignalRelay({ localNodeId: self, connections })
    assert.equal(relay.send(signal(self, target.peerId, 'offer')), 1)
    assert.equal(target.sent.length, 1)
  })

  it('offers through a noted peer first, then trackers, then full nodes, at most three, never light nodes', () => {
    const connections = new FakeConnections()
    const self = newId()
    const target = newId()
    const light = connections.add('light')
    const fullNodes = [connections.add(), connections.add()]
    const tracker = connections.add('tracker')
    const noted = connections.add()
    const relay = new SignalRelay({ localNodeId: self, connections })
    relay.noteRoute(target, noted.peerId)
    assert.equal(relay.send(signal(self, target, 'offer')), 3)
    assert.equal(noted.sent.length, 1)
    assert.equal(tracker.sent.length, 1)
    assert.equal(fullNodes.filter((peer) => peer.sent.length === 1).length, 1)
    assert.equal(light.sent.length, 0)
  })

  it("sends a session's later signals only the way its answer came, and nowhere before that", () => {
    const connections = new FakeConnections()
    const self = newId()
    const target = newId()
    const [first, second] = [connections.add('tracker'), connections.add('tracker')]
    const relay = new SignalRelay({ localNodeId: self, connections })
    const delivered: RtcSignal[] = []
    relay.setReceiver((received) => delivered.push(received))
    assert.equal(relay.send(signal(self, target, 'candidate')), 0, 'no route before the answer')
    relay.handle(second, wire(target, self, RtcSignalKind.ANSWER))
    assert.equal(delivered.length, 1)
    assert.equal(relay.send(signal(self, target, 'candidate')), 1)
    assert.deepEqual([first.sent.length, second.sent.length], [0, 1])
  })

  it('relays for the proven source to a connected target, and refuses the rest with counts', () => {
    const connections = new FakeConnections()
    const self = newId()
    const [source, target] = [connections.add(), connections.add()]
    const relay = new SignalRelay({ localNodeId: self, connections })
    relay.handle(source, wire(source.peerId, target.peerId, RtcSignalKind.OFFER))
    assert.equal(target.sent.length, 1)
    relay.handle(source, wire(newId(), target.peerId, RtcSignalKind.OFFER, 'forged'))
    relay.handle(source, wire(source.peerId, newId(), RtcSignalKind.OFFER, 'elsewhere'))
    relay.handle(source, wire(source.peerId, source.peerId, RtcSignalKind.OFFER, 'loop'))
    relay.handle(source, wire(source.peerId, self, RtcSignalKind.OFFER, 'for-me'))
    assert.equal(target.sent.length, 1, 'nothing more reached the target')
    assert.deepEqual(relay.metrics.refused, {
      'forged-source': 1,
      'target-not-connected': 1,
      malformed: 1,
      'no-webrtc': 1,
    })
    assert.equal(relay.metrics.relayed, 1)
    // The undeliverable offers are answered unreachable to their (proven) sender; the forged one is not.
    const unreachable = source.sent.filter((sent) => sent.kind === RtcSignalKind.UNREACHABLE)
    assert.deepEqual(
      unreachable.map((sent) => sent.connectionId),
      ['elsewhere', 'for-me'],
    )
  })

  it('keeps at most maxRoutes noted routes, forgetting the oldest', () => {
    const connections = new FakeConnections()
    const self = newId()
    // Light peers: only a noted route leads to them, so what is remembered shows.
    const vias = [connections.add('light'), connections.add('light'), connections.add('light')]
    const targets = [newId(), newId(), newId()]
    const relay = new SignalRelay({ localNodeId: self, connections }, { maxRoutes: 2 })
    targets.forEach((target, index) => relay.noteRoute(target, vias[index]!.peerId))
    assert.deepEqual(
      targets.map((target) => relay.send(signal(self, target, 'offer'))),
      [0, 1, 1],
    )
  })
})
