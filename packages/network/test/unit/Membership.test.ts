import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { addressFromBytes, toStreamId, toStreamPartId } from '@runnel/protocol'
import type { NodeDescriptor, NodeId } from '../../src/identity.js'
import { Membership, type MembershipEffects, type MembershipOptions } from '../../src/overlay/Membership.js'
import { StreamPartOverlay } from '../../src/overlay/StreamPartOverlay.js'

function nodeId(index: number): NodeId {
  const bytes = new Uint8Array(20)
  bytes[19] = index
  return addressFromBytes(bytes)
}

const self = nodeId(100)
const [peerA, peerB, peerC, peerD] = [nodeId(1), nodeId(2), nodeId(3), nodeId(4)] as const
const streamPartId = toStreamPartId(toStreamId(nodeId(200), '/membership'), 0)
const DROP_MS = 5_000

function membership(options: Partial<MembershipOptions> = {}): Membership {
  return new Membership({
    kind: 'full',
    targetDegree: 2,
    maxDegree: 3,
    acceptProxies: true,
    maxProxyClients: 2,
    proxyCount: 2,
    dropMemoryMs: DROP_MS,
    ...options,
  })
}

function overlay(): StreamPartOverlay {
  return new StreamPartOverlay(
    streamPartId,
    { propagationWindowMs: 10_000, propagationBufferSize: 16, duplicateWindowSize: 16 },
    () => 0,
  )
}

function full(id: NodeId, addresses: string[] = [`ws://${id}`]): NodeDescriptor {
  return { nodeId: id, kind: 'full', addresses, protocolVersion: 1 }
}

/** The effects that are set, for readable comparisons. */
function set(effects: MembershipEffects): string[] {
  return Object.entries(effects)
    .filter(([, on]) => on)
    .map(([name]) => name)
    .sort()
}

describe('Membership: neighbour requests', () => {
  it('accepts a full peer in a joined stream part and adds it at once', () => {
    const state = overlay()
    const verdict = membership().answerNeighborRequest(state, peerA, 'full', 0)
    assert.deepEqual([verdict.accepted, verdict.reason], [true, ''])
    assert.deepEqual(set(verdict.effects), ['added', 'notifyWaiters', 'reportStatus'])
    assert.deepEqual([...state.neighbors], [peerA])
  })

  it('accepts a request from a current neighbour again without re-adding it', () => {
    const state = overlay()
    state.neighbors.add(peerA)
    const verdict = membership().answerNeighborRequest(state, peerA, 'full', 0)
    assert.equal(verdict.accepted, true)
    assert.deepEqual(set(verdict.effects), [])
  })

  it('refuses with the reason the peer is told, and changes nothing', () => {
    const cases: [string, Membership, StreamPartOverlay | undefined, 'full' | 'light'][] = [
      ['light node', membership({ kind: 'light' }), overlay(), 'full'],
      ['only full nodes can be neighbours', membership(), overlay(), 'light'],
      ['not a member', membership(), undefined, 'full'],
    ]
    for (const [reason, rules, state, peerKind] of cases) {
      const verdict = rules.answerNeighborRequest(state, peerA, peerKind, 0)
      assert.deepEqual([verdict.accepted, verdict.reason], [false, reason])
      assert.deepEqual(set(verdict.effects), [])
      assert.equal(state?.neighbors.size ?? 0, 0)
    }
  })

  it("refuses with 'full' at maxDegree", () => {
    const state = overlay()
    for (const peer of [peerA, peerB, peerC]) state.neighbors.add(peer)
    const verdict = membership().answerNeighborRequest(state, peerD, 'full', 0)
    assert.deepEqual([verdict.accepted, verdict.reason], [false, 'full'])
    assert.equal(state.neighbors.has(peerD), false)
  })

  it('refuses a peer the tracker dropped until dropMemoryMs has passed', () => {
    const rules = membership()
    const state = overlay()
    rules.applyDrops(state, [peerA], 1_000)
    assert.equal(rules.answerNeighborRequest(state, peerA, 'full', 1_000 + DROP_MS).reason, 'dropped by tracker')
    assert.equal(rules.answerNeighborRequest(state, peerA, 'full', 1_001 + DROP_MS).accepted, true)
  })
})

