import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { create } from '@bufbuild/protobuf'
import {
  ManualClock,
  addressFromBytes,
  addressToBytes,
  toStreamId,
  toStreamPartId,
  type StreamPartId,
} from '@runnel/protocol'
import { ControlMessageSchema } from '../../src/generated/runnel/network/v1/network_pb.js'
import { descriptorToProto, type NodeDescriptor, type NodeId } from '../../src/identity.js'
import { silentLogger } from '../../src/logger.js'
import { waitForNeighbors } from '../../src/overlay/joinWaiter.js'
import { DROP_MEMORY_MS, Membership } from '../../src/overlay/Membership.js'
import {
  OverlayControl,
  type ControlConnections,
  type ControlLink,
  type ControlPeer,
} from '../../src/overlay/OverlayControl.js'
import { StreamPartOverlay } from '../../src/overlay/StreamPartOverlay.js'
import type { ControlMessageInit } from '../../src/wire/frames.js'

const REQUEST_TIMEOUT_MS = 5_000

function nodeId(index: number): NodeId {
  const bytes = new Uint8Array(20)
  bytes[19] = index
  return addressFromBytes(bytes)
}

const trackerId = nodeId(99)
const streamPartId = toStreamPartId(toStreamId(nodeId(200), '/negotiation'), 0)

/** A control message as delivered: who sent what to whom. */
interface Sent {
  readonly from: NodeId
  readonly to: NodeId
  readonly body: ControlMessageInit
}

interface TestNodeOptions {
  readonly maxDegree?: number
  /** Advertise only `webrtc:<id>`. */
  readonly webRtcOnly?: boolean
  /** Trackerless edge splits: the neighbour handed over to a requester. */
  readonly handoverFor?: (overlay: StreamPartOverlay, requesterId: NodeId) => NodeDescriptor | undefined
}

/** One node's control path, with everything around it recorded. */
class TestNode {
  readonly overlays = new Map<StreamPartId, StreamPartOverlay>()
  readonly membership: Membership
  readonly control: OverlayControl
  readonly descriptor: NodeDescriptor
  readonly connected = new Set<NodeId>()
  readonly flushed: NodeId[] = []
  readonly statusReports: StreamPartId[] = []
  /** Peers whose connection this node closed as unused. */
  readonly released: NodeId[] = []
  /** Lock owners per peer (as `ConnectionManager` keeps them). */
  readonly locks = new Map<NodeId, Set<string>>()

  constructor(
    readonly net: TestNet,
    readonly id: NodeId,
    kind: 'full' | 'light',
    options: TestNodeOptions = {},
  ) {
    const address = options.webRtcOnly === true ? `webrtc:${id}` : `test://${id}`
    this.descriptor = { nodeId: id, kind, addresses: kind === 'full' ? [address] : [], protocolVersion: 1 }
    this.membership = new Membership({
      kind,
      targetDegree: 2,
      maxDegree: options.maxDegree ?? 4,
      acceptProxies: true,
      maxProxyClients: 8,
      proxyCount: 2,
      dropMemoryMs: DROP_MEMORY_MS,
    })
    const connections: ControlConnections = {
      get: (peerId) => (this.connected.has(peerId) ? net.link(this, net.node(peerId)) : undefined),
      connect: (address) => {
        const target = net.byAddress(address)
        if (target === undefined || net.unreachable.has(target.id)) {
          return Promise.reject(new Error(`cannot reach ${address}`))
        }
        this.connected.add(target.id)
        target.connected.add(this.id)
        return Promise.resolve(net.link(this, target))
      },
      lock: (peerId, owner) => void this.locks.set(peerId, new Set([...(this.locks.get(peerId) ?? []), owner])),
      unlock: (peerId, owner) => {
        this.locks.get(peerId)?.delete(owner)
        if (this.locks.get(peerId)?.size === 0) this.locks.delete(peerId)
      },
      isLocked: (peerId) => this.locks.has(peerId),
    }
    this.control = new OverlayControl(
      {
        nodeId: id,
        overlays: this.overlays,
        membership: this.membership,
        dataPath: { flush: (_overlay, peerId) => void this.flushed.push(peerId) },
        discovery: {
          isAuthority: (peerId) => peerId === trackerId,
          isAuthorityFor: (_streamPartId, peerId) => peerId === trackerId,
          scheduleStatus: (streamPartId) => void this.statusReports.push(streamPartId),
          ...(options.handoverFor === undefined ? {} : { handoverFor: options.handoverFor }),
        },
        connections,
        clock: net.clock,
        logger: silentLogger,
        isWebRtcOnly: () => options.webRtcOnly === true,
      },
      { requestTimeoutMs: REQUEST_TIMEOUT_MS },
    )
  }

