// The web app's pure modules (no DOM at import time): hash routes, figure formatting and the overlay graph's layout.
// The DOM-bound pages are covered in a browser by test/integration/explorer.test.ts.
//
// overlay-layout.ts is bundled with esbuild before it is imported, as Vite bundles it for the page: it imports the named
// export `inferSettings` from graphology-layout-forceatlas2 and the default export of graphology, CommonJS modules whose
// exports Node's ESM loader (and TypeScript's NodeNext resolution, which this package's tsconfig uses) read differently
// from a bundler. So the file is neither imported nor type-imported here: `LayoutModule` below restates the part of its
// API these tests call, and the bundle is checked to provide it.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { OverlayResponse } from '../../src/api.js'
import {
  formatBytes,
  formatDuration,
  formatInteger,
  formatMs,
  formatRate,
  formatTime,
  shortId,
} from '../../web/src/format.js'
import {
  dataUnionHref,
  nodeHref,
  parseRoute,
  parseStreamPartId,
  productHref,
  searchHref,
  streamHref,
  subscriptionsHref,
} from '../../web/src/routes.js'
import { bundleForBrowser } from '../../../protocol/test/support/browser.js'

/** What overlay-layout.ts exports, as far as these tests use it. */
interface LayoutModule {
  readonly layoutOverlay: (overlay: OverlayInput, options: OverlayLayoutOptions) => OverlayLayout
}

type OverlayInput = Pick<OverlayResponse, 'nodes' | 'edges'>

interface OverlayLayoutOptions {
  readonly maxIterations: number
  readonly budgetMs: number
  readonly now: () => number
}

interface OverlayLayout {
  readonly positions: ReadonlyMap<string, { readonly x: number; readonly y: number }>
  readonly edges: readonly (readonly [string, string])[]
  readonly iterations: number
  readonly tookMs: number
}

async function importOverlayLayout(): Promise<LayoutModule> {
  const bundle = await bundleForBrowser(
    fileURLToPath(new URL('../../web/src/pages/overlay-layout.ts', import.meta.url)),
  )
  const module: unknown = await import(`data:text/javascript;base64,${Buffer.from(bundle).toString('base64')}`)
  assert.ok(
    typeof module === 'object' &&
      module !== null &&
      'layoutOverlay' in module &&
      typeof module.layoutOverlay === 'function',
    'overlay-layout.ts exports layoutOverlay',
  )
  return module as LayoutModule
}

const { layoutOverlay } = await importOverlayLayout()

const ADDRESS = '0x1234567890abcdef1234567890abcdef12345678'

describe('parseRoute', () => {
  it('reads an empty hash, "#" and "#/" as the overview', () => {
    for (const hash of ['', '#', '#/', '/']) assert.deepEqual(parseRoute(hash), { page: 'overview' }, hash)
    assert.deepEqual(parseRoute('#/incentives'), { page: 'incentives' })
    assert.equal(parseRoute('#/incentives/more').page, 'not-found')
  })

  it('reads #/streams/<id>, #/nodes/<address> and #/search/<q>', () => {
    assert.deepEqual(parseRoute('#/streams/plain-id'), { page: 'stream', streamId: 'plain-id' })
    assert.deepEqual(parseRoute(`#/nodes/${ADDRESS}`), { page: 'node', address: ADDRESS })
    assert.deepEqual(parseRoute('#/search/temperature'), { page: 'search', query: 'temperature' })
  })

  it('decodes encoded ids, including "/" and "#" inside them', () => {
    const streamId = `${ADDRESS}/sensors/temp#eu?x=1&y=2 ü`
    assert.deepEqual(parseRoute(streamHref(streamId)), { page: 'stream', streamId })
    assert.deepEqual(parseRoute('#/streams/0xabc%2Fa%23b'), { page: 'stream', streamId: '0xabc/a#b' })
    assert.deepEqual(parseRoute(nodeHref(ADDRESS)), { page: 'node', address: ADDRESS })
    assert.deepEqual(parseRoute(searchHref('a b/c#d%')), { page: 'search', query: 'a b/c#d%' })
  })

  it('keeps an unencoded "/" in a stream id as part of the id', () => {
    assert.deepEqual(parseRoute('#/streams/0xabc/path/to'), { page: 'stream', streamId: '0xabc/path/to' })
  })

  it('answers not-found, with the hash, for unknown pages', () => {
    for (const hash of [
      '#/stream/x',
      '#/node/x',
      '#/unknown/x',
      '#/settings',
      '#/streams',
      '#/nodes/',
      '#//streams/x',
    ]) {
      assert.deepEqual(parseRoute(hash), { page: 'not-found', hash }, hash)
    }
  })

  it('answers not-found for garbage: malformed percent escapes and empty decoded values', () => {
    for (const hash of ['#/streams/%', '#/streams/%E0%A4%A', '#/nodes/%zz', '#/search/%', '#/streams/%2', '#garbage']) {
      assert.deepEqual(parseRoute(hash), { page: 'not-found', hash }, hash)
    }
  })
})

