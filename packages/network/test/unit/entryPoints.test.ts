import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { create, toBinary } from '@bufbuild/protobuf'
import { addressFromBytes, addressToBytes } from '@runnel/protocol'
import { NodeDescriptorSchema } from '../../src/generated/runnel/network/v1/network_pb.js'
import {
  DEFAULT_ENTRY_POINT_TIMING,
  encodeEntryPoint,
  isFresh,
  openEntryPoint,
  shouldHoldEntryPoint,
  shuffled,
} from '../../src/discovery/entryPoints.js'
import { dhtKeyOfStreamPart as entryPointKey } from '../../src/dht/keys.js'
import type { NodeDescriptor, NodeId } from '../../src/identity.js'
import { NETWORK_PROTOCOL_VERSION } from '../../src/wire/frames.js'

function nodeId(index: number): NodeId {
  const bytes = new Uint8Array(20)
  bytes[0] = index
  return addressFromBytes(bytes)
}

function full(id: NodeId, addresses = [`ws://127.0.0.1:${1000 + (addressToBytes(id)[0] ?? 0)}`]): NodeDescriptor {
  return { nodeId: id, kind: 'full', addresses, protocolVersion: NETWORK_PROTOCOL_VERSION }
}

describe('entry-point records', () => {
  it("opens a record whose value is its owner's own full-node descriptor", () => {
    const descriptor = full(nodeId(1))
    const opened = openEntryPoint({ owner: descriptor.nodeId, value: encodeEntryPoint(descriptor), expiresAt: 0 })
    assert.deepEqual(opened.descriptor, descriptor)
  })

  it('refuses a forged record: the value names another node than the key that signed it', () => {
    const victim = full(nodeId(2))
    const opened = openEntryPoint({ owner: nodeId(3), value: encodeEntryPoint(victim), expiresAt: 0 })
    assert.equal(opened.refusal, 'owner-mismatch')
  })

  it('refuses values that are not a usable full-node descriptor', () => {
    const owner = nodeId(4)
    const cases: [Uint8Array, string][] = [
      [new Uint8Array([0xff, 0xff, 0xff]), 'malformed'],
      [new Uint8Array(0), 'malformed'],
      [
        toBinary(
          NodeDescriptorSchema,
          create(NodeDescriptorSchema, {
            nodeId: new Uint8Array(19),
            protocolVersion: NETWORK_PROTOCOL_VERSION,
            kind: 1,
          }),
        ),
        'malformed',
      ],
      [encodeEntryPoint({ ...full(owner), protocolVersion: NETWORK_PROTOCOL_VERSION + 1 }), 'malformed'],
      [
        encodeEntryPoint({ ...full(owner), addresses: Array.from({ length: 9 }, (_, i) => `ws://a:${i}`) }),
        'malformed',
      ],
      [encodeEntryPoint({ ...full(owner), kind: 'light', addresses: [] }), 'not-full'],
      [encodeEntryPoint({ ...full(owner), kind: 'tracker' }), 'not-full'],
      [encodeEntryPoint(full(owner, [])), 'no-address'],
    ]
    for (const [value, refusal] of cases) {
      assert.equal(openEntryPoint({ owner, value, expiresAt: 0 }).refusal, refusal, `value ${value.length} bytes`)
    }
  })

  it('counts a record as live only while it was refreshed on time', () => {
    const { ttlMs, refreshMs } = DEFAULT_ENTRY_POINT_TIMING
    const now = 1_000_000
    const record = (left: number) => ({ owner: nodeId(1), value: new Uint8Array(), expiresAt: now + left })
    assert.ok(isFresh(record(ttlMs), now, DEFAULT_ENTRY_POINT_TIMING), 'just stored')
    assert.ok(isFresh(record(ttlMs - refreshMs), now, DEFAULT_ENTRY_POINT_TIMING), 'refresh due now')
    assert.ok(!isFresh(record(ttlMs - 2 * refreshMs), now, DEFAULT_ENTRY_POINT_TIMING), 'missed a refresh')
  })

  it('derives the key from the stream part id: 20 bytes, distinct per stream part', () => {
    const a = entryPointKey('0x0000000000000000000000000000000000000001/a#0')
    const b = entryPointKey('0x0000000000000000000000000000000000000001/a#1')
    assert.equal(a.length, 20)
    assert.notDeepEqual(a, b)
    assert.deepEqual(entryPointKey('0x0000000000000000000000000000000000000001/a#0'), a)
  })
})

describe('who holds an entry-point record', () => {
  const key = new Uint8Array(20)

  it('every node holds one while fewer than the target live holders exist', () => {
    const holders = [nodeId(0x80), nodeId(0x90)]
    assert.ok(shouldHoldEntryPoint(key, nodeId(0xff), holders, 3))
    // Its own record doesn't count as another holder.
    assert.ok(shouldHoldEntryPoint(key, nodeId(0xff), [...holders, nodeId(0xff)], 3))
  })

  it('with a surplus, only the target number closest to the key (XOR) keep holding', () => {
    const all = [1, 2, 3, 4, 5, 6].map(nodeId)
    const holding = all.filter((id) => shouldHoldEntryPoint(key, id, all, 4))
    assert.deepEqual(holding, all.slice(0, 4))
    assert.ok(!shouldHoldEntryPoint(key, nodeId(9), all, 4), 'a newcomer farther away stays out')
    assert.ok(shouldHoldEntryPoint(key, nodeId(0), all, 4), 'a newcomer closer takes a place')
  })
})

describe('shuffled', () => {
  it('returns a permutation and leaves the input alone', () => {
    const items = [1, 2, 3, 4, 5, 6, 7, 8]
    let seed = 7
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646
    const result = shuffled(items, random)
    assert.deepEqual([...result].sort(), items)
    assert.deepEqual(items, [1, 2, 3, 4, 5, 6, 7, 8])
    assert.notDeepEqual(result, items)
  })
})
