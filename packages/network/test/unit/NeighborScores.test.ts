import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ManualClock, addressFromBytes, toStreamId, toStreamPartId } from '@runnel/protocol'
import { NetworkError } from '../../src/errors.js'
import type { NodeDescriptor, NodeId } from '../../src/identity.js'
import { Membership } from '../../src/overlay/Membership.js'
import {
  NeighborScores,
  resolveNeighborScoring,
  type NeighborScoringCounters,
  type NeighborScoringOptions,
} from '../../src/overlay/NeighborScores.js'
import { StreamPartOverlay } from '../../src/overlay/StreamPartOverlay.js'
import { Topology } from '../../src/tracker/Topology.js'

function nodeId(index: number): NodeId {
  const bytes = new Uint8Array(20)
  bytes[19] = index
  return addressFromBytes(bytes)
}

const [honest, dropper, other] = [nodeId(1), nodeId(2), nodeId(3)] as const
const CHAIN = '0xpublisher/chain'
const OPTIONS: NeighborScoringOptions = {
  probeEvery: 2,
  probeTimeoutMs: 1_000,
  maxFailedProbes: 2,
  banMs: 60_000,
  minRotationIntervalMs: 5_000,
}

/** A node's scoring over three neighbours, with what it sent late and whom it rotated out. */
function setup(options: Partial<NeighborScoringOptions> = {}) {
  const clock = new ManualClock(0)
  const neighbors = new Set<NodeId>([honest, dropper, other])
  const sentLate: NodeId[] = []
  const rotated: { peerId: NodeId; banMs: number }[] = []
  const counters: NeighborScoringCounters = { probes: 0, failedProbes: 0, rotations: 0 }
  const scores = new NeighborScores(
    {
      clock,
      neighbors,
      send: (peerId) => {
        sentLate.push(peerId)
        return true
      },
      rotate: (peerId, banMs) => {
        neighbors.delete(peerId)
        rotated.push({ peerId, banMs })
      },
      counters,
    },
    { ...OPTIONS, ...options },
  )
  let sequence = 0
  /**
   * One new message from `senderId`, relayed; every neighbour but a dropper (and the one it came from) sends the copy
   * back at once. Returns whom the message was held back from.
   */
  const message = (senderId: NodeId | undefined, answering: (peerId: NodeId) => boolean): NodeId | undefined => {
    const seq = sequence++
    scores.noteFirst(senderId)
    const heldBack = scores.beforeRelay(senderId, new Uint8Array([seq]), CHAIN, 1_000, seq)
    if (heldBack !== undefined && answering(heldBack)) scores.noteCopy(heldBack, CHAIN, 1_000, seq)
    clock.advance(500)
    return heldBack
  }
  return { clock, neighbors, sentLate, rotated, counters, scores, message }
}

const relays = (peerId: NodeId): boolean => peerId !== dropper

describe('NeighborScores', () => {
  it('holds one message in probeEvery back from a neighbour in turn, never from its sender', () => {
    const { message, counters } = setup()
    const heldBack: (NodeId | undefined)[] = []
    for (let index = 0; index < 12; index++) heldBack.push(message(honest, () => true))
    const probed = heldBack.filter((id) => id !== undefined)
    assert.equal(probed.length, 6, 'one probe per two messages')
    assert.ok(!probed.includes(honest), 'the sender is never probed')
    assert.deepEqual(new Set(probed), new Set([dropper, other]), 'the others in turn')
    assert.equal(counters.probes, 6)
    assert.equal(counters.failedProbes, 0)
  })

  it('rotates out a neighbour that never relays a held-back message, after sending it each one late', () => {
    const { message, rotated, sentLate, counters, clock } = setup()
    for (let index = 0; index < 20 && rotated.length === 0; index++) {
      message(honest, relays)
      clock.advance(1_000)
    }
    assert.deepEqual(rotated, [{ peerId: dropper, banMs: 60_000 }])
    assert.deepEqual(sentLate, [dropper, dropper], 'each failed probe still delivered')
    assert.equal(counters.failedProbes, 2)
    assert.equal(counters.rotations, 1)
  })

  it('keeps neighbours that relay: a downstream one that sends nothing unasked passes its probes', () => {
    // `other` is downstream: it never delivers first, but relays the copies held back from it.
    const { message, rotated, clock, counters } = setup()
    for (let index = 0; index < 40; index++) {
      message(honest, () => true)
      clock.advance(1_000)
    }
    assert.deepEqual(rotated, [])
    assert.ok(counters.probes >= 10)
    assert.equal(counters.failedProbes, 0)
  })

  it('never rotates out a neighbour that sent anything (a first delivery or a copy) since its last probe', () => {
    const { message, rotated, clock, counters } = setup()
    for (let index = 0; index < 20; index++) {
      // The dropper is sometimes the first to deliver (a publisher's own messages): it relays those, then.
      message(index % 2 === 0 ? dropper : honest, relays)
      clock.advance(1_000)
    }
    assert.ok(counters.failedProbes >= 2)
    assert.deepEqual(rotated, [])
  })

  it('judges no one in a quiet stream part', () => {
    const { clock, rotated, counters, scores } = setup()
    clock.advance(60 * 60_000)
    assert.equal(counters.probes, 0)
    assert.deepEqual(rotated, [])
    assert.deepEqual([...scores.snapshot().values()], [])
  })

  it('rotates at most one neighbour per minRotationIntervalMs', () => {
    const { message, rotated, clock } = setup({ probeEvery: 1, minRotationIntervalMs: 60_000 })
    const silent = (): boolean => false
    for (let index = 0; index < 30; index++) {
      message(undefined, silent)
      clock.advance(1_000)
    }
    assert.equal(rotated.length, 1)
  })

  it('stops probing when the stream part is left', () => {
    const { message, scores, clock, sentLate } = setup({ probeEvery: 1 })
    assert.notEqual(
      message(honest, () => false),
      undefined,
    )
    scores.stop()
    clock.advance(10_000)
    assert.deepEqual(sentLate, [], 'the probe in flight is dropped with the stream part')
    assert.equal(
      message(honest, () => false),
      undefined,
    )
  })

  it('refuses settings that are not positive numbers', () => {
    assert.throws(
      () => resolveNeighborScoring({ probeEvery: 0 }),
      (err: unknown) => {
        return err instanceof NetworkError && err.code === 'INVALID_OPTIONS' && /probeEvery/.test(err.message)
      },
    )
    assert.throws(() => resolveNeighborScoring({ maxFailedProbes: 1.5 }), NetworkError)
    assert.equal(resolveNeighborScoring({}).probeEvery, 10)
  })
})

