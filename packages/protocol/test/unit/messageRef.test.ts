import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { MAX_SEQUENCE_NUMBER, MessageRef } from '../../src/index.js'
import { assertProtocolError } from '../fixtures.js'

const refArbitrary = fc
  .tuple(fc.integer({ min: 0, max: 2 ** 45 }), fc.integer({ min: 0, max: MAX_SEQUENCE_NUMBER }))
  .map(([timestamp, sequence]) => new MessageRef(timestamp, sequence))

describe('MessageRef', () => {
  it('orders by timestamp first, then by sequence number', () => {
    assert.equal(new MessageRef(1, 5).compareTo(new MessageRef(2, 0)), -1)
    assert.equal(new MessageRef(2, 0).compareTo(new MessageRef(1, 5)), 1)
    assert.equal(new MessageRef(2, 1).compareTo(new MessageRef(2, 2)), -1)
    assert.equal(new MessageRef(2, 2).compareTo(new MessageRef(2, 2)), 0)
    assert.ok(new MessageRef(2, 2).equals(new MessageRef(2, 2)))
  })

  it('is a total order: antisymmetric and transitive', () => {
    fc.assert(
      fc.property(refArbitrary, refArbitrary, refArbitrary, (a, b, c) => {
        assert.equal(Math.sign(a.compareTo(b)), -Math.sign(b.compareTo(a)))
        if (a.compareTo(b) <= 0 && b.compareTo(c) <= 0) assert.ok(a.compareTo(c) <= 0)
        assert.equal(a.compareTo(b) === 0, a.equals(b))
      }),
    )
  })

  it('rejects negative, fractional and out-of-range values', () => {
    assertProtocolError(() => new MessageRef(-1, 0), 'INVALID_MESSAGE', /timestamp/)
    assertProtocolError(() => new MessageRef(1.5, 0), 'INVALID_MESSAGE', /timestamp/)
    assertProtocolError(() => new MessageRef(2 ** 53, 0), 'INVALID_MESSAGE', /timestamp/)
    assertProtocolError(() => new MessageRef(0, -1), 'INVALID_MESSAGE', /sequenceNumber/)
    assertProtocolError(() => new MessageRef(0, MAX_SEQUENCE_NUMBER + 1), 'INVALID_MESSAGE', /sequenceNumber/)
  })
})
