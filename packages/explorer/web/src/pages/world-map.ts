/** The overview's world map: countries from world-atlas, one dot per located node, updated in place. */

import countriesTopology from 'world-atlas/countries-110m.json'
import { geoNaturalEarth1, geoPath, type GeoProjection } from 'd3-geo'
import { feature, mesh } from 'topojson-client'
import type { NodeSummary } from '../../../src/api.js'
import { el, setText, svgEl } from '../dom.js'
import { nodeHref } from '../routes.js'
import { CountryLocations } from './country-locations.js'

const WIDTH = 960
const HEIGHT = 500
/** Nodes in one country spread over a disc this wide (px), so they don't hide each other. */
const SPREAD = 7

interface Dot {
  readonly circle: SVGCircleElement
  readonly title: SVGTitleElement
  titleText: string
  country: string
  live: boolean | undefined
}

export class WorldMap {
  readonly element: HTMLElement
  private readonly svg: SVGSVGElement
  private readonly dotLayer: SVGGElement
  private readonly unknownNote: HTMLElement
  private readonly projection: GeoProjection
  private readonly locations: CountryLocations
  private readonly dots = new Map<string, Dot>()
  private readonly projected = new Map<string, readonly [number, number] | null>()

  constructor() {
    const countries = feature(countriesTopology, countriesTopology.objects.countries)
    const borders = mesh(countriesTopology, countriesTopology.objects.countries, (a, b) => a !== b)
    this.projection = geoNaturalEarth1().fitSize([WIDTH, HEIGHT], { type: 'Sphere' })
    const path = geoPath(this.projection)
    this.locations = new CountryLocations(countries.features)
    this.dotLayer = svgEl('g', { class: 'map-nodes' })
    this.svg = svgEl(
      'svg',
      {
        'data-testid': 'world-map',
        class: 'world-map',
        viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
        role: 'img',
        'aria-label': 'Where the nodes are',
      },
      svgEl('path', { class: 'map-sphere', d: path({ type: 'Sphere' }) }),
      svgEl('path', { class: 'map-land', d: path(countries) }),
      svgEl('path', { class: 'map-borders', d: path(borders) }),
      this.dotLayer,
    )
    this.svg.addEventListener('click', (event) => {
      const address = event.target instanceof SVGCircleElement ? event.target.dataset.address : undefined
      if (address !== undefined) location.hash = nodeHref(address)
    })
    this.unknownNote = el('p', { class: 'muted', 'data-testid': 'map-unknown' })
    this.element = el('figure', { class: 'map' }, this.svg, el('figcaption', {}, this.unknownNote))
  }

  /** Shows these nodes: dots are added, moved, restyled and removed by address, in one pass. */
  update(nodes: readonly NodeSummary[]): void {
    const seen = new Set<string>()
    const added = document.createDocumentFragment()
    let unknown = 0
    for (const node of nodes) {
      const country = node.report?.node.country ?? null
      const point = country === null ? null : this.project(country)
      if (country === null || point === null) {
        unknown++
        continue
      }
      seen.add(node.address)
      let dot = this.dots.get(node.address)
      if (dot === undefined) {
        const title = svgEl('title')
        const circle = svgEl('circle', { 'data-testid': 'map-node', 'data-address': node.address, r: 3 }, title)
        dot = { circle, title, titleText: '', country: '', live: undefined }
        this.dots.set(node.address, dot)
        added.appendChild(circle)
      }
      if (dot.country !== country) {
        const [dx, dy] = spread(node.address)
        dot.circle.setAttribute('cx', (point[0] + dx).toFixed(1))
        dot.circle.setAttribute('cy', (point[1] + dy).toFixed(1))
        dot.country = country
      }
      if (dot.live !== node.live) {
        dot.circle.setAttribute('class', node.live ? 'live' : 'stale')
        dot.live = node.live
      }
      const titleText = `${node.address} · ${node.report?.node.region ?? country} · ${node.live ? 'live' : 'stale'}`
      if (dot.titleText !== titleText) {
        dot.title.textContent = titleText
        dot.titleText = titleText
      }
    }
    for (const [address, dot] of this.dots) {
      if (!seen.has(address)) {
        dot.circle.remove()
        this.dots.delete(address)
      }
    }
    this.dotLayer.appendChild(added)
    setText(this.unknownNote, `${unknown} node${unknown === 1 ? '' : 's'} with unknown location`)
  }

  /** A country's point on the map (cached: the same few countries come back every update). */
  private project(country: string): readonly [number, number] | null {
    let point = this.projected.get(country)
    if (point === undefined) {
      const location = this.locations.locate(country)
      point = location === null ? null : this.projection([location[0], location[1]])
      this.projected.set(country, point)
    }
    return point
  }
}

/** A stable offset for a node within its country's disc, from its address. */
function spread(address: string): [number, number] {
  let hash = 2166136261
  for (let index = 0; index < address.length; index++) {
    hash = Math.imul(hash ^ address.charCodeAt(index), 16777619)
  }
  const angle = ((hash >>> 0) % 3600) * (Math.PI / 1800)
  const radius = (((hash >>> 12) % 1000) / 1000) ** 0.5 * SPREAD
  return [Math.cos(angle) * radius, Math.sin(angle) * radius]
}