describe('parseRoute, marketplace pages', () => {
  it('reads #/products, #/product/<id>, #/subscriptions[/<address>], #/dataunions and #/dataunion/<address>', () => {
    assert.deepEqual(parseRoute('#/products'), { page: 'products' })
    assert.deepEqual(parseRoute('#/product/7'), { page: 'product', productId: '7' })
    assert.deepEqual(parseRoute('#/subscriptions'), { page: 'subscriptions', address: null })
    assert.deepEqual(parseRoute(`#/subscriptions/${ADDRESS}`), { page: 'subscriptions', address: ADDRESS })
    assert.deepEqual(parseRoute('#/dataunions'), { page: 'dataunions' })
    assert.deepEqual(parseRoute(`#/dataunion/${ADDRESS}`), { page: 'dataunion', address: ADDRESS })
  })

  it('leaves a malformed product id or address to the page (which says what is wrong), and garbage not-found', () => {
    assert.deepEqual(parseRoute('#/product/abc'), { page: 'product', productId: 'abc' })
    assert.deepEqual(parseRoute('#/dataunion/0x12'), { page: 'dataunion', address: '0x12' })
    for (const hash of ['#/product', '#/product/', '#/products/1', '#/dataunion', '#/dataunions/x', '#/product/%']) {
      assert.deepEqual(parseRoute(hash), { page: 'not-found', hash }, hash)
    }
  })

  it('round-trips its hrefs', () => {
    assert.equal(productHref(12), '#/product/12')
    for (const value of ['1', '/', '#', ADDRESS]) {
      assert.deepEqual(parseRoute(productHref(value)), { page: 'product', productId: value }, value)
      assert.deepEqual(parseRoute(subscriptionsHref(value)), { page: 'subscriptions', address: value }, value)
      assert.deepEqual(parseRoute(dataUnionHref(value)), { page: 'dataunion', address: value }, value)
    }
  })
})

describe('hrefs', () => {
  it('encodes every reserved character of an id into one path segment', () => {
    assert.equal(streamHref('0xabc/a#b c'), '#/streams/0xabc%2Fa%23b%20c')
    assert.equal(nodeHref(ADDRESS), `#/nodes/${ADDRESS}`)
    assert.equal(searchHref('?&='), '#/search/%3F%26%3D')
  })

  it('round-trips through parseRoute for awkward values', () => {
    for (const value of ['/', '#', '%', '%25', '..', 'a/../b', '#/streams/x', '\u{1F600}', ' ']) {
      assert.deepEqual(parseRoute(streamHref(value)), { page: 'stream', streamId: value }, value)
      assert.deepEqual(parseRoute(nodeHref(value)), { page: 'node', address: value }, value)
      assert.deepEqual(parseRoute(searchHref(value)), { page: 'search', query: value }, value)
    }
  })
})

describe('parseStreamPartId', () => {
  it('splits at the last "#", so a stream id may contain "#" and "/"', () => {
    assert.deepEqual(parseStreamPartId(`${ADDRESS}/a/b#3`), { streamId: `${ADDRESS}/a/b`, partition: 3 })
    assert.deepEqual(parseStreamPartId('a#b#0'), { streamId: 'a#b', partition: 0 })
  })

  it('rejects ids without a stream id or with a partition that is not a non-negative integer', () => {
    for (const id of ['', 'no-partition', '#1', 'a#-1', 'a#1.5', 'a#x', 'a#NaN', 'a#Infinity']) {
      assert.equal(parseStreamPartId(id), undefined, id)
    }
  })

  it('rejects an empty partition suffix', () => {
    assert.equal(parseStreamPartId('a#'), undefined)
  })
})

