import type { NodeDescriptor, NodeId } from '../identity.js'
import type { NodeInfo } from './NodeInfoQueries.js'

/** What {@link crawlStreamPart} needs of a node: `NetworkNode` is one. */
export interface NodeInfoAsker {
  queryNodeInfo(target: NodeDescriptor | string, options?: { readonly timeoutMs?: number }): Promise<NodeInfo>
}

export interface CrawlOptions {
  /** Stop after asking this many nodes. Default 2,000. */
  readonly maxNodes?: number
  /** Queries in flight at once. Default 8. */
  readonly concurrency?: number
  /** Per query. Default 5,000 ms. */
  readonly timeoutMs?: number
}

/** A stream part's overlay as its nodes describe it. */
export interface OverlayGraph {
  readonly streamPartId: string
  /** Every node reached, with its answer or why there is none (a timeout, a refusal, garbage). */
  readonly nodes: ReadonlyMap<NodeId, { readonly info?: NodeInfo; readonly error?: string }>
  /** Undirected edges, each once (lower id first), as the nodes named their neighbours. */
  readonly edges: readonly (readonly [NodeId, NodeId])[]
}

/**
 * Walks a stream part's overlay with node-info queries: asks the `start` nodes, then each neighbour they name in the
 * stream part, breadth first. A node that doesn't answer (or answers garbage) stays in the graph with its error; an
 * edge only one side names is kept (a neighbour swap may be under way).
 *
 * @example
 * ```ts
 * const graph = await crawlStreamPart(node, `${streamId}#0`, ['ws://127.0.0.1:30400'])
 * console.log(graph.nodes.size, graph.edges.length)
 * ```
 */
export async function crawlStreamPart(
  asker: NodeInfoAsker,
  streamPartId: string,
  start: readonly (NodeDescriptor | string)[],
  options: CrawlOptions = {},
): Promise<OverlayGraph> {
  const maxNodes = options.maxNodes ?? 2_000
  const concurrency = options.concurrency ?? 8
  const timeoutMs = options.timeoutMs ?? 5_000
  const nodes = new Map<NodeId, { info?: NodeInfo; error?: string }>()
  const edges = new Map<string, readonly [NodeId, NodeId]>()
  const queued = new Set<string>()
  const queue: (NodeDescriptor | string)[] = []
  const enqueue = (target: NodeDescriptor | string): void => {
    const key = typeof target === 'string' ? target : target.nodeId
    if (queued.has(key) || queued.size >= maxNodes) return
    queued.add(key)
    queue.push(target)
  }
  for (const target of start) enqueue(target)

  const visit = async (target: NodeDescriptor | string): Promise<void> => {
    let info: NodeInfo
    try {
      info = await asker.queryNodeInfo(target, { timeoutMs })
    } catch (err) {
      if (typeof target !== 'string') nodes.set(target.nodeId, { error: (err as Error).message })
      return
    }
    const id = info.descriptor.nodeId
    // An address dialled first may turn out to be a node already reached by its id.
    queued.add(id)
    nodes.set(id, { info })
    const part = info.streamParts.find((each) => each.streamPartId === streamPartId)
    for (const neighbor of part?.neighbors ?? []) {
      const [a, b] = id < neighbor.nodeId ? [id, neighbor.nodeId] : [neighbor.nodeId, id]
      edges.set(`${a}-${b}`, [a, b])
      enqueue(neighbor)
    }
  }

  let inFlight = 0
  const waiters: (() => void)[] = []
  const workers = Array.from({ length: concurrency }, async () => {
    for (;;) {
      const target = queue.shift()
      if (target === undefined) {
        if (inFlight === 0) return
        await new Promise<void>((resolve) => waiters.push(resolve))
        continue
      }
      inFlight++
      try {
        await visit(target)
      } finally {
        inFlight--
        for (const wake of waiters.splice(0)) wake()
      }
    }
  })
  await Promise.all(workers)
  return { streamPartId, nodes, edges: [...edges.values()] }
}