describe('Membership: answers to its own neighbour requests', () => {
  it('adds a peer that accepted a pending request', () => {
    const state = overlay()
    state.pendingNeighbors.add(peerA)
    const effects = membership().takeNeighborResponse(state, peerA, true, 0)
    assert.deepEqual(set(effects), ['added', 'notifyWaiters', 'reportStatus'])
    assert.deepEqual([...state.neighbors], [peerA])
    assert.equal(state.pendingNeighbors.size, 0)
  })

  it('forgets a refused request, reports and releases the connection without a leave', () => {
    const state = overlay()
    state.pendingNeighbors.add(peerA)
    const effects = membership().takeNeighborResponse(state, peerA, false, 0)
    assert.deepEqual(set(effects), ['notifyWaiters', 'release', 'reportStatus'])
    assert.equal(state.pendingNeighbors.size, 0)
    assert.equal(state.neighbors.size, 0)
  })

  it('still takes a late acceptance (the request timed out) while short of neighbours', () => {
    const state = overlay()
    const effects = membership().takeNeighborResponse(state, peerA, true, 0)
    assert.ok(effects.added)
    assert.deepEqual([...state.neighbors], [peerA])
  })

  it('answers a late acceptance with a leave once it has targetDegree neighbours', () => {
    const state = overlay()
    state.neighbors.add(peerA).add(peerB)
    const effects = membership().takeNeighborResponse(state, peerC, true, 0)
    assert.deepEqual(set(effects), ['release', 'sendLeave'])
    assert.equal(state.neighbors.has(peerC), false)
  })

  it('answers a late acceptance from a peer the tracker dropped with a leave', () => {
    const rules = membership()
    const state = overlay()
    state.pendingNeighbors.add(peerA)
    rules.applyDrops(state, [peerA], 0)
    assert.equal(state.pendingNeighbors.size, 0, 'the drop withdraws the request in flight')
    assert.deepEqual(set(rules.takeNeighborResponse(state, peerA, true, 1)), ['release', 'sendLeave'])
    assert.equal(state.neighbors.size, 0)
  })

  it('answers an acceptance that would pass maxDegree with a leave', () => {
    const state = overlay()
    state.neighbors.add(peerA).add(peerB).add(peerC)
    state.pendingNeighbors.add(peerD)
    const effects = membership().takeNeighborResponse(state, peerD, true, 0)
    assert.deepEqual(set(effects), ['notifyWaiters', 'release', 'sendLeave'])
    assert.equal(state.neighbors.size, 3)
  })

  it('answers an acceptance for a stream part it has left with a leave', () => {
    assert.deepEqual(set(membership().takeNeighborResponse(undefined, peerA, true, 0)), ['release', 'sendLeave'])
    assert.deepEqual(set(membership().takeNeighborResponse(undefined, peerA, false, 0)), ['release'])
  })
})

describe('Membership: leaves, closes and abandoned requests', () => {
  it('a leave removes the peer from whichever role it had', () => {
    const rules = membership()
    const state = overlay()
    state.neighbors.add(peerA)
    state.proxies.add(peerB)
    state.proxyClients.add(peerC)
    for (const peer of [peerA, peerB, peerC]) {
      assert.deepEqual(set(rules.takeLeave(state, peer)), ['release', 'reportStatus'])
      assert.equal(state.accepts(peer), false)
    }
    assert.deepEqual(set(rules.takeLeave(state, peerD)), [], 'a leave from a stranger changes nothing')
    assert.deepEqual(set(rules.takeLeave(undefined, peerA)), [])
  })

  it('a closed connection leaves every role in every stream part, pending requests included', () => {
    const [first, second, third] = [overlay(), overlay(), overlay()]
    first.neighbors.add(peerA)
    second.pendingNeighbors.add(peerA)
    third.neighbors.add(peerB)
    const changed = membership().takePeerClosed([first, second, third], peerA)
    assert.deepEqual(changed, [first, second])
    assert.equal(first.isConnectedTo(peerA) || second.isConnectedTo(peerA), false)
    assert.deepEqual([...third.neighbors], [peerB])
  })

  it('an abandoned request is forgotten once; an answered one is left alone', () => {
    const rules = membership()
    const state = overlay()
    state.pendingNeighbors.add(peerA)
    assert.equal(rules.isPending(state, peerA), true)
    assert.deepEqual(set(rules.abandonRequest(state, peerA)), ['notifyWaiters', 'reportStatus'])
    assert.equal(rules.isPending(state, peerA), false)
    assert.deepEqual(set(rules.abandonRequest(state, peerA)), [])
  })
})

