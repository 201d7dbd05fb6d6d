import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { PUBLIC } from '@runnel/chain'
import { addressFromPrivateKey } from '@runnel/protocol'
import { describeResult, runCliProcess, startCli, startLocalNetwork, type LocalNetwork } from './helpers.js'

interface PrintedMessage {
  content: unknown
  metadata: { streamId: string; partition: number; publisherId: string; sequenceNumber: number; contentType: string }
}

describe('runnel publish and runnel subscribe, against a dev chain and a tracker (or DHT entry point)', () => {
  let network: LocalNetwork
  let publisher: string // dev account 1, lowercase: owns the streams

  /** Creates a stream as dev account 1, with public subscribe (and publish, unless told otherwise). */
  const createStream = async (path: string, options: { publicPublish?: boolean } = {}): Promise<string> => {
    const registry = network.dev.registryFor(1)
    const { id } = await registry.createStream(path, {})
    await registry.grantPermission(id, PUBLIC, 'subscribe')
    if (options.publicPublish !== false) await registry.grantPermission(id, PUBLIC, 'publish')
    return id
  }

  before(async () => {
    network = await startLocalNetwork()
    publisher = addressFromPrivateKey(network.dev.chain.accountKeys[1]!)
  })
  after(() => network.stop())

  it('delivers the lines published from stdin, in order, to a subscriber that exits after --count', async () => {
    const id = await createStream('/cli/pubsub')
    const subscriber = startCli(['subscribe', id, '--count', '4', '--metadata'], network.env(2))
    await subscriber.waitForLine('stderr', /^subscribed to /)

    const published = await runCliProcess(
      ['publish', id],
      network.env(1),
      '{"celsius":20}\n\n{"celsius":21}\n[1,2,3]\n"just a string"\n',
    )
    assert.equal(published.code, 0, describeResult(published))
    assert.match(published.stderr, new RegExp(`published 4 message\\(s\\) to ${id}`))
    assert.doesNotMatch(published.stderr, /reached no other node/)

    const received = await subscriber.result
    assert.equal(received.code, 0, describeResult(received))
    const messages = received.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as PrintedMessage)
    assert.deepEqual(
      messages.map((message) => message.content),
      [{ celsius: 20 }, { celsius: 21 }, [1, 2, 3], 'just a string'],
    )
    for (const message of messages) {
      assert.equal(message.metadata.streamId, id)
      assert.equal(message.metadata.partition, 0)
      assert.equal(message.metadata.publisherId, publisher)
      assert.equal(message.metadata.contentType, 'json')
    }
  })

  it('publishes raw lines as JSON strings, and stops at the first line that is not JSON, exiting 3', async () => {
    const id = await createStream('/cli/raw-and-bad')
    const subscriber = startCli(['subscribe', id], network.env(2))
    await subscriber.waitForLine('stderr', /^subscribed to /)

    const raw = await runCliProcess(['publish', id, '--raw'], network.env(1), 'not { json\n')
    assert.equal(raw.code, 0, describeResult(raw))
    await subscriber.waitForLine('stdout', /^"not \{ json"$/)

    const bad = await runCliProcess(['publish', id], network.env(1), '{"n":1}\n{"n": oops}\n{"n":3}\n')
    assert.equal(bad.code, 3, describeResult(bad))
    assert.match(
      bad.stderr,
      /^runnel: line 2 is not valid JSON: .* \(published 1 message\(s\) before it, none after\)\n$/,
    )
    await subscriber.waitForLine('stdout', /^\{"n":1\}$/)

    // SIGINT ends a subscription cleanly.
    subscriber.child.kill('SIGINT')
    const received = await subscriber.result
    assert.equal(received.code, 0, describeResult(received))
    assert.equal(received.stdout, '"not { json"\n{"n":1}\n', 'the line after the bad one was never published')
  })

  it('says how many messages reached no other node when nobody is in the stream part', async () => {
    const id = await createStream('/cli/nobody-listens')
    const result = await runCliProcess(['publish', id], network.env(1), '{"n":1}\n{"n":2}\n')
    assert.equal(result.code, 0, describeResult(result))
    assert.match(result.stderr, new RegExp(`published 2 message\\(s\\) to ${id}\n2 of them reached no other node: `))
  })

  it('exits 4 when publishing to a stream that does not exist, without reading stdin', async () => {
    const result = await runCliProcess(['publish', `${publisher}/cli/no-such-stream`], network.env(1), '{"a":1}\n')
    assert.equal(result.code, 4, describeResult(result))
    assert.match(result.stderr, /^runnel: STREAM_NOT_FOUND: /)
  })

  it('exits 3 naming a malformed stream id, rather than calling it missing', async () => {
    const result = await runCliProcess(['publish', `${publisher}/dé€mo`], network.env(1), '{"a":1}\n')
    assert.equal(result.code, 3, describeResult(result))
    assert.match(result.stderr, /^runnel: INVALID_STREAM_ID: .*path of .* is invalid/)
  })

  it('exits 5 when the key may not publish to the stream', async () => {
    const id = await createStream('/cli/closed', { publicPublish: false })
    const result = await runCliProcess(['publish', id], network.env(3), '{"a":1}\n')
    assert.equal(result.code, 5, describeResult(result))
    assert.match(result.stderr, /^runnel: PERMISSION_DENIED: 0x[0-9a-f]{40} may not publish to /)
  })

  it("exits 6 when the stream's tracker (dht mode: every entry point) is unreachable, instead of publishing to nobody", async () => {
    const id = await createStream('/cli/no-tracker')
    const dht = network.discovery.discovery === 'dht'
    const result = await runCliProcess(
      ['publish', id, dht ? '--entry-point' : '--tracker', 'ws://127.0.0.1:1'],
      network.env(1),
      '{"a":1}\n',
    )
    assert.equal(result.code, 6, describeResult(result))
    assert.match(
      result.stderr,
      dht
        ? /^runnel: CONNECTION_FAILED: can't reach DHT entry point ws:\/\/127\.0\.0\.1:1: ECONNREFUSED\n$/
        : /^runnel: CONNECTION_FAILED: can't reach tracker ws:\/\/127\.0\.0\.1:1: ECONNREFUSED\n$/,
    )
  })

  it('exits 6 when the JSON-RPC endpoint is unreachable', async () => {
    const result = await runCliProcess(
      ['subscribe', `${publisher}/cli/pubsub`, '--rpc', 'http://127.0.0.1:1'],
      network.env(2),
    )
    assert.equal(result.code, 6, describeResult(result))
  })
})
