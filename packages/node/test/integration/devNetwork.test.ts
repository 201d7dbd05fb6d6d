import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { ReceivedMessage } from '@runnel/client'
import { createRunnelClient } from '@runnel/client/node'
import mqtt from 'mqtt'
import { startDevNetwork, type DevNetwork } from '../../src/dev/index.js'
import { createLogger } from '../../src/index.js'
import { waitFor } from '../helpers.js'
import { metricsStreamId, type MetricsReport } from '../../src/metricsStream.js'
import { testDiscoveryMode } from '../../../client/test/support/discovery.js'

describe(`startDevNetwork (discovery: ${testDiscoveryMode()})`, () => {
  let dev: DevNetwork

  before(async () => {
    dev = await startDevNetwork({
      ports: { chain: 0, tracker: 0, entryPoint: 0, websocket: 0, http: 0, mqtt: 0, storage: 0, explorer: 0 },
      discovery: testDiscoveryMode(),
      logger: createLogger({ level: 'silent' }),
    })
  })
  after(() => dev.stop())

  it('serves a public demo stream: HTTP in, MQTT and SDK out across the relay overlay, kept by the storage node', async () => {
    const received: ReceivedMessage[] = []
    const client = createRunnelClient({
      auth: { privateKey: dev.devPrivateKey },
      chain: { rpcUrl: dev.rpcUrl },
      network: dev.network,
    })
    after(() => client.destroy())
    await client.subscribe(dev.demoStreamId, (message) => received.push(message))
    const subscriber = await mqtt.connectAsync(dev.endpoints.mqtt!)
    after(() => subscriber.endAsync())
    const viaMqtt: string[] = []
    subscriber.on('message', (_topic, payload) => viaMqtt.push(payload.toString()))
    await subscriber.subscribeAsync(dev.demoStreamId, { qos: 1 })

    const response = await fetch(`${dev.endpoints.http}/streams/${encodeURIComponent(dev.demoStreamId)}`, {
      method: 'POST',
      body: JSON.stringify({ hello: 'dev' }),
    })
    assert.equal(response.status, 200, await response.clone().text())
    await waitFor(() => received.length === 1 && viaMqtt.length === 1, 30_000, 'the message on the SDK and MQTT')
    assert.deepEqual(received[0]!.content, { hello: 'dev' })
    assert.deepEqual(JSON.parse(viaMqtt[0]!), { hello: 'dev' })
    assert.equal(received[0]!.publisherId, dev.apiNode.address)
    // The storage node keeps the demo stream.
    await client.waitForStorage(received[0]!)
    const stored = []
    for await (const message of client.resend(dev.demoStreamId, { last: 1 })) stored.push(message.content)
    assert.deepEqual(stored, [{ hello: 'dev' }])
  })

  it("stores every dev node's metrics stream: its 5 s reports come back as history", { timeout: 120_000 }, async () => {
    const client = createRunnelClient({ chain: { rpcUrl: dev.rpcUrl }, network: dev.network })
    after(() => client.destroy())
    const streamId = metricsStreamId(dev.apiNode.address)
    const deadline = Date.now() + 90_000
    let stored: MetricsReport[] = []
    while (stored.length === 0) {
      assert.ok(Date.now() < deadline, `no stored report of ${streamId} within 90 s`)
      stored = []
      try {
        for await (const message of client.resend({ id: streamId, partition: 0 }, { last: 2 }))
          stored.push(message.content as MetricsReport)
      } catch {
        // Not assigned to the storage node yet (NO_STORAGE_NODES): ask again.
      }
      if (stored.length === 0) await new Promise((resolve) => setTimeout(resolve, 1_000))
    }
    assert.equal(stored[0]!.v, 1)
    assert.equal(stored[0]!.period, '5s')
    const storageNodes = await client.getStorageNodes(streamId)
    assert.equal(storageNodes.length, 1)
  })

  it('lets the printed dev key create streams', async () => {
    const client = createRunnelClient({
      auth: { privateKey: dev.devPrivateKey },
      chain: { rpcUrl: dev.rpcUrl },
      network: dev.network,
    })
    after(() => client.destroy())
    const stream = await client.createStream('/mine')
    assert.equal(stream.id, `${dev.devAddress}/mine`)
  })
})
