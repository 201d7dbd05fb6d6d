import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ChainError, decodeMetadata, encodeMetadata, placementOf } from '../../src/index.js'

function assertInvalidMetadata(fn: () => unknown, messagePart: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ChainError, String(err))
    assert.equal(err.code, 'INVALID_METADATA')
    assert.match(err.message, messagePart)
    return true
  })
}

describe('placement in stream metadata', () => {
  it('accepts a well-formed placement and keeps it as written', () => {
    const metadata = {
      partitions: 2,
      placement: { countries: ['EU', 'CH'], regions: ['eu-central'], trackers: ['wss://tracker.example.eu:30300'] },
    }
    assert.deepEqual(decodeMetadata(encodeMetadata(metadata)), metadata)
  })

  it('reads it normalized with placementOf, and undefined without one', () => {
    assert.deepEqual(placementOf({ placement: { countries: ['de', 'eu'] } }), { countries: ['DE', 'EU'] })
    assert.equal(placementOf({ partitions: 1 }), undefined)
  })

  it('refuses a malformed placement before sending, naming the field', () => {
    assertInvalidMetadata(() => encodeMetadata({ placement: { countries: ['Germany'] } }), /placement\.countries\[0\]/)
    assertInvalidMetadata(() => encodeMetadata({ placement: { countries: [] } }), /placement\.countries is empty/)
    assertInvalidMetadata(() => encodeMetadata({ placement: { regions: ['eu central'] } }), /placement\.regions\[0\]/)
    assertInvalidMetadata(
      () => encodeMetadata({ placement: { trackers: ['tracker:30300'] } }),
      /placement\.trackers\[0\]/,
    )
    assertInvalidMetadata(() => encodeMetadata({ placement: { contries: ['DE'] } as never }), /unknown key "contries"/)
    assertInvalidMetadata(() => encodeMetadata({ placement: 'EU' as never }), /placement must be an object/)
  })

  it('placementOf refuses a malformed stored placement with the same error', () => {
    assertInvalidMetadata(() => placementOf(decodeMetadata('{"placement":{"countries":["XX"]}}')), /countries\[0\]/)
  })
})
