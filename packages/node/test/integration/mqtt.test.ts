import assert from 'node:assert/strict'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import type { ReceivedMessage, RunnelClient } from '@runnel/client'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { RunnelNode } from '../../src/index.js'
import { parseTopic } from '../../src/plugins/mqtt/topic.js'
import { startTestNetwork, waitFor, type TestNetwork, within } from '../helpers.js'

const run = promisify(execFile)
const API_KEY = 'a-test-key-of-16-chars+'
const UNKNOWN_STREAM = '0x0000000000000000000000000000000000000001/none'
const MAX_PAYLOAD_BYTES = 1024

interface MqttMessage {
  readonly topic: string
  readonly payload: string
  readonly qos: number
}

/** Polls an async condition until it holds. */
async function eventually(condition: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe('MQTT API', () => {
  let network: TestNetwork
  let sdk: RunnelClient
  /** Plain settings, with a small payload limit for the bad-input tests. */
  let node: RunnelNode
  let url: string
  let port: string
  const clients: MqttClient[] = []
  const children: ChildProcess[] = []

  before(async () => {
    network = await startTestNetwork()
    sdk = network.client(3)
    node = await network.startNode(2, {
      maxPayloadBytes: MAX_PAYLOAD_BYTES,
      plugins: { mqtt: { port: 0 }, websocket: false, http: false },
    })
    url = node.info().endpoints.mqtt!
    port = new URL(url).port
  })
  after(async () => {
    for (const child of children) child.kill()
    await Promise.all(clients.map((client) => client.endAsync(true)))
    await network.stop()
  })

  const connect = async (options: IClientOptions = {}, to = url): Promise<MqttClient> => {
    // No reconnecting: a refused client must stay refused, and a closed one closed.
    const client = await mqtt.connectAsync(to, { reconnectPeriod: 0, ...options })
    clients.push(client)
    return client
  }

  const collect = (client: MqttClient): MqttMessage[] => {
    const messages: MqttMessage[] = []
    client.on('message', (topic, payload, packet) =>
      messages.push({ topic, payload: payload.toString(), qos: packet.qos }),
    )
    return messages
  }

  const subscribeSdk = async (target: string | { id: string; partition: number }): Promise<ReceivedMessage[]> => {
    const received: ReceivedMessage[] = []
    await sdk.subscribe(target, (message) => received.push(message))
    return received
  }

  /**
   * Runs mosquitto_sub for `count` messages; `-d` prints the SUBACK, so the test can wait for the subscription.
   * stdbuf: mosquitto_sub's stdout is block-buffered on a pipe, and the SUBACK line would only come at exit.
   */
  const mosquittoSub = (topic: string, count: number) => {
    const args = ['-oL', 'mosquitto_sub', '-d', '-h', '127.0.0.1', '-p', port, '-t', topic, '-C', String(count)]
    const child = spawn('stdbuf', args)
    children.push(child)
    const messages: string[] = []
    let onSubscribed: () => void = () => undefined
    const subscribed = new Promise<void>((resolve) => (onSubscribed = resolve))
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.includes('received SUBACK')) onSubscribed()
      else if (line.startsWith('{')) messages.push(line)
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    return { messages, subscribed, exited }
  }

  it('delivers messages published by an SDK client to mosquitto_sub', async () => {
    const streamId = await network.createPublicStream('/mqtt/to-mosquitto')
    const sub = mosquittoSub(streamId, 3)
    await within(sub.subscribed, 60_000, 'the SUBACK')
    for (let n = 1; n <= 3; n++) await sdk.publish(streamId, { n })
    assert.equal(await within(sub.exited, 60_000, 'mosquitto_sub to get 3 messages'), 0)
    assert.deepEqual(
      sub.messages.map((line) => JSON.parse(line) as unknown),
      [{ n: 1 }, { n: 2 }, { n: 3 }],
    )
  })

  it('publishes what mosquitto_pub sends, at QoS 0 and 1, to an SDK subscriber', async () => {
    const streamId = await network.createPublicStream('/mqtt/from-mosquitto')
    const received = await subscribeSdk(streamId)
    const publish = (message: string, qos: string) =>
      run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-t', streamId, '-q', qos, '-m', message])
    await publish('{"a":1}', '1')
    await publish('{"a":0}', '0')
    await publish('plain text', '1')
    await waitFor(() => received.length === 3, 60_000, 'three messages')
    assert.deepEqual(received[0]!.content, { a: 1 })
    assert.deepEqual(received[1]!.content, { a: 0 })
    // Not JSON: published as the bytes it is.
    assert.equal(Buffer.from(received[2]!.content as Uint8Array).toString(), 'plain text')
    assert.equal(received[0]!.publisherId, node.address)
  })

  for (const qos of [0, 1] as const) {
    it(`relays 100 QoS ${qos} messages between two MQTT clients on one node, each once and in order`, async () => {
      const streamId = await network.createPublicStream(`/mqtt/qos-${qos}`)
      const subscriber = await connect()
      const messages = collect(subscriber)
      const granted = await subscriber.subscribeAsync(streamId, { qos })
      assert.equal(granted[0]!.qos, qos)
      const publisher = await connect()
      // The publisher subscribes too: it must get its own messages once, from the network.
      const own = collect(publisher)
      await publisher.subscribeAsync(streamId, { qos })
      const sent = Array.from({ length: 100 }, (_, i) => JSON.stringify({ i }))
      // A last message: once it is in, every copy of the ones before would have arrived too.
      await Promise.all([...sent, '"done"'].map((payload) => publisher.publishAsync(streamId, payload, { qos })))
      await waitFor(() => messages.at(-1)?.payload === '"done"', 60_000, 'the last message')
      await waitFor(() => own.at(-1)?.payload === '"done"', 60_000, "the publisher's own last message")
      assert.deepEqual(
        messages.map((message) => message.payload),
        [...sent, '"done"'],
      )
      assert.deepEqual(
        own.map((message) => message.payload),
        [...sent, '"done"'],
      )
      assert.ok(messages.every((message) => message.topic === streamId && message.qos === qos))
    })
  }

  it('delivers at QoS 1 to a QoS 2 subscription', async () => {
    const streamId = await network.createPublicStream('/mqtt/qos-2')
    const client = await connect()
    const messages = collect(client)
    await client.subscribeAsync(streamId, { qos: 2 })
    await sdk.publish(streamId, { q: 2 })
    await waitFor(() => messages.length === 1, 60_000, 'the message')
    assert.equal(messages[0]!.qos, 1)
  })

  it('routes a ?partition=N topic to that partition, and a bare topic to partition 0', async () => {
    const streamId = await network.createPublicStream('/mqtt/partitions', 2)
    const received = await subscribeSdk(streamId)
    const client = await connect()
    const partition1 = collect(client)
    await client.subscribeAsync(`${streamId}?partition=1`, { qos: 1 })
    await client.publishAsync(streamId, '{"p":0}', { qos: 1 })
    await client.publishAsync(`${streamId}?partition=1`, '{"p":1}', { qos: 1 })
    await waitFor(() => received.length === 2 && partition1.length === 1, 60_000, 'both messages')
    for (const message of received) assert.deepEqual(message.content, { p: message.partition })
    assert.deepEqual(partition1, [{ topic: `${streamId}?partition=1`, payload: '{"p":1}', qos: 1 }])
  })

  it('refuses a subscription to an unknown stream, a wildcard or a missing partition with a SUBACK failure', async () => {
    const streamId = await network.createPublicStream('/mqtt/suback')
    const client = await connect()
    for (const topic of [UNKNOWN_STREAM, '#', `${streamId.split('/')[0]}/+`, `${streamId}?partition=7`]) {
      // mqtt.js rejects a SUBACK failure, with the packet.
      await assert.rejects(
        client.subscribeAsync(topic, { qos: 1 }),
        (err: Error & { packet?: { granted?: unknown } }) => {
          assert.deepEqual(err.packet?.granted, [128], topic)
          return true
        },
      )
    }
    // The connection stays usable.
    const messages = collect(client)
    await client.subscribeAsync(streamId, { qos: 1 })
    await sdk.publish(streamId, { still: 'here' })
    await waitFor(() => messages.length === 1, 60_000, 'the message')
  })

  it('closes the connection of a client whose publish is refused, and other clients carry on', async () => {
    const streamId = await network.createPublicStream('/mqtt/refused')
    const good = await connect()
    const messages = collect(good)
    await good.subscribeAsync(streamId, { qos: 1 })
    const refusedPublishes: [string, string | Buffer][] = [
      [UNKNOWN_STREAM, '{}'],
      [streamId, Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 'x')],
      [`${streamId}?partition=7`, '{}'],
      [`${streamId}?partitions=0`, '{}'],
    ]
    for (const [topic, payload] of refusedPublishes) {
      const bad = await connect()
      const closed = new Promise<void>((resolve) => bad.once('close', () => resolve()))
      // No PUBACK comes: the promise stays pending, or fails as the client gives up.
      bad.publishAsync(topic, payload, { qos: 1 }).catch(() => undefined)
      await within(closed, 60_000, `the connection to close after publishing to ${topic}`)
      await good.publishAsync(streamId, JSON.stringify({ after: topic }), { qos: 1 })
    }
    await waitFor(() => messages.length === refusedPublishes.length, 60_000, 'the good messages')
    assert.deepEqual(
      messages.map((message) => (JSON.parse(message.payload) as { after: string }).after),
      refusedPublishes.map(([topic]) => topic),
    )
    const errors = await node.metrics.registry.getSingleMetricAsString('runnel_api_errors_total')
    assert.match(errors, /api="mqtt",code="STREAM_NOT_FOUND"\} [1-9]/)
    assert.match(errors, /api="mqtt",code="PAYLOAD_TOO_LARGE"\} [1-9]/)
    assert.match(errors, /api="mqtt",code="BAD_REQUEST"\} [1-9]/)
  })

  it('counts open connections and ends the network subscription with its last MQTT subscriber', async () => {
    const streamId = await network.createPublicStream('/mqtt/lifecycle')
    const gauge = async () => (await node.metrics.connections.get()).values.find((v) => v.labels.api === 'mqtt')?.value
    const streamParts = () => Object.keys(node.client.networkNode.getMetrics().neighborCounts)
    const initial = (await gauge()) ?? 0
    const first = await connect()
    const second = await connect()
    assert.equal(await gauge(), initial + 2)
    await first.subscribeAsync(streamId)
    await second.subscribeAsync(streamId)
    assert.ok(streamParts().some((id) => id.startsWith(streamId)))
    await first.unsubscribeAsync(streamId)
    assert.ok(
      streamParts().some((id) => id.startsWith(streamId)),
      'one subscriber is left',
    )
    await second.endAsync()
    await waitFor(() => !streamParts().some((id) => id.startsWith(streamId)), 30_000, 'the node to leave the stream')
    await eventually(async () => (await gauge()) === initial + 1, 'the gauge to count the closed connection')
  })

  it('ignores the retain flag: a later subscriber gets no stored message', async () => {
    const streamId = await network.createPublicStream('/mqtt/retain')
    const publisher = await connect()
    await publisher.publishAsync(streamId, '{"retained":true}', { qos: 1, retain: true })
    const subscriber = await connect()
    const messages = collect(subscriber)
    await subscriber.subscribeAsync(streamId, { qos: 1 })
    await publisher.publishAsync(streamId, '{"retained":false}', { qos: 1 })
    // A stored message would come right after the SUBACK, before this one.
    await waitFor(() => messages.length > 0, 60_000, 'the message')
    assert.equal(messages[0]!.payload, '{"retained":false}')
  })

  describe('with streamIdDomain and payloadMetadata', () => {
    let domainUrl: string
    let streamId: string

    before(async () => {
      streamId = await network.createPublicStream('/mqtt/domain')
      const domain = streamId.slice(0, streamId.indexOf('/'))
      const domainNode = await network.startNode(4, {
        plugins: { mqtt: { port: 0, streamIdDomain: domain, payloadMetadata: true }, websocket: false, http: false },
      })
      domainUrl = domainNode.info().endpoints.mqtt!
    })

    it('takes topics as paths below the domain and wraps messages as { content, metadata }', async () => {
      const client = await connect({}, domainUrl)
      const messages = collect(client)
      await client.subscribeAsync('mqtt/domain', { qos: 1 })
      const received = await subscribeSdk(streamId)
      await sdk.publish(streamId, { from: 'sdk' })
      await waitFor(() => messages.length === 1, 60_000, 'the message from the SDK')
      assert.equal(messages[0]!.topic, 'mqtt/domain')
      const wrapped = JSON.parse(messages[0]!.payload) as { content: unknown; metadata: Record<string, unknown> }
      assert.deepEqual(wrapped.content, { from: 'sdk' })
      assert.equal(wrapped.metadata.streamId, streamId)
      assert.equal(wrapped.metadata.publisherId, sdk.address.toLowerCase())

      const message = { content: { from: 'mqtt' }, metadata: { msgChainId: 'mqtt-chain' } }
      await client.publishAsync('mqtt/domain', JSON.stringify(message), { qos: 1 })
      await waitFor(() => received.some((m) => m.msgChainId === 'mqtt-chain'), 60_000, 'the message from MQTT')
      assert.deepEqual(received.find((m) => m.msgChainId === 'mqtt-chain')!.content, { from: 'mqtt' })
    })
  })

  describe('with API keys', () => {
    let keyUrl: string
    let keyPort: string

    before(async () => {
      const keyNode = await network.startNode(5, {
        apiKeys: [API_KEY],
        plugins: { mqtt: { port: 0 }, websocket: false, http: false },
      })
      keyUrl = keyNode.info().endpoints.mqtt!
      keyPort = new URL(keyUrl).port
    })

    const refusal = async (options: IClientOptions): Promise<number | undefined> => {
      try {
        await connect(options, keyUrl)
      } catch (err) {
        return (err as Error & { code?: number }).code
      }
      return undefined
    }

    it('refuses a connection without a key (code 5) or with a wrong one (code 4)', async () => {
      assert.equal(await refusal({}), 5)
      assert.equal(await refusal({ username: 'any', password: 'not-the-key-at-all' }), 4)
      const client = await connect({ username: 'any', password: API_KEY }, keyUrl)
      assert.ok(client.connected)
    })

    it('lets mosquitto_pub publish with the key as password, and not without it', async () => {
      const streamId = await network.createPublicStream('/mqtt/keys')
      const received = await subscribeSdk(streamId)
      const args = ['-h', '127.0.0.1', '-p', keyPort, '-t', streamId, '-q', '1']
      await run('mosquitto_pub', [...args, '-u', 'any', '-P', API_KEY, '-m', '{"key":true}'])
      await assert.rejects(run('mosquitto_pub', [...args, '-m', '{"key":false}']), (err: { code?: number }) => {
        assert.notEqual(err.code, 0)
        return true
      })
      await waitFor(() => received.length === 1, 60_000, 'the message')
      assert.deepEqual(received[0]!.content, { key: true })
    })
  })
})

