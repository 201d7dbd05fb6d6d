import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  COUNTRY_CODES,
  COUNTRY_GROUPS,
  ProtocolError,
  describeLocation,
  describePlacement,
  isLocationAllowed,
  parseNodeLocation,
  parsePlacement,
} from '../../src/index.js'
import { assertProtocolError } from '../fixtures.js'

describe('parseNodeLocation', () => {
  it('normalizes the country to upper case and the region to lower case', () => {
    assert.deepEqual(parseNodeLocation({ country: 'de', region: 'EU-Central' }), {
      country: 'DE',
      region: 'eu-central',
    })
    assert.deepEqual(parseNodeLocation({}), {})
  })

  it('refuses a country code that is not assigned, naming the field', () => {
    assert.throws(
      () => parseNodeLocation({ country: 'Germany' }),
      (err: unknown) =>
        err instanceof ProtocolError &&
        err.code === 'INVALID_PLACEMENT' &&
        err.field === 'location.country' &&
        /ISO 3166-1 alpha-2/.test(err.message),
    )
    assertProtocolError(() => parseNodeLocation({ country: 'ZZ' }), 'INVALID_PLACEMENT', /"ZZ"/)
    // A group is not a place a node can be.
    assertProtocolError(() => parseNodeLocation({ country: 'EU' }), 'INVALID_PLACEMENT')
  })

  it('refuses regions with spaces or over 64 characters, unknown keys and non-objects', () => {
    assertProtocolError(() => parseNodeLocation({ region: 'eu central' }), 'INVALID_PLACEMENT', /location\.region/)
    assertProtocolError(() => parseNodeLocation({ region: 'a'.repeat(65) }), 'INVALID_PLACEMENT')
    assertProtocolError(() => parseNodeLocation({ contry: 'DE' }), 'INVALID_PLACEMENT', /unknown key "contry"/)
    assertProtocolError(() => parseNodeLocation('DE'), 'INVALID_PLACEMENT')
  })
})

describe('parsePlacement', () => {
  it('normalizes and deduplicates', () => {
    assert.deepEqual(
      parsePlacement({
        countries: ['eu', 'CH', 'ch'],
        regions: ['EU-West'],
        trackers: ['wss://t.example.com:30300'],
        entryPoints: ['ws://198.51.100.7:30300'],
      }),
      {
        countries: ['EU', 'CH'],
        regions: ['eu-west'],
        trackers: ['wss://t.example.com:30300'],
        entryPoints: ['ws://198.51.100.7:30300'],
      },
    )
    assert.deepEqual(parsePlacement({}), {})
  })

  it('names the bad entry of a list', () => {
    assertProtocolError(() => parsePlacement({ countries: ['DE', 'Germany'] }), 'INVALID_PLACEMENT', /countries\[1\]/)
    assertProtocolError(() => parsePlacement({ regions: [''] }), 'INVALID_PLACEMENT', /regions\[0\]/)
    assertProtocolError(
      () => parsePlacement({ trackers: ['tracker.example.com'] }),
      'INVALID_PLACEMENT',
      /trackers\[0\]/,
    )
    assertProtocolError(() => parsePlacement({ entryPoints: [42] }), 'INVALID_PLACEMENT', /entryPoints\[0\]/)
  })

  it('refuses empty lists, non-lists, unknown keys and lists over their bound', () => {
    assertProtocolError(() => parsePlacement({ countries: [] }), 'INVALID_PLACEMENT', /leave it out/)
    assertProtocolError(() => parsePlacement({ countries: 'DE' }), 'INVALID_PLACEMENT', /must be an array/)
    assertProtocolError(() => parsePlacement({ country: ['DE'] }), 'INVALID_PLACEMENT', /unknown key "country"/)
    assertProtocolError(
      () => parsePlacement({ trackers: Array.from({ length: 17 }, (_, i) => `ws://10.0.0.${i}:1`) }),
      'INVALID_PLACEMENT',
      /at most 16/,
    )
    assertProtocolError(() => parsePlacement(null), 'INVALID_PLACEMENT')
  })
})

describe('isLocationAllowed', () => {
  const eu = parsePlacement({ countries: ['EU'] })

  it('admits countries of a group and refuses the others', () => {
    assert.equal(isLocationAllowed(eu, { country: 'DE' }), true)
    assert.equal(isLocationAllowed(eu, { country: 'FR', region: 'eu-west' }), true)
    assert.equal(isLocationAllowed(eu, { country: 'US' }), false)
    assert.equal(isLocationAllowed(eu, { country: 'CH' }), false)
    assert.equal(isLocationAllowed(parsePlacement({ countries: ['EEA'] }), { country: 'NO' }), true)
  })

  it('refuses a node of unknown location only when the constraint names places', () => {
    assert.equal(isLocationAllowed(eu, undefined), false)
    assert.equal(isLocationAllowed(eu, { region: 'eu-central' }), false)
    assert.equal(isLocationAllowed(parsePlacement({ trackers: ['ws://127.0.0.1:1'] }), undefined), true)
    assert.equal(isLocationAllowed(undefined, undefined), true)
  })

  it('admits a node matching either a country or a region', () => {
    const constraint = parsePlacement({ countries: ['CH'], regions: ['eu-central'] })
    assert.equal(isLocationAllowed(constraint, { country: 'CH' }), true)
    assert.equal(isLocationAllowed(constraint, { country: 'US', region: 'eu-central' }), true)
    assert.equal(isLocationAllowed(constraint, { country: 'US', region: 'us-east' }), false)
  })
})

describe('country data', () => {
  it('holds the 249 assigned codes plus XK, and groups only of them', () => {
    assert.equal(COUNTRY_CODES.size, 250)
    assert.equal(COUNTRY_GROUPS.get('EU')?.size, 27)
    for (const members of COUNTRY_GROUPS.values()) for (const code of members) assert.ok(COUNTRY_CODES.has(code), code)
  })

  it('describes locations and constraints for error messages', () => {
    assert.equal(describeLocation({ country: 'US', region: 'us-east' }), 'US/us-east')
    assert.equal(describeLocation(undefined), 'unknown')
    assert.equal(describePlacement({ countries: ['EU'], regions: ['x'] }), 'countries EU; regions x')
  })
})
