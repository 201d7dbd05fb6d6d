import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import mqtt from 'mqtt'
import WebSocket from 'ws'
import type { RunnelNode } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'

const run = promisify(execFile)
const PUBLISHERS = ['mosquitto_pub', 'mqtt.js', 'curl', 'ws', 'sdk'] as const

/**
 * Clients nobody here wrote, on both sides: Debian's mosquitto_pub and
 * mosquitto_sub, the mqtt npm client, curl and a plain ws client, spread over
 * two node daemons, plus the SDK. Each publishes one message; every receiver
 * must get all of them.
 */
describe('API interop: publish on any API, receive on every other', () => {
  let network: TestNetwork
  let nodeA: RunnelNode
  let nodeB: RunnelNode
  let streamId: string

  before(async () => {
    network = await startTestNetwork()
    streamId = await network.createPublicStream('/interop')
    nodeA = await network.startNode(2)
    nodeB = await network.startNode(5)
  })
  after(() => network.stop())

  it('delivers every message to every receiver', async () => {
    const a = nodeA.info().endpoints
    const b = nodeB.info().endpoints
    const received = new Map<string, unknown[]>()
    const push = (receiver: string, payload: unknown): void => {
      received.set(receiver, [...(received.get(receiver) ?? []), payload])
    }

    // Receivers, each subscribed before anything is published.
    const mosquittoSub = spawn('stdbuf', [
      '-oL',
      'mosquitto_sub',
      '-d',
      '-h',
      '127.0.0.1',
      '-p',
      new URL(b.mqtt!).port,
      '-t',
      streamId,
      '-C',
      String(PUBLISHERS.length),
    ])
    after(() => mosquittoSub.kill())
    const subscribed = new Promise<void>((resolve) => {
      createInterface({ input: mosquittoSub.stdout }).on('line', (line) => {
        if (line.includes('received SUBACK')) resolve()
        else if (line.startsWith('{')) push('mosquitto_sub', JSON.parse(line))
      })
    })
    const mqttSubscriber = await mqtt.connectAsync(a.mqtt!, { reconnectPeriod: 0 })
    after(() => mqttSubscriber.endAsync(true))
    mqttSubscriber.on('message', (_topic, payload) => push('mqtt.js', JSON.parse(payload.toString())))
    await mqttSubscriber.subscribeAsync(streamId, { qos: 1 })
    const wsSubscriber = new WebSocket(`${b.websocket!}/streams/${encodeURIComponent(streamId)}/subscribe`)
    after(() => wsSubscriber.close())
    wsSubscriber.on('message', (data: Buffer) => push('ws', JSON.parse(data.toString())))
    await new Promise((resolve, reject) => wsSubscriber.once('open', resolve).once('error', reject))
    const sdk = network.client(3)
    await sdk.subscribe(streamId, (message) => push('sdk', message.content))
    await subscribed

    // Publishers: one message each.
    await run('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      new URL(a.mqtt!).port,
      '-q',
      '1',
      '-t',
      streamId,
      '-m',
      '{"from":"mosquitto_pub"}',
    ])
    const mqttPublisher = await mqtt.connectAsync(b.mqtt!, { reconnectPeriod: 0 })
    await mqttPublisher.publishAsync(streamId, JSON.stringify({ from: 'mqtt.js' }), { qos: 1 })
    await mqttPublisher.endAsync()
    const { stdout } = await run('curl', [
      '--silent',
      '--show-error',
      '--fail-with-body',
      '-X',
      'POST',
      `${a.http!}/streams/${encodeURIComponent(streamId)}`,
      '-H',
      'content-type: application/json',
      '-d',
      '{"from":"curl"}',
    ])
    assert.equal((JSON.parse(stdout) as { streamId: string }).streamId, streamId)
    const wsPublisher = new WebSocket(`${a.websocket!}/streams/${encodeURIComponent(streamId)}/publish`)
    await new Promise((resolve, reject) => wsPublisher.once('open', resolve).once('error', reject))
    wsPublisher.send(JSON.stringify({ from: 'ws' }))
    after(() => wsPublisher.close())
    await sdk.publish(streamId, { from: 'sdk' })

    const receivers = ['mosquitto_sub', 'mqtt.js', 'ws', 'sdk']
    const complete = (): boolean =>
      receivers.every((receiver) => (received.get(receiver)?.length ?? 0) >= PUBLISHERS.length)
    await waitFor(complete, 60_000, 'every message at every receiver')
    const expected = PUBLISHERS.map((from) => JSON.stringify({ from })).sort()
    for (const receiver of receivers) {
      assert.deepEqual(
        received
          .get(receiver)!
          .map((payload) => JSON.stringify(payload))
          .sort(),
        expected,
        receiver,
      )
    }
  })
})
