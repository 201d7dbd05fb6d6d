/** `#/products`: the marketplace's products, with their streams, beneficiary and prices. */

import type { ProductsList } from '../../../src/api.js'
import { describeError, getJson, isAbort } from '../client.js'
import { el, link, listTable, problem, replaceChildren } from '../dom.js'
import { formatInteger } from '../format.js'
import { productHref } from '../routes.js'
import { beneficiary, listedState, minimumPeriod, pricesPerHour, pricesPerSecond, streamList } from './market-parts.js'

export async function renderProductsPage(target: HTMLElement, signal: AbortSignal): Promise<void> {
  document.title = 'Products · Runnel Explorer'
  const heading = el('h1', {}, 'Products')
  const showDelisted = el('input', { type: 'checkbox', id: 'show-delisted', 'data-testid': 'show-delisted' })
  const body = el('div')
  replaceChildren(
    target,
    heading,
    el(
      'p',
      { class: 'muted' },
      'Each product sells time-limited subscribe permission on its streams; the beneficiary is paid, and a Data Union ' +
        'shares what it is paid among its members.',
    ),
    el('p', {}, showDelisted, ' ', el('label', { for: 'show-delisted' }, 'Show delisted products')),
    body,
  )
  let request: AbortController | undefined
  const load = async (): Promise<void> => {
    request?.abort()
    const controller = new AbortController()
    request = controller
    signal.addEventListener('abort', () => controller.abort(), { once: true })
    replaceChildren(body, el('p', { class: 'muted' }, 'Reading the marketplace…'))
    let list: ProductsList
    try {
      list = await getJson<ProductsList>(`/api/products${showDelisted.checked ? '?all=1' : ''}`, controller.signal)
    } catch (error: unknown) {
      if (isAbort(error) || controller.signal.aborted) return
      replaceChildren(body, problem(describeError(error)))
      return
    }
    replaceChildren(
      body,
      el('h2', {}, `${formatInteger(list.products.length)} ${list.products.length === 1 ? 'product' : 'products'}`),
      list.products.length === 0
        ? el('p', { class: 'empty' }, 'No products.')
        : listTable(
            ['Id', 'Name', 'Streams', 'Beneficiary', 'Price', 'Per hour', 'Minimum period', 'State'],
            list.products.map((product) =>
              el(
                'tr',
                { 'data-testid': 'product-row', 'data-product-id': String(product.id) },
                el('td', {}, String(product.id)),
                el('td', {}, link(productHref(product.id), product.name, { 'data-testid': 'product-link' })),
                el('td', {}, streamList(product.streams)),
                el('td', {}, beneficiary(product)),
                el('td', {}, pricesPerSecond(product)),
                el('td', {}, pricesPerHour(product)),
                el('td', {}, minimumPeriod(product.minimumSeconds)),
                el('td', {}, listedState(product.listed)),
              ),
            ),
          ),
    )
  }
  showDelisted.addEventListener('change', () => void load())
  await load()
}