const streamPartId = toStreamPartId(toStreamId(nodeId(200), '/eclipse'), 0)

function overlay(): StreamPartOverlay {
  return new StreamPartOverlay(
    streamPartId,
    { propagationWindowMs: 10_000, propagationBufferSize: 16, duplicateWindowSize: 16 },
    () => 0,
  )
}

function full(id: NodeId, address = `ws://${id}`): NodeDescriptor {
  return { nodeId: id, kind: 'full', addresses: [address], protocolVersion: 1 }
}

describe('Membership: slots kept for own picks (minOwnNeighbors)', () => {
  const membership = (minOwnNeighbors: number): Membership =>
    new Membership({
      kind: 'full',
      targetDegree: 4,
      maxDegree: 6,
      acceptProxies: true,
      maxProxyClients: 2,
      proxyCount: 2,
      dropMemoryMs: 5_000,
      minOwnNeighbors,
    })

  it('refuses requests once others fill maxDegree minus the kept slots, and keeps asking for its own picks', () => {
    const state = overlay()
    const node = membership(2)
    const answers = [10, 11, 12, 13, 14].map((index) => node.answerNeighborRequest(state, nodeId(index), 'full', 0))
    assert.deepEqual(
      answers.map((answer) => answer.accepted),
      [true, true, true, true, false],
    )
    assert.equal(answers[4]!.reason, 'full')
    assert.equal(node.wanted(state), 2, 'four neighbours, none of its own: wants two more')
    // The tracker tops a node up to the target only: the report leaves out enough of the requesters.
    const status = node.status(state)
    assert.equal(status.wanted, 2)
    assert.equal(status.neighborIds.length, 2)
    for (const peerId of [nodeId(20), nodeId(21)]) {
      assert.deepEqual(node.selectCandidates(state, nodeId(99), [full(peerId)], 0), [full(peerId)])
      node.takeNeighborResponse(state, peerId, true, 0)
    }
    assert.equal(state.neighbors.size, 6)
    assert.equal(node.wanted(state), 0)
    assert.equal(node.status(state).neighborIds.length, 6)
  })

  it('changes nothing at 0 (the default)', () => {
    const state = overlay()
    const node = membership(0)
    for (const index of [10, 11, 12, 13, 14, 15]) {
      assert.ok(node.answerNeighborRequest(state, nodeId(index), 'full', 0).accepted)
    }
    assert.equal(node.wanted(state), 0)
    assert.equal(node.answerNeighborRequest(state, nodeId(16), 'full', 0).reason, 'full')
  })

  it('asks the peers preferNeighbors prefers first', () => {
    const preferred = new Set([nodeId(31), nodeId(33)])
    const node = new Membership({
      kind: 'full',
      targetDegree: 2,
      maxDegree: 2,
      acceptProxies: true,
      maxProxyClients: 2,
      proxyCount: 2,
      dropMemoryMs: 5_000,
      preferNeighbors: (peerId, part) => part === streamPartId && preferred.has(peerId),
    })
    const chosen = node.selectCandidates(
      overlay(),
      nodeId(99),
      [30, 31, 32, 33].map((index) => full(nodeId(index))),
      0,
    )
    assert.deepEqual(
      chosen.map((descriptor) => descriptor.nodeId),
      [nodeId(31), nodeId(33)],
    )
  })
})

describe('Topology: at most maxNeighborsPerSubnet suggested neighbours from one /24', () => {
  it('suggests no more than the cap from one network, and more from others', () => {
    let seed = 1
    const random = (): number => {
      seed = (seed * 16807) % 2147483647
      return (seed - 1) / 2147483646
    }
    const topology = new Topology({ targetDegree: 4, maxDegree: 8, random, now: () => 0, maxNeighborsPerSubnet: 2 })
    // Ten identities in 203.0.113.0/24, two elsewhere.
    for (let index = 1; index <= 10; index++) {
      topology.reportStatus(full(nodeId(index), `ws://203.0.113.${index}:30300`), streamPartId, [], 0)
    }
    topology.reportStatus(full(nodeId(11), 'ws://198.51.100.7:30300'), streamPartId, [], 0)
    topology.reportStatus(full(nodeId(12), 'ws://192.0.2.9:30300'), streamPartId, [], 0)
    const { peers } = topology.reportStatus(full(nodeId(50), 'ws://100.64.0.1:30300'), streamPartId, [], 4)
    const fromSybils = peers.filter((peer) => peer.addresses[0]!.includes('203.0.113.'))
    assert.equal(peers.length, 4)
    assert.equal(fromSybils.length, 2)
  })
})