describe('format', () => {
  it('formatInteger rounds and groups digits', () => {
    assert.equal(formatInteger(0), '0')
    assert.equal(formatInteger(1_234_567), '1,234,567')
    assert.equal(formatInteger(2.5001), '3')
    assert.equal(formatInteger(-1200), '-1,200')
  })

  it('formatRate has one decimal and no grouping, so it parses back', () => {
    assert.equal(formatRate(0), '0.0')
    assert.equal(formatRate(1234.56), '1234.6')
    assert.equal(formatRate(1_000_000), '1000000.0')
    assert.equal(Number(formatRate(98_765.43)), 98_765.4)
  })

  it('formatMs shows one decimal below 10 ms and whole grouped milliseconds above', () => {
    assert.equal(formatMs(0), '0.0 ms')
    assert.equal(formatMs(9.44), '9.4 ms')
    assert.equal(formatMs(10), '10 ms')
    assert.equal(formatMs(12.6), '13 ms')
    assert.equal(formatMs(1234), '1,234 ms')
  })

  it('formatBytes scales by 1000 up to TB', () => {
    assert.equal(formatBytes(0), '0 B')
    assert.equal(formatBytes(999), '999 B')
    assert.equal(formatBytes(1000), '1.0 kB')
    assert.equal(formatBytes(1_500_000), '1.5 MB')
    assert.equal(formatBytes(2.25e9), '2.3 GB')
    assert.equal(formatBytes(3e12), '3.0 TB')
    assert.equal(formatBytes(5e15), '5,000.0 TB')
    assert.equal(formatBytes(-2000), '-2.0 kB')
  })

  it('formatDuration shows the two largest units', () => {
    assert.equal(formatDuration(0), '0 s')
    assert.equal(formatDuration(59_999), '59 s')
    assert.equal(formatDuration(61_000), '1 min 1 s')
    assert.equal(formatDuration(3_600_000), '1 h 0 min')
    assert.equal(formatDuration(((25 * 60 + 1) * 60 + 1) * 1000), '1 d 1 h')
    assert.equal(formatDuration(93_784_000), '1 d 2 h')
  })

  it('formatTime is UTC with milliseconds', () => {
    assert.equal(formatTime(0), '1970-01-01 00:00:00.000 UTC')
    assert.equal(formatTime(Date.UTC(2024, 1, 29, 23, 59, 58, 7)), '2024-02-29 23:59:58.007 UTC')
  })

  it('shortId keeps ids up to 16 characters and shortens longer ones to 8…6', () => {
    assert.equal(shortId('0123456789abcdef'), '0123456789abcdef')
    assert.equal(shortId(ADDRESS), '0x123456…345678')
    assert.equal(shortId(''), '')
  })
})

function overlayNode(id: string): OverlayResponse['nodes'][number] {
  return { id, kind: 'full', region: null, version: null, error: null, explorer: false }
}

/** A connected overlay of `count` nodes: a ring, plus chords from a fixed-seed generator up to 4–8 edges each. */
function connectedOverlay(count: number): OverlayInput {
  const ids = Array.from({ length: count }, (_, index) => `0x${index.toString(16).padStart(40, '0')}`)
  const neighbours = ids.map(() => new Set<number>())
  const connect = (a: number, b: number) => {
    neighbours[a]?.add(b)
    neighbours[b]?.add(a)
  }
  for (let index = 0; index < count; index++) connect(index, (index + 1) % count)
  let state = 7
  const next = (bound: number) => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    return state % bound
  }
  for (let index = 0; index < count; index++) {
    const target = 4 + next(5)
    for (let tries = 0; (neighbours[index]?.size ?? 0) < target && tries < 50; tries++) {
      const other = next(count)
      if (other !== index && (neighbours[other]?.size ?? 8) < 8) connect(index, other)
    }
  }
  const edges: [string, string][] = []
  neighbours.forEach((set, index) => {
    for (const other of set) if (other > index) edges.push([ids[index] ?? '', ids[other] ?? ''])
  })
  return { nodes: ids.map(overlayNode), edges }
}

/** A clock that moves `stepMs` on every reading, so iteration counts don't depend on the machine. */
function steppingClock(stepMs: number): () => number {
  let now = 0
  return () => (now += stepMs)
}

