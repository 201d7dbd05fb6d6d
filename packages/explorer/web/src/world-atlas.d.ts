// world-atlas ships its TopoJSON without types; this is the shape of countries-110m.json.
declare module 'world-atlas/countries-110m.json' {
  import type { GeometryCollection, Topology } from 'topojson-specification'

  /** Features' `id` is the ISO 3166-1 numeric code (absent for a few disputed areas); `name` is in English. */
  const topology: Topology<{
    countries: GeometryCollection<{ name: string }>
    land: GeometryCollection
  }>
  export default topology
}
