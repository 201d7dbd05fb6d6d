/** `#/product/<id>`: one product, and a form to buy it with one of the explorer's dev accounts (`runnel dev`). */

import type { DevAccountsResponse, ProductSummary, PurchaseResponse } from '../../../src/api.js'
import { describeError, getJson, isAbort, postJson } from '../client.js'
import { el, facts, link, problem, replaceChildren } from '../dom.js'
import { formatDuration, formatTime } from '../format.js'
import { subscriptionsHref } from '../routes.js'
import {
  beneficiary,
  listedState,
  minimumPeriod,
  pricesPerHour,
  pricesPerSecond,
  streamList,
  tokenName,
} from './market-parts.js'

const UNITS = [
  ['hours', 3600],
  ['minutes', 60],
  ['days', 86_400],
  ['seconds', 1],
] as const

export async function renderProductPage(target: HTMLElement, productId: string, signal: AbortSignal): Promise<void> {
  document.title = `Product ${productId} · Runnel Explorer`
  const heading = el('h1', {}, `Product ${productId}`)
  replaceChildren(target, heading, el('p', { class: 'muted' }, 'Reading the product…'))
  let product: ProductSummary
  let accounts: DevAccountsResponse['accounts']
  try {
    ;[product, { accounts }] = await Promise.all([
      getJson<ProductSummary>(`/api/products/${encodeURIComponent(productId)}`, signal),
      getJson<DevAccountsResponse>('/api/dev-accounts', signal),
    ])
  } catch (error: unknown) {
    if (isAbort(error)) return
    replaceChildren(target, heading, problem(describeError(error)))
    return
  }
  document.title = `${product.name} · Runnel Explorer`
  replaceChildren(
    target,
    el('h1', { 'data-testid': 'product-name' }, product.name),
    facts([
      ['Id', String(product.id)],
      ['Owner', el('span', { class: 'mono' }, product.owner)],
      ['Streams', streamList(product.streams)],
      ['Beneficiary', beneficiary(product)],
      ['Price', pricesPerSecond(product)],
      ['Per hour', pricesPerHour(product)],
      ['Minimum period', minimumPeriod(product.minimumSeconds)],
      ['State', listedState(product.listed)],
      ['Terms', product.termsUri === '' ? el('span', { class: 'muted' }, 'none') : product.termsUri],
    ]),
    el('h2', {}, 'Buy'),
    accounts.length === 0
      ? el(
          'p',
          { class: 'muted', 'data-testid': 'buy-disabled' },
          'Buying from the explorer needs a dev account: the explorer `runnel dev` serves has some. Elsewhere, buy with ' +
            'your own key (`client.market.buy`).',
        )
      : buyForm(product, accounts, signal),
  )
}

function buyForm(product: ProductSummary, accounts: DevAccountsResponse['accounts'], signal: AbortSignal): HTMLElement {
  const account = el(
    'select',
    { id: 'buy-account', 'data-testid': 'buy-account' },
    ...accounts.map((candidate) =>
      el('option', { value: candidate.label }, `${candidate.label} (${candidate.address})`),
    ),
  )
  const amount = el('input', {
    id: 'buy-amount',
    'data-testid': 'buy-amount',
    type: 'number',
    min: 1,
    step: 1,
    value: 1,
    required: true,
  })
  const unit = el(
    'select',
    { 'data-testid': 'buy-unit', 'aria-label': 'unit' },
    ...UNITS.map(([name]) => el('option', { value: name }, name)),
  )
  const token = el(
    'select',
    { id: 'buy-token', 'data-testid': 'buy-token' },
    ...product.prices.map((price) => el('option', { value: price.token }, tokenName(price))),
  )
  const submit = el('button', { type: 'submit', 'data-testid': 'buy-submit' }, 'Buy')
  const subscriptions = el('a', { 'data-testid': 'buy-subscriptions-link' })
  const showSubscriptionsLink = () => {
    const chosen = accounts.find((candidate) => candidate.label === account.value) ?? accounts[0]!
    subscriptions.href = subscriptionsHref(chosen.address)
    subscriptions.textContent = `Subscriptions of ${chosen.label}`
  }
  account.addEventListener('change', showSubscriptionsLink)
  showSubscriptionsLink()
  const result = el('div', { 'data-testid': 'buy-result', 'aria-live': 'polite' })
  const form = el(
    'form',
    { class: 'buy', 'data-testid': 'buy-form' },
    el('p', {}, el('label', { for: 'buy-account' }, 'Account '), account),
    el('p', {}, el('label', { for: 'buy-amount' }, 'Period '), amount, ' ', unit),
    product.prices.length > 1 ? el('p', {}, el('label', { for: 'buy-token' }, 'Pay in '), token) : null,
    el('p', {}, submit, ' ', subscriptions),
    result,
  )
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const perUnit = UNITS.find(([name]) => name === unit.value)?.[1] ?? 3600
    const seconds = Number(amount.value) * perUnit
    if (!Number.isSafeInteger(seconds) || seconds <= 0) {
      replaceChildren(result, problem('The period must be a whole, positive number.'))
      return
    }
    submit.disabled = true
    replaceChildren(result, el('p', { class: 'muted' }, 'Buying…'))
    void postJson<PurchaseResponse>(
      `/api/products/${product.id}/buy`,
      { account: account.value, seconds, token: token.value },
      signal,
    )
      .then((purchase) => {
        const price = product.prices.find((candidate) => candidate.token === purchase.token)
        replaceChildren(
          result,
          el(
            'p',
            {
              class: 'bought',
              'data-testid': 'buy-done',
              'data-ends-at': String(purchase.endsAt),
              'data-transaction': purchase.transactionHash,
            },
            `${purchase.account} bought ${formatDuration(purchase.seconds * 1000)} for ${purchase.paid} `,
            price === undefined ? purchase.token : tokenName(price),
            '. The subscription now ends at ',
            el('strong', { 'data-testid': 'buy-ends-at' }, formatTime(purchase.endsAt * 1000)),
            '. ',
            link(subscriptionsHref(purchase.subscriber), 'See its subscriptions'),
          ),
          el('p', { class: 'muted mono' }, `transaction ${purchase.transactionHash}`),
        )
      })
      .catch((error: unknown) => {
        if (isAbort(error)) return
        replaceChildren(result, problem(`The purchase failed: ${describeError(error)}`))
      })
      .finally(() => (submit.disabled = false))
  })
  return form
}
