/** What the marketplace pages share: prices, beneficiaries and periods as they read on the page. */

import type { ProductSummary, TokenPriceSummary } from '../../../src/api.js'
import { el, link } from '../dom.js'
import { formatDuration, shortId } from '../format.js'
import { dataUnionHref, streamHref } from '../routes.js'

/** A token's name on the page: RNL for the network token, else its shortened address. */
export function tokenName(price: Pick<TokenPriceSummary, 'token' | 'isNetworkToken'>): string {
  return price.isNetworkToken ? 'RNL' : shortId(price.token)
}

/** Prices per second, one line per accepted token. */
export function pricesPerSecond(product: ProductSummary): HTMLElement {
  return el(
    'ul',
    { class: 'plain', 'data-testid': 'price-per-second' },
    ...product.prices.map((price) => el('li', {}, `${price.perSecond} ${tokenName(price)}/s`)),
  )
}

/** Prices per hour, one line per accepted token. */
export function pricesPerHour(product: ProductSummary): HTMLElement {
  return el(
    'ul',
    { class: 'plain', 'data-testid': 'price-per-hour' },
    ...product.prices.map((price) => el('li', {}, `${price.perHour} ${tokenName(price)}/h`)),
  )
}

/** The account paid, linked to its Data Union page (with a badge) when it is one. */
export function beneficiary(product: ProductSummary): HTMLElement {
  if (!product.beneficiaryIsDataUnion) return el('span', { class: 'mono' }, product.beneficiary)
  return el(
    'span',
    {},
    link(dataUnionHref(product.beneficiary), product.beneficiary, { class: 'mono' }),
    ' ',
    el('span', { class: 'badge', 'data-testid': 'data-union-badge' }, 'Data Union'),
  )
}

export function streamList(streams: readonly string[]): HTMLElement {
  return el(
    'ul',
    { class: 'plain' },
    ...streams.map((streamId) =>
      el('li', {}, link(streamHref(streamId), streamId, { class: 'mono', 'data-testid': 'product-stream' })),
    ),
  )
}

/** A minimum period: "any" for 0. */
export function minimumPeriod(seconds: number): string {
  return seconds === 0 ? 'any' : formatDuration(seconds * 1000)
}

export function listedState(listed: boolean): HTMLElement {
  return el(
    'span',
    { class: listed ? 'live' : 'stale', 'data-testid': 'product-listed' },
    listed ? 'listed' : 'delisted',
  )
}
