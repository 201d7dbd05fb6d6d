import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { WebSocketTransport } from '../../src/node/index.js'
import type { TransportConnection } from '../../src/transport/Transport.js'
import { ConnectionRecorder, describeTransportCompliance, waitFor } from '../compliance/transportCompliance.js'

describeTransportCompliance('WebSocket (ws, 127.0.0.1)', () =>
  Promise.resolve({
    createTransport: () => new WebSocketTransport({ host: '127.0.0.1', port: 0 }),
    // Port 1 is privileged and never listened on by tests.
    unreachableAddress: 'ws://127.0.0.1:1',
    cleanup: () => Promise.resolve(),
  }),
)

// A node closes the loser of a simultaneous dial while its peer may still be sending on it: what the peer sent
// before our close reached it must not vanish (it was sent nowhere else).
describe('WebSocket close with drain', () => {
  const transports: WebSocketTransport[] = []
  after(() => Promise.all(transports.map((transport) => transport.stop())))

  async function pair(): Promise<{
    closing: TransportConnection
    recorder: ConnectionRecorder
    sender: TransportConnection
  }> {
    const accepted: TransportConnection[] = []
    const listener = new WebSocketTransport({ host: '127.0.0.1', port: 0 })
    const dialer = new WebSocketTransport({ host: '127.0.0.1', port: 0 })
    transports.push(listener, dialer)
    const [address] = await listener.start((connection) => accepted.push(connection))
    await dialer.start(() => {})
    const sender = await dialer.connect(address!, AbortSignal.timeout(15_000))
    sender.setHandlers(new ConnectionRecorder())
    await waitFor(() => accepted.length > 0, 15_000, 'the listener to accept the connection')
    const recorder = new ConnectionRecorder()
    accepted[0]!.setHandlers(recorder)
    return { closing: accepted[0]!, recorder, sender }
  }

  it('hands on the frames the peer sent before it saw the close, then ends', async () => {
    const { closing, recorder, sender } = await pair()
    closing.close('duplicate connection', { drain: true })
    // Sent in the same turn: the peer can't have seen the close frame yet.
    for (const n of [1, 2, 3]) sender.send(Uint8Array.of(n))
    await recorder.untilFrames(3)
    assert.deepEqual(
      recorder.frames.map((frame) => frame[0]),
      [1, 2, 3],
    )
    assert.equal(recorder.closeReasons.length, 1)
    // Without drain the same frames are dropped: see the compliance suite's "sending after close".
  })
})
