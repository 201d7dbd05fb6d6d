import type { NetworkNode } from '@runnel/network'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { PublishLogStats } from '@runnel/client'

/** Which API a request came through. */
export type ApiName = 'websocket' | 'http' | 'mqtt'

/**
 * Why the node closed a client's connection itself: `headers_timeout` (the
 * request's headers, or a WebSocket upgrade request, didn't arrive whole in
 * time), `request_timeout` (the body didn't), `idle_timeout` (nothing moved
 * mid-request or mid-response), `ping_timeout` (a WebSocket didn't answer a
 * ping), `connect_timeout` (no MQTT CONNECT in time), `max_connections` (over
 * the listener's cap: closed as it arrived), `slow_subscriber` (a subscriber
 * had more than `delivery.maxSubscriberBufferBytes` unsent: shed).
 */
export type CutReason =
  | 'headers_timeout'
  | 'request_timeout'
  | 'idle_timeout'
  | 'ping_timeout'
  | 'connect_timeout'
  | 'max_connections'
  | 'slow_subscriber'

/**
 * The node's Prometheus metrics, in a registry of its own (several nodes can
 * run in one process). Network counters are read from the node at scrape time.
 */
export class NodeMetrics {
  readonly registry = new Registry()
  readonly published: Counter<'api'>
  readonly publishedBytes: Counter<'api'>
  readonly delivered: Counter<'api'>
  readonly deliveredBytes: Counter<'api'>
  /**
   * Messages not sent to a subscriber: more than 10,000 arrived while its WebSocket handshake was under way (a
   * subscriber that reads too slowly is shed instead, see `connectionsCut`).
   */
  readonly dropped: Counter<'api'>
  readonly errors: Counter<'api' | 'code'>
  readonly connections: Gauge<'api'>
  /** Connections the node closed on a client that was too slow or came over a listener's cap; see {@link CutReason}. */
  readonly connectionsCut: Counter<'api' | 'reason'>
  /** Active API subscriptions (one per subscribing connection and stream). */
  readonly subscriptions: Gauge<'api'>
  /** From an API request arriving to the message being signed and sent. */
  readonly publishSeconds: Histogram<'api'>
  /** From the publisher's timestamp to delivery on an API (includes clock skew between machines). */
  readonly deliveryDelaySeconds: Histogram<'api'>
  /**
   * Messages the node's client dropped as invalid (neither delivered nor stored), by reason: `invalid-signature`,
   * `no-publish-permission`, `timestamp-in-future`.
   */
  readonly invalidMessages: Counter<'reason'>

