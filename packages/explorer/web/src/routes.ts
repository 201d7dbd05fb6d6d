/** The app's pages, from the URL's hash, and back. Pure: no DOM. */

export type Route =
  | { readonly page: 'overview' }
  | { readonly page: 'stream'; readonly streamId: string }
  | { readonly page: 'node'; readonly address: string }
  | { readonly page: 'search'; readonly query: string }
  | { readonly page: 'incentives' }
  | { readonly page: 'products' }
  | { readonly page: 'product'; readonly productId: string }
  | { readonly page: 'subscriptions'; readonly address: string | null }
  | { readonly page: 'dataunions' }
  | { readonly page: 'dataunion'; readonly address: string }
  | { readonly page: 'not-found'; readonly hash: string }

/**
 * Reads a route from `location.hash` (`#/`, `#/streams/<id>`, `#/nodes/<address>`, `#/search/<q>`, `#/incentives`,
 * `#/products`, `#/product/<id>`, `#/subscriptions[/<address>]`, `#/dataunions`, `#/dataunion/<address>`).
 */
export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '')
  if (path === '' || path === '/') return { page: 'overview' }
  if (path === '/incentives') return { page: 'incentives' }
  if (path === '/products') return { page: 'products' }
  if (path === '/dataunions') return { page: 'dataunions' }
  if (path === '/subscriptions') return { page: 'subscriptions', address: null }
  const match = /^\/(streams|nodes|search|product|subscriptions|dataunion)\/(.+)$/.exec(path)
  const value = match?.[2] === undefined ? undefined : decodeSegment(match[2])
  if (match === null || value === undefined || value === '') return { page: 'not-found', hash }
  switch (match[1]) {
    case 'streams':
      return { page: 'stream', streamId: value }
    case 'nodes':
      return { page: 'node', address: value }
    case 'product':
      return { page: 'product', productId: value }
    case 'subscriptions':
      return { page: 'subscriptions', address: value }
    case 'dataunion':
      return { page: 'dataunion', address: value }
    default:
      return { page: 'search', query: value }
  }
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment)
  } catch {
    return undefined
  }
}

export function streamHref(streamId: string): string {
  return `#/streams/${encodeURIComponent(streamId)}`
}

export function nodeHref(address: string): string {
  return `#/nodes/${encodeURIComponent(address)}`
}

export function productHref(productId: number | string): string {
  return `#/product/${encodeURIComponent(String(productId))}`
}

export function subscriptionsHref(address: string): string {
  return `#/subscriptions/${encodeURIComponent(address)}`
}

export function dataUnionHref(address: string): string {
  return `#/dataunion/${encodeURIComponent(address)}`
}

export function searchHref(query: string): string {
  return `#/search/${encodeURIComponent(query)}`
}

/**
 * Splits a stream part id (`<stream id>#<partition>`) so it can link to its stream; undefined when it has no partition
 * suffix.
 */
export function parseStreamPartId(streamPartId: string): { streamId: string; partition: number } | undefined {
  const separator = streamPartId.lastIndexOf('#')
  if (separator <= 0) return undefined
  const suffix = streamPartId.slice(separator + 1)
  // Number('') is 0: an empty or non-decimal suffix names no partition.
  if (!/^\d{1,3}$/.test(suffix)) return undefined
  const partition = Number(suffix)
  return { streamId: streamPartId.slice(0, separator), partition }
}
