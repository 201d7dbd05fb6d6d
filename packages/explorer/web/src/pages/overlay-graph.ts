/** A stream part's overlay, crawled by the server and drawn as an SVG graph; "Refresh" crawls again. */

import type { OverlayResponse } from '../../../src/api.js'
import { describeError, getJson, isAbort } from '../client.js'
import { el, problem, replaceChildren, svgEl } from '../dom.js'
import { formatInteger, formatTime } from '../format.js'
import { nodeHref } from '../routes.js'
import { layoutOverlay, type OverlayLayout } from './overlay-layout.js'

const WIDTH = 900
const HEIGHT = 600
const PADDING = 24

export class OverlayGraph {
  readonly element: HTMLElement
  private readonly status = el('p', { class: 'muted' })
  private readonly canvas = el('div', { class: 'overlay-canvas' })
  private crawl: AbortController | undefined

  constructor(
    private readonly streamId: string,
    private readonly partition: number,
    private readonly signal: AbortSignal,
  ) {
    const refresh = el('button', { type: 'button', 'data-testid': 'overlay-refresh' }, 'Refresh')
    refresh.addEventListener('click', () => void this.load())
    this.element = el(
      'section',
      { class: 'overlay' },
      el('h2', {}, 'Overlay ', refresh),
      el(
        'p',
        { class: 'legend muted' },
        el('span', { class: 'swatch explorer' }),
        ' the explorer’s node ',
        el('span', { class: 'swatch full' }),
        ' full node ',
        el('span', { class: 'swatch light' }),
        ' light node ',
        el('span', { class: 'swatch unreachable' }),
        ' unreachable',
      ),
      this.status,
      this.canvas,
    )
    signal.addEventListener('abort', () => this.crawl?.abort(), { once: true })
  }

  /** Crawls the overlay (again) and draws it. */
  async load(): Promise<void> {
    this.crawl?.abort()
    if (this.signal.aborted) return
    const crawl = new AbortController()
    this.crawl = crawl
    replaceChildren(this.status, 'Crawling the overlay… (this can take a few seconds)')
    let overlay: OverlayResponse
    try {
      overlay = await getJson<OverlayResponse>(
        `/api/streams/${encodeURIComponent(this.streamId)}/overlay?partition=${this.partition}`,
        crawl.signal,
      )
    } catch (error: unknown) {
      if (isAbort(error) || crawl.signal.aborted) return
      replaceChildren(this.status, problem(`The overlay could not be crawled: ${describeError(error)}`))
      return
    }
    const layout = layoutOverlay(overlay)
    replaceChildren(this.canvas, drawGraph(overlay, layout))
    const unreachable = overlay.nodes.filter((node) => node.error !== null).length
    replaceChildren(
      this.status,
      `${formatInteger(overlay.nodes.length)} nodes (${formatInteger(unreachable)} unreachable), ` +
        `${formatInteger(layout.edges.length)} edges · crawled ${formatTime(overlay.crawledAt)} in ` +
        `${formatInteger(overlay.tookMs)} ms · laid out in ${formatInteger(layout.tookMs)} ms`,
    )
  }
}

function drawGraph(overlay: OverlayResponse, layout: OverlayLayout): SVGSVGElement {
  const scale = fitToView(layout)
  const edges = svgEl('g', { class: 'overlay-edges' })
  for (const [source, target] of layout.edges) {
    const from = scale(source)
    const to = scale(target)
    edges.appendChild(
      svgEl('line', {
        'data-testid': 'overlay-edge',
        x1: from.x,
        y1: from.y,
        x2: to.x,
        y2: to.y,
      }),
    )
  }
  const vertices = svgEl('g', { class: 'overlay-vertices' })
  for (const node of overlay.nodes) {
    const { x, y } = scale(node.id)
    const role = node.explorer
      ? 'explorer'
      : node.error !== null
        ? 'unreachable'
        : node.kind === 'light'
          ? 'light'
          : 'full'
    const description = [
      node.id,
      node.explorer ? 'the explorer’s node' : null,
      `kind: ${node.kind ?? 'unknown'}`,
      `region: ${node.region ?? 'unknown'}`,
      `version: ${node.version ?? 'unknown'}`,
      node.error === null ? null : `unreachable: ${node.error}`,
    ]
    vertices.appendChild(
      svgEl(
        'circle',
        {
          'data-testid': 'overlay-vertex',
          'data-node-id': node.id,
          class: role,
          cx: x,
          cy: y,
          r: node.explorer ? 8 : 5,
        },
        svgEl('title', {}, description.filter((line) => line !== null).join('\n')),
      ),
    )
  }
  const svg = svgEl(
    'svg',
    {
      'data-testid': 'overlay-graph',
      'data-layout-ms': Math.round(layout.tookMs),
      'data-layout-iterations': layout.iterations,
      class: 'overlay-graph',
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: 'img',
      'aria-label': `Overlay of ${overlay.streamPartId}`,
    },
    edges,
    vertices,
  )
  svg.addEventListener('click', (event) => {
    const id = event.target instanceof SVGCircleElement ? event.target.dataset.nodeId : undefined
    if (id !== undefined) location.hash = nodeHref(id)
  })
  return svg
}

/** Maps layout coordinates into the view box, keeping the aspect ratio. */
function fitToView(layout: OverlayLayout): (id: string) => { x: string; y: string } {
  let minX = Infinity
  let minY = Infinity
  let maxX = -Infinity
  let maxY = -Infinity
  for (const { x, y } of layout.positions.values()) {
    minX = Math.min(minX, x)
    minY = Math.min(minY, y)
    maxX = Math.max(maxX, x)
    maxY = Math.max(maxY, y)
  }
  const spanX = maxX - minX || 1
  const spanY = maxY - minY || 1
  const factor = Math.min((WIDTH - 2 * PADDING) / spanX, (HEIGHT - 2 * PADDING) / spanY)
  const offsetX = (WIDTH - spanX * factor) / 2
  const offsetY = (HEIGHT - spanY * factor) / 2
  return (id) => {
    const position = layout.positions.get(id) ?? { x: minX, y: minY }
    return {
      x: (offsetX + (position.x - minX) * factor).toFixed(1),
      y: (offsetY + (position.y - minY) * factor).toFixed(1),
    }
  }
}