describe('parseTopic', () => {
  const OWNER = `0x${'ab'.repeat(20)}`

  it('reads a stream id with an optional partition suffix', () => {
    assert.deepEqual(parseTopic(`${OWNER}/s`), { streamId: `${OWNER}/s` })
    assert.deepEqual(parseTopic(`${OWNER}/s?partition=2`), { streamId: `${OWNER}/s`, partition: 2 })
  })

  it('puts a topic below the streamIdDomain', () => {
    assert.deepEqual(parseTopic('a/b', OWNER), { streamId: `${OWNER}/a/b` })
    assert.deepEqual(parseTopic('/a?partition=0', OWNER), { streamId: `${OWNER}/a`, partition: 0 })
  })

  it('reads history parameters in a subscription topic, and refuses them in a publish topic', () => {
    assert.deepEqual(parseTopic(`${OWNER}/s?partition=1&resendLast=5`, undefined, 'subscribe'), {
      streamId: `${OWNER}/s`,
      partition: 1,
      resend: { last: 5 },
    })
    assert.deepEqual(parseTopic(`${OWNER}/s?resendFrom=1000&resendTo=2000`, undefined, 'subscribe'), {
      streamId: `${OWNER}/s`,
      resend: { from: { timestamp: 1000 }, to: { timestamp: 2000 } },
    })
    assert.throws(() => parseTopic(`${OWNER}/s?resendLast=5`), /only publish topic suffix is \?partition=N/)
    assert.throws(
      () => parseTopic(`${OWNER}/s?resendLast=5&x=1`, undefined, 'subscribe'),
      /unknown topic suffix parameter x/,
    )
  })

  it('rejects wildcards, $ topics, empty or malformed stream ids and unknown suffixes', () => {
    const malformed = ['abc', '0xab/s', `${OWNER}/../..`, `${OWNER}/dé€mo`, `${OWNER}/a\u0000b`]
    for (const topic of [
      '#',
      `${OWNER}/+`,
      '$SYS/x',
      '?partition=1',
      `${OWNER}/s?partition=x`,
      `${OWNER}/s?key=1`,
      ...malformed,
    ]) {
      assert.throws(() => parseTopic(topic), /BAD_REQUEST/, topic)
    }
  })
})
