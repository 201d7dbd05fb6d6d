/** `#/dataunions`: every Data Union the network's factory made. */

import type { DataUnionsList } from '../../../src/api.js'
import { describeError, getJson, isAbort } from '../client.js'
import { el, link, listTable, problem, replaceChildren } from '../dom.js'
import { formatInteger } from '../format.js'
import { dataUnionHref } from '../routes.js'

export async function renderDataUnionsPage(target: HTMLElement, signal: AbortSignal): Promise<void> {
  document.title = 'Data Unions · Runnel Explorer'
  const heading = el('h1', {}, 'Data Unions')
  replaceChildren(target, heading, el('p', { class: 'muted' }, 'Reading the Data Union factory…'))
  let list: DataUnionsList
  try {
    list = await getJson<DataUnionsList>('/api/dataunions', signal)
  } catch (error: unknown) {
    if (isAbort(error)) return
    replaceChildren(target, heading, problem(describeError(error)))
    return
  }
  replaceChildren(
    target,
    heading,
    el(
      'p',
      { class: 'muted' },
      'A Data Union receives a product’s revenue and shares it among its members by weight, less the admin’s fee.',
    ),
    el(
      'h2',
      {},
      `${formatInteger(list.dataUnions.length)} ${list.dataUnions.length === 1 ? 'Data Union' : 'Data Unions'}`,
    ),
    list.dataUnions.length === 0
      ? el('p', { class: 'empty' }, 'No Data Unions.')
      : listTable(
          ['Data Union', 'Admin', 'Admin fee', 'Revenue', 'Members (active / ever)', 'Metadata'],
          list.dataUnions.map((union) =>
            el(
              'tr',
              { 'data-testid': 'dataunion-row', 'data-address': union.address },
              el('td', {}, link(dataUnionHref(union.address), union.address, { class: 'mono' })),
              el('td', { class: 'mono' }, union.admin),
              el('td', {}, `${(union.adminFeeBps / 100).toFixed(2)} %`),
              el('td', {}, union.totalRevenue),
              el('td', {}, `${formatInteger(union.activeMemberCount)} / ${formatInteger(union.memberCount)}`),
              el('td', {}, union.metadata),
            ),
          ),
        ),
  )
}
