/**
 * Where to put a node on the world map from its ISO 3166-1 alpha-2 country code.
 *
 * The atlas (world-atlas countries-110m) identifies countries by ISO 3166-1 numeric code; i18n-iso-countries maps
 * alpha-2 to numeric (its browser entry loads only the code table, no country names). A country's point is the centroid
 * of its largest polygon, so France sits in Europe rather than between Paris and French Guiana. Small places that the
 * 1:110m atlas leaves out, but where nodes are often hosted, have a fixed point below.
 */

import { alpha2ToNumeric } from 'i18n-iso-countries'
import { geoArea, geoCentroid } from 'd3-geo'
import type { Feature, Geometry, Polygon } from 'geojson'

export type LonLat = readonly [longitude: number, latitude: number]

/** [longitude, latitude] of places missing from the 1:110m atlas. */
const SMALL_PLACES: Readonly<Record<string, LonLat>> = {
  SG: [103.82, 1.35],
  HK: [114.17, 22.32],
  MO: [113.54, 22.2],
  BH: [50.56, 26.07],
  MT: [14.38, 35.94],
  MU: [57.55, -20.35],
  MV: [73.22, 3.2],
  SC: [55.49, -4.68],
  CV: [-23.6, 15.1],
  AD: [1.52, 42.51],
  MC: [7.42, 43.74],
  LI: [9.55, 47.16],
  SM: [12.46, 43.94],
  VA: [12.45, 41.9],
  GI: [-5.35, 36.14],
  IM: [-4.55, 54.24],
  JE: [-2.13, 49.21],
  GG: [-2.58, 49.45],
  FO: [-6.91, 62.0],
  AX: [19.92, 60.18],
  BM: [-64.75, 32.31],
  KY: [-81.25, 19.31],
  BB: [-59.54, 13.19],
  AG: [-61.8, 17.07],
  AW: [-69.97, 12.52],
  CW: [-68.99, 12.17],
  SX: [-63.06, 18.04],
  LC: [-60.98, 13.91],
  GD: [-61.68, 12.12],
  VC: [-61.2, 13.25],
  KN: [-62.78, 17.36],
  DM: [-61.37, 15.41],
  TC: [-71.8, 21.69],
  VG: [-64.62, 18.42],
  VI: [-64.9, 18.34],
  GU: [144.79, 13.44],
  MP: [145.67, 15.1],
  PF: [-149.4, -17.68],
  WS: [-172.1, -13.76],
  TO: [-175.2, -21.18],
  RE: [55.54, -21.12],
  GP: [-61.55, 16.27],
  MQ: [-61.02, 14.64],
  GF: [-53.13, 3.93],
  XK: [20.9, 42.6],
}

/** Looks countries up in an atlas; one per map. */
export class CountryLocations {
  private readonly byNumericCode = new Map<string, LonLat>()
  private readonly cache = new Map<string, LonLat | null>()

  constructor(countries: readonly Feature<Geometry | null, unknown>[]) {
    for (const country of countries) {
      if (country.id === undefined || country.geometry === null) continue
      this.byNumericCode.set(String(country.id), centroidOfLargestPart(country.geometry))
    }
  }

  /** The point for an alpha-2 code (any case), or null when unknown. */
  locate(alpha2: string): LonLat | null {
    const code = alpha2.toUpperCase()
    let location = this.cache.get(code)
    if (location === undefined) {
      const numeric = alpha2ToNumeric(code)
      location = SMALL_PLACES[code] ?? (numeric === undefined ? undefined : this.byNumericCode.get(numeric)) ?? null
      this.cache.set(code, location)
    }
    return location
  }
}

function centroidOfLargestPart(geometry: Geometry): LonLat {
  if (geometry.type !== 'MultiPolygon') return geoCentroid(geometry)
  let largest: Polygon | undefined
  let largestArea = -1
  for (const coordinates of geometry.coordinates) {
    const polygon: Polygon = { type: 'Polygon', coordinates }
    const area = geoArea(polygon)
    if (area > largestArea) {
      largest = polygon
      largestArea = area
    }
  }
  return largest === undefined ? geoCentroid(geometry) : geoCentroid(largest)
}
