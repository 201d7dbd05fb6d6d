import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { addressFromBytes } from '@runnel/protocol'
import type { NodeId } from '../../src/identity.js'
import { PropagationBuffer } from '../../src/overlay/PropagationBuffer.js'

const TTL_MS = 1_000

function nodeId(index: number): NodeId {
  const bytes = new Uint8Array(20)
  bytes[19] = index
  return addressFromBytes(bytes)
}

const [peerA, peerB, peerC] = [nodeId(1), nodeId(2), nodeId(3)] as const

function frame(label: number): Uint8Array {
  return Uint8Array.of(0x01, label)
}

/** Labels of frames, for readable comparisons. */
function labels(frames: readonly Uint8Array[]): number[] {
  return frames.map((taken) => taken[1] ?? -1)
}

function createBuffer(capacity = 100): { buffer: PropagationBuffer; clock: { time: number } } {
  const clock = { time: 0 }
  return { buffer: new PropagationBuffer(TTL_MS, capacity, () => clock.time), clock }
}

describe('PropagationBuffer', () => {
  it('gives a new peer every buffered frame, oldest first', () => {
    const { buffer } = createBuffer()
    for (const label of [1, 2, 3]) buffer.add(frame(label), [])
    assert.deepEqual(labels(buffer.takeFor(peerA)), [1, 2, 3])
  })

  it('returns the buffered frames themselves, not copies', () => {
    const { buffer } = createBuffer()
    const added = frame(1)
    buffer.add(added, [])
    assert.equal(buffer.takeFor(peerA)[0], added)
  })

  it('skips frames already sent to the peer, and marks the rest as sent', () => {
    const { buffer } = createBuffer()
    buffer.add(frame(1), [peerA])
    buffer.add(frame(2), [])
    buffer.add(frame(3), [peerB, peerA])
    assert.deepEqual(labels(buffer.takeFor(peerA)), [2])
    assert.deepEqual(labels(buffer.takeFor(peerA)), [], 'nothing twice')
    assert.deepEqual(labels(buffer.takeFor(peerB)), [1, 2])
    assert.deepEqual(labels(buffer.takeFor(peerC)), [1, 2, 3])
    buffer.add(frame(4), [])
    assert.deepEqual(labels(buffer.takeFor(peerA)), [4], 'only what arrived since')
  })

  it('does not keep a reference to the sentTo iterable it was given', () => {
    const { buffer } = createBuffer()
    const sentTo = new Set([peerA])
    buffer.add(frame(1), sentTo)
    sentTo.delete(peerA)
    assert.deepEqual(labels(buffer.takeFor(peerA)), [])
  })

  it('evicts the oldest frame when full', () => {
    const { buffer } = createBuffer(2)
    for (const label of [1, 2, 3]) buffer.add(frame(label), [])
    assert.equal(buffer.size, 2)
    assert.deepEqual(labels(buffer.takeFor(peerA)), [2, 3])
  })

  it('keeps a frame for ttlMs and drops it after', () => {
    const { buffer, clock } = createBuffer()
    buffer.add(frame(1), [])
    clock.time = 500
    buffer.add(frame(2), [])
    clock.time = TTL_MS
    assert.deepEqual(labels(buffer.takeFor(peerA)), [1, 2], 'exactly ttlMs old is still fresh')
    clock.time = TTL_MS + 1
    assert.deepEqual(labels(buffer.takeFor(peerB)), [2])
    assert.equal(buffer.size, 1)
    clock.time = 500 + TTL_MS + 1
    assert.deepEqual(labels(buffer.takeFor(peerC)), [])
    assert.equal(buffer.size, 0)
  })

  it('expires old frames before counting capacity, so a fresh frame evicts nothing fresh', () => {
    const { buffer, clock } = createBuffer(2)
    buffer.add(frame(1), [])
    clock.time = 600
    buffer.add(frame(2), [])
    clock.time = TTL_MS + 1
    buffer.add(frame(3), [])
    assert.deepEqual(labels(buffer.takeFor(peerA)), [2, 3])
  })
})
