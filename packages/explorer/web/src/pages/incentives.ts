/** `#/incentives`: sponsorships with who is staked on each, and operators with their stakes and earnings. */

import type { IncentivesOverview, StakeSummary } from '../../../src/api.js'
import { describeError, getJson, isAbort } from '../client.js'
import { el, link, problem, replaceChildren } from '../dom.js'
import { formatInteger } from '../format.js'
import { nodeHref, streamHref } from '../routes.js'

export async function renderIncentivesPage(target: HTMLElement, signal: AbortSignal): Promise<void> {
  document.title = 'Operators & sponsorships · Runnel Explorer'
  const heading = el('h1', {}, 'Operators & sponsorships')
  replaceChildren(target, heading, el('p', { class: 'muted' }, 'Reading the incentive contracts…'))
  let incentives: IncentivesOverview
  try {
    incentives = await getJson<IncentivesOverview>('/api/incentives', signal)
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
      'Sponsors pay a stream’s carriers in RNL, split among the operators staked on it by stake. Amounts in RNL.',
    ),
    el('h2', {}, `Sponsorships (${formatInteger(incentives.sponsorships.length)})`),
    incentives.sponsorships.length === 0
      ? el('p', { class: 'empty' }, 'No sponsorships.')
      : table(
          [
            'Id',
            'Stream',
            'RNL/s',
            'Funds left',
            'Total stake',
            'Operators',
            'Paying',
            'Stakes (operator: stake, earned)',
          ],
          incentives.sponsorships.map((sponsorship) =>
            el(
              'tr',
              { 'data-testid': 'sponsorship-row', 'data-sponsorship-id': String(sponsorship.id) },
              el('td', {}, String(sponsorship.id)),
              el('td', {}, link(streamHref(sponsorship.streamId), sponsorship.streamId, { class: 'mono' })),
              el('td', {}, sponsorship.ratePerSecond),
              el('td', {}, sponsorship.unallocated),
              el('td', {}, sponsorship.totalStake),
              el(
                'td',
                {},
                `${formatInteger(sponsorship.operatorCount)} (${sponsorship.minOperators}–${sponsorship.maxOperators})`,
              ),
              el('td', { class: sponsorship.paying ? 'live' : 'stale' }, sponsorship.paying ? 'yes' : 'no'),
              el(
                'td',
                {},
                stakeList(sponsorship.stakes, (stake) => stake.operator),
              ),
            ),
          ),
        ),
    el('h2', {}, `Operators (${formatInteger(incentives.operators.length)})`),
    incentives.operators.length === 0
      ? el('p', { class: 'empty' }, 'No operators.')
      : table(
          ['Operator', 'Owner', 'Cut', 'Value', 'Nodes', 'Stakes (sponsorship: stake, earned)', 'Metadata'],
          incentives.operators.map((operator) =>
            el(
              'tr',
              { 'data-testid': 'operator-row', 'data-address': operator.address },
              el('td', { class: 'mono' }, operator.address),
              el('td', { class: 'mono' }, operator.owner),
              el('td', {}, `${(operator.cutBps / 100).toFixed(2)} %`),
              el('td', {}, operator.totalAssets),
              el(
                'td',
                {},
                el(
                  'ul',
                  {},
                  ...operator.nodes.map((node) => el('li', {}, link(nodeHref(node), node, { class: 'mono' }))),
                ),
              ),
              el(
                'td',
                {},
                stakeList(operator.stakes, (stake) => `#${stake.sponsorshipId}`),
              ),
              el('td', {}, operator.metadata),
            ),
          ),
        ),
  )
}

function table(headings: readonly string[], rows: readonly HTMLTableRowElement[]): HTMLTableElement {
  return el(
    'table',
    { class: 'list' },
    el('thead', {}, el('tr', {}, ...headings.map((heading) => el('th', { scope: 'col' }, heading)))),
    el('tbody', {}, ...rows),
  )
}

function stakeList(stakes: readonly StakeSummary[], label: (stake: StakeSummary) => string): HTMLElement {
  if (stakes.length === 0) return el('span', { class: 'muted' }, 'none')
  return el(
    'ul',
    {},
    ...stakes.map((stake) =>
      el(
        'li',
        { 'data-testid': 'stake' },
        el('span', { class: 'mono' }, label(stake)),
        `: ${stake.amount}, earned ${stake.earnings}`,
        stake.kicked ? el('strong', { class: 'alarm' }, ' kicked') : stake.underReview ? ' (under review)' : '',
      ),
    ),
  )
}