  constructor(node: () => NetworkNode | undefined) {
    const registers = [this.registry]
    this.published = new Counter({
      name: 'runnel_api_messages_published_total',
      help: 'Messages published through an API',
      labelNames: ['api'],
      registers,
    })
    this.publishedBytes = new Counter({
      name: 'runnel_api_published_bytes_total',
      help: 'Bytes published through an API, as received (body, frame or payload)',
      labelNames: ['api'],
      registers,
    })
    this.delivered = new Counter({
      name: 'runnel_api_messages_delivered_total',
      help: 'Messages delivered to API subscribers (once per subscriber)',
      labelNames: ['api'],
      registers,
    })
    this.deliveredBytes = new Counter({
      name: 'runnel_api_delivered_bytes_total',
      help: 'Bytes delivered to API subscribers, as sent',
      labelNames: ['api'],
      registers,
    })
    this.dropped = new Counter({
      name: 'runnel_api_dropped_messages_total',
      help: 'Messages skipped for API subscribers (past the bound of messages held for a WebSocket handshake)',
      labelNames: ['api'],
      registers,
    })
    this.errors = new Counter({
      name: 'runnel_api_errors_total',
      help: 'Requests refused, by API and error code',
      labelNames: ['api', 'code'],
      registers,
    })
    this.connections = new Gauge({
      name: 'runnel_api_connections',
      help: 'Open API connections (WebSocket and MQTT)',
      labelNames: ['api'],
      registers,
    })
    this.connectionsCut = new Counter({
      name: 'runnel_api_connections_cut_total',
      help: 'Connections closed on a slow client, or refused over maxConnections, by API and reason',
      labelNames: ['api', 'reason'],
      registers,
    })
    this.subscriptions = new Gauge({
      name: 'runnel_api_subscriptions',
      help: 'Active API subscriptions',
      labelNames: ['api'],
      registers,
    })
    const buckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
    this.publishSeconds = new Histogram({
      name: 'runnel_api_publish_seconds',
      help: 'Time to accept and send a published message',
      labelNames: ['api'],
      buckets,
      registers,
    })
    this.deliveryDelaySeconds = new Histogram({
      name: 'runnel_api_delivery_delay_seconds',
      help: "Publisher's timestamp to delivery on an API",
      labelNames: ['api'],
      buckets,
      registers,
    })
    this.invalidMessages = new Counter({
      name: 'runnel_invalid_messages_total',
      help: 'Messages dropped as invalid, neither delivered nor stored, by reason',
      labelNames: ['reason'],
      registers,
    })
    const networkGauge = (
      name: string,
      help: string,
      read: (metrics: ReturnType<NetworkNode['getMetrics']>) => number,
    ) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const metrics = node()?.getMetrics()
          if (metrics !== undefined) this.set(read(metrics))
        },
      })
    // Monotonic totals kept by the network node; exposed as gauges because prom-client counters can't be set.
    networkGauge('runnel_network_messages_in_total', 'Data frames received from neighbours', (m) => m.messagesIn)
    networkGauge('runnel_network_messages_out_total', 'Data frames sent to neighbours', (m) => m.messagesOut)
    networkGauge('runnel_network_duplicates_total', 'Duplicate frames dropped', (m) => m.duplicates)
    networkGauge('runnel_network_invalid_messages_total', 'Malformed messages dropped', (m) => m.invalidMessages)
    networkGauge(
      'runnel_network_invalid_signatures_total',
      'Messages with bad signatures dropped',
      (m) => m.invalidSignatures,
    )
    networkGauge('runnel_network_bytes_in_total', 'Bytes received from peers', (m) => m.bytesIn)
    networkGauge('runnel_network_bytes_out_total', 'Bytes sent to peers', (m) => m.bytesOut)
    networkGauge('runnel_network_dropped_frames_total', 'Frames dropped on full send buffers', (m) => m.dropped)
    networkGauge(
      'runnel_network_rate_limited_total',
      "New messages dropped over a publisher's or a stream part's relay limits",
      (m) => m.rateLimited,
    )
    new Gauge({
      name: 'runnel_network_disconnects_total',
      help: 'Peer connections closed, by cause',
      labelNames: ['cause'],
      registers,
      collect() {
        const metrics = node()?.getMetrics()
        if (metrics === undefined) return
        for (const [cause, count] of Object.entries(metrics.disconnects)) this.set({ cause }, count ?? 0)
      },
    })
    networkGauge(
      'runnel_network_stream_parts',
      'Stream parts this node is in',
      (m) => Object.keys(m.neighborCounts).length,
    )
    networkGauge('runnel_network_neighbors', 'Neighbours over all stream parts', (m) =>
      Object.values(m.neighborCounts).reduce((sum, count) => sum + count, 0),
    )
  }

  /**
   * The publisher side of storage receipts, read from the client at each scrape: messages kept until a receipt
   * covers them, dropped at a bound, receipts taken and refused, re-offers.
   */
  watchRetention(read: () => PublishLogStats): void {
    const registers = [this.registry]
    const gauge = (name: string, help: string, value: (stats: PublishLogStats) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value(read()))
        },
      })
    gauge(
      'runnel_retained_messages',
      'Published messages kept until a storage receipt covers them',
      (s) => s.retainedMessages,
    )
    gauge('runnel_retained_bytes', 'Bytes of the published messages kept for storage receipts', (s) => s.retainedBytes)
    gauge('runnel_reoffered_messages_total', 'Kept messages offered to storage nodes again', (s) => s.reoffered)
    gauge('runnel_receipts_accepted_total', 'Storage receipts taken', (s) => s.receiptsAccepted)
    gauge('runnel_receipts_late_total', 'Storage receipts about messages already forgotten', (s) => s.receiptsLate)
    new Gauge({
      name: 'runnel_receipts_rejected_total',
      help: 'Storage receipts refused, by reason: malformed, signer-mismatch, not-storage-node, unknown-messages',
      labelNames: ['reason'],
      registers,
      collect() {
        for (const [reason, count] of Object.entries(read().receiptsRejected)) this.set({ reason }, count)
      },
    })
    new Gauge({
      name: 'runnel_retention_dropped_messages_total',
      help: 'Published messages dropped at a retention bound before any storage receipt, by bound: count, bytes, age',
      labelNames: ['bound'],
      registers,
      collect() {
        for (const [bound, count] of Object.entries(read().dropped)) this.set({ bound }, count)
      },
    })
  }
}
