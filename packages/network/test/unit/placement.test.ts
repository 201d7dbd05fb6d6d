import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { addressFromBytes, ProtocolError, type NodeLocation, type PlacementConstraint } from '@runnel/protocol'
import type { NodeDescriptor, NodeId } from '../../src/identity.js'
import { Membership, placementVerdict } from '../../src/overlay/Membership.js'
import {
  mayConnect,
  peersOutside,
  placementFromProto,
  placementRefusal,
  placementToProto,
} from '../../src/overlay/placement.js'
import { StreamPartOverlay } from '../../src/overlay/StreamPartOverlay.js'
import { Topology } from '../../src/tracker/Topology.js'
import { SeededRandom } from '../../src/transport/simulator/random.js'
import { create } from '@bufbuild/protobuf'
import { PlacementSchema } from '../../src/generated/runnel/network/v1/network_pb.js'

const STREAM_PART = '0x1234567890abcdef1234567890abcdef12345678/sensors#0'
const EU: PlacementConstraint = { countries: ['EU'] }

function nodeId(index: number): NodeId {
  const bytes = new Uint8Array(20)
  bytes[0] = 0xbb
  bytes[19] = index
  return addressFromBytes(bytes)
}

function descriptor(index: number, location?: NodeLocation, kind: 'full' | 'light' = 'full'): NodeDescriptor {
  return {
    nodeId: nodeId(index),
    kind,
    addresses: kind === 'full' ? [`sim://${index}`] : [],
    protocolVersion: 1,
    ...(location === undefined ? {} : { location }),
  }
}

describe('placementRefusal', () => {
  it('refuses full nodes outside or of unknown location, naming both', () => {
    assert.equal(placementRefusal(EU, descriptor(1, { country: 'DE' })), undefined)
    assert.equal(
      placementRefusal(EU, descriptor(2, { country: 'US' })),
      'outside placement (allowed: countries EU; peer at US)',
    )
    assert.match(placementRefusal(EU, descriptor(3)) ?? '', /peer at unknown/)
    assert.equal(placementRefusal(undefined, descriptor(3)), undefined)
    assert.equal(placementRefusal({ trackers: ['ws://127.0.0.1:1'] }, descriptor(3)), undefined)
  })

  it('takes a light node of unknown location as a proxy client, not one that says it is outside', () => {
    assert.equal(placementRefusal(EU, descriptor(4, undefined, 'light')), undefined)
    assert.notEqual(placementRefusal(EU, descriptor(5, { country: 'US' }, 'light')), undefined)
  })

  it('a refusal verdict changes nothing and is counted', () => {
    const counters = { refusedRequests: 0 }
    const verdict = placementVerdict({ placement: EU }, descriptor(2, { country: 'US' }), counters)
    assert.equal(verdict?.accepted, false)
    assert.ok(verdict !== undefined && Object.values(verdict.effects).every((flag) => !flag))
    assert.equal(placementVerdict({ placement: EU }, descriptor(1, { country: 'FR' }), counters), undefined)
    assert.equal(counters.refusedRequests, 1)
  })
})

describe('mayConnect', () => {
  it('needs each member inside the constraint the other reported', () => {
    const de = { descriptor: descriptor(1, { country: 'DE' }), placement: EU }
    const usNoConstraint = { descriptor: descriptor(2, { country: 'US' }), placement: undefined }
    const frNoConstraint = { descriptor: descriptor(3, { country: 'FR' }), placement: undefined }
    assert.equal(mayConnect(de, usNoConstraint), false, "the US node reported none, but it is outside DE's")
    assert.equal(mayConnect(usNoConstraint, de), false)
    assert.equal(mayConnect(de, frNoConstraint), true)
    assert.equal(mayConnect(usNoConstraint, frNoConstraint), true)
  })
})

