import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { WebSocket } from 'ws'
import { parseConfig } from '../../src/index.js'
import { startTestNetwork, waitFor, type TestNetwork } from '../helpers.js'
import { configProblems } from '../support/configProblems.js'

/**
 * `network.inbound` in the node config reaches the network node: a node capped at one incoming connection per IP
 * (loopback not exempt) refuses a second raw connection from 127.0.0.1 before any handshake, and counts it.
 */
describe('network.inbound: caps on incoming network connections', () => {
  let network: TestNetwork
  before(async () => {
    network = await startTestNetwork()
  })
  after(() => network.stop())

  it('refuses a second connection from one address past maxPerIp 1, and keeps the first', async () => {
    const node = await network.startNode(5, { network: { inbound: { maxPerIp: 1, exemptPrivateAddresses: false } } })
    const address = node.client.networkNode.descriptor.addresses[0]!
    const first = new WebSocket(address)
    await new Promise((resolve, reject) => first.once('open', resolve).once('error', reject))
    const second = new WebSocket(address)
    const closed = new Promise<void>((resolve) => second.once('close', () => resolve()))
    await waitFor(
      () => (node.client.networkNode.getMetrics().disconnects['address-cap'] ?? 0) === 1,
      10_000,
      'the second connection refused for the address cap',
    )
    await closed
    assert.equal(first.readyState, WebSocket.OPEN, 'the first connection is kept')
    first.close()
  })

  it('refuses bad inbound caps, naming the field', () => {
    assert.deepEqual(parseConfig({ network: { inbound: { maxPerSubnet: 64 } } }).network.inbound, { maxPerSubnet: 64 })
    assert.deepEqual(configProblems({ network: { inbound: { maxPerIp: 0, perSubnet: 3 } } }), [
      'network.inbound.maxPerIp: Too small: expected number to be >=1',
      'network.inbound: Unrecognized key: "perSubnet"',
    ])
  })
})
