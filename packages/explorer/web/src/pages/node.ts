/** `#/nodes/<address>`: one node's identity, connections, stream parts and neighbours, latest report and history. */

import type { MetricsReport, NodeDetails } from '../../../src/api.js'
import { describeError, getJson, isAbort } from '../client.js'
import { el, facts, link, problem, replaceChildren, type Child } from '../dom.js'
import { formatBytes, formatDuration, formatInteger, formatMs, formatRate, formatTime, shortId } from '../format.js'
import { nodeHref, parseStreamPartId, streamHref } from '../routes.js'
import { HistoryCharts } from './history-chart.js'

export async function renderNodePage(target: HTMLElement, address: string, signal: AbortSignal): Promise<void> {
  document.title = `Node ${shortId(address)} · Runnel Explorer`
  const heading = el('h1', {}, 'Node ', el('code', { 'data-testid': 'node-address' }, address))
  replaceChildren(target, heading, el('p', { class: 'muted' }, 'Loading…'))
  let details: NodeDetails
  try {
    details = await getJson<NodeDetails>(`/api/nodes/${encodeURIComponent(address)}`, signal)
  } catch (error: unknown) {
    if (isAbort(error)) return
    replaceChildren(target, heading, problem(describeError(error)))
    return
  }
  const { summary, info, infoError } = details
  const report = summary.report
  const history = new HistoryCharts(summary.address, signal)
  replaceChildren(
    target,
    heading,
    summary.problem === null ? null : problem(`Its latest metrics message was ignored: ${summary.problem}`),
    el('h2', {}, 'Identity'),
    identity(details),
    el('h2', {}, 'Connections'),
    recordTable(info?.connections ?? report?.connections ?? {}, 'Transport', 'Connections'),
    el('h2', {}, 'Stream parts and neighbours'),
    info !== null
      ? streamPartsTable(info.streamParts)
      : problem(`The node didn't answer its info query: ${infoError ?? 'no reason given'}`),
    el('h2', {}, 'Latest report'),
    report === null ? el('p', { class: 'muted' }, 'No report received yet.') : latestReport(report),
    history.element,
  )
  await history.load('5s')
}

function identity({ summary, info }: NodeDetails): HTMLElement {
  const reported = summary.report?.node
  const addresses = info?.addresses ?? reported?.addresses ?? []
  return facts([
    ['Address', el('span', { class: 'mono' }, summary.address)],
    ['Status', el('span', { class: summary.live ? 'live' : 'stale' }, summary.live ? 'live' : 'stale')],
    ['Last report', summary.lastSeenAt === null ? 'never' : formatTime(summary.lastSeenAt)],
    ['Kind', info?.kind ?? reported?.kind ?? '—'],
    ['Version', info?.version ?? reported?.version ?? '—'],
    ['Discovery', reported?.discovery ?? '—'],
    ['Region', info?.region ?? reported?.region ?? '—'],
    ['Country', info?.country ?? reported?.country ?? '—'],
    ['Operator', reported?.operator ?? '—'],
    [
      'Addresses',
      addresses.length === 0 ? '—' : el('ul', { class: 'addresses' }, ...addresses.map((url) => el('li', {}, url))),
    ],
    ['Uptime', info === null ? '—' : formatDuration(info.uptimeMs)],
    ['Metrics stream', link(streamHref(summary.metricsStreamId), summary.metricsStreamId, { class: 'mono' })],
  ])
}

function recordTable(record: Readonly<Record<string, number>>, keyLabel: string, valueLabel: string): HTMLElement {
  const entries = Object.entries(record)
  if (entries.length === 0) return el('p', { class: 'muted' }, 'None.')
  return el(
    'table',
    {},
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, keyLabel), el('th', { scope: 'col' }, valueLabel))),
    el(
      'tbody',
      {},
      ...entries.map(([key, value]) => el('tr', {}, el('td', {}, key), el('td', {}, formatInteger(value)))),
    ),
  )
}

function streamPartsTable(streamParts: NonNullable<NodeDetails['info']>['streamParts']): HTMLElement {
  if (streamParts.length === 0) return el('p', { class: 'muted' }, 'In no stream part.')
  return el(
    'table',
    { class: 'stream-parts' },
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        el('th', { scope: 'col' }, 'Stream part'),
        el('th', { scope: 'col' }, 'Neighbours'),
        el('th', { scope: 'col' }, 'Proxy clients'),
      ),
    ),
    el(
      'tbody',
      {},
      ...streamParts.map((part) => {
        const parsed = parseStreamPartId(part.streamPartId)
        return el(
          'tr',
          {},
          el('td', {}, parsed === undefined ? part.streamPartId : link(streamHref(parsed.streamId), part.streamPartId)),
          el(
            'td',
            {},
            part.neighbors.length === 0
              ? 'none'
              : el(
                  'ul',
                  { class: 'addresses' },
                  ...part.neighbors.map((neighbor) =>
                    el('li', {}, link(nodeHref(neighbor), neighbor, { 'data-testid': 'neighbor', class: 'mono' })),
                  ),
                ),
          ),
          el('td', {}, formatInteger(part.proxyClients)),
        )
      }),
    ),
  )
}

function latestReport(report: MetricsReport): HTMLElement {
  const seconds = Math.max((report.to - report.from) / 1000, 1)
  const perSecond = (count: number): string => `${formatRate(count / seconds)}/s`
  const rows: (readonly [string, Child])[] = [
    ['Period', `${report.period}, ${formatTime(report.from)} – ${formatTime(report.to)}`],
    ['Messages in / out', `${perSecond(report.messages.in)} / ${perSecond(report.messages.out)}`],
    ['Bytes in / out', `${formatBytes(report.bytes.in / seconds)}/s / ${formatBytes(report.bytes.out / seconds)}/s`],
    ['Deliveries local / API', `${perSecond(report.deliveries.local)} / ${perSecond(report.deliveries.api)}`],
    ['Invalid signatures', formatInteger(report.invalidSignatures)],
    [
      'Latency p50 / p90 / p99',
      report.latencyMs === null
        ? 'no samples'
        : `${formatMs(report.latencyMs.p50)} / ${formatMs(report.latencyMs.p90)} / ${formatMs(report.latencyMs.p99)}` +
          ` (${formatInteger(report.latencyMs.samples)} samples)`,
    ],
    ['CPU', `${formatRate(report.cpuPercent)} %`],
    ['Memory RSS / heap', `${formatBytes(report.memory.rss)} / ${formatBytes(report.memory.heapUsed)}`],
    ['Stream parts', recordTable(report.streamParts, 'Stream part', 'Neighbours')],
  ]
  return facts(rows)
}
