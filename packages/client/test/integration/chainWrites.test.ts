import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestNetwork, type TestNetwork } from '../helpers.js'

describe("a client's concurrent chain writes", () => {
  let network: TestNetwork

  before(async () => {
    network = await startTestNetwork()
  })

  after(() => network.stop())

  it('all succeed: Promise.all of 50 createStream, then grants and updates at once', async () => {
    const client = network.client(1)
    const streams = await Promise.all(Array.from({ length: 50 }, (_, i) => client.createStream(`/many/${i}`)))
    assert.equal(new Set(streams.map((stream) => stream.id)).size, 50)
    const reader = network.client(2).address
    await Promise.all(
      streams.flatMap((stream, i) => [
        client.grantPermissions(stream.id, 'public', 'subscribe'),
        client.grantPermissions(stream.id, reader, 'publish'),
        client.updateStream(stream.id, { partitions: 1 + (i % 3) }),
      ]),
    )
    for (const [i, stream] of streams.entries()) {
      assert.ok(await client.hasPermission(stream.id, 'publish', reader))
      assert.equal((await client.getStream(stream.id)).metadata.partitions, 1 + (i % 3))
    }
  })
})
