import { z } from 'zod'
import type { HistoryPoint, MetricsReport } from './api.js'

const count = z.number().finite().nonnegative()
const text = z.string().max(200)

/**
 * A metrics report as the explorer accepts it (format v1, docs/node.md "Metrics stream"). Reports are signed by their
 * node, not checked by anyone else: a node may send nonsense, so every field is bounded before it reaches a page.
 */
const reportSchema = z.object({
  v: z.literal(1),
  period: z.enum(['5s', '1m', '1h']),
  from: count,
  to: count,
  messages: z.object({ in: count, out: count }),
  bytes: z.object({ in: count, out: count }),
  deliveries: z.object({ local: count, api: count }),
  invalidSignatures: count,
  latencyMs: z.object({ samples: count, p50: count, p90: count, p99: count }).nullable(),
  streamParts: z.record(text, count).refine((parts) => Object.keys(parts).length <= 100, 'more than 100 stream parts'),
  connections: z.record(text, count).refine((kinds) => Object.keys(kinds).length <= 10, 'more than 10 transports'),
  cpuPercent: count,
  memory: z.object({ rss: count, heapUsed: count }),
  node: z.object({
    version: text,
    kind: z.enum(['full', 'light']),
    discovery: z.enum(['tracker', 'dht']),
    region: text.nullable(),
    country: text.nullable(),
    operator: text.nullable(),
    addresses: z.array(text).max(10).optional(),
  }),
})

/** The report in `content`, or why it isn't one (naming the first field that is wrong). */
export function parseReport(content: unknown): { report: MetricsReport } | { problem: string } {
  const parsed = reportSchema.safeParse(content)
  if (parsed.success) {
    if (parsed.data.to < parsed.data.from) return { problem: 'malformed metrics report: `to` is before `from`' }
    return { report: parsed.data }
  }
  const issue = parsed.error.issues[0]!
  const where = issue.path.length === 0 ? 'the report' : `\`${issue.path.join('.')}\``
  return { problem: `malformed metrics report: ${where}: ${issue.message}` }
}

/** The report's period in seconds (at least 1: a report claiming a zero-length period can't divide by zero). */
export function periodSeconds(report: MetricsReport): number {
  return Math.max(1, (report.to - report.from) / 1000)
}

/** A stored report as a chart point: counters over its period become rates. */
export function toHistoryPoint(report: MetricsReport): HistoryPoint {
  const seconds = periodSeconds(report)
  return {
    to: report.to,
    messagesInPerSecond: report.messages.in / seconds,
    messagesOutPerSecond: report.messages.out / seconds,
    bytesInPerSecond: report.bytes.in / seconds,
    bytesOutPerSecond: report.bytes.out / seconds,
    deliveriesPerSecond: (report.deliveries.local + report.deliveries.api) / seconds,
    cpuPercent: report.cpuPercent,
    rss: report.memory.rss,
  }
}
