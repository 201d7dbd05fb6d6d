/** `#/streams/<id>`: a stream's registry entry, and per partition its live tail and overlay graph. */

import type { StreamDetails } from '../../../src/api.js'
import { describeError, getJson, isAbort } from '../client.js'
import { el, facts, link, problem, replaceChildren, type Child } from '../dom.js'
import { formatInteger } from '../format.js'
import { nodeHref } from '../routes.js'
import { LiveTail } from './live-tail.js'
import { OverlayGraph } from './overlay-graph.js'

export async function renderStreamPage(target: HTMLElement, streamId: string, signal: AbortSignal): Promise<void> {
  document.title = `${streamId} · Runnel Explorer`
  const heading = el('h1', {}, 'Stream ', el('code', { 'data-testid': 'stream-id' }, streamId))
  replaceChildren(target, heading, el('p', { class: 'muted' }, 'Loading…'))
  let stream: StreamDetails
  try {
    stream = await getJson<StreamDetails>(`/api/streams/${encodeURIComponent(streamId)}`, signal)
  } catch (error: unknown) {
    if (isAbort(error)) return
    replaceChildren(target, heading, problem(describeError(error)))
    return
  }
  const partitionSlot = el('div', { class: 'partition-views' })
  replaceChildren(
    target,
    heading,
    el('p', { class: 'description' }, stream.description === '' ? 'No description.' : stream.description),
    facts([
      ['Partitions', formatInteger(stream.partitions)],
      ['Public', stream.isPublic ? 'yes: anyone may subscribe' : 'no: end-to-end encrypted'],
    ]),
    el('h2', {}, 'Metadata'),
    el('pre', { class: 'metadata' }, JSON.stringify(stream.metadata, null, 2)),
    el('h2', {}, 'Permissions'),
    permissionsTable(stream),
    el(
      'div',
      { class: 'columns' },
      addressList('Publishers', stream.publishers, false),
      addressList('Subscribers', stream.subscribers, false),
      addressList('Storage nodes', stream.storageNodes, true),
    ),
    partitionSelector(stream.partitions, (partition) => showPartition(partition)),
    partitionSlot,
  )

  let partitionViews: AbortController | undefined
  function showPartition(partition: number): void {
    partitionViews?.abort()
    const views = new AbortController()
    partitionViews = views
    signal.addEventListener('abort', () => views.abort(), { once: true, signal: views.signal })
    const tail: Child = stream.isPublic
      ? new LiveTail(stream.id, partition, views.signal).element
      : el(
          'section',
          { class: 'live-tail' },
          el('h2', {}, 'Live tail'),
          el(
            'p',
            { 'data-testid': 'tail-encrypted' },
            'This stream is not public: its messages are end-to-end encrypted, so the explorer can’t show them.',
          ),
        )
    const overlay = new OverlayGraph(stream.id, partition, views.signal)
    replaceChildren(partitionSlot, tail, overlay.element)
    void overlay.load()
  }
  showPartition(0)
}

function partitionSelector(partitions: number, onChange: (partition: number) => void): HTMLElement {
  const select = el(
    'select',
    { 'data-testid': 'partition-select', id: 'partition-select' },
    ...Array.from({ length: Math.max(partitions, 1) }, (_, partition) =>
      el('option', { value: partition }, String(partition)),
    ),
  )
  select.addEventListener('change', () => onChange(Number(select.value)))
  return el('p', { class: 'partition' }, el('label', { for: 'partition-select' }, 'Partition '), select)
}

function permissionsTable(stream: StreamDetails): HTMLElement {
  if (stream.permissions.length === 0) return el('p', { class: 'muted' }, 'No permissions granted.')
  return el(
    'table',
    { class: 'permissions' },
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'User'), el('th', { scope: 'col' }, 'Permissions'))),
    el(
      'tbody',
      {},
      ...stream.permissions.map((grant) =>
        el('tr', {}, el('td', { class: 'mono' }, grant.user), el('td', {}, grant.permissions.join(', '))),
      ),
    ),
  )
}

function addressList(title: string, addresses: readonly string[], linkToNodes: boolean): HTMLElement {
  return el(
    'section',
    {},
    el('h3', {}, `${title} (${addresses.length})`),
    addresses.length === 0
      ? el('p', { class: 'muted' }, 'None.')
      : el(
          'ul',
          { class: 'addresses' },
          ...addresses.map((address) =>
            el('li', { class: 'mono' }, linkToNodes ? link(nodeHref(address), address) : address),
          ),
        ),
  )
}
