/**
 * The Runnel Network Explorer in the browser: a hash-routed single-page app over the explorer server's `/api`. Each
 * page renders into `#page` and gets an AbortSignal that aborts when the user leaves it, closing its feeds and
 * requests.
 */

import './styles.css'
import { describeError, isAbort } from './client.js'
import { el, problem, replaceChildren } from './dom.js'
import { parseRoute, searchHref, type Route } from './routes.js'

/** Renders a page into `target`; everything it starts stops when `signal` aborts. */
export type PageRenderer = (target: HTMLElement, signal: AbortSignal) => void | Promise<void>

const pageElement = requireElement('#page', HTMLElement)
const searchForm = requireElement('form.search', HTMLFormElement)
const searchInput = requireElement('input[data-testid="search-input"]', HTMLInputElement)

let current: AbortController | undefined
let renderCount = 0

searchForm.addEventListener('submit', (event) => {
  event.preventDefault()
  const query = searchInput.value.trim()
  if (query !== '') location.hash = searchHref(query)
})

window.addEventListener('hashchange', () => void show(parseRoute(location.hash)))
void show(parseRoute(location.hash))

async function show(route: Route): Promise<void> {
  current?.abort()
  const controller = new AbortController()
  current = controller
  const render = ++renderCount
  const target = el('div', { class: `page page-${route.page}` })
  replaceChildren(pageElement, target)
  searchInput.value = route.page === 'search' ? route.query : ''
  try {
    const renderPage = await loadPage(route)
    // The user may have moved on while the page's code loaded.
    if (render !== renderCount) return
    await renderPage(target, controller.signal)
  } catch (error: unknown) {
    if (isAbort(error) || controller.signal.aborted) return
    replaceChildren(target, problem(`This page failed: ${describeError(error)}`))
  }
}

/** Page code loads on demand: the map, graph and chart libraries only with the page that draws them. */
async function loadPage(route: Route): Promise<PageRenderer> {
  switch (route.page) {
    case 'overview': {
      const { renderOverview } = await import('./pages/overview.js')
      return renderOverview
    }
    case 'stream': {
      const { renderStreamPage } = await import('./pages/stream.js')
      return (target, signal) => renderStreamPage(target, route.streamId, signal)
    }
    case 'node': {
      const { renderNodePage } = await import('./pages/node.js')
      return (target, signal) => renderNodePage(target, route.address, signal)
    }
    case 'search': {
      const { renderSearchPage } = await import('./pages/search.js')
      return (target, signal) => renderSearchPage(target, route.query, signal)
    }
    case 'incentives': {
      const { renderIncentivesPage } = await import('./pages/incentives.js')
      return renderIncentivesPage
    }
    case 'products': {
      const { renderProductsPage } = await import('./pages/products.js')
      return renderProductsPage
    }
    case 'product': {
      const { renderProductPage } = await import('./pages/product.js')
      return (target, signal) => renderProductPage(target, route.productId, signal)
    }
    case 'subscriptions': {
      const { renderSubscriptionsPage } = await import('./pages/subscriptions.js')
      return (target, signal) => renderSubscriptionsPage(target, route.address, signal)
    }
    case 'dataunions': {
      const { renderDataUnionsPage } = await import('./pages/dataunions.js')
      return renderDataUnionsPage
    }
    case 'dataunion': {
      const { renderDataUnionPage } = await import('./pages/dataunion.js')
      return (target, signal) => renderDataUnionPage(target, route.address, signal)
    }
    case 'not-found':
      return (target) => {
        document.title = 'Not found · Runnel Explorer'
        replaceChildren(
          target,
          el('h1', {}, 'Page not found'),
          problem(`There is no page at “${route.hash}”.`),
          el('p', {}, el('a', { href: '#/' }, 'Back to the overview')),
        )
      }
  }
}

function requireElement<T extends Element>(selector: string, type: new () => T): T {
  const element = document.querySelector(selector)
  if (!(element instanceof type)) throw new Error(`index.html lacks ${selector}`)
  return element
}
