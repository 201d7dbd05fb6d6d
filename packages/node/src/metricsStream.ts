import { PUBLIC } from '@runnel/chain'
import type { RunnelClient } from '@runnel/client'
import type { NetworkNode } from '@runnel/network'
import type { Clock, Timer } from '@runnel/protocol'
import type { MetricsReport } from '@runnel/explorer'
import type { Histogram } from 'prom-client'
import type { Logger } from './logger.js'

/** The path of a node's metrics stream under its address: `<address>/runnel/metrics`. */
export const METRICS_STREAM_PATH = '/runnel/metrics'

/** The metrics stream's partitions, one per resolution: a report per period, each over that period. */
export const METRICS_PERIODS = [
  { name: '5s', partition: 0, ms: 5_000 },
  { name: '1m', partition: 1, ms: 60_000 },
  { name: '1h', partition: 2, ms: 3_600_000 },
] as const

export type MetricsPeriod = (typeof METRICS_PERIODS)[number]['name']

/** One report (format v1): defined beside the explorer's parser of it, so producer and reader share one shape. */
export type { MetricsReport }

/** A node's metrics stream id. */
export function metricsStreamId(address: string): string {
  return `${address.toLowerCase()}${METRICS_STREAM_PATH}`
}

export interface MetricsStreamComponents {
  readonly client: RunnelClient
  readonly clock: Clock
  readonly logger: Logger
  /** The node's API delivery delay histogram (`runnel_api_delivery_delay_seconds`). */
  readonly deliveryDelay: Histogram<'api'>
  /** API deliveries so far (all APIs). */
  readonly apiDeliveries: () => Promise<number>
  readonly describe: () => MetricsReport['node']
}

const MAX_STREAM_PARTS = 100

interface Totals {
  at: number
  messagesIn: number
  messagesOut: number
  bytesIn: number
  bytesOut: number
  delivered: number
  apiDelivered: number
  invalidSignatures: number
  cpuMicros: number
  buckets: Map<number, number>
}

/**
 * Publishes the node's own figures to its metrics stream, `<address>/runnel/metrics`: partition 0 every 5 s,
 * 1 every minute, 2 every hour, each report covering its period. The stream is created (public to subscribe, three
 * partitions) the first time; that is one chain transaction, so a node whose key holds no gas logs why and publishes
 * nothing. A storage node assigned to the stream keeps the history the explorer charts.
 *
 * @example
 * ```ts
 * const metrics = new MetricsStream({ client, clock, logger, deliveryDelay, apiDeliveries, describe })
 * metrics.start() // in the background; stop() on shutdown
 * ```
 */
export class MetricsStream {
  private readonly timers: Timer[] = []
  private readonly last = new Map<MetricsPeriod, Totals>()
  private readonly memoryPeak = new Map<MetricsPeriod, number>()
  private ready: Promise<boolean> | undefined
  private stopped = false
  /** Reports published, and why the stream can't be published to (undefined while it can). */
  readonly status: { published: number; problem: string | undefined } = { published: 0, problem: undefined }

  constructor(private readonly components: MetricsStreamComponents) {}

  get streamId(): string {
    return metricsStreamId(this.components.client.address)
  }

  /** Creates the stream if needed, in the background, and starts the reports. */
  start(): void {
    this.ready = this.ensureStream()
    void this.snapshot().then((totals) => {
      for (const { name } of METRICS_PERIODS) this.last.set(name, totals)
    })
    for (const period of METRICS_PERIODS) {
      this.timers.push(this.components.clock.setInterval(() => void this.report(period), period.ms, { unref: true }))
    }
  }

  stop(): void {
    this.stopped = true
    for (const timer of this.timers) timer.cancel()
  }

  /** Resolves once the stream exists (true) or can't be created (false, `status.problem` says why). */
  whenReady(): Promise<boolean> {
    return this.ready ?? Promise.resolve(false)
  }

  private async ensureStream(): Promise<boolean> {
    const { client, logger } = this.components
    try {
      const stream = await client.getOrCreateStream(METRICS_STREAM_PATH, {
        partitions: METRICS_PERIODS.length,
        description: `Metrics of node ${client.address.toLowerCase()}: per 5 s, minute and hour (partitions 0-2)`,
      })
      if (!(await client.hasPermission(stream.id, 'subscribe', PUBLIC))) {
        await client.grantPermissions(stream.id, 'public', 'subscribe')
      }
      return true
    } catch (err) {
      if (this.stopped) return false
      this.status.problem = `the metrics stream ${this.streamId} can't be created: ${(err as Error).message}`
      logger.warn(
        { err, streamId: this.streamId },
        'not publishing metrics: creating the metrics stream failed (it takes one transaction: fund the node key, or set metrics.publish to false)',
      )
      return false
    }
  }

