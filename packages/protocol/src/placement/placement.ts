import { ProtocolError } from '../errors/ProtocolError.js'
import { describeValue } from '../errors/text.js'
import { COUNTRY_CODES, COUNTRY_GROUPS } from './countries.js'

/**
 * Where a node runs, as it declares it (from its configuration or a GeoIP lookup of its public address).
 * Either field may be missing; a node with neither has an unknown location.
 */
export interface NodeLocation {
  /** ISO 3166-1 alpha-2 code, upper case, e.g. `DE`. */
  readonly country?: string
  /** An operator-chosen region name, lower case, e.g. `eu-central`. */
  readonly region?: string
}

/**
 * Where a stream's data may be carried, from its metadata's `placement`: only full nodes whose location matches
 * carry it (relay it, serve as proxies). A node matches when its country is in `countries` (codes, or the groups
 * `EU` and `EEA`) or its region is in `regions`; with neither list, every node matches. `trackers` (tracker mode)
 * and `entryPoints` (dht mode) replace the node's own for the stream's parts.
 */
export interface PlacementConstraint {
  readonly countries?: readonly string[]
  readonly regions?: readonly string[]
  readonly trackers?: readonly string[]
  readonly entryPoints?: readonly string[]
}

const MAX_REGION_LENGTH = 64
const REGION_PATTERN = /^[a-z0-9][a-z0-9._-]*$/
const MAX_COUNTRIES = COUNTRY_CODES.size
const MAX_REGIONS = 32
const MAX_ADDRESSES = 16
const MAX_ADDRESS_LENGTH = 256
const PLACEMENT_KEYS = new Set(['countries', 'regions', 'trackers', 'entryPoints'])
const LOCATION_KEYS = new Set(['country', 'region'])

function invalid(field: string, message: string): ProtocolError {
  return new ProtocolError('INVALID_PLACEMENT', `${field} ${message}`, { field })
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function checkKeys(value: Record<string, unknown>, allowed: ReadonlySet<string>, field: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.has(key)) {
      throw invalid(field, `has an unknown key ${JSON.stringify(key)} (known: ${[...allowed].join(', ')})`)
    }
  }
}

/**
 * Checks and normalizes a country code (upper case). Only assigned ISO 3166-1 alpha-2 codes (and XK) pass.
 *
 * @throws {@link ProtocolError} `INVALID_PLACEMENT`
 */
export function parseCountryCode(value: unknown, field = 'country'): string {
  const code = typeof value === 'string' ? value.toUpperCase() : undefined
  if (code === undefined || !COUNTRY_CODES.has(code)) {
    throw invalid(field, `must be an ISO 3166-1 alpha-2 country code like "DE", got ${describeValue(value)}`)
  }
  return code
}

/**
 * Checks and normalizes a region name (lower case): 1 to 64 letters, digits, `.`, `_` or `-`.
 *
 * @throws {@link ProtocolError} `INVALID_PLACEMENT`
 */
export function parseRegion(value: unknown, field = 'region'): string {
  const region = typeof value === 'string' ? value.toLowerCase() : undefined
  if (region === undefined || region.length > MAX_REGION_LENGTH || !REGION_PATTERN.test(region)) {
    throw invalid(
      field,
      `must be 1 to ${MAX_REGION_LENGTH} letters, digits, ".", "_" or "-" (like "eu-central"), got ${describeValue(value)}`,
    )
  }
  return region
}

/**
 * Checks a node's location as configured, e.g. `{ country: 'de', region: 'EU-Central' }` →
 * `{ country: 'DE', region: 'eu-central' }`.
 *
 * @throws {@link ProtocolError} `INVALID_PLACEMENT` naming the bad field
 */
export function parseNodeLocation(value: unknown, field = 'location'): NodeLocation {
  if (!isPlainObject(value))
    throw invalid(field, `must be an object like { country: "DE" }, got ${describeValue(value)}`)
  checkKeys(value, LOCATION_KEYS, field)
  return {
    ...(value.country === undefined ? {} : { country: parseCountryCode(value.country, `${field}.country`) }),
    ...(value.region === undefined ? {} : { region: parseRegion(value.region, `${field}.region`) }),
  }
}

function parseList<T>(
  value: unknown,
  field: string,
  max: number,
  parseItem: (item: unknown, itemField: string) => T,
): T[] | undefined {
  if (value === undefined) return undefined
  if (!Array.isArray(value)) throw invalid(field, `must be an array, got ${describeValue(value)}`)
  if (value.length === 0) throw invalid(field, 'is empty: leave it out to allow any')
  if (value.length > max) throw invalid(field, `has ${value.length} entries, at most ${max} allowed`)
  return [...new Set(value.map((item, index) => parseItem(item, `${field}[${index}]`)))]
}

