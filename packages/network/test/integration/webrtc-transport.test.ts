import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { generatePrivateKey } from '@runnel/protocol'
import { createNativeSigner } from '@runnel/protocol/native'
import { NetworkError } from '../../src/errors.js'
import { createNodeWebRtcTransport } from '../../src/node/index.js'
import type { TransportConnection } from '../../src/transport/Transport.js'
import type { WebRtcTransport, WebRtcTransportOptions } from '../../src/transport/webrtc/WebRtcTransport.js'
import type { NodeId } from '../../src/identity.js'
import type { RtcSignal, Signaller } from '../../src/transport/webrtc/signalling.js'
import { ConnectionRecorder, describeTransportCompliance, waitFor } from '../compliance/transportCompliance.js'

/**
 * Signals between transports in one process, delivered on a later turn as a
 * relay would: stands in for the node's relaying, which the signalling
 * integration tests cover.
 */
class SignalBus {
  private readonly receivers = new Map<NodeId, (signal: RtcSignal) => void>()
  /** Every signal sent, in order. */
  readonly sent: RtcSignal[] = []

  /** @param carries which signals the bus delivers; the others are lost, as on a broken relay. */
  constructor(private readonly carries: (signal: RtcSignal) => boolean = () => true) {}

  signaller(): Signaller {
    const localNodeId = createNativeSigner(generatePrivateKey()).address
    return {
      localNodeId,
      send: (signal) => {
        this.sent.push(signal)
        const receiver = this.receivers.get(signal.targetId)
        if (receiver === undefined) return 0
        if (this.carries(signal)) setImmediate(() => receiver(signal))
        return 1
      },
      setReceiver: (receiver) => {
        if (receiver === undefined) this.receivers.delete(localNodeId)
        else this.receivers.set(localNodeId, receiver)
      },
    }
  }
}

describeTransportCompliance('WebRTC (node-datachannel, host candidates)', () => {
  const bus = new SignalBus()
  return Promise.resolve({
    createTransport: () => {
      // The suite dials 50 connections at once from 5 transports: above the default bounds on offers being answered
      // (32, 4 per node), which refuse the rest; the signalling tests check those bounds.
      const transport = createNodeWebRtcTransport({ maxPendingSessions: 64, maxPendingSessionsPerPeer: 16 })
      transport.attachSignaller(bus.signaller())
      return transport
    },
    // A node id no transport on the bus has: the signaller finds no route.
    unreachableAddress: `webrtc:0x${'00'.repeat(19)}01`,
    cleanup: () => Promise.resolve(),
  })
})

describe('WebRTC transport limits and failures', () => {
  const started: WebRtcTransport[] = []

  afterEach(async () => {
    await Promise.all(started.splice(0).map((transport) => transport.stop()))
  })

  async function startTransport(
    bus: SignalBus,
    options: WebRtcTransportOptions = {},
  ): Promise<{ transport: WebRtcTransport; address: string; accepted: TransportConnection[] }> {
    const transport = createNodeWebRtcTransport(options)
    transport.attachSignaller(bus.signaller())
    started.push(transport)
    const accepted: TransportConnection[] = []
    const [address] = await transport.start((connection) => accepted.push(connection))
    assert.ok(address !== undefined)
    return { transport, address, accepted }
  }

  it('a dial whose ICE never connects fails with CONNECTION_FAILED once the connect timeout passes', async () => {
    // Candidates are lost on the way, so ICE has nothing to check.
    const bus = new SignalBus((signal) => signal.kind !== 'candidate')
    const listener = await startTransport(bus, { connectTimeoutMs: 1_500 })
    const dialer = await startTransport(bus, { connectTimeoutMs: 1_500 })
    await assert.rejects(
      dialer.transport.connect(listener.address, AbortSignal.timeout(15_000)),
      (err) => err instanceof NetworkError && err.code === 'CONNECTION_FAILED' && /within 1500 ms/.test(err.message),
    )
    assert.equal(dialer.transport.metrics.failed, 1)
    // The acceptor's session times out as well, and nothing opened.
    await waitFor(() => listener.transport.metrics.failed === 1, 10_000, "the acceptor's session to time out")
    assert.deepEqual(listener.accepted, [])
  })

  it('aborting a dial while it negotiates rejects with ABORTED and tells the other end', async () => {
    const bus = new SignalBus((signal) => signal.kind !== 'candidate')
    const listener = await startTransport(bus)
    const dialer = await startTransport(bus)
    const controller = new AbortController()
    const dial = dialer.transport.connect(listener.address, controller.signal)
    await waitFor(() => listener.transport.metrics.offersAccepted === 1, 10_000, 'the offer to arrive')
    controller.abort()
    await assert.rejects(dial, (err) => err instanceof NetworkError && err.code === 'ABORTED')
    await waitFor(() => listener.transport.metrics.failed === 1, 10_000, 'the acceptor to end its session')
  })

  it('a frame above maxFrameSize closes both ends with FRAME_TOO_LARGE', async () => {
    const bus = new SignalBus()
    const listener = await startTransport(bus, { maxFrameSize: 100 * 1024 })
    const dialer = await startTransport(bus)
    const dialerEnd = await dialer.transport.connect(listener.address, AbortSignal.timeout(15_000))
    const dialerRecorder = new ConnectionRecorder()
    dialerEnd.setHandlers(dialerRecorder)
    await waitFor(() => listener.accepted.length === 1)
    const acceptorRecorder = new ConnectionRecorder()
    listener.accepted[0]!.setHandlers(acceptorRecorder)

    dialerEnd.send(new Uint8Array(100 * 1024)) // at the limit: delivered
    dialerEnd.send(new Uint8Array(200 * 1024))
    await Promise.all([acceptorRecorder.untilClosed(), dialerRecorder.untilClosed()])
    assert.equal(acceptorRecorder.frames.length, 1)
    assert.match(acceptorRecorder.closeReasons[0] ?? '', /^FRAME_TOO_LARGE/)
    assert.match(
      dialerRecorder.closeReasons[0] ?? '',
      /FRAME_TOO_LARGE/,
      `the sender learns why: ${dialerRecorder.closeReasons.join()}`,
    )
  })

  it('refuses offers beyond the pending bound for one node, and answers them unreachable', async () => {
    // Offers whose candidates never come stay pending until the connect timeout.
    const bus = new SignalBus((signal) => signal.kind !== 'candidate')
    const listener = await startTransport(bus, { maxPendingSessionsPerPeer: 2 })
    const dialer = await startTransport(bus)
    const dials = [1, 2, 3].map(() =>
      dialer.transport.connect(listener.address, AbortSignal.timeout(15_000)).then(
        () => 'connected',
        (err: unknown) => (err instanceof NetworkError ? err.code : 'other'),
      ),
    )
    await waitFor(() => (listener.transport.metrics.refused['too-many-pending'] ?? 0) === 1)
    assert.equal(listener.transport.metrics.offersAccepted, 2)
    // The refused dial fails at once; the two pending ones end when the test stops the transports.
    const refused = await Promise.race([dials[2], dials[0], dials[1]])
    assert.equal(refused, 'CONNECTION_FAILED')
    await dialer.transport.stop()
    assert.deepEqual((await Promise.all(dials)).slice(0, 2), ['ABORTED', 'ABORTED'])
  })
})
