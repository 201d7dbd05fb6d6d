import type { RunnelClient, Subscription } from '@runnel/client'
import type { MetricsReport, NodeSummary, Overview } from './api.js'
import { parseReport, periodSeconds } from './reports.js'

/** The path every node's metrics stream has under its address (docs/node.md, "Metrics stream"). */
export const METRICS_PATH = '/runnel/metrics'

/** A stream as the explorer lists it. */
export interface ListedStream {
  readonly id: string
  readonly description: string
  readonly partitions: number
}

export interface DirectoryOptions {
  /** How often the chain's stream list is read again (new streams, new nodes' metrics streams). Default 10 s. */
  readonly refreshMs?: number
  /** A node is live while its latest report is this recent. Default 15 s (three 5 s reports). */
  readonly liveForMs?: number
  /** The most metrics streams followed at once (each is a stream part the explorer's node joins). Default 2,000. */
  readonly maxNodes?: number
  readonly now?: () => number
  readonly onError?: (error: unknown) => void
}

interface NodeState {
  readonly address: string
  readonly metricsStreamId: string
  report: MetricsReport | null
  lastSeenAt: number | null
  problem: string | null
  subscription: Subscription | undefined
  /** Following it failed (a permission not granted yet, say): the next refresh tries again. */
  failed: boolean
}

/**
 * What the explorer knows of the network: every stream on chain, and every node that publishes a metrics stream,
 * with its latest 5 s report (partition 0 of its stream, followed live). The stream list is read from the chain
 * every `refreshMs`; a node shows up with its metrics stream, before its first report.
 */
export class Directory {
  private streams: readonly ListedStream[] = []
  private readonly nodes = new Map<string, NodeState>()
  private timer: ReturnType<typeof setInterval> | undefined
  private refreshing: Promise<void> | undefined
  private stopped = false
  private readonly now: () => number

  constructor(
    private readonly client: RunnelClient,
    private readonly options: DirectoryOptions = {},
  ) {
    this.now = options.now ?? Date.now
  }

  /** Reads the stream list once (so the first page has it), then keeps it fresh. */
  async start(): Promise<void> {
    await this.refresh()
    this.timer = setInterval(() => void this.refresh(), this.options.refreshMs ?? 10_000)
    this.timer.unref()
  }

  stop(): void {
    this.stopped = true
    clearInterval(this.timer)
    for (const node of this.nodes.values()) node.subscription?.unsubscribe()
  }

  /** Reads the chain's stream list now (at most one read at a time) and follows new nodes' metrics streams. */
  refresh(): Promise<void> {
    this.refreshing ??= this.readStreams().finally(() => (this.refreshing = undefined))
    return this.refreshing
  }

  listStreams(): readonly ListedStream[] {
    return this.streams
  }

  /** The node (lower-case address), or undefined when no metrics stream of it is known. */
  node(address: string): NodeSummary | undefined {
    const state = this.nodes.get(address.toLowerCase())
    return state === undefined ? undefined : this.summarize(state)
  }

  listNodes(): NodeSummary[] {
    return [...this.nodes.values()].map((state) => this.summarize(state))
  }

  overview(explorerNodeId: string, discovery: 'tracker' | 'dht'): Overview {
    const nodes = this.listNodes()
    const live = nodes.filter((node) => node.live)
    const samples = live.flatMap((node) => {
      const latency = node.report?.latencyMs
      return latency === null || latency === undefined || latency.samples === 0 ? [] : [latency]
    })
    const latency =
      samples.length === 0
        ? null
        : {
            p50: Math.max(...samples.map((sample) => sample.p50)),
            p90: Math.max(...samples.map((sample) => sample.p90)),
            p99: Math.max(...samples.map((sample) => sample.p99)),
          }
    return {
      network: { discovery, explorerNodeId },
      totals: {
        liveNodes: live.length,
        knownNodes: nodes.length,
        streams: this.streams.length,
        messagesPerSecond: sum(live, (node) => node.messagesPerSecond),
        deliveriesPerSecond: sum(live, (node) => node.deliveriesPerSecond),
        latencyMs: latency,
      },
      nodes,
      updatedAt: this.now(),
    }
  }

  private summarize(state: NodeState): NodeSummary {
    const { report } = state
    const seconds = report === null ? 1 : periodSeconds(report)
    return {
      address: state.address,
      metricsStreamId: state.metricsStreamId,
      report,
      lastSeenAt: state.lastSeenAt,
      live: state.lastSeenAt !== null && this.now() - state.lastSeenAt <= (this.options.liveForMs ?? 15_000),
      // A node's own publishes are in `out` and relayed copies in both: what it sent on is its share of the traffic.
      messagesPerSecond: report === null ? 0 : report.messages.out / seconds,
      deliveriesPerSecond: report === null ? 0 : (report.deliveries.local + report.deliveries.api) / seconds,
      problem: state.problem,
    }
  }

  private async readStreams(): Promise<void> {
    try {
      const streams: ListedStream[] = []
      let cursor: string | undefined
      do {
        const page = await this.client.queryStreams({ pageSize: 1_000, ...(cursor !== undefined && { cursor }) })
        for (const stream of page.streams) {
          const description = stream.metadata.description
          streams.push({
            id: stream.id,
            description: typeof description === 'string' ? description : '',
            partitions: stream.partitions,
          })
        }
        cursor = page.nextCursor
      } while (cursor !== undefined && !this.stopped)
      this.streams = streams
      for (const stream of streams) if (stream.id.endsWith(METRICS_PATH)) this.follow(stream.id)
    } catch (err) {
      this.options.onError?.(err)
    }
  }

  private follow(metricsStreamId: string): void {
    const address = metricsStreamId.slice(0, -METRICS_PATH.length).toLowerCase()
    const known = this.nodes.get(address)
    if (this.stopped || (known !== undefined && !known.failed)) return
    if (known === undefined && this.nodes.size >= (this.options.maxNodes ?? 2_000)) return
    const state: NodeState = known ?? {
      address,
      metricsStreamId,
      report: null,
      lastSeenAt: null,
      problem: null,
      subscription: undefined,
      failed: false,
    }
    state.failed = false
    this.nodes.set(address, state)
    this.client
      .subscribe({ id: metricsStreamId, partition: 0 }, (message) => {
        // Only the node itself may publish to its stream: the client drops anyone else's messages before here.
        const parsed = parseReport(message.content)
        if ('problem' in parsed) {
          state.problem = parsed.problem
          return
        }
        state.report = parsed.report
        state.lastSeenAt = this.now()
        state.problem = null
      })
      .then(
        (subscription) => {
          if (this.stopped) subscription.unsubscribe()
          else state.subscription = subscription
        },
        (err: unknown) => {
          state.problem = `can't follow its metrics stream: ${err instanceof Error ? err.message : String(err)}`
          state.failed = true
        },
      )
  }
}

function sum<T>(items: readonly T[], value: (item: T) => number): number {
  let total = 0
  for (const item of items) total += value(item)
  return total
}