function parseCountryOrGroup(value: unknown, field: string): string {
  if (typeof value === 'string' && COUNTRY_GROUPS.has(value.toUpperCase())) return value.toUpperCase()
  try {
    return parseCountryCode(value, field)
  } catch {
    throw invalid(
      field,
      `must be an ISO 3166-1 alpha-2 country code like "DE" or a group (${[...COUNTRY_GROUPS.keys()].join(', ')}), ` +
        `got ${describeValue(value)}`,
    )
  }
}

function parseAddress(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length > MAX_ADDRESS_LENGTH || !/^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(value)) {
    throw invalid(
      field,
      `must be a transport address like "wss://tracker.example.com:30300" (at most ${MAX_ADDRESS_LENGTH} characters), ` +
        `got ${describeValue(value)}`,
    )
  }
  return value
}

/**
 * Checks a stream's `placement` metadata and normalizes it (codes upper case, regions lower case, duplicates
 * removed). Unknown keys and empty lists are refused, so a typo doesn't silently lift the constraint.
 *
 * @example
 * ```ts
 * parsePlacement({ countries: ['EU', 'ch'] }) // { countries: ['EU', 'CH'] }
 * parsePlacement({ countries: ['Germany'] }) // throws INVALID_PLACEMENT: placement.countries[0] must be …
 * ```
 * @throws {@link ProtocolError} `INVALID_PLACEMENT` naming the bad field
 */
export function parsePlacement(value: unknown, field = 'placement'): PlacementConstraint {
  if (!isPlainObject(value)) {
    throw invalid(field, `must be an object like { countries: ["EU"] }, got ${describeValue(value)}`)
  }
  checkKeys(value, PLACEMENT_KEYS, field)
  const countries = parseList(value.countries, `${field}.countries`, MAX_COUNTRIES, parseCountryOrGroup)
  const regions = parseList(value.regions, `${field}.regions`, MAX_REGIONS, parseRegion)
  const trackers = parseList(value.trackers, `${field}.trackers`, MAX_ADDRESSES, parseAddress)
  const entryPoints = parseList(value.entryPoints, `${field}.entryPoints`, MAX_ADDRESSES, parseAddress)
  return {
    ...(countries === undefined ? {} : { countries }),
    ...(regions === undefined ? {} : { regions }),
    ...(trackers === undefined ? {} : { trackers }),
    ...(entryPoints === undefined ? {} : { entryPoints }),
  }
}

/** Whether the constraint limits where nodes may be (it names countries or regions). */
export function restrictsLocation(constraint: PlacementConstraint | undefined): boolean {
  return (constraint?.countries?.length ?? 0) > 0 || (constraint?.regions?.length ?? 0) > 0
}

/**
 * Whether a node at `location` may carry a stream under `constraint`. Without countries or regions in the
 * constraint, any node may; with them, a node of unknown location may not.
 *
 * @example
 * ```ts
 * isLocationAllowed({ countries: ['EU'] }, { country: 'DE' }) // true
 * isLocationAllowed({ countries: ['EU'] }, { country: 'US' }) // false
 * isLocationAllowed({ regions: ['eu-central'] }, undefined) // false
 * ```
 */
export function isLocationAllowed(
  constraint: PlacementConstraint | undefined,
  location: NodeLocation | undefined,
): boolean {
  if (!restrictsLocation(constraint)) return true
  const country = location?.country
  if (country !== undefined) {
    for (const allowed of constraint?.countries ?? []) {
      if (allowed === country || COUNTRY_GROUPS.get(allowed)?.has(country) === true) return true
    }
  }
  const region = location?.region
  return region !== undefined && (constraint?.regions?.includes(region) ?? false)
}

/** A location for messages: `DE/eu-central`, `DE`, `region eu-central` or `unknown`. */
export function describeLocation(location: NodeLocation | undefined): string {
  const { country, region } = location ?? {}
  if (country !== undefined) return region === undefined ? country : `${country}/${region}`
  return region === undefined ? 'unknown' : `region ${region}`
}

/** A constraint's location part for messages: `countries EU, CH; regions eu-central` (or `anywhere`). */
export function describePlacement(constraint: PlacementConstraint | undefined): string {
  const parts: string[] = []
  if (constraint?.countries !== undefined) parts.push(`countries ${constraint.countries.join(', ')}`)
  if (constraint?.regions !== undefined) parts.push(`regions ${constraint.regions.join(', ')}`)
  return parts.length === 0 ? 'anywhere' : parts.join('; ')
}
