import { generatePrivateKey } from '@runnel/protocol'
import { createNativeSigner } from '@runnel/protocol/native'
import { createNodeWebRtcTransport } from '../../src/node/index.js'
import type { NodeId } from '../../src/identity.js'
import type { RtcSignal, Signaller } from '../../src/transport/webrtc/signalling.js'
import { describeTransportCompliance } from '../compliance/transportCompliance.js'

/**
 * Signals between transports in one process, delivered on a later turn as a
 * relay would: stands in for the node's relaying, which the signalling
 * integration tests cover.
 */
class SignalBus {
  private readonly receivers = new Map<NodeId, (signal: RtcSignal) => void>()

  signaller(): Signaller {
    const localNodeId = createNativeSigner(generatePrivateKey()).address
    return {
      localNodeId,
      send: (signal) => {
        const receiver = this.receivers.get(signal.targetId)
        if (receiver === undefined) return 0
        setImmediate(() => receiver(signal))
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
