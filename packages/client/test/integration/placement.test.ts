import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { NetworkError } from '@runnel/network'
import type { ReceivedMessage, RunnelClient } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'

describe('a stream with a placement constraint in its metadata', () => {
  let network: TestNetwork
  let owner: RunnelClient
  let streamId: string

  before(async () => {
    network = await startTestNetwork()
    owner = network.client(1, { network: { location: { country: 'DE' } } })
    ;({ id: streamId } = await owner.createStream('/eu-only', { placement: { countries: ['EU'] } }))
    await owner.grantPermissions(streamId, 'public', 'publish', 'subscribe')
  })

  after(() => network.stop())

  it('a client whose node is in the US gets OUTSIDE_PLACEMENT on subscribe and on publish', async () => {
    const outside = network.client(2, { network: { location: { country: 'US', region: 'us-east' } } })
    for (const attempt of [
      () => outside.subscribe(streamId, () => undefined),
      () => outside.publish(streamId, { n: 1 }),
    ]) {
      await assert.rejects(attempt(), (err: unknown) => {
        assert.ok(err instanceof NetworkError, String(err))
        assert.equal(err.code, 'OUTSIDE_PLACEMENT')
        assert.match(err.message, /location US\/us-east.*allows only countries EU/)
        return true
      })
    }
    assert.deepEqual(outside.networkNode.getStreamParts(), [], 'the refused stream part was left')
  })

  it('clients whose nodes are inside carry it', async () => {
    const subscriber = network.client(3, { network: { location: { country: 'FR' } } })
    const received: ReceivedMessage[] = []
    await subscriber.subscribe(streamId, (message) => received.push(message))
    await owner.publish(streamId, { n: 1 })
    await waitFor(() => received.length === 1, 20_000, 'the message inside the EU')
    assert.deepEqual(received[0]!.content, { n: 1 })
  })
})
