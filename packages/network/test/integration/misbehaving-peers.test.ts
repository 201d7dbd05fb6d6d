import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { StreamMessage, encodeJsonContent } from '@runnel/protocol'
import { WebSocket } from 'ws'
import type { NetworkNode } from '../../src/index.js'
import { signTrackerRequest } from '../../src/tracker/trackerRequests.js'
import {
  ChainPublisher,
  DISCOVERY_MODES,
  newSigner,
  startDiscovery,
  startRawPeer,
  startWebSocketNode,
  recordingLogger,
  waitFor,
  type TestDiscovery,
} from '../helpers.js'

/** Opens a raw WebSocket to a node and resolves when the node closes it. */
function sendRaw(address: string, frames: (Buffer | string)[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(address)
    socket.on('open', () => {
      for (const frame of frames) socket.send(frame)
    })
    socket.on('close', (code) => resolve(code))
    socket.on('error', (err) => {
      if (socket.readyState !== WebSocket.CLOSED && socket.readyState !== WebSocket.CLOSING) reject(err)
    })
  })
}

for (const mode of DISCOVERY_MODES)
  describe(`misbehaving peers are dropped, counted, and the node keeps serving (${mode} discovery)`, () => {
    let discovery: TestDiscovery
    const trackerLog = recordingLogger()
    let victim: NetworkNode
    let honest: NetworkNode
    const owner = new ChainPublisher('/misbehave')
    const streamPartId = owner.streamPartId

    before(async () => {
      discovery = await startDiscovery(mode, { logger: trackerLog.logger })
      victim = await startWebSocketNode(discovery, { peer: { maxFramesPerSecond: 200 } })
      honest = await startWebSocketNode(discovery)
      await Promise.all([victim, honest].map((node) => node.join(streamPartId, { minNeighbors: 1 })))
    })

    after(async () => {
      await Promise.all([victim.stop(), honest.stop()])
      await discovery.stop()
    })

    async function assertStillServing(): Promise<void> {
      const received: StreamMessage[] = []
      const remove = honest.addMessageListener(streamPartId, (message) => received.push(message))
      const message = await owner.next({ check: true })
      victim.broadcast(message)
      await waitFor(() => received.length === 1, 10_000, 'delivery to the honest neighbour')
      remove()
    }

    it('disconnects a peer that sends garbage bytes', async () => {
      const before = victim.getMetrics().disconnects['malformed-frame'] ?? 0
      await sendRaw(victim.descriptor.addresses[0]!, [Buffer.from([0x07, 0xde, 0xad, 0xbe, 0xef])])
      await waitFor(() => (victim.getMetrics().disconnects['malformed-frame'] ?? 0) === before + 1)
      await assertStillServing()
    })

    it('disconnects a peer that sends a text frame', async () => {
      const before = victim.getMetrics().disconnects['malformed-frame'] ?? 0
      await sendRaw(victim.descriptor.addresses[0]!, ['{"hello": "text"}'])
      await waitFor(() => (victim.getMetrics().disconnects['malformed-frame'] ?? 0) === before + 1)
      await assertStillServing()
    })

    it('disconnects a peer that sends an oversized frame', async () => {
      const before = victim.getMetrics().disconnects['frame-too-large'] ?? 0
      const code = await sendRaw(victim.descriptor.addresses[0]!, [Buffer.alloc(2 * 1024 * 1024, 1)])
      assert.equal(code, 1009)
      await waitFor(() => (victim.getMetrics().disconnects['frame-too-large'] ?? 0) === before + 1)
      await assertStillServing()
    })

    it('drops and counts a message with a forged signature, and still relays genuine ones', async () => {
      const liar = await startWebSocketNode(discovery, { verifySignatures: false })
      try {
        await liar.join(streamPartId, { minNeighbors: 2, signal: AbortSignal.timeout(10_000) })
        const received: StreamMessage[] = []
        const remove = honest.addMessageListener(streamPartId, (message) => received.push(message))
        const genuine = await owner.next({ amount: 10 })
        const forged = new StreamMessage({ ...genuine, content: encodeJsonContent({ amount: 1_000_000 }) })
        const reported: string[] = []
        const stopListening = victim.addInvalidMessageListener(({ message, senderId, reason }) =>
          reported.push(`${reason} ${message.messageId.toString()} from ${senderId}`),
        )
        const beforeVictim = victim.getMetrics().invalidSignatures
        const beforeHonest = honest.getMetrics().invalidSignatures
        liar.broadcast(forged)
        await waitFor(
          () =>
            victim.getMetrics().invalidSignatures === beforeVictim + 1 &&
            honest.getMetrics().invalidSignatures === beforeHonest + 1,
          10_000,
          'both verifying neighbours to reject the forgery',
        )
        assert.deepEqual(reported, [`invalid-signature ${forged.messageId.toString()} from ${liar.nodeId}`])
        stopListening()
        // The forgery did not mark the genuine message as seen.
        victim.broadcast(genuine)
        await waitFor(() => received.length === 1, 10_000, 'the genuine message')
        assert.deepEqual(Buffer.from(received[0]!.content), Buffer.from(genuine.content))
        remove()
      } finally {
        await liar.stop()
      }
    })

    it('disconnects a neighbour that floods', async () => {
      // A stream part of its own, so the honest node doesn't relay the flood to the victim too
      // (a relay passing on a flood is itself over the limit).
      const publisher = new ChainPublisher('/misbehave/flood', 0, owner.signer)
      const floodPart = publisher.streamPartId
      const flooder = await startWebSocketNode(discovery)
      try {
        await victim.join(floodPart)
        await flooder.join(floodPart, { minNeighbors: 1, signal: AbortSignal.timeout(10_000) })
        const before = victim.getMetrics().disconnects.flooding ?? 0
        const messages = await Promise.all(Array.from({ length: 1_000 }, (_, i) => publisher.next({ i })))
        for (const message of messages) flooder.broadcast(message)
        await waitFor(() => (victim.getMetrics().disconnects.flooding ?? 0) === before + 1, 10_000, 'flood detection')
        assert.deepEqual(victim.getNeighbors(floodPart), [])
        await assertStillServing()
      } finally {
        victim.leave(floodPart)
        await flooder.stop()
      }
    })

    it('ignores tracker requests signed by another key', { skip: mode !== 'tracker' && 'no tracker' }, async () => {
      const tracker = discovery.tracker!
      const trackerAddress = discovery.options.trackers![0]!
      const impostor = newSigner()
      // Signs with its own key but claims the impostor's id.
      const connections = await startRawPeer(newSigner(), 'full', impostor.address)
      try {
        // The handshake itself fails: the connection claims the impostor's id without its key.
        await assert.rejects(connections.connect(trackerAddress), /CONNECTION_FAILED/)
      } finally {
        await connections.stop()
      }
      const liar = newSigner()
      const honestConnections = await startRawPeer(liar)
      try {
        const connection = await honestConnections.connect(trackerAddress)
        const before = tracker.metrics.ignoredRequests
        // Signed by someone else than the connection's node.
        const signed = await signTrackerRequest(newSigner(), 1, {
          streamPartId,
          action: 'status',
          neighborIds: [],
          wanted: 4,
        })
        connection.sendControl({ case: 'trackerRequest', value: signed })
        // Signature bytes that don't match the request.
        const tampered = await signTrackerRequest(liar, 2, {
          streamPartId,
          action: 'status',
          neighborIds: [],
          wanted: 4,
        })
        tampered.signature[5]! ^= 0xff
        connection.sendControl({ case: 'trackerRequest', value: tampered })
        await waitFor(() => tracker.metrics.ignoredRequests === before + 2, 10_000, 'tracker to ignore both')
        // The tracker says why, to its own log only.
        const ignored = trackerLog.entries.filter(
          (entry) => entry.message === 'ignored a tracker request' && entry.fields?.peer === liar.address,
        )
        assert.equal(ignored.length, 2)
        assert.ok(ignored.every((entry) => entry.level === 'debug' && typeof entry.fields?.reason === 'string'))
        assert.ok(!tracker.members(streamPartId).includes(liar.address))
      } finally {
        await honestConnections.stop()
      }
    })
  })
