// The DHT's routing table, keys and subnet groups as pure data: XOR distance,
// bucket placement, Kademlia's keep-the-old-contacts policy with a
// replacement cache, and the per-subnet cap.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { addressFromBytes } from '@runnel/protocol'
import {
  commonPrefixLength,
  compareDistance,
  dhtKeyOfStreamPart,
  distance,
  keyToNodeId,
  nodeIdToKey,
  randomKeyInBucket,
} from '../../src/dht/keys.js'
import { RoutingTable, type Contact } from '../../src/dht/RoutingTable.js'
import { subnetGroup } from '../../src/dht/subnet.js'
import { NETWORK_PROTOCOL_VERSION, SeededRandom } from '../../src/index.js'

const LOCAL = new Uint8Array(20) // 0x00…00

/** A key whose first byte is `first` and last byte `last`, the rest zero. */
function keyOf(first: number, last = 1): Uint8Array {
  const key = new Uint8Array(20)
  key[0] = first
  key[19] = last
  return key
}

function contactOf(key: Uint8Array, group?: string, lastSeen = 0): Contact {
  const nodeId = addressFromBytes(key)
  return {
    descriptor: { nodeId, kind: 'full', addresses: [`sim://${nodeId}`], protocolVersion: NETWORK_PROTOCOL_VERSION },
    key,
    group,
    lastSeen,
  }
}

describe('DHT keys', () => {
  it('measures XOR distance and shared prefixes', () => {
    assert.equal(distance(keyOf(0x80), keyOf(0x00)), 1n << 159n)
    assert.equal(commonPrefixLength(LOCAL, keyOf(0x80)), 0)
    assert.equal(commonPrefixLength(LOCAL, keyOf(0x01)), 7)
    assert.equal(commonPrefixLength(LOCAL, keyOf(0x00, 1)), 159)
    assert.equal(commonPrefixLength(LOCAL, LOCAL), 160)
    assert.ok(compareDistance(LOCAL, keyOf(0x01), keyOf(0x02)) < 0)
    assert.ok(compareDistance(keyOf(0x03), keyOf(0x02), keyOf(0x01)) < 0, '3^2=1 is closer than 3^1=2')
    assert.equal(compareDistance(LOCAL, keyOf(0x05), keyOf(0x05)), 0)
  })

  it('derives a stream part key from keccak256 of the tagged id, 20 bytes', () => {
    const key = dhtKeyOfStreamPart('0xabc/stream#0')
    assert.equal(key.length, 20)
    assert.deepEqual(key, dhtKeyOfStreamPart('0xabc/stream#0'))
    assert.notDeepEqual(key, dhtKeyOfStreamPart('0xabc/stream#1'))
  })

  it('round-trips node ids and draws random keys inside a chosen bucket', () => {
    const random = new SeededRandom(3)
    const base = new Uint8Array(20).map(() => random.nextUint32() & 0xff)
    assert.deepEqual(nodeIdToKey(keyToNodeId(base)), base)
    for (const prefix of [0, 1, 7, 8, 13, 100, 159]) {
      const key = randomKeyInBucket(base, prefix, () => random.nextFloat())
      assert.equal(commonPrefixLength(base, key), prefix, `bucket ${prefix}`)
    }
  })
})

