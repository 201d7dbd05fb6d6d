// Per-address caps on incoming connections, on real sockets: a node refuses
// connections past `inbound.maxPerIp` from one IP before their handshake,
// tells the dialler why, and takes one again once a connection from there
// closes. Everything runs on 127.0.0.1, which the caps exempt by default
// (one machine running a whole network): the test turns the exemption off.
import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { systemClock } from '@runnel/protocol'
import { ConnectionManager } from '../../src/connection/ConnectionManager.js'
import type { InboundCaps } from '../../src/connection/AddressCaps.js'
import { NetworkError } from '../../src/errors.js'
import { NETWORK_PROTOCOL_VERSION, type NodeId } from '../../src/index.js'
import { WebSocketTransport } from '../../src/node/index.js'
import { newSigner, verifier, waitFor } from '../helpers.js'

async function startManager(
  inbound?: InboundCaps,
): Promise<{ manager: ConnectionManager; nodeId: NodeId; address: string }> {
  const signer = newSigner()
  const manager = new ConnectionManager(
    {
      transport: new WebSocketTransport({ port: 0 }),
      signer,
      verifier,
      clock: systemClock,
      events: {
        onPeerReady: () => undefined,
        onControl: () => undefined,
        onData: () => undefined,
        onPeerClosed: () => undefined,
      },
    },
    undefined,
    { inbound },
  )
  const descriptor = await manager.start((addresses) => ({
    nodeId: signer.address,
    kind: 'full',
    addresses,
    protocolVersion: NETWORK_PROTOCOL_VERSION,
  }))
  return { manager, nodeId: signer.address, address: descriptor.addresses[0]! }
}

describe('incoming connection caps per address (real sockets)', () => {
  const started: ConnectionManager[] = []
  after(async () => {
    await Promise.all(started.map((manager) => manager.stop()))
  })

  it('refuses a third connection from one IP with maxPerIp 2, naming the cap, and admits one again after a close', async () => {
    const hub = await startManager({ maxPerIp: 2, exemptPrivateAddresses: false })
    const dialers = await Promise.all([1, 2, 3, 4].map(() => startManager()))
    started.push(hub.manager, ...dialers.map((dialer) => dialer.manager))
    const [a, b, c, d] = dialers as [typeof hub, typeof hub, typeof hub, typeof hub]
    await a.manager.connect(hub.address, hub.nodeId, AbortSignal.timeout(10_000))
    await b.manager.connect(hub.address, hub.nodeId, AbortSignal.timeout(10_000))

    await assert.rejects(c.manager.connect(hub.address, hub.nodeId, AbortSignal.timeout(10_000)), (err) => {
      assert.ok(err instanceof NetworkError)
      assert.equal(err.code, 'CONNECTION_FAILED')
      assert.match(err.message, /too many connections from 127\.0\.0\.1 \(at most 2 per address\)/)
      return true
    })
    assert.equal(hub.manager.inboundRefused, 1)
    assert.equal(hub.manager.stats.closes['address-cap'], 1)
    assert.equal(hub.manager.connectionCount, 2)

    // A connection from there closes: its place is free again.
    a.manager.get(hub.nodeId)!.close('local', 'done')
    await waitFor(() => hub.manager.get(a.nodeId) === undefined, 10_000, 'the hub to see the close')
    await d.manager.connect(hub.address, hub.nodeId, AbortSignal.timeout(10_000))
    assert.equal(hub.manager.connectionCount, 2)
  })

  it('exempts loopback by default: many nodes on one machine connect freely', async () => {
    const hub = await startManager()
    const dialers = await Promise.all(Array.from({ length: 20 }, () => startManager()))
    started.push(hub.manager, ...dialers.map((dialer) => dialer.manager))
    await Promise.all(
      dialers.map((dialer) => dialer.manager.connect(hub.address, hub.nodeId, AbortSignal.timeout(10_000))),
    )
    assert.equal(hub.manager.connectionCount, 20)
    assert.equal(hub.manager.inboundRefused, 0)
  })
})