const FIXED: OverlayLayoutOptions = { maxIterations: 50, budgetMs: Infinity, now: steppingClock(0) }

describe('layoutOverlay', () => {
  it('lays out a connected 500-node overlay with finite, distinct positions', () => {
    const overlay = connectedOverlay(500)
    assert.ok(overlay.edges.length >= 1000, `${overlay.edges.length} edges`)
    const layout = layoutOverlay(overlay, FIXED)
    assert.equal(layout.positions.size, 500)
    assert.equal(layout.edges.length, overlay.edges.length)
    assert.equal(layout.iterations, 50)
    const seen = new Set<string>()
    for (const node of overlay.nodes) {
      const position = layout.positions.get(node.id)
      assert.ok(position !== undefined, node.id)
      assert.ok(Number.isFinite(position.x) && Number.isFinite(position.y), `${node.id}: ${position.x}, ${position.y}`)
      seen.add(`${position.x},${position.y}`)
    }
    assert.equal(seen.size, 500)
  })

  it('draws neighbours closer together than nodes picked at random', () => {
    const overlay = connectedOverlay(500)
    const { positions } = layoutOverlay(overlay, { ...FIXED, maxIterations: 100 })
    const distance = (a: string, b: string) => {
      const from = positions.get(a)
      const to = positions.get(b)
      assert.ok(from !== undefined && to !== undefined)
      return Math.hypot(from.x - to.x, from.y - to.y)
    }
    const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length
    const edgeLength = mean(overlay.edges.map(([a, b]) => distance(a, b)))
    const ids = overlay.nodes.map((node) => node.id)
    const pairLength = mean(ids.map((id, index) => distance(id, ids[(index * 211 + 97) % ids.length] ?? id)))
    assert.ok(edgeLength < pairLength / 1.5, `mean edge ${edgeLength.toFixed(1)}, mean pair ${pairLength.toFixed(1)}`)
  })

  it('lays the same overlay out the same way every time', () => {
    const overlay = connectedOverlay(60)
    const first = layoutOverlay(overlay, { ...FIXED, now: steppingClock(0) })
    const second = layoutOverlay(overlay, { ...FIXED, now: steppingClock(0) })
    assert.deepEqual([...first.positions], [...second.positions])
  })

  it('drops edges to unknown nodes, self-loops and duplicates in either direction', () => {
    const overlay: OverlayInput = {
      nodes: ['a', 'b', 'c'].map(overlayNode),
      edges: [
        ['a', 'b'],
        ['b', 'a'],
        ['a', 'b'],
        ['a', 'a'],
        ['b', 'unknown'],
        ['unknown', 'c'],
        ['b', 'c'],
      ],
    }
    const layout = layoutOverlay(overlay, FIXED)
    assert.deepEqual(layout.edges, [
      ['a', 'b'],
      ['b', 'c'],
    ])
    assert.deepEqual([...layout.positions.keys()], ['a', 'b', 'c'])
  })

  it('lays out an empty overlay as nothing, without iterating', () => {
    const layout = layoutOverlay({ nodes: [], edges: [['a', 'b']] }, FIXED)
    assert.equal(layout.positions.size, 0)
    assert.deepEqual(layout.edges, [])
    assert.equal(layout.iterations, 0)
  })

  it('places a single node without iterating', () => {
    const layout = layoutOverlay({ nodes: [overlayNode('only')], edges: [['only', 'only']] }, FIXED)
    const position = layout.positions.get('only')
    assert.ok(position !== undefined && Number.isFinite(position.x) && Number.isFinite(position.y))
    assert.deepEqual(layout.edges, [])
    assert.equal(layout.iterations, 0)
  })

  it('stops between batches once another batch would overrun the time budget', () => {
    // Every clock reading is 100 ms later: the first batch "takes" 100 ms, and a second would end past 400 ms.
    const layout = layoutOverlay(connectedOverlay(40), { maxIterations: 300, budgetMs: 400, now: steppingClock(100) })
    assert.equal(layout.iterations, 25)
    assert.equal(layout.tookMs, 500)
  })

  it('runs no more than maxIterations, the last batch cut short', () => {
    const layout = layoutOverlay(connectedOverlay(40), { ...FIXED, maxIterations: 60 })
    assert.equal(layout.iterations, 60)
  })
})
