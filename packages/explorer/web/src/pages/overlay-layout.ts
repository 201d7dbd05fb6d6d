/** Positions for a stream part's overlay graph: ForceAtlas2 from a circle, within a time budget. No DOM. */

import Graph from 'graphology'
import forceAtlas2, { inferSettings } from 'graphology-layout-forceatlas2'
import type { OverlayResponse } from '../../../src/api.js'
import { seededRandom } from '../random.js'

export interface OverlayLayoutOptions {
  /** Most ForceAtlas2 iterations to run. */
  readonly maxIterations: number
  /** Stops iterating (between batches) once this much time went, so a large overlay can't freeze the page. */
  readonly budgetMs: number
  readonly now: () => number
}

export interface OverlayLayout {
  readonly positions: ReadonlyMap<string, { readonly x: number; readonly y: number }>
  /** The edges drawn: each once, both ends among the nodes, no loops. */
  readonly edges: readonly (readonly [string, string])[]
  readonly iterations: number
  readonly tookMs: number
}

export const DEFAULT_LAYOUT_OPTIONS: OverlayLayoutOptions = {
  maxIterations: 300,
  budgetMs: 400,
  now: () => performance.now(),
}

const BATCH = 25

export function layoutOverlay(
  overlay: Pick<OverlayResponse, 'nodes' | 'edges'>,
  options: OverlayLayoutOptions = DEFAULT_LAYOUT_OPTIONS,
): OverlayLayout {
  const started = options.now()
  const graph = new Graph({ type: 'undirected', multi: false, allowSelfLoops: false })
  const count = overlay.nodes.length
  const random = seededRandom(count)
  overlay.nodes.forEach((node, index) => {
    const angle = (2 * Math.PI * index) / Math.max(count, 1)
    // A circle, slightly jittered: ForceAtlas2 can't break a perfect symmetry by itself.
    const radius = 100 * (1 + 0.1 * random())
    graph.mergeNode(node.id, { x: radius * Math.cos(angle), y: radius * Math.sin(angle) })
  })
  const edges: (readonly [string, string])[] = []
  for (const [source, target] of overlay.edges) {
    if (source === target || !graph.hasNode(source) || !graph.hasNode(target) || graph.hasEdge(source, target)) continue
    graph.addEdge(source, target)
    edges.push([source, target])
  }
  const settings = inferSettings(graph)
  let iterations = 0
  let lastBatchMs = 0
  // Another batch only if it should still end within the budget, judging by the last one.
  while (count > 1 && iterations < options.maxIterations && options.now() - started + lastBatchMs <= options.budgetMs) {
    const batchStarted = options.now()
    const batch = Math.min(BATCH, options.maxIterations - iterations)
    forceAtlas2.assign(graph, { iterations: batch, settings })
    iterations += batch
    lastBatchMs = options.now() - batchStarted
  }
  const positions = new Map<string, { x: number; y: number }>()
  graph.forEachNode((id, attributes) => positions.set(id, { x: Number(attributes.x), y: Number(attributes.y) }))
  return { positions, edges, iterations, tookMs: options.now() - started }
}