describe('RoutingTable', () => {
  it('places contacts by shared prefix and returns the closest to a target in order', () => {
    const table = new RoutingTable(LOCAL, { k: 8, maxPerSubnetPerBucket: 8 })
    for (const first of [0x80, 0x40, 0x20, 0x10, 0x11, 0x12])
      assert.equal(table.add(contactOf(keyOf(first))).kind, 'added')
    assert.equal(table.size, 6)
    assert.equal(table.bucketSizes()[0], 1)
    assert.equal(table.bucketSizes()[3], 3)
    const closest = table.closest(keyOf(0x13), 3).map((c) => c.key[0])
    assert.deepEqual(closest, [0x12, 0x11, 0x10])
    assert.deepEqual(
      table.closest(keyOf(0x13), 3, addressFromBytes(keyOf(0x12))).map((c) => c.key[0]),
      [0x11, 0x10, 0x20],
      'the asker is left out',
    )
  })

  it('refuses its own id', () => {
    const table = new RoutingTable(LOCAL, { k: 8, maxPerSubnetPerBucket: 8 })
    assert.deepEqual(table.add(contactOf(LOCAL)), { kind: 'refused', reason: 'self' })
  })

  it('keeps a full bucket’s old contacts, caches the newcomer, and promotes it only when an old one fails', () => {
    const table = new RoutingTable(LOCAL, { k: 2, maxPerSubnetPerBucket: 8, replacementCacheSize: 2 })
    const [a, b, c, d, e] = [0x81, 0x82, 0x83, 0x84, 0x85].map((first) => contactOf(keyOf(first)))
    table.add(a!)
    table.add(b!)
    const full = table.add(c!)
    assert.equal(full.kind, 'bucket-full')
    assert.equal(full.kind === 'bucket-full' && full.leastRecentlySeen.descriptor.nodeId, a!.descriptor.nodeId)
    assert.ok(!table.has(c!.descriptor.nodeId), 'the newcomer waits')
    // The oldest answered its ping: it stays, and b is now the least recently seen.
    table.touch(a!.descriptor.nodeId, 10)
    const again = table.add(d!)
    assert.equal(again.kind === 'bucket-full' && again.leastRecentlySeen.descriptor.nodeId, b!.descriptor.nodeId)
    // The cache keeps the newest two: c is pushed out by e.
    table.add(e!)
    assert.deepEqual(
      table.replacementsOf(0).map((r) => r.key[0]),
      [0x84, 0x85],
    )
    // b failed to answer: the newest replacement takes its place.
    table.remove(b!.descriptor.nodeId)
    assert.ok(table.has(e!.descriptor.nodeId))
    assert.ok(!table.has(b!.descriptor.nodeId))
    assert.equal(table.size, 2)
  })

  it('moves a contact seen again to the most recently seen end', () => {
    const table = new RoutingTable(LOCAL, { k: 2, maxPerSubnetPerBucket: 8 })
    const [a, b, c] = [0x81, 0x82, 0x83].map((first) => contactOf(keyOf(first)))
    table.add(a!)
    table.add(b!)
    assert.equal(table.add(contactOf(a!.key, undefined, 5)).kind, 'updated')
    const full = table.add(c!)
    assert.equal(full.kind === 'bucket-full' && full.leastRecentlySeen.descriptor.nodeId, b!.descriptor.nodeId)
  })

  it('holds at most maxPerSubnetPerBucket contacts of one subnet per bucket; other buckets and subnets are unaffected', () => {
    const table = new RoutingTable(LOCAL, { k: 8, maxPerSubnetPerBucket: 2 })
    const group = '203.0.113.0/24'
    assert.equal(table.add(contactOf(keyOf(0x81), group)).kind, 'added')
    assert.equal(table.add(contactOf(keyOf(0x82), group)).kind, 'added')
    assert.deepEqual(table.add(contactOf(keyOf(0x83), group)), { kind: 'refused', reason: 'subnet-cap' })
    assert.equal(table.add(contactOf(keyOf(0x84), '198.51.100.0/24')).kind, 'added')
    assert.equal(table.add(contactOf(keyOf(0x85))).kind, 'added', 'exempt addresses have no group')
    assert.equal(table.add(contactOf(keyOf(0x41), group)).kind, 'added', 'another bucket has its own cap')
    // A replacement from a capped subnet isn't promoted over the cap.
    const small = new RoutingTable(LOCAL, { k: 2, maxPerSubnetPerBucket: 1 })
    small.add(contactOf(keyOf(0x81), 'a'))
    small.add(contactOf(keyOf(0x82), 'b'))
    assert.equal(small.add(contactOf(keyOf(0x83), 'c')).kind, 'bucket-full')
    small.remove(addressFromBytes(keyOf(0x82)))
    assert.ok(small.has(addressFromBytes(keyOf(0x83))))
  })

  it('lists the empty buckets below the deepest non-empty one, and the stale ones', () => {
    const table = new RoutingTable(LOCAL, { k: 8, maxPerSubnetPerBucket: 8 }, 0)
    table.add(contactOf(keyOf(0x80)))
    table.add(contactOf(keyOf(0x10)))
    assert.deepEqual(table.emptyBuckets(), [1, 2])
    table.markUsed(keyOf(0x40), 1_000)
    assert.deepEqual(table.staleBuckets(1_000, 500), [0, 2, 3, 4])
  })
})

describe('subnetGroup', () => {
  it('groups IPv4 by /24 and IPv6 by /48, whatever the address form', () => {
    assert.equal(subnetGroup('203.0.113.7:30300', true), '203.0.113.0/24')
    assert.equal(subnetGroup('ws://203.0.113.99:30300/path', true), '203.0.113.0/24')
    assert.equal(subnetGroup('::ffff:203.0.113.8', true), '203.0.113.0/24')
    assert.equal(subnetGroup('[2001:db8:aa:1::1]:443', true), '2001:db8:aa::/48')
    assert.equal(subnetGroup('2001:db8:aa:ffff::2', true), '2001:db8:aa::/48')
  })

  it('exempts simulator addresses always, and loopback while exemptLoopback is on', () => {
    assert.equal(subnetGroup('sim://12', true), undefined)
    assert.equal(subnetGroup('sim://12', false), undefined)
    assert.equal(subnetGroup('127.0.0.1:4000', true), undefined)
    assert.equal(subnetGroup('[::1]:4000', true), undefined)
    assert.equal(subnetGroup('127.0.0.1:4000', false), '127.0.0.0/24')
    assert.equal(subnetGroup('[::1]:4000', false), '0:0:0::/48')
  })
})
