/** `#/dataunion/<address>`: a Data Union's settings, totals, members, and its revenue over time (uPlot). */

import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import type { DataUnionDetails } from '../../../src/api.js'
import { describeError, getJson, isAbort } from '../client.js'
import { el, facts, listTable, problem, replaceChildren } from '../dom.js'
import { formatInteger, formatTime } from '../format.js'

const CHART_HEIGHT = 240

export async function renderDataUnionPage(target: HTMLElement, address: string, signal: AbortSignal): Promise<void> {
  document.title = 'Data Union · Runnel Explorer'
  const heading = el('h1', {}, 'Data Union')
  replaceChildren(target, heading, el('p', { class: 'muted' }, 'Reading the Data Union…'))
  let union: DataUnionDetails
  try {
    union = await getJson<DataUnionDetails>(`/api/dataunions/${encodeURIComponent(address)}`, signal)
  } catch (error: unknown) {
    if (isAbort(error)) return
    replaceChildren(target, heading, problem(describeError(error)))
    return
  }
  const chart = el('div', { class: 'history-chart', 'data-testid': 'revenue-chart', 'data-points': 0 })
  replaceChildren(
    target,
    heading,
    facts([
      ['Address', el('span', { class: 'mono', 'data-testid': 'dataunion-address' }, union.address)],
      ['Admin', el('span', { class: 'mono' }, union.admin)],
      ['Admin fee', `${(union.adminFeeBps / 100).toFixed(2)} %`],
      ['Token', el('span', { class: 'mono' }, union.token)],
      ['Metadata', union.metadata === '' ? el('span', { class: 'muted' }, 'none') : union.metadata],
      ['Created', union.createdAt === null ? 'unknown' : formatTime(union.createdAt * 1000)],
      ['Revenue', el('span', { 'data-testid': 'dataunion-revenue' }, union.totalRevenue)],
      ['To members', el('span', { 'data-testid': 'dataunion-members-revenue' }, union.membersRevenue)],
      ['Admin earned', `${union.adminEarned} (withdrawn ${union.adminWithdrawn})`],
      ['Withdrawn by members', union.totalWithdrawn],
      [
        'Members',
        el(
          'span',
          { 'data-testid': 'dataunion-member-count' },
          `${formatInteger(union.activeMemberCount)} active of ${formatInteger(union.memberCount)}, total weight ${union.totalWeight}`,
        ),
      ],
    ]),
    el('p', { class: 'muted' }, 'Amounts in whole tokens of the union’s token.'),
    el('h2', {}, 'Revenue over time'),
    union.revenue.length === 0 ? el('p', { class: 'empty' }, 'No revenue yet.') : null,
    chart,
    el('h2', {}, `Members (${formatInteger(union.members.length)})`),
    union.membersTruncated ? el('p', { class: 'muted' }, 'The first members are listed; more joined.') : null,
    union.members.length === 0
      ? el('p', { class: 'empty' }, 'No members.')
      : listTable(
          ['Member', 'Status', 'Weight', 'Earned', 'Withdrawn', 'Withdrawable'],
          union.members.map((member) =>
            el(
              'tr',
              { 'data-testid': 'member-row', 'data-address': member.address, 'data-status': member.status },
              el('td', { class: 'mono' }, member.address),
              el('td', { class: member.status === 'active' ? 'live' : 'stale' }, member.status),
              el('td', {}, member.weight),
              el('td', { 'data-testid': 'member-earned' }, member.earned),
              el('td', {}, member.withdrawn),
              el('td', {}, member.withdrawable),
            ),
          ),
        ),
  )
  drawRevenue(chart, union, signal)
}

/** Cumulative revenue and the members' part of it, from the union's creation (at 0) to its latest revenue event. */
function drawRevenue(chart: HTMLElement, union: DataUnionDetails, signal: AbortSignal): void {
  if (union.revenue.length === 0) return
  const first = union.revenue[0]!
  const start = union.createdAt !== null && union.createdAt < first.time ? [{ time: union.createdAt }] : []
  const times = [...start.map((point) => point.time), ...union.revenue.map((point) => point.time)]
  const zeros = start.map(() => 0)
  const total = [...zeros, ...union.revenue.map((point) => Number(point.cumulative))]
  const members = [...zeros, ...union.revenue.map((point) => Number(point.cumulativeToMembers))]
  chart.dataset.points = String(times.length)
  const width = () => Math.max(chart.clientWidth, 320)
  // Revenue arrives in steps (a purchase at a time), not as a slope between them.
  const stepped = uPlot.paths.stepped?.({ align: 1 })
  const plot = new uPlot(
    {
      title: 'Revenue (cumulative)',
      width: width(),
      height: CHART_HEIGHT,
      series: [
        {},
        { label: 'revenue', stroke: '#2f6fdf', width: 1.5, paths: stepped, points: { show: true } },
        { label: 'to members', stroke: '#27874f', width: 1.5, paths: stepped, points: { show: true } },
      ],
      axes: [{}, { label: 'tokens' }],
    },
    [times, total, members],
    chart,
  )
  const resizeObserver = new ResizeObserver(() => {
    if (plot.width !== width()) plot.setSize({ width: width(), height: CHART_HEIGHT })
  })
  resizeObserver.observe(chart)
  signal.addEventListener(
    'abort',
    () => {
      resizeObserver.disconnect()
      plot.destroy()
    },
    { once: true },
  )
}
