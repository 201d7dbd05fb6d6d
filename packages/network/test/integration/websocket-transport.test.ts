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

// Frames sent before a close must not vanish: the loser of a simultaneous dial is closed while its peer may still be
// sending on it, and a stopping node closes connections right after its last sends (neither was sent anywhere else).
describe('WebSocket closing: what was sent before the close arrives', () => {
  const transports: WebSocketTransport[] = []
  after(() => Promise.all(transports.map((transport) => transport.stop())))

  async function pair(): Promise<{
    listener: WebSocketTransport
    closing: TransportConnection
    recorder: ConnectionRecorder
    sender: TransportConnection
    senderRecorder: ConnectionRecorder
  }> {
    const accepted: TransportConnection[] = []
    const listener = new WebSocketTransport({ host: '127.0.0.1', port: 0 })
    const dialer = new WebSocketTransport({ host: '127.0.0.1', port: 0 })
    transports.push(listener, dialer)
    const [address] = await listener.start((connection) => accepted.push(connection))
    await dialer.start(() => {})
    const sender = await dialer.connect(address!, AbortSignal.timeout(15_000))
    const senderRecorder = new ConnectionRecorder()
    sender.setHandlers(senderRecorder)
    await waitFor(() => accepted.length > 0, 15_000, 'the listener to accept the connection')
    const recorder = new ConnectionRecorder()
    accepted[0]!.setHandlers(recorder)
    return { listener, closing: accepted[0]!, recorder, sender, senderRecorder }
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

  // A one-shot publisher sends its last messages and stops at once; a neighbour that dialled it must still get them
  // (they were corked for the turn, and cutting the socket dropped them with the goodbye).
  it('a stopping listener delivers what it sent last on connections it accepted, then closes them', async () => {
    const { listener, closing, senderRecorder } = await pair()
    for (const n of [1, 2, 3]) closing.send(Uint8Array.of(n))
    closing.close('node stopping')
    await listener.stop()
    await senderRecorder.untilFrames(3)
    assert.deepEqual(
      senderRecorder.frames.map((frame) => frame[0]),
      [1, 2, 3],
    )
    await senderRecorder.untilClosed()
  })
})