  private async snapshot(): Promise<Totals> {
    const metrics = this.components.client.networkNode.getMetrics()
    const buckets = new Map<number, number>()
    for (const value of (await this.components.deliveryDelay.get()).values) {
      if (value.metricName?.endsWith('_bucket') !== true) continue
      const labels = value.labels as Record<string, string | number | undefined>
      const le = labels.le === '+Inf' ? Infinity : Number(labels.le)
      buckets.set(le, (buckets.get(le) ?? 0) + value.value)
    }
    return {
      at: this.components.clock.now(),
      messagesIn: metrics.messagesIn,
      messagesOut: metrics.messagesOut,
      bytesIn: metrics.bytesIn,
      bytesOut: metrics.bytesOut,
      delivered: metrics.delivered,
      apiDelivered: await this.components.apiDeliveries(),
      invalidSignatures: metrics.invalidSignatures,
      cpuMicros: cpuMicros(),
      buckets,
    }
  }

  private async report(period: (typeof METRICS_PERIODS)[number]): Promise<void> {
    if (this.stopped) return
    const now = await this.snapshot()
    const rss = memory().rss
    for (const { name } of METRICS_PERIODS) this.memoryPeak.set(name, Math.max(this.memoryPeak.get(name) ?? 0, rss))
    const before = this.last.get(period.name)
    this.last.set(period.name, now)
    if (before === undefined || !(await this.ready)) return
    const report = this.build(period.name, before, now)
    this.memoryPeak.set(period.name, 0)
    try {
      await this.components.client.publish({ id: this.streamId, partition: period.partition }, report)
      this.status.published++
    } catch (err) {
      if (!this.stopped) this.components.logger.debug({ err }, 'a metrics report was not published')
    }
  }

  private build(period: MetricsPeriod, before: Totals, now: Totals): MetricsReport {
    const node: NetworkNode = this.components.client.networkNode
    const neighborCounts = node.getMetrics().neighborCounts
    const streamParts: Record<string, number> = {}
    for (const [id, count] of Object.entries(neighborCounts).slice(0, MAX_STREAM_PARTS)) streamParts[id] = count
    const elapsedMicros = Math.max(1, (now.at - before.at) * 1000)
    const mem = memory()
    return {
      v: 1,
      period,
      from: before.at,
      to: now.at,
      messages: { in: now.messagesIn - before.messagesIn, out: now.messagesOut - before.messagesOut },
      bytes: { in: now.bytesIn - before.bytesIn, out: now.bytesOut - before.bytesOut },
      deliveries: { local: now.delivered - before.delivered, api: now.apiDelivered - before.apiDelivered },
      invalidSignatures: now.invalidSignatures - before.invalidSignatures,
      latencyMs: percentiles(before.buckets, now.buckets),
      streamParts,
      connections: node.connectionsByTransport(),
      cpuPercent: Math.round(((now.cpuMicros - before.cpuMicros) / elapsedMicros) * 1000) / 10,
      memory: { rss: Math.max(this.memoryPeak.get(period) ?? 0, mem.rss), heapUsed: mem.heapUsed },
      node: this.components.describe(),
    }
  }
}

/** p50/p90/p99 of the delivery delays observed between two histogram snapshots, as bucket upper bounds in ms. */
export function percentiles(
  before: ReadonlyMap<number, number>,
  now: ReadonlyMap<number, number>,
): MetricsReport['latencyMs'] {
  const bounds = [...now.keys()].sort((a, b) => a - b)
  const cumulative = bounds.map((le) => (now.get(le) ?? 0) - (before.get(le) ?? 0))
  const samples = cumulative.at(-1) ?? 0
  if (samples <= 0) return null
  const at = (q: number): number => {
    const index = cumulative.findIndex((count) => count >= q * samples)
    const le = bounds[index] ?? Infinity
    // Beyond the last finite bound: report that bound (the histogram can't say more).
    return Number.isFinite(le) ? le * 1000 : (bounds.at(-2) ?? 0) * 1000
  }
  return { samples, p50: at(0.5), p90: at(0.9), p99: at(0.99) }
}

function cpuMicros(): number {
  const usage = process.cpuUsage()
  return usage.user + usage.system
}

function memory(): { rss: number; heapUsed: number } {
  const usage = process.memoryUsage()
  return { rss: usage.rss, heapUsed: usage.heapUsed }
}
