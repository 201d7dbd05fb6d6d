import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { NodeError, RunnelNode } from '../../src/index.js'
import { startTestNetwork, type TestNetwork } from '../helpers.js'

describe('a node and a stream constrained to the EU', () => {
  let network: TestNetwork
  let streamId: string

  before(async () => {
    network = await startTestNetwork()
    const owner = network.client(1)
    ;({ id: streamId } = await owner.createStream('/eu-only', { placement: { countries: ['EU'] } }))
    await owner.grantPermissions(streamId, 'public', 'publish', 'subscribe')
  })

  after(() => network.stop())

  const publish = async (http: string): Promise<{ status: number; error?: { code: string; message: string } }> => {
    const response = await fetch(`${http}/streams/${encodeURIComponent(streamId)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ celsius: 21 }),
    })
    return { status: response.status, ...((await response.json()) as { error?: { code: string; message: string } }) }
  }

  it('a node configured in the US answers an API publish with 403 naming the constraint and its location', async () => {
    const node = await network.startNode(5, {
      network: { ...network.discovery, location: { country: 'us', region: 'us-east' } },
      plugins: { http: { port: 0 } },
    })
    assert.deepEqual(node.location, { country: 'US', region: 'us-east' })
    const answer = await publish(node.info().endpoints.http!)
    assert.equal(answer.status, 403, JSON.stringify(answer))
    assert.equal(answer.error?.code, 'PERMISSION_DENIED')
    assert.match(answer.error?.message ?? '', /location US\/us-east.*allows only countries EU/)
  })

  it('a node configured in Germany publishes', async () => {
    const node = await network.startNode(6, {
      network: { ...network.discovery, location: { country: 'DE' } },
      plugins: { http: { port: 0 } },
    })
    const answer = await publish(node.info().endpoints.http!)
    assert.equal(answer.status, 200, JSON.stringify(answer))
  })

  it('geoip on a private listening address stops the node before it starts, naming the key', () => {
    assert.throws(
      () => new RunnelNode({ network: { location: { geoip: true } }, log: { level: 'silent' } }),
      (err: unknown) =>
        err instanceof NodeError && err.code === 'INVALID_CONFIG' && /network\.listen\.host/.test(err.message),
    )
  })
})