describe('Topology with placement', () => {
  it('suggests to a constrained node only members inside, and it to no one outside', () => {
    const random = new SeededRandom(7)
    const topology = new Topology({ targetDegree: 4, maxDegree: 8, random: () => random.nextFloat(), now: () => 0 })
    const us = descriptor(1, { country: 'US' })
    const unknown = descriptor(2)
    const inside = [3, 4, 5].map((index) => descriptor(index, { country: index === 3 ? 'FR' : 'DE' }))
    topology.reportStatus(us, STREAM_PART, [], 4)
    topology.reportStatus(unknown, STREAM_PART, [], 4)
    let suggested = 0
    for (const node of inside) {
      const { peers, drops } = topology.reportStatus(node, STREAM_PART, [], 4, EU)
      for (const peer of peers) assert.ok(inside.includes(peer), `suggested ${peer.nodeId} to ${node.nodeId}`)
      assert.deepEqual(drops, [])
      suggested += peers.length
    }
    assert.ok(suggested >= 2, 'the EU members were suggested to each other')
    // The US node reports again without a constraint: the EU members are not suggested to it either.
    for (const peer of topology.reportStatus(us, STREAM_PART, [], 4).peers) assert.ok(!inside.includes(peer))
    assert.deepEqual(
      topology.proxiesFor(nodeId(9), STREAM_PART, 8, { descriptor: descriptor(9, { country: 'US' }, 'light') }).length,
      2,
      'a light node that says it is in the US gets only the unconstrained members',
    )
    assert.equal(
      topology.proxiesFor(nodeId(9), STREAM_PART, 8, { descriptor: descriptor(9, undefined, 'light') }).length,
      5,
      'a light node of unknown location may use any member',
    )
  })

  it('does not repair a partition with an edge the constraint forbids', () => {
    const random = new SeededRandom(3)
    const topology = new Topology({ targetDegree: 4, maxDegree: 8, random: () => random.nextFloat(), now: () => 0 })
    topology.reportStatus(descriptor(1, { country: 'US' }), STREAM_PART, [], 0)
    topology.reportStatus(descriptor(2, { country: 'DE' }), STREAM_PART, [nodeId(3)], 0, EU)
    topology.reportStatus(descriptor(3, { country: 'DE' }), STREAM_PART, [nodeId(2)], 0, EU)
    assert.deepEqual(topology.repairPartitions(STREAM_PART), [])
  })
})

describe('Membership.selectCandidates with placement', () => {
  it('skips candidates outside the overlay constraint', () => {
    const membership = new Membership({
      kind: 'full',
      targetDegree: 4,
      maxDegree: 8,
      acceptProxies: true,
      maxProxyClients: 8,
      proxyCount: 2,
      dropMemoryMs: 5_000,
    })
    const overlay = new StreamPartOverlay(
      STREAM_PART as never,
      { propagationWindowMs: 1_000, propagationBufferSize: 8, duplicateWindowSize: 8 },
      () => 0,
    )
    overlay.placement = EU
    const chosen = membership.selectCandidates(
      overlay,
      nodeId(0),
      [descriptor(1, { country: 'US' }), descriptor(2), descriptor(3, { country: 'NL' })],
      0,
    )
    assert.deepEqual(
      chosen.map((candidate) => candidate.nodeId),
      [nodeId(3)],
    )
  })
})

describe('peersOutside', () => {
  it('names neighbours, proxies and clients a new constraint leaves out, and those whose descriptor is gone', () => {
    const descriptors = new Map([
      [nodeId(1), descriptor(1, { country: 'DE' })],
      [nodeId(2), descriptor(2, { country: 'US' })],
      [nodeId(4), descriptor(4, undefined, 'light')],
    ])
    const outside = peersOutside(
      {
        placement: EU,
        neighbors: new Set([nodeId(1), nodeId(2)]),
        proxies: new Set(),
        proxyClients: new Set([nodeId(3), nodeId(4)]),
      },
      (id) => descriptors.get(id),
    )
    assert.deepEqual(outside, [nodeId(2), nodeId(3)])
  })
})

describe('placement on the wire', () => {
  it('round-trips the location part and refuses malformed entries', () => {
    const proto = create(PlacementSchema, placementToProto({ countries: ['EU', 'CH'], trackers: ['ws://t:1'] }))
    assert.deepEqual(placementFromProto(proto), { countries: ['EU', 'CH'] })
    assert.equal(placementToProto({ trackers: ['ws://t:1'] }), undefined)
    assert.equal(placementFromProto(create(PlacementSchema, {})), undefined)
    assert.throws(
      () => placementFromProto(create(PlacementSchema, { countries: ['Narnia'] })),
      (err: unknown) => err instanceof ProtocolError && err.code === 'INVALID_PLACEMENT',
    )
  })
})
