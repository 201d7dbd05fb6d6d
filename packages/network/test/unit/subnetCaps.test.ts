// The per-address and per-subnet caps against Sybils, as pure state: incoming
// connections per IP and per /24 (AddressCaps), a tracker's members per /24
// per stream part (SubnetQuota), records per key from one /24 (RecordStore),
// and how simulated and real addresses map to groups and exemptions.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InboundAddressCaps, resolveInboundCaps } from '../../src/connection/AddressCaps.js'
import { RecordStore } from '../../src/dht/RecordStore.js'
import type { SignedRecord } from '../../src/dht/records.js'
import { hostOf, ipSubnetGroup, isPrivateAddress, subnetGroup } from '../../src/dht/subnet.js'
import { NetworkError } from '../../src/errors.js'
import { SubnetQuota } from '../../src/tracker/SubnetQuota.js'
import { Simulator, type NodeId } from '../../src/index.js'

const id = (value: string): NodeId => value as NodeId

describe('subnet groups of simulated and real addresses', () => {
  it('groups a simulator address with an IP by that IP, and exempts a plain one', () => {
    const simulator = new Simulator()
    const plain = simulator.createTransport()
    const placed = simulator.createTransport({ ip: '203.0.113.9' })
    assert.match(plain.address, /^sim:\/\/\d+$/)
    assert.match(placed.address, /^sim:\/\/203\.0\.113\.9\/\d+$/)
    assert.equal(subnetGroup(plain.address, false), undefined)
    assert.equal(subnetGroup(placed.address, false), '203.0.113.0/24')
    assert.equal(hostOf(placed.address), '203.0.113.9')
    assert.throws(
      () => simulator.createTransport({ ip: '203.0.113' }),
      (err) => err instanceof NetworkError && err.code === 'INVALID_OPTIONS',
    )
    simulator.stop()
  })

  it('dials a simulator address with an IP like any other', async () => {
    const simulator = new Simulator()
    const server = simulator.createTransport({ ip: '198.51.100.4' })
    const seen: string[] = []
    await server.start((connection) => seen.push(connection.remoteAddress))
    const client = simulator.createTransport({ ip: '203.0.113.7' })
    await client.start(() => undefined)
    const connection = await client.connect(server.address)
    assert.equal(connection.remoteAddress, server.address)
    assert.deepEqual(seen, [client.address])
    simulator.stop()
  })

  it('tells private and loopback addresses from public ones', () => {
    for (const address of [
      '127.0.0.1:4000',
      '10.1.2.3:80',
      '172.20.0.5:1',
      '192.168.1.1:2',
      '100.64.3.4:5',
      '[::1]:7',
      '[fd00::1]:7',
      '[fe80::1]:7',
      '[::ffff:192.168.0.2]:9',
      'ws://localhost:3000',
    ]) {
      assert.equal(isPrivateAddress(address), true, address)
    }
    for (const address of ['8.8.8.8:53', '172.32.0.1:1', '[2001:db8::1]:443', '[::ffff:1.2.3.4]:5', 'sim://4']) {
      assert.equal(isPrivateAddress(address), false, address)
    }
    assert.equal(hostOf('[::ffff:1.2.3.4]:5'), '::ffff:1.2.3.4')
  })

  it('counts only IP addresses for the caps: not WebRTC connections, host names or plain simulator addresses', () => {
    assert.equal(ipSubnetGroup('webrtc:0x1234', false), undefined)
    assert.equal(ipSubnetGroup('ws://node.example.org:30301', false), undefined)
    assert.equal(ipSubnetGroup('sim://4', false), undefined)
    assert.equal(ipSubnetGroup('ws://203.0.113.5:30301', false), '203.0.113.0/24')
    assert.equal(ipSubnetGroup('[2001:db8:1:2::5]:443', false), '2001:db8:1::/48')
    assert.equal(ipSubnetGroup('127.0.0.1:1', true), undefined)
  })
})

