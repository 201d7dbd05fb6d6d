import type { RunnelClient } from '@runnel/client'
import { crawlStreamPart, type NodeInfo } from '@runnel/network'
import type { StreamPartId } from '@runnel/protocol'
import type { NodeDetails, NodeHistory, NodeSummary, OverlayResponse } from './api.js'
import { parseReport, toHistoryPoint } from './reports.js'

/** How long the explorer's node stays in a stream part it joined only to look at its overlay. */
const LOOKING_MS = 120_000
/** The most stored reports a history answer reads. */
const HISTORY_LIMIT = 720

/**
 * Reads the network for the explorer's pages: overlays crawled with node-info queries, one node's own answer, a
 * node's stored metrics history. Every failure of a remote node becomes text for the page, never an exception.
 */
export class NetworkQueries {
  /** Stream parts joined only to crawl them, with the timer that leaves them. */
  private readonly looking = new Map<string, { leave: () => void; timer: ReturnType<typeof setTimeout> }>()

  constructor(private readonly client: RunnelClient) {}

  /**
   * The stream part's overlay: the explorer's node joins it (unless in it already), then asks its neighbours, and
   * theirs, for their neighbours. The explorer's node is one of the vertices.
   */
  async overlay(streamId: string, partition: number, isPublic: boolean): Promise<OverlayResponse> {
    const started = Date.now()
    const streamPartId = `${streamId}#${partition}` as StreamPartId
    const node = this.client.networkNode
    await this.lookAt(streamId, partition, streamPartId, isPublic)
    const start = node.getNeighbors(streamPartId)
    const graph = await crawlStreamPart(node, streamPartId, start, { timeoutMs: 5_000 })
    const own = node.nodeId
    const nodes = new Map<string, OverlayResponse['nodes'][number]>()
    nodes.set(own, { id: own, kind: node.kind, region: null, version: null, error: null, explorer: true })
    for (const [id, answer] of graph.nodes) {
      if (id === own) continue
      const info = answer.info
      nodes.set(id, {
        id,
        kind: info?.descriptor.kind ?? null,
        region: info?.descriptor.location?.region ?? null,
        version: info === undefined ? null : info.version || null,
        error: answer.error ?? null,
        explorer: false,
      })
    }
    const edges = new Map<string, readonly [string, string]>()
    for (const [a, b] of graph.edges) edges.set(`${a}/${b}`, [a, b])
    for (const neighbor of start) {
      const edge = own < neighbor ? ([own, neighbor] as const) : ([neighbor, own] as const)
      edges.set(`${edge[0]}/${edge[1]}`, edge)
    }
    // A neighbour swap under way can name a node nobody reached: it gets a vertex, so every edge has two ends.
    for (const edge of edges.values()) {
      for (const id of edge) {
        if (!nodes.has(id)) {
          nodes.set(id, { id, kind: null, region: null, version: null, error: 'not reached', explorer: false })
        }
      }
    }
    return {
      streamPartId,
      nodes: [...nodes.values()],
      edges: [...edges.values()],
      crawledAt: Date.now(),
      tookMs: Date.now() - started,
    }
  }

  /** The node's own answer to an info query, asked over a connection the explorer has, or one it dials. */
  async nodeDetails(summary: NodeSummary): Promise<NodeDetails> {
    const node = this.client.networkNode
    const targets: string[] = [summary.address, ...(summary.report?.node.addresses ?? [])]
    const errors: string[] = []
    for (const target of targets) {
      try {
        // The signal bounds the dial too: an address that accepts and never answers would otherwise hold the page.
        const info = await node.queryNodeInfo(target, { timeoutMs: 5_000, signal: AbortSignal.timeout(10_000) })
        // The answerer's id is proven by its handshake; a report may name an address that is another node's.
        if (info.descriptor.nodeId !== summary.address) {
          errors.push(`${target} is node ${info.descriptor.nodeId}, not this one`)
          continue
        }
        return { summary, info: describeInfo(info), infoError: null }
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err)
        errors.push(target === summary.address ? reason : `${target}: ${reason}`)
      }
    }
    const infoError =
      targets.length === 1
        ? `not connected to it, and its metrics report names no address to dial`
        : `it didn't answer an info query: ${errors.slice(1).join('; ')}`
    return { summary, info: null, infoError }
  }

  /** The node's stored reports of one resolution, as chart points. */
  async history(summary: NodeSummary, period: '5s' | '1m' | '1h'): Promise<NodeHistory> {
    const partition = period === '5s' ? 0 : period === '1m' ? 1 : 2
    const points: NodeHistory['points'][number][] = []
    let skipped = 0
    try {
      for await (const message of this.client.resend(
        { id: summary.metricsStreamId, partition },
        { last: HISTORY_LIMIT },
        { signal: AbortSignal.timeout(20_000) },
      )) {
        const parsed = parseReport(message.content)
        if ('report' in parsed && parsed.report.period === period) points.push(toHistoryPoint(parsed.report))
        else skipped++
      }
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err)
      return { address: summary.address, period, points, skipped, problem: `no stored history: ${reason}` }
    }
    points.sort((a, b) => a.to - b.to)
    return { address: summary.address, period, points, skipped, problem: null }
  }

  stop(): void {
    for (const { leave, timer } of this.looking.values()) {
      clearTimeout(timer)
      leave()
    }
    this.looking.clear()
  }

  /**
   * Puts the explorer's node in the stream part for a while. A public one is subscribed to (counted with the tails'
   * subscriptions, so leaving never cuts one off); another is joined at the network level (nothing here subscribes
   * to it).
   */
  private async lookAt(streamId: string, partition: number, streamPartId: StreamPartId, isPublic: boolean) {
    const node = this.client.networkNode
    const existing = this.looking.get(streamPartId)
    if (existing !== undefined) {
      clearTimeout(existing.timer)
      existing.timer = this.leaveLater(streamPartId, existing.leave)
      return
    }
    if (node.getStreamParts().includes(streamPartId)) return
    let leave: () => void
    if (isPublic) {
      const subscription = await this.client.subscribe({ id: streamId, partition }, () => {})
      leave = () => subscription.unsubscribe()
    } else {
      await node
        .join(streamPartId, { minNeighbors: 1, orWhenSettled: true, signal: AbortSignal.timeout(10_000) })
        .catch(() => undefined)
      leave = () => node.leave(streamPartId)
    }
    this.looking.set(streamPartId, { leave, timer: this.leaveLater(streamPartId, leave) })
  }

  private leaveLater(streamPartId: string, leave: () => void): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => {
      this.looking.delete(streamPartId)
      leave()
    }, LOOKING_MS)
    timer.unref()
    return timer
  }
}

function describeInfo(info: NodeInfo): NonNullable<NodeDetails['info']> {
  return {
    nodeId: info.descriptor.nodeId,
    kind: info.descriptor.kind,
    addresses: [...info.descriptor.addresses],
    region: info.descriptor.location?.region ?? null,
    country: info.descriptor.location?.country ?? null,
    version: info.version,
    uptimeMs: info.uptimeMs,
    connections: info.connections,
    streamParts: info.streamParts.map((part) => ({
      streamPartId: part.streamPartId,
      neighbors: part.neighbors.map((neighbor) => neighbor.nodeId),
      proxyClients: part.proxyClients,
    })),
  }
}
