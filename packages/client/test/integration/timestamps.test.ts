import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ClientError, type InvalidMessageEvent, type ReceivedMessage, type RunnelClient } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'

describe('timestamps and clock skew', () => {
  let network: TestNetwork
  let owner: RunnelClient
  let streamId: string

  before(async () => {
    network = await startTestNetwork()
    owner = network.client(1)
    ;({ id: streamId } = await owner.createStream('/clock'))
    await owner.grantPermissions(streamId, 'public', 'publish', 'subscribe')
  })

  after(() => network.stop())

  it('refuses to publish a timestamp that is not whole milliseconds since 1970, or is too far ahead', async () => {
    const client = network.client(2, { maxClockSkewMs: 60_000 })
    for (const [timestamp, pattern] of [
      [Number.NaN, /whole milliseconds since 1970, got NaN/],
      [-1, /whole milliseconds since 1970, got -1/],
      [1.5, /got 1.5/],
      [8_640_000_000_000_000, /\(\+275760-09-13T00:00:00.000Z\) is \d+ ms ahead.*maxClockSkewMs \(60000 ms\)/],
      [Number.MAX_SAFE_INTEGER, /past the year 275760/],
      [Date.now() + 120_000, /is 1\d{5} ms ahead of the clock here; at most maxClockSkewMs \(60000 ms\) ahead/],
    ] as const) {
      await assert.rejects(client.publish(streamId, { n: 1 }, { timestamp }), (err: unknown) => {
        assert.ok(err instanceof ClientError, String(err))
        assert.equal(err.code, 'INVALID_ARGUMENT')
        assert.match(err.message, pattern)
        return true
      })
    }
    const published = await client.publish(streamId, { n: 2 }, { timestamp: Date.now() + 30_000 })
    assert.ok(published.timestamp > Date.now())
  })

  it('drops a message stamped beyond the skew and reports it; the chain before it is delivered', async () => {
    const subscriber = network.client(3)
    const received: ReceivedMessage[] = []
    const invalid: InvalidMessageEvent[] = []
    subscriber.on('invalidMessage', (event) => invalid.push(event))
    await subscriber.subscribe(streamId, (message) => received.push(message))
    // A publisher whose own limit is lax (or whose clock runs an hour fast).
    const lax = network.client(4, { maxClockSkewMs: 24 * 3_600_000 })
    await lax.publish(streamId, { when: 'now' })
    await lax.publish(streamId, { when: 'in an hour' }, { timestamp: Date.now() + 3_600_000 })
    await waitFor(() => invalid.length === 1, 30_000, 'the report')
    assert.equal(invalid[0]!.reason, 'timestamp-in-future')
    assert.equal(invalid[0]!.publisherId, lax.address.toLowerCase())
    // (Messages from earlier tests may come too, from neighbours' propagation buffers.)
    const fromLax = (): ReceivedMessage[] =>
      received.filter((message) => message.publisherId === invalid[0]!.publisherId)
    await waitFor(() => fromLax().length === 1, 30_000, 'the message before it')
    assert.deepEqual(
      fromLax().map((message) => message.content),
      [{ when: 'now' }],
    )
  })

  it('a chain ended with forgetMessageChain starts afresh, without a previous ref', async () => {
    const publisher = network.client(5)
    const first = await publisher.publish(streamId, { n: 1 }, { msgChainId: 'device-7' })
    const second = await publisher.publish(streamId, { n: 2 }, { msgChainId: 'device-7' })
    assert.ok(second.timestamp > first.timestamp || second.sequenceNumber > first.sequenceNumber)
    publisher.forgetMessageChain('device-7')
    // An earlier timestamp than the chain's last: kept as given, since the chain starts again.
    const earlier = first.timestamp - 1_000
    const restarted = await publisher.publish(streamId, { n: 3 }, { msgChainId: 'device-7', timestamp: earlier })
    assert.equal(restarted.timestamp, earlier)
    assert.equal(restarted.sequenceNumber, 0)
  })
})
