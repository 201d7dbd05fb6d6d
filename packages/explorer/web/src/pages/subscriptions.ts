/** `#/subscriptions/<address>`: the products an account bought, with when each subscription ends. */

import type { SubscriptionsResponse } from '../../../src/api.js'
import { describeError, getJson, isAbort } from '../client.js'
import { el, link, listTable, problem, replaceChildren } from '../dom.js'
import { formatDuration, formatTime } from '../format.js'
import { productHref, subscriptionsHref } from '../routes.js'

export async function renderSubscriptionsPage(
  target: HTMLElement,
  address: string | null,
  signal: AbortSignal,
): Promise<void> {
  document.title = 'Subscriptions · Runnel Explorer'
  const input = el('input', {
    type: 'text',
    id: 'subscriptions-address',
    'data-testid': 'subscriptions-address',
    placeholder: '0x…',
    size: 44,
    value: address ?? '',
  })
  const form = el(
    'form',
    {},
    el('label', { for: 'subscriptions-address' }, 'Account '),
    input,
    ' ',
    el('button', { type: 'submit' }, 'Show'),
  )
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const value = input.value.trim()
    if (value !== '') location.hash = subscriptionsHref(value)
  })
  const heading = el('h1', {}, 'Subscriptions')
  const body = el('div')
  replaceChildren(target, heading, form, body)
  if (address === null) {
    replaceChildren(body, el('p', { class: 'muted' }, 'An account’s subscriptions: the products it bought.'))
    return
  }
  replaceChildren(body, el('p', { class: 'muted' }, 'Reading the marketplace…'))
  let answer: SubscriptionsResponse
  try {
    answer = await getJson<SubscriptionsResponse>(`/api/subscriptions/${encodeURIComponent(address)}`, signal)
  } catch (error: unknown) {
    if (isAbort(error)) return
    replaceChildren(body, problem(describeError(error)))
    return
  }
  replaceChildren(
    body,
    el(
      'p',
      {},
      'Of ',
      el('span', { class: 'mono', 'data-testid': 'subscriber' }, answer.subscriber),
      ', by the chain’s clock (',
      formatTime(answer.chainTime * 1000),
      ').',
    ),
    answer.subscriptions.length === 0
      ? el('p', { class: 'empty' }, 'No subscriptions: this account never bought a product.')
      : listTable(
          ['Product', 'Ends at', 'State'],
          answer.subscriptions.map((subscription) =>
            el(
              'tr',
              {
                'data-testid': 'subscription-row',
                'data-product-id': String(subscription.productId),
                'data-ends-at': String(subscription.endsAt),
                'data-active': String(subscription.active),
              },
              el(
                'td',
                {},
                link(
                  productHref(subscription.productId),
                  subscription.productName ?? `product ${subscription.productId}`,
                ),
              ),
              el('td', {}, formatTime(subscription.endsAt * 1000)),
              el(
                'td',
                { class: subscription.active ? 'live' : 'stale', 'data-testid': 'subscription-state' },
                subscription.active
                  ? `active, ${formatDuration((subscription.endsAt - answer.chainTime) * 1000)} left`
                  : 'ended',
              ),
            ),
          ),
        ),
  )
}