describe('InboundAddressCaps', () => {
  it('refuses past maxPerIp from one address and past maxPerSubnet from one /24, and frees a place on release', () => {
    const caps = new InboundAddressCaps(resolveInboundCaps({ maxPerIp: 2, maxPerSubnet: 3 }))
    const first = caps.admit('203.0.113.1:1000')
    const second = caps.admit('203.0.113.1:1001')
    assert.ok('ticket' in first && 'ticket' in second)
    const third = caps.admit('203.0.113.1:1002')
    assert.ok('refusal' in third)
    assert.equal(third.refusal, 'too many connections from 203.0.113.1 (at most 2 per address)')
    assert.ok('ticket' in caps.admit('203.0.113.2:1000'))
    const subnetFull = caps.admit('203.0.113.3:1000')
    assert.ok('refusal' in subnetFull)
    assert.equal(subnetFull.refusal, 'too many connections from 203.0.113.0/24 (at most 3 per subnet)')
    assert.ok('ticket' in caps.admit('198.51.100.1:1000'), 'another subnet is not affected')
    assert.equal(caps.refused, 2)
    caps.release(first.ticket!)
    assert.equal(caps.countFrom('203.0.113.1'), 1)
    assert.ok('ticket' in caps.admit('203.0.113.1:1003'))
  })

  it('never counts private, loopback or plain simulator addresses unless told to', () => {
    const caps = new InboundAddressCaps(resolveInboundCaps({ maxPerIp: 1, maxPerSubnet: 1 }))
    for (let index = 0; index < 5; index++) {
      for (const address of ['127.0.0.1:1', '10.0.0.1:1', '[::1]:1', 'sim://3', 'webrtc:0xab', 'ws://node.example:1']) {
        const admission = caps.admit(address)
        assert.ok('ticket' in admission && admission.ticket === undefined, address)
      }
    }
    const strict = new InboundAddressCaps(resolveInboundCaps({ maxPerIp: 1, exemptPrivateAddresses: false }))
    assert.ok('ticket' in strict.admit('127.0.0.1:1'))
    assert.ok('refusal' in strict.admit('127.0.0.1:2'))
  })

  it('rejects caps that are not positive integers', () => {
    assert.throws(
      () => resolveInboundCaps({ maxPerIp: 0 }),
      (err) => err instanceof NetworkError && err.code === 'INVALID_OPTIONS' && /maxPerIp/.test(err.message),
    )
    assert.equal(resolveInboundCaps({ maxPerSubnet: Infinity }).maxPerSubnet, Infinity)
  })
})

describe('SubnetQuota (a tracker’s members per subnet per stream part)', () => {
  it('admits at most maxPerGroup members of one stream part from one group, members again, and others elsewhere', () => {
    const quota = new SubnetQuota(2)
    assert.equal(quota.admit('s#0', id('0xa'), '203.0.113.0/24'), true)
    assert.equal(quota.admit('s#0', id('0xb'), '203.0.113.0/24'), true)
    assert.equal(quota.admit('s#0', id('0xc'), '203.0.113.0/24'), false)
    assert.equal(quota.admit('s#0', id('0xa'), '203.0.113.0/24'), true, 'a member reporting again')
    assert.equal(quota.admit('s#1', id('0xc'), '203.0.113.0/24'), true, 'another stream part')
    assert.equal(quota.admit('s#0', id('0xd'), '198.51.100.0/24'), true, 'another subnet')
    assert.equal(quota.admit('s#0', id('0xe'), undefined), true, 'exempt')
    quota.release(id('0xa'), 's#0')
    assert.equal(quota.admit('s#0', id('0xc'), '203.0.113.0/24'), true)
    quota.release(id('0xb'))
    quota.release(id('0xc'))
    assert.equal(quota.admit('s#0', id('0xf'), '203.0.113.0/24'), true)
    assert.equal(quota.admit('s#1', id('0xf'), '203.0.113.0/24'), true)
  })
})

describe('RecordStore per-subnet cap', () => {
  const key = new Uint8Array(20).fill(7)
  const record = (owner: string, sequence = 1n): SignedRecord => ({
    key,
    owner: owner as SignedRecord['owner'],
    value: new Uint8Array([1]),
    expiresAt: 60_000,
    sequence,
    signature: new Uint8Array(65).fill(Number(sequence)),
  })

  it('stores at most maxRecordsPerSubnetPerKey records under a key from one subnet, still refreshes those, and takes others', () => {
    const store = new RecordStore({
      maxRecordsPerKey: 32,
      maxRecords: 100,
      maxRecordTtlMs: 3_600_000,
      maxRecordsPerSubnetPerKey: 2,
    })
    const sybil = '203.0.113.0/24'
    assert.equal(store.put(record('0x01'), 0, sybil), 'stored')
    assert.equal(store.put(record('0x02'), 0, sybil), 'stored')
    assert.equal(store.put(record('0x03'), 0, sybil), 'subnet-full')
    assert.equal(store.put(record('0x01', 2n), 0, sybil), 'stored', 'an owner refreshing its record')
    assert.equal(store.put(record('0x04'), 0, '198.51.100.0/24'), 'stored')
    assert.equal(store.put(record('0x05'), 0, undefined), 'stored', 'exempt (or local)')
    assert.equal(store.get(key, 0).length, 4)
    // Once they expire, the subnet has room again.
    assert.equal(store.put({ ...record('0x03'), expiresAt: 120_000 }, 60_000, sybil), 'stored')
  })

  it('keeps a record stored into a key whose records all just expired', () => {
    const store = new RecordStore({ maxRecordsPerKey: 2, maxRecords: 100, maxRecordTtlMs: 3_600_000 })
    assert.equal(store.put(record('0x01'), 0), 'stored')
    assert.equal(store.put(record('0x02'), 0), 'stored')
    assert.equal(store.put({ ...record('0x03'), expiresAt: 120_000 }, 60_000), 'stored')
    assert.equal(store.get(key, 60_000).length, 1)
    assert.equal(store.size, 1)
  })
})
