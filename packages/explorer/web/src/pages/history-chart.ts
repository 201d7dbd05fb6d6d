/** A node's stored metrics history, charted with uPlot: messages in/out per second, and CPU with memory. */

import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import type { NodeHistory } from '../../../src/api.js'
import { describeError, getJson, isAbort } from '../client.js'
import { el, problem, replaceChildren } from '../dom.js'

export type HistoryPeriod = NodeHistory['period']

const PERIODS: readonly HistoryPeriod[] = ['5s', '1m', '1h']
const CHART_HEIGHT = 220

export class HistoryCharts {
  readonly element: HTMLElement
  private readonly chart = el('div', { class: 'history-chart', 'data-testid': 'history-chart', 'data-points': 0 })
  private readonly note = el('div')
  private plots: uPlot[] = []
  private request: AbortController | undefined
  private readonly resizeObserver = new ResizeObserver(() => this.resize())

  constructor(
    private readonly address: string,
    private readonly signal: AbortSignal,
  ) {
    const select = el(
      'select',
      { 'data-testid': 'history-period', id: 'history-period' },
      ...PERIODS.map((period) => el('option', { value: period }, period)),
    )
    select.addEventListener('change', () => void this.load(select.value as HistoryPeriod))
    this.element = el(
      'section',
      { class: 'history' },
      el('h2', {}, 'History'),
      el('p', {}, el('label', { for: 'history-period' }, 'Report period '), select),
      this.note,
      this.chart,
    )
    this.resizeObserver.observe(this.chart)
    signal.addEventListener(
      'abort',
      () => {
        this.request?.abort()
        this.resizeObserver.disconnect()
        this.destroyPlots()
      },
      { once: true },
    )
  }

  async load(period: HistoryPeriod): Promise<void> {
    this.request?.abort()
    if (this.signal.aborted) return
    const request = new AbortController()
    this.request = request
    replaceChildren(this.note, el('p', { class: 'muted' }, 'Loading history…'))
    let history: NodeHistory
    try {
      history = await getJson<NodeHistory>(
        `/api/nodes/${encodeURIComponent(this.address)}/history?period=${period}`,
        request.signal,
      )
    } catch (error: unknown) {
      if (isAbort(error) || request.signal.aborted) return
      this.draw([])
      replaceChildren(this.note, problem(`The history could not be loaded: ${describeError(error)}`))
      return
    }
    this.draw(history.points)
    replaceChildren(
      this.note,
      history.problem !== null ? problem(history.problem) : null,
      history.points.length === 0 && history.problem === null
        ? el('p', { class: 'muted' }, 'No stored history yet.')
        : null,
      history.skipped > 0 ? el('p', { class: 'muted' }, `${history.skipped} malformed reports left out.`) : null,
    )
  }

  private draw(points: NodeHistory['points']): void {
    this.destroyPlots()
    this.chart.dataset.points = String(points.length)
    if (points.length === 0) return
    const times = points.map((point) => point.to / 1000)
    const width = this.width()
    const messages = new uPlot(
      {
        title: 'Messages per second',
        width,
        height: CHART_HEIGHT,
        series: [{}, { label: 'in', stroke: '#2f6fdf', width: 1.5 }, { label: 'out', stroke: '#e07b00', width: 1.5 }],
        axes: [{}, { label: 'msg/s' }],
      },
      [times, points.map((point) => point.messagesInPerSecond), points.map((point) => point.messagesOutPerSecond)],
      this.chart,
    )
    const resources = new uPlot(
      {
        title: 'CPU and memory',
        width,
        height: CHART_HEIGHT,
        scales: { percent: { auto: true }, megabytes: { auto: true } },
        series: [
          {},
          { label: 'CPU %', stroke: '#c0392b', width: 1.5, scale: 'percent' },
          { label: 'RSS MB', stroke: '#27874f', width: 1.5, scale: 'megabytes' },
        ],
        axes: [{}, { scale: 'percent', label: 'CPU %' }, { scale: 'megabytes', label: 'RSS MB', side: 1 }],
      },
      [times, points.map((point) => point.cpuPercent), points.map((point) => point.rss / 1e6)],
      this.chart,
    )
    this.plots = [messages, resources]
  }

  private width(): number {
    return Math.max(this.chart.clientWidth, 320)
  }

  private resize(): void {
    const width = this.width()
    for (const plot of this.plots) {
      if (plot.width !== width) plot.setSize({ width, height: CHART_HEIGHT })
    }
  }

  private destroyPlots(): void {
    for (const plot of this.plots) plot.destroy()
    this.plots = []
  }
}
