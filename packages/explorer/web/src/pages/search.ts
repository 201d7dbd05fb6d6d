/** `#/search/<q>`: streams and nodes matching a query. */

import type { SearchResults } from '../../../src/api.js'
import { describeError, getJson, isAbort } from '../client.js'
import { el, problem, replaceChildren } from '../dom.js'
import { formatInteger } from '../format.js'
import { nodeHref, streamHref } from '../routes.js'

export async function renderSearchPage(target: HTMLElement, query: string, signal: AbortSignal): Promise<void> {
  document.title = `Search “${query}” · Runnel Explorer`
  const heading = el('h1', {}, 'Search: ', el('q', {}, query))
  replaceChildren(target, heading, el('p', { class: 'muted' }, 'Searching…'))
  let results: SearchResults
  try {
    results = await getJson<SearchResults>(`/api/search?q=${encodeURIComponent(query)}`, signal)
  } catch (error: unknown) {
    if (isAbort(error)) return
    replaceChildren(target, heading, problem(describeError(error)))
    return
  }
  if (results.streams.length === 0 && results.nodes.length === 0) {
    replaceChildren(target, heading, el('p', { class: 'empty', 'data-testid': 'search-empty' }, 'Nothing found.'))
    return
  }
  replaceChildren(
    target,
    heading,
    results.streams.length === 0
      ? null
      : el(
          'section',
          {},
          el('h2', {}, `Streams (${results.streams.length})`),
          el(
            'ul',
            { class: 'results' },
            ...results.streams.map((stream) =>
              el(
                'li',
                {},
                el('a', { href: streamHref(stream.id), 'data-testid': 'search-stream' }, stream.id),
                el(
                  'span',
                  { class: 'muted' },
                  ` · ${formatInteger(stream.partitions)} partition${stream.partitions === 1 ? '' : 's'}`,
                  stream.description === '' ? '' : ` · ${stream.description}`,
                ),
              ),
            ),
          ),
        ),
    results.nodes.length === 0
      ? null
      : el(
          'section',
          {},
          el('h2', {}, `Nodes (${results.nodes.length})`),
          el(
            'ul',
            { class: 'results' },
            ...results.nodes.map((node) =>
              el(
                'li',
                {},
                el('a', { href: nodeHref(node.address), 'data-testid': 'search-node', class: 'mono' }, node.address),
                el(
                  'span',
                  { class: 'muted' },
                  ` · ${node.kind ?? 'unknown kind'} · ${node.region ?? 'unknown region'} · `,
                  el('span', { class: node.live ? 'live' : 'stale' }, node.live ? 'live' : 'stale'),
                ),
              ),
            ),
          ),
        ),
  )
}
