/** `#/`: the network at a glance, live from `/api/live`. */

import type { Overview } from '../../../src/api.js'
import { describeError, getJson, isAbort, openFeed, type FeedStatus } from '../client.js'
import { el, problem, replaceChildren, setText } from '../dom.js'
import { formatInteger, formatMs, formatRate, formatTime } from '../format.js'
import { NodeTable } from './node-table.js'
import { WorldMap } from './world-map.js'

export async function renderOverview(target: HTMLElement, signal: AbortSignal): Promise<void> {
  document.title = 'Overview · Runnel Explorer'
  const view = new OverviewView()
  replaceChildren(target, view.element)
  let received = false
  openFeed('/api/live', {
    signal,
    events: {
      overview: (data) => {
        received = true
        view.show(data as Overview)
      },
    },
    onStatus: (status) => view.showFeedStatus(status),
  })
  try {
    const overview = await getJson<Overview>('/api/overview', signal)
    // The feed may have been quicker, and is newer then.
    if (!received) view.show(overview)
  } catch (error: unknown) {
    if (!isAbort(error)) view.showProblem(describeError(error))
  }
}

class OverviewView {
  readonly element: HTMLElement
  private readonly figures = {
    liveNodes: figure('live-nodes'),
    streams: figure('total-streams'),
    messagesPerSecond: figure('total-mps'),
    deliveriesPerSecond: figure('total-dps'),
    p50: figure('latency-p50'),
    p90: figure('latency-p90'),
    p99: figure('latency-p99'),
  }
  private readonly status = el('p', { class: 'muted feed-status' }, 'Connecting…')
  private readonly problemSlot = el('div')
  private readonly table = new NodeTable()
  private map: WorldMap | undefined
  private readonly mapSlot = el('div', { class: 'map-slot' })

  constructor() {
    const { figures } = this
    this.element = el(
      'div',
      {},
      el('h1', {}, 'Network overview'),
      this.problemSlot,
      el(
        'dl',
        { class: 'totals' },
        total('Live nodes', figures.liveNodes),
        total('Streams', figures.streams),
        total('Messages/s', figures.messagesPerSecond),
        total('Deliveries/s', figures.deliveriesPerSecond),
        total('Latency p50', figures.p50),
        total('Latency p90', figures.p90),
        total('Latency p99', figures.p99),
      ),
      this.status,
      this.mapSlot,
      el('h2', {}, 'Nodes'),
      el('div', { class: 'table-scroll' }, this.table.element),
    )
    try {
      this.map = new WorldMap()
      this.mapSlot.appendChild(this.map.element)
    } catch (error: unknown) {
      this.mapSlot.appendChild(problem(`The map could not be drawn: ${describeError(error)}`))
    }
  }

  show(overview: Overview): void {
    // Measured so the cost of a live update with many nodes shows in the browser's performance tools.
    const started = performance.now()
    const { totals } = overview
    const { figures } = this
    setText(figures.liveNodes, `${formatInteger(totals.liveNodes)} of ${formatInteger(totals.knownNodes)}`)
    setText(figures.streams, formatInteger(totals.streams))
    setText(figures.messagesPerSecond, formatRate(totals.messagesPerSecond))
    setText(figures.deliveriesPerSecond, formatRate(totals.deliveriesPerSecond))
    setText(figures.p50, totals.latencyMs === null ? '—' : formatMs(totals.latencyMs.p50))
    setText(figures.p90, totals.latencyMs === null ? '—' : formatMs(totals.latencyMs.p90))
    setText(figures.p99, totals.latencyMs === null ? '—' : formatMs(totals.latencyMs.p99))
    setText(this.status, `Updated ${formatTime(overview.updatedAt)} · discovery: ${overview.network.discovery}`)
    this.problemSlot.replaceChildren()
    this.table.update(overview.nodes)
    this.map?.update(overview.nodes)
    performance.measure('overview-render', { start: started })
  }

  showFeedStatus(status: FeedStatus): void {
    if (status === 'reconnecting') setText(this.status, 'Live updates interrupted; reconnecting…')
    if (status === 'closed') setText(this.status, 'Live updates stopped (the server refused the feed).')
  }

  showProblem(message: string): void {
    this.problemSlot.replaceChildren(problem(message))
  }
}

function figure(testId: string): HTMLElement {
  return el('dd', { 'data-testid': testId }, '—')
}

function total(label: string, value: HTMLElement): HTMLElement {
  return el('div', { class: 'total' }, el('dt', {}, label), value)
}