  join(): StreamPartOverlay {
    const overlay = new StreamPartOverlay(
      streamPartId,
      { propagationWindowMs: 10_000, propagationBufferSize: 16, duplicateWindowSize: 16 },
      () => this.net.clock.now(),
    )
    this.overlays.set(streamPartId, overlay)
    return overlay
  }

  get overlay(): StreamPartOverlay {
    return this.overlays.get(streamPartId)!
  }

  /** The tracker tells this node to connect to `peers` and drop `drops`. */
  instruct(peers: TestNode[], drops: TestNode[] = [], from = trackerId): void {
    const tracker: ControlPeer = {
      peerId: from,
      peer: { nodeId: from, kind: 'tracker', addresses: [], protocolVersion: 1 },
      sendControl: () => true,
    }
    this.control.handleControl(
      tracker,
      create(ControlMessageSchema, {
        body: {
          case: 'trackerInstruction',
          value: {
            streamPartId,
            peers: peers.map((peer) => descriptorToProto(peer.descriptor)),
            dropNeighborIds: drops.map((peer) => addressToBytes(peer.id)),
          },
        },
      }),
    )
  }
}

/** Nodes whose control messages reach each other asynchronously, as over a connection. */
class TestNet {
  readonly clock = new ManualClock(1_000)
  readonly nodes = new Map<NodeId, TestNode>()
  readonly sent: Sent[] = []
  /** Nodes that can't be dialled. */
  readonly unreachable = new Set<NodeId>()
  /** Nodes that receive nothing (their answers never come). */
  readonly silent = new Set<NodeId>()

  add(index: number, kind: 'full' | 'light' = 'full', options: TestNodeOptions = {}): TestNode {
    const node = new TestNode(this, nodeId(index), kind, options)
    this.nodes.set(node.id, node)
    return node
  }

  node(id: NodeId): TestNode {
    return this.nodes.get(id)!
  }

  byAddress(address: string): TestNode | undefined {
    for (const node of this.nodes.values()) if (node.descriptor.addresses.includes(address)) return node
    return undefined
  }

  /** `from`'s connection to `to`. */
  link(from: TestNode, to: TestNode): ControlLink & ControlPeer {
    return {
      peerId: to.id,
      peer: to.descriptor,
      sendControl: (body) => {
        this.sent.push({ from: from.id, to: to.id, body })
        if (!this.silent.has(to.id)) {
          queueMicrotask(() => to.control.handleControl(this.link(to, from), create(ControlMessageSchema, { body })))
        }
        return true
      },
      close: () => {
        from.released.push(to.id)
        from.connected.delete(to.id)
        to.connected.delete(from.id)
      },
    }
  }

  /** Lets messages in flight arrive. */
  async settle(): Promise<void> {
    for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve))
  }

  /** The bodies of one kind that went from `from` to `to`. */
  bodies(kind: NonNullable<ControlMessageInit>['case'], from?: TestNode, to?: TestNode): ControlMessageInit[] {
    return this.sent
      .filter((sent) => sent.body?.case === kind && (from === undefined || sent.from === from.id))
      .filter((sent) => to === undefined || sent.to === to.id)
      .map((sent) => sent.body)
  }
}

describe('OverlayControl: connection locks', () => {
  it('locks a neighbour’s connection, unlocks it when the edge goes, and leaves one another owner holds open', async () => {
    const net = new TestNet()
    const [a, b, c] = [net.add(1), net.add(2), net.add(3)]
    for (const node of [a, b, c]) node.join()
    a.instruct([b, c])
    await net.settle()
    assert.deepEqual([...a.locks.keys()].sort(), [b.id, c.id].sort())
    assert.deepEqual([...b.locks.keys()], [a.id])
    // The DHT holds a's connection to c for a request while the edge goes.
    a.locks.get(c.id)!.add('dht')
    a.control.handleControl(
      net.link(a, b),
      create(ControlMessageSchema, { body: { case: 'neighborLeave', value: { streamPartId } } }),
    )
    a.control.handleControl(
      net.link(a, c),
      create(ControlMessageSchema, { body: { case: 'neighborLeave', value: { streamPartId } } }),
    )
    assert.deepEqual(a.released, [b.id], 'closed the unused connection, kept the one the DHT holds')
    assert.deepEqual([...a.locks.entries()], [[c.id, new Set(['dht'])]])
  })
})

