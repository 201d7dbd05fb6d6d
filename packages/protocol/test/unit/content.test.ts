import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { encodeJsonContent, parseJsonContent, partitionFromKey } from '../../src/index.js'
import { assertProtocolError } from '../fixtures.js'

describe('JSON content', () => {
  it('round-trips JSON values as UTF-8', () => {
    const value = { text: 'päivää 🌊', list: [1, 2.5, null, true], nested: { a: 'b' } }
    const bytes = encodeJsonContent(value)
    assert.equal(new TextDecoder().decode(bytes), JSON.stringify(value))
    assert.deepEqual(parseJsonContent(bytes), value)
  })

  it('refuses values JSON cannot represent', () => {
    const circular: Record<string, unknown> = {}
    circular.self = circular
    assertProtocolError(() => encodeJsonContent(circular), 'INVALID_JSON', /circular/i)
    assertProtocolError(() => encodeJsonContent(10n), 'INVALID_JSON')
    assertProtocolError(() => encodeJsonContent(undefined), 'INVALID_JSON', /undefined/)
    assertProtocolError(() => encodeJsonContent(() => 1), 'INVALID_JSON', /function/)
  })

  it('says where unparseable content broke', () => {
    assertProtocolError(() => parseJsonContent(new TextEncoder().encode('{"a": 1,')), 'INVALID_JSON', /not valid JSON/)
    assertProtocolError(() => parseJsonContent(Uint8Array.from([0x22, 0xff, 0x22])), 'INVALID_JSON', /UTF-8/)
  })
})

describe('partitionFromKey', () => {
  it('is stable: the same key always maps to the same partition', () => {
    // Pinned values: changing them would move every keyed stream's data.
    assert.equal(partitionFromKey('device-42', 10), partitionFromKey('device-42', 10))
    assert.deepEqual(
      ['a', 'b', 'device-42', 42].map((key) => partitionFromKey(key, 100)),
      PINNED,
    )
    assert.equal(partitionFromKey(42, 100), partitionFromKey('42', 100))
  })

  it('always returns 0 for a single partition and stays within range', () => {
    assert.equal(partitionFromKey('anything', 1), 0)
    for (let i = 0; i < 1000; i++) {
      const partition = partitionFromKey(`key-${i}`, 7)
      assert.ok(partition >= 0 && partition < 7)
    }
  })

  it('spreads keys roughly evenly', () => {
    const counts = new Array<number>(10).fill(0)
    for (let i = 0; i < 10_000; i++) counts[partitionFromKey(`key-${i}`, 10)]! += 1
    for (const count of counts) assert.ok(count > 850 && count < 1150, `uneven spread: ${counts.join(',')}`)
  })

  it('rejects partition counts outside 1..100', () => {
    for (const bad of [0, 101, 2.5]) assertProtocolError(() => partitionFromKey('a', bad), 'INVALID_PARTITION')
  })
})

// First 4 bytes of keccak256(key) mod 100, checked against ethers.keccak256.
const PINNED = [6, 99, 43, 91]
