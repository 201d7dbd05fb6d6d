// A node daemon publishes its own figures to `<address>/runnel/metrics` on a real dev chain and network: the stream is
// created public with three partitions, reports arrive signed by the node every 5 s in the documented format, and
// they count the traffic the reports themselves make. A node whose key holds no gas says why and keeps working.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { PUBLIC } from '@runnel/chain'
import { generatePrivateKey } from '@runnel/protocol'
import type { ReceivedMessage } from '@runnel/client'
import { METRICS_PERIODS, metricsStreamId, type MetricsReport } from '../../src/metricsStream.js'
import { startTestNetwork, waitFor, within, type TestNetwork } from '../helpers.js'

describe('metrics stream of a node daemon', () => {
  let network: TestNetwork

  before(async () => {
    network = await startTestNetwork()
  })
  after(() => network?.stop())

  it('creates <address>/runnel/metrics and publishes a signed report every 5 s', { timeout: 120_000 }, async () => {
    const node = await network.startNode(3, { metrics: { publish: true } })
    assert.equal(await within(node.metricsStream!.whenReady(), 60_000, 'the metrics stream'), true)
    const streamId = metricsStreamId(node.address)
    const reader = network.client(4)
    const stream = await reader.getStream(streamId)
    assert.equal(stream.metadata.partitions, METRICS_PERIODS.length)
    assert.equal(await reader.hasPermission(streamId, 'subscribe', PUBLIC), true)

    const received: ReceivedMessage[] = []
    await reader.subscribe({ id: streamId, partition: 0 }, (message) => received.push(message))
    // The reader is the node's neighbour in partition 0 once a report reached it: the next report counts it.
    await waitFor(
      () => received.some((message) => ((message.content as MetricsReport).streamParts[`${streamId}#0`] ?? 0) >= 1),
      60_000,
      'a report counting the reader as a neighbour',
    )
    const report = received.at(-1)!.content as MetricsReport
    assert.equal(received.at(-1)!.publisherId.toLowerCase(), node.address)
    assert.equal(report.v, 1)
    assert.equal(report.period, '5s')
    assert.ok(Math.abs(report.to - report.from - 5_000) < 2_000, `${report.to - report.from} ms`)
    // The reports sent to the reader are the node's outgoing traffic.
    assert.ok(report.messages.out >= 1, JSON.stringify(report.messages))
    assert.ok(report.bytes.out > 0)
    assert.ok((report.connections.websocket ?? 0) >= 1, JSON.stringify(report.connections))
    assert.ok(report.memory.rss > 0 && report.memory.heapUsed > 0)
    assert.ok(report.cpuPercent >= 0)
    assert.equal(report.latencyMs, null, 'no API deliveries yet')
    assert.deepEqual(report.node, {
      version: report.node.version,
      kind: 'full',
      discovery: network.discovery.discovery ?? 'tracker',
      region: null,
      country: null,
      operator: null,
      addresses: node.client.networkNode.descriptor.addresses,
    })
    assert.match(report.node.addresses?.[0] ?? '', /^ws:\/\/127\.0\.0\.1:\d+$/)
    assert.match(report.node.version, /^\d+\.\d+\.\d+/)
    assert.ok(node.metricsStream!.status.published >= 2)
  })

  it(
    'says why when the key holds no gas to create the stream, and the node keeps working',
    { timeout: 120_000 },
    async () => {
      const node = await network.startNode(5, { privateKey: generatePrivateKey(), metrics: { publish: true } })
      assert.equal(await within(node.metricsStream!.whenReady(), 60_000, 'the metrics stream to fail'), false)
      assert.match(
        node.metricsStream!.status.problem ?? '',
        /metrics stream 0x[0-9a-f]{40}\/runnel\/metrics can't be created/,
      )
      const streamId = await network.createPublicStream('/metrics-unfunded')
      const published = await node.client.publish(streamId, { still: 'working' })
      assert.equal(published.publisherId.toLowerCase(), node.address)
    },
  )
})