describe('Membership: tracker drops and suggestions', () => {
  it('drops neighbours, returns them for a leave, and withdraws requests in flight without a leave', () => {
    const state = overlay()
    state.neighbors.add(peerA).add(peerB)
    state.pendingNeighbors.add(peerC)
    const removed = membership().applyDrops(state, [peerA, peerC, peerD], 0)
    assert.deepEqual(removed, [peerA])
    assert.deepEqual([...state.neighbors], [peerB])
    assert.equal(state.pendingNeighbors.size, 0)
    for (const peer of [peerA, peerC, peerD]) assert.equal(state.wasDropped(peer, DROP_MS), true)
  })

  it('asks full suggested peers with an address, skipping itself, known, dropped and light ones', () => {
    const rules = membership({ maxDegree: 8 })
    const state = overlay()
    state.neighbors.add(peerA)
    state.pendingNeighbors.add(peerB)
    rules.applyDrops(state, [nodeId(5)], 0)
    const light: NodeDescriptor = { ...full(nodeId(6)), kind: 'light' }
    const chosen = rules.selectCandidates(
      state,
      self,
      [full(self), full(peerA), full(peerB), full(nodeId(5)), light, full(nodeId(7), []), full(peerC), full(peerC)],
      1,
    )
    assert.deepEqual(
      chosen.map((descriptor) => descriptor.nodeId),
      [peerC],
      'the second suggestion of the same peer is already pending',
    )
    assert.equal(state.pendingNeighbors.has(peerC), true)
  })

  it('stops at maxDegree, counting requests in flight', () => {
    const state = overlay()
    state.neighbors.add(peerA)
    state.pendingNeighbors.add(peerB)
    const chosen = membership().selectCandidates(state, self, [full(peerC), full(peerD), full(nodeId(5))], 0)
    assert.deepEqual(
      chosen.map((descriptor) => descriptor.nodeId),
      [peerC],
    )
  })

  it('a light node asks for proxyCount proxies and marks them as pending proxies', () => {
    const rules = membership({ kind: 'light', proxyCount: 2 })
    const state = overlay()
    const chosen = rules.selectCandidates(state, self, [full(peerA), full(peerB), full(peerC)], 0)
    assert.deepEqual(
      chosen.map((descriptor) => descriptor.nodeId),
      [peerA, peerB],
    )
    assert.deepEqual([...state.pendingProxies], [peerA, peerB])
    assert.equal(state.pendingNeighbors.size, 0)
    assert.equal(rules.role, 'proxy')
  })
})

describe('Membership: proxies', () => {
  it('a full node serves a light node as its proxy until maxProxyClients', () => {
    const rules = membership({ maxProxyClients: 1 })
    const state = overlay()
    const first = rules.answerProxyRequest(state, peerA)
    assert.deepEqual([first.accepted, set(first.effects)], [true, ['added']])
    assert.deepEqual([...state.proxyClients], [peerA])
    const second = rules.answerProxyRequest(state, peerB)
    assert.deepEqual([second.accepted, second.reason], [false, 'full'])
  })

  it('refuses proxy requests on a light node, with acceptProxies off, and outside its stream parts', () => {
    assert.equal(membership({ kind: 'light' }).answerProxyRequest(overlay(), peerA).reason, 'proxies not accepted')
    assert.equal(
      membership({ acceptProxies: false }).answerProxyRequest(overlay(), peerA).reason,
      'proxies not accepted',
    )
    assert.equal(membership().answerProxyRequest(undefined, peerA).reason, 'not a member')
  })

  it('a light node takes an accepting proxy it asked, up to proxyCount', () => {
    const rules = membership({ kind: 'light', proxyCount: 1 })
    const state = overlay()
    state.pendingProxies.add(peerA).add(peerB)
    assert.deepEqual(set(rules.takeProxyResponse(state, peerA, true)), ['added', 'notifyWaiters'])
    assert.deepEqual(set(rules.takeProxyResponse(state, peerB, true)), [
      'notifyWaiters',
      'release',
      'reportStatus',
      'sendLeave',
    ])
    assert.deepEqual([...state.proxies], [peerA])
  })

  it('a light node ignores proxy answers it is not waiting for', () => {
    const state = overlay()
    assert.deepEqual(set(membership({ kind: 'light' }).takeProxyResponse(state, peerA, true)), [])
    assert.equal(state.proxies.size, 0)
  })

  it('a refused proxy request is forgotten and reported, without a leave', () => {
    const state = overlay()
    state.pendingProxies.add(peerA)
    assert.deepEqual(set(membership({ kind: 'light' }).takeProxyResponse(state, peerA, false)), [
      'notifyWaiters',
      'release',
      'reportStatus',
    ])
    assert.equal(state.pendingProxies.size, 0)
  })
})

describe('Membership: what it reports', () => {
  it('a full node wants targetDegree neighbours minus those it has or asked, and reports its neighbours', () => {
    const rules = membership({ targetDegree: 4 })
    const state = overlay()
    state.neighbors.add(peerA)
    state.pendingNeighbors.add(peerB)
    assert.deepEqual(rules.status(state), { neighborIds: [peerA], wanted: 2 })
    state.neighbors.add(peerC).add(peerD).add(nodeId(5))
    assert.equal(rules.wanted(state), 0)
    assert.deepEqual([...rules.connected(state)], [peerA, peerC, peerD, nodeId(5)])
  })

  it('a light node wants proxyCount proxies and reports no neighbours', () => {
    const rules = membership({ kind: 'light', proxyCount: 2 })
    const state = overlay()
    state.proxies.add(peerA)
    assert.deepEqual(rules.status(state), { neighborIds: [], wanted: 1 })
    assert.deepEqual([...rules.connected(state)], [peerA])
  })
})