describe('OverlayControl: neighbour negotiation', () => {
  it("turns a tracker's suggestion into a neighbour at both ends and settles the join", async () => {
    const net = new TestNet()
    const [a, b] = [net.add(1), net.add(2)]
    a.join()
    b.join()
    const joined = waitForNeighbors(a.overlay, { minNeighbors: 1 }, () => a.overlay.neighbors.size)
    a.instruct([b])
    await net.settle()
    await joined
    assert.deepEqual([...a.overlay.neighbors], [b.id])
    assert.deepEqual([...b.overlay.neighbors], [a.id])
    assert.deepEqual([a.flushed, b.flushed], [[b.id], [a.id]], 'each sends the other its propagation buffer')
    assert.ok(a.statusReports.length > 0 && b.statusReports.length > 0, 'both tell their tracker')
    assert.equal(a.overlay.isSettled(), true)
  })

  it('keeps a handed-over WebRTC-only neighbour’s connection one request timeout, so the requester can signal through it', async () => {
    const net = new TestNet()
    const rtc = net.add(2, 'full', { webRtcOnly: true })
    const other = net.add(3)
    const hub = net.add(1, 'full', { handoverFor: () => rtc.descriptor })
    const requester = net.add(4)
    for (const node of [hub, rtc, other, requester]) node.join()
    hub.instruct([rtc, other])
    await net.settle()
    assert.deepEqual(new Set(hub.overlay.neighbors), new Set([rtc.id, other.id]))

    requester.instruct([hub])
    await net.settle()
    assert.ok(hub.overlay.neighbors.has(requester.id) && !hub.overlay.neighbors.has(rtc.id), 'the edge was split')
    assert.deepEqual([hub.released, rtc.released], [[], []], 'the connection stays, held at both ends')
    assert.ok(hub.locks.get(rtc.id)?.has('overlay-handover') && rtc.locks.get(hub.id)?.has('overlay-handover'))
    net.clock.advance(REQUEST_TIMEOUT_MS)
    await net.settle()
    assert.equal(hub.connected.has(rtc.id), false, 'then goes, as nothing else uses it')
    assert.equal(hub.locks.has(rtc.id) || rtc.locks.has(hub.id), false)
  })

  it('splits no edge for a peer it handed over moments ago, so two peers can’t bounce a full node’s edges', async () => {
    const net = new TestNet()
    const handoverFor = (overlay: StreamPartOverlay, requesterId: NodeId): NodeDescriptor | undefined => {
      const handed = [...overlay.neighbors].find((id) => id !== requesterId)
      return handed === undefined ? undefined : net.node(handed).descriptor
    }
    const hub = net.add(1, 'full', { maxDegree: 2, handoverFor })
    const [x, y, requester] = [net.add(2), net.add(3), net.add(4)]
    for (const node of [hub, x, y, requester]) node.join()
    hub.instruct([x, y])
    await net.settle()
    requester.instruct([hub])
    await net.settle()
    assert.deepEqual(new Set(hub.overlay.neighbors), new Set([y.id, requester.id]), 'x was handed over')

    // x lost its edge and asks again: a split would hand over y or the requester, which would ask again, and so on.
    x.instruct([hub])
    await net.settle()
    assert.deepEqual(new Set(hub.overlay.neighbors), new Set([y.id, requester.id]))
    const answer = net.bodies('neighborResponse', hub, x).at(-1)
    assert.ok(answer?.case === 'neighborResponse' && answer.value.accepted === false, 'x is refused: the hub is full')
  })

  it('a refused request is forgotten, settles the join and closes the connection nothing else uses', async () => {
    const net = new TestNet()
    const [a, b] = [net.add(1), net.add(2)]
    a.join()
    a.instruct([b])
    await net.settle()
    assert.deepEqual(
      net.bodies('neighborResponse', b, a).map((body) => body?.value),
      [{ streamPartId, accepted: false, reason: 'not a member' }],
    )
    assert.equal(a.overlay.pendingNeighbors.size, 0)
    assert.equal(a.overlay.isSettled(), true)
    assert.deepEqual(a.released, [b.id])
  })

  it('abandons a request left unanswered for requestTimeoutMs', async () => {
    const net = new TestNet()
    const [a, b] = [net.add(1), net.add(2)]
    a.join()
    b.join()
    net.silent.add(b.id)
    a.instruct([b])
    await net.settle()
    assert.equal(a.overlay.pendingNeighbors.has(b.id), true)
    net.clock.advance(REQUEST_TIMEOUT_MS - 1)
    assert.equal(a.overlay.pendingNeighbors.has(b.id), true)
    net.clock.advance(1)
    assert.equal(a.overlay.pendingNeighbors.size, 0)
    assert.equal(a.overlay.isSettled(), true)
  })

  it('abandons a request to a peer it cannot reach', async () => {
    const net = new TestNet()
    const [a, b] = [net.add(1), net.add(2)]
    a.join()
    net.unreachable.add(b.id)
    a.instruct([b])
    await net.settle()
    assert.equal(a.overlay.pendingNeighbors.size, 0)
    assert.deepEqual(a.statusReports, [streamPartId], 'reported once, at once')
    net.clock.advance(REQUEST_TIMEOUT_MS)
    assert.deepEqual(a.statusReports, [streamPartId], 'nothing more happens at the timeout')
  })

  it('ignores instructions from a peer that is not the stream part’s tracker', async () => {
    const net = new TestNet()
    const [a, b] = [net.add(1), net.add(2)]
    a.join()
    b.join()
    a.instruct([b], [], b.id)
    await net.settle()
    assert.deepEqual(net.sent, [])
    assert.equal(a.overlay.trackerAnswered, false)
  })

  it('a dropped neighbour is told to leave, and its requests are refused meanwhile', async () => {
    const net = new TestNet()
    const [a, b] = [net.add(1), net.add(2)]
    a.join()
    b.join()
    a.instruct([b])
    await net.settle()
    a.instruct([], [b])
    await net.settle()
    assert.equal(a.overlay.neighbors.size, 0)
    assert.equal(b.overlay.neighbors.size, 0, 'b heard the leave')
    assert.deepEqual(a.released, [b.id])
    b.instruct([a])
    await net.settle()
    assert.deepEqual(
      net.bodies('neighborResponse', a, b).map((body) => body?.value),
      [{ streamPartId, accepted: false, reason: 'dropped by tracker' }],
    )
    assert.equal(b.overlay.neighbors.size, 0)
  })

  it('answers an acceptance beyond maxDegree with a leave', async () => {
    const net = new TestNet()
    const [a, b, c] = [net.add(1, 'full', { maxDegree: 1 }), net.add(2), net.add(3)]
    for (const node of [a, b, c]) node.join()
    a.instruct([b, c])
    await net.settle()
    assert.equal(a.overlay.neighbors.size, 1)
    assert.equal(net.bodies('neighborRequest', a).length, 1, 'it asks no more than maxDegree peers at once')
  })

  it('refuses a request that names an invalid stream part id as not a member', async () => {
    const net = new TestNet()
    const [a, b] = [net.add(1), net.add(2)]
    b.join()
    net.link(a, b).sendControl({ case: 'neighborRequest', value: { streamPartId: 'no-such-id' } })
    await net.settle()
    assert.deepEqual(
      net.bodies('neighborResponse', b, a).map((body) => body?.value),
      [{ streamPartId: 'no-such-id', accepted: false, reason: 'not a member' }],
    )
  })
})

describe('OverlayControl: proxies', () => {
  it('a light node gets proxyCount full nodes as proxies, and they serve it as a proxy client', async () => {
    const net = new TestNet()
    const [light, b, c, d] = [net.add(1, 'light'), net.add(2), net.add(3), net.add(4)]
    for (const node of [light, b, c, d]) node.join()
    light.instruct([b, c, d])
    await net.settle()
    assert.deepEqual([...light.overlay.proxies].sort(), [b.id, c.id].sort())
    assert.deepEqual([b.overlay.proxyClients.has(light.id), c.overlay.proxyClients.has(light.id)], [true, true])
    assert.equal(net.bodies('proxyRequest', light, d).length, 0)
    assert.deepEqual(light.flushed.sort(), [b.id, c.id].sort())
  })

  it('a neighbour request to a light node is refused', async () => {
    const net = new TestNet()
    const [a, light] = [net.add(1), net.add(2, 'light')]
    a.join()
    light.join()
    net.link(a, light).sendControl({ case: 'neighborRequest', value: { streamPartId } })
    await net.settle()
    assert.deepEqual(
      net.bodies('neighborResponse', light, a).map((body) => body?.value),
      [{ streamPartId, accepted: false, reason: 'light node' }],
    )
  })
})
