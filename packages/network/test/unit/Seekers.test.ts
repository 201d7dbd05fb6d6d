// The DHT's rendezvous of seekers: bounded per key and in keys, forgotten after
// a while, never naming the asker, a light node or a node without addresses,
// and naming a random few so that not every asker is sent to the same ones.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseEthereumAddress } from '@runnel/protocol'
import { MAX_SEEKERS_NAMED, Seekers } from '../../src/dht/Seekers.js'
import { NETWORK_PROTOCOL_VERSION, SeededRandom, type NodeDescriptor } from '../../src/index.js'

const KEY = new Uint8Array(20).fill(7)
const OTHER_KEY = new Uint8Array(20).fill(9)

function descriptor(index: number, kind: 'full' | 'light' = 'full', addresses = [`sim://${index}`]): NodeDescriptor {
  return {
    nodeId: parseEthereumAddress(`0x${index.toString(16).padStart(40, '0')}`),
    kind,
    addresses: kind === 'light' ? [] : addresses,
    protocolVersion: NETWORK_PROTOCOL_VERSION,
  }
}

function seekers(settings = { memoryMs: 1_000, perKey: 8, keys: 2 }): Seekers {
  const random = new SeededRandom(5)
  return new Seekers(() => random.nextFloat(), settings)
}

describe('Seekers', () => {
  it('names earlier seekers of the same key to a later one, never the asker itself', () => {
    const rendezvous = seekers()
    assert.deepEqual(rendezvous.answer(KEY, descriptor(1), true, 0), [], 'the first finds no one')
    assert.deepEqual(rendezvous.answer(KEY, descriptor(2), true, 10), [descriptor(1)])
    assert.deepEqual(rendezvous.answer(OTHER_KEY, descriptor(3), true, 20), [], 'another key has its own')
    const named = rendezvous.answer(KEY, descriptor(1), true, 30)
    assert.deepEqual(named, [descriptor(2)], 'asking again does not name oneself')
  })

  it('names no one when told not to (the answerer holds records), but still notes the asker', () => {
    const rendezvous = seekers()
    rendezvous.answer(KEY, descriptor(1), true, 0)
    assert.deepEqual(rendezvous.answer(KEY, descriptor(2), true, 10, false), [])
    assert.deepEqual(
      rendezvous
        .answer(KEY, descriptor(3), false, 20)
        .map((d) => d.nodeId)
        .sort(),
      [descriptor(1).nodeId, descriptor(2).nodeId],
    )
  })

  it('remembers only full nodes with addresses that seek, and only for memoryMs', () => {
    const rendezvous = seekers()
    rendezvous.answer(KEY, descriptor(1, 'light'), true, 0)
    rendezvous.answer(KEY, descriptor(2, 'full', []), true, 0)
    rendezvous.answer(KEY, descriptor(3), false, 0)
    rendezvous.answer(KEY, descriptor(4), true, 0)
    assert.deepEqual(rendezvous.answer(KEY, descriptor(5), false, 1_000), [descriptor(4)])
    assert.deepEqual(rendezvous.answer(KEY, descriptor(5), false, 1_001), [], 'forgotten after memoryMs')
  })

  it('names a random few, and keeps at most perKey seekers and `keys` keys', () => {
    const rendezvous = seekers()
    for (let index = 1; index <= 20; index++) rendezvous.answer(KEY, descriptor(index), true, index)
    const picks = new Set<string>()
    for (let round = 0; round < 50; round++) {
      const named = rendezvous.answer(KEY, descriptor(100), false, 50)
      assert.equal(named.length, MAX_SEEKERS_NAMED)
      assert.equal(new Set(named.map((d) => d.nodeId)).size, named.length, 'no one twice')
      for (const seeker of named) picks.add(seeker.nodeId)
    }
    // The 8 most recent (13..20) are kept; random picks reach all of them, and none older.
    assert.deepEqual([...picks].sort(), Array.from({ length: 8 }, (_, index) => descriptor(13 + index).nodeId).sort())
    rendezvous.answer(OTHER_KEY, descriptor(30), true, 60)
    rendezvous.answer(new Uint8Array(20).fill(1), descriptor(31), true, 70)
    assert.deepEqual(rendezvous.answer(KEY, descriptor(100), false, 80), [], 'the least recently sought key went')
    assert.deepEqual(rendezvous.answer(OTHER_KEY, descriptor(100), false, 80), [descriptor(30)])
  })
})
