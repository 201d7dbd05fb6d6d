import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeHeartbeat, encodeHeartbeat, MAX_HEARTBEAT_BYTES } from '../../src/plugins/operator/heartbeatMetadata.js'
import { rendezvousHolders, rendezvousOrder } from '../../src/plugins/operator/rendezvous.js'

const node = (i: number): string => `0x${i.toString(16).padStart(40, '0')}`
const keys = Array.from({ length: 400 }, (_, i) => `0xowner/stream#${i}`)

describe('rendezvous assignment of stream parts', () => {
  it('ranks the same way whatever the order or case of the node list', () => {
    const nodes = [node(1), node(2), node(3)]
    for (const key of keys.slice(0, 20)) {
      assert.deepEqual(rendezvousOrder(nodes, key), rendezvousOrder([...nodes].reverse(), key))
      assert.deepEqual(
        rendezvousOrder(nodes, key).map((n) => n.toLowerCase()),
        rendezvousOrder(
          nodes.map((n) => n.toUpperCase().replace('0X', '0x')),
          key,
        ).map((n) => n.toLowerCase()),
      )
    }
  })

  it('moves only the removed node’s parts, each to the next node in its order', () => {
    const nodes = [node(1), node(2), node(3), node(4)]
    const survivors = nodes.filter((n) => n !== node(2))
    for (const key of keys) {
      const before = rendezvousOrder(nodes, key)
      const after = rendezvousHolders(survivors, key, 1)[0]
      assert.equal(after, before[0] === node(2) ? before[1] : before[0])
    }
  })

  it('spreads parts over the nodes, and replicas are distinct nodes', () => {
    const nodes = [node(1), node(2), node(3), node(4)]
    const counts = new Map<string, number>()
    for (const key of keys) {
      const [holder] = rendezvousHolders(nodes, key, 1)
      counts.set(holder!, (counts.get(holder!) ?? 0) + 1)
      assert.equal(new Set(rendezvousHolders(nodes, key, 3)).size, 3)
    }
    for (const n of nodes) assert.ok((counts.get(n) ?? 0) > 50, `${n} holds a fair share (${counts.get(n)})`)
  })
})

describe('heartbeat metadata', () => {
  it('round-trips, and stays within the contract’s limit', () => {
    const metadata = { nodeId: node(7), addresses: ['ws://127.0.0.1:32200'] }
    assert.deepEqual(decodeHeartbeat(encodeHeartbeat(metadata)), metadata)
    const many = { nodeId: node(7), addresses: Array.from({ length: 8 }, () => `ws://${'a'.repeat(200)}:1`) }
    assert.ok(new TextEncoder().encode(encodeHeartbeat(many)).length <= MAX_HEARTBEAT_BYTES)
  })

  it('reads untrusted metadata as undefined rather than throwing', () => {
    for (const bad of ['', 'not json', '[]', 'null', '{"nodeId":"0x12","addresses":[]}', `{"nodeId":"${node(1)}"}`]) {
      assert.equal(decodeHeartbeat(bad), undefined, bad)
    }
  })
})
