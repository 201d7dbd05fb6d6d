import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  StreamMessage,
  addressFromBytes,
  encodeJsonContent,
  encodeStreamMessage,
  type StreamPartId,
} from '@runnel/protocol'
import { NetworkError } from '../../src/errors.js'
import type { NodeId } from '../../src/identity.js'
import { silentLogger } from '../../src/logger.js'
import { resolveNetworkNodeOptions } from '../../src/NetworkNodeOptions.js'
import { DataPath } from '../../src/overlay/DataPath.js'
import { FLOOD_BAN_MS, resolveRelayLimits, type RelayLimitOptions } from '../../src/overlay/RelayLimits.js'
import { StreamPartOverlay } from '../../src/overlay/StreamPartOverlay.js'
import { encodeDataFrame } from '../../src/wire/frames.js'
import { ChainPublisher, verifier } from '../helpers.js'

function nodeId(index: number): NodeId {
  const bytes = new Uint8Array(20)
  bytes[19] = index
  return addressFromBytes(bytes)
}

const [peerA, peerB, peerC] = [nodeId(1), nodeId(2), nodeId(3)] as const

/** A data path with relay limits on a clock the test moves. */
class Harness {
  time = 1_000_000
  readonly relayed: NodeId[] = []
  readonly delivered: StreamMessage[] = []
  readonly disconnected: { peerId: NodeId; cause: string | undefined }[] = []
  readonly overlays = new Map<StreamPartId, StreamPartOverlay>()
  readonly dataPath: DataPath

  constructor(limits: Partial<RelayLimitOptions>, maxMessageSize = 1 << 20) {
    this.dataPath = new DataPath(
      {
        send: (peerId) => {
          this.relayed.push(peerId)
          return true
        },
        disconnect: (peerId, _detail, cause) => this.disconnected.push({ peerId, cause }),
        verifier: {
          recoverPersonalMessageSigner: (payload, signature) => {
            this.verifications++
            return verifier.recoverPersonalMessageSigner(payload, signature)
          },
        },
        logger: silentLogger,
        onInvalidMessage: () => {},
        now: () => this.time,
      },
      {
        kind: 'full',
        verifySignatures: true,
        maxMessageSize,
        targetDegree: 2,
        proxyCount: 2,
        relayLimits: resolveRelayLimits(limits),
      },
      this.overlays,
    )
  }

  verifications = 0

  join(streamPartId: StreamPartId): StreamPartOverlay {
    const overlay = new StreamPartOverlay(
      streamPartId,
      { propagationWindowMs: 10_000, propagationBufferSize: 16, duplicateWindowSize: 10_000 },
      () => this.time,
    )
    for (const neighbor of [peerA, peerB, peerC]) overlay.neighbors.add(neighbor)
    overlay.listeners.add((message) => this.delivered.push(message))
    this.overlays.set(streamPartId, overlay)
    return overlay
  }

  receive(from: NodeId, message: StreamMessage): ReturnType<DataPath['receive']> {
    const bytes = encodeStreamMessage(message)
    return this.dataPath.receive(from, encodeDataFrame(bytes), bytes)
  }
}

async function messages(publisher: ChainPublisher, count: number): Promise<StreamMessage[]> {
  const result: StreamMessage[] = []
  for (let i = 0; i < count; i++) result.push(await publisher.next())
  return result
}

describe('relay limits', () => {
  it("drops a publisher's new messages over its rate, without relaying them, and passes them again as tokens refill", async () => {
    const harness = new Harness({ publisherMessagesPerSecond: 5, burstSeconds: 1 })
    const publisher = new ChainPublisher()
    harness.join(publisher.streamPartId)
    const batch = await messages(publisher, 8)
    const outcomes = batch.map((message) => harness.receive(peerA, message))
    assert.deepEqual(outcomes, ['new', 'new', 'new', 'new', 'new', 'rate-limited', 'rate-limited', 'rate-limited'])
    assert.equal(harness.delivered.length, 5)
    assert.equal(harness.relayed.length, 5 * 2, 'only the messages within the limit are relayed (to B and C)')
    assert.equal(harness.dataPath.counters.rateLimited, 3)
    // A dropped message isn't marked seen: a copy relayed later, when there is room, gets through.
    harness.time += 1_000
    assert.equal(harness.receive(peerB, batch[5]!), 'new')
  })

  it('drops a message over the limits before verifying its signature', async () => {
    const harness = new Harness({ publisherMessagesPerSecond: 2, burstSeconds: 1 })
    const publisher = new ChainPublisher()
    harness.join(publisher.streamPartId)
    // The first message of a publisher creates its buckets; the later ones are checked on the header alone.
    for (const message of await messages(publisher, 2)) harness.receive(peerA, message)
    const verifiedBefore = harness.verifications
    for (const message of await messages(publisher, 20)) assert.equal(harness.receive(peerA, message), 'rate-limited')
    assert.equal(harness.verifications, verifiedBefore)
  })

  it('limits each publisher on its own, and every publisher of a stream part together', async () => {
    const harness = new Harness({ publisherMessagesPerSecond: 3, streamPartMessagesPerSecond: 5, burstSeconds: 1 })
    const flooder = new ChainPublisher()
    const other = new ChainPublisher('/test', 0, flooder.signer)
    const third = new ChainPublisher('/test', 0, flooder.signer)
    harness.join(flooder.streamPartId)
    const flood = (await messages(flooder, 10)).map((message) => harness.receive(peerA, message))
    assert.equal(flood.filter((outcome) => outcome === 'new').length, 3)
    const second = (await messages(other, 3)).map((message) => harness.receive(peerB, message))
    assert.deepEqual(second, ['new', 'new', 'rate-limited'], 'the stream part allows 5 in all')
    assert.equal(harness.receive(peerB, (await messages(third, 1))[0]!), 'rate-limited')
  })

  it('keeps stream parts apart: a flood in one leaves another untouched', async () => {
    const harness = new Harness({ publisherMessagesPerSecond: 2, streamPartMessagesPerSecond: 2, burstSeconds: 1 })
    const x = new ChainPublisher('/x')
    const y = new ChainPublisher('/y')
    harness.join(x.streamPartId)
    harness.join(y.streamPartId)
    for (const message of await messages(x, 10)) harness.receive(peerA, message)
    assert.deepEqual(
      (await messages(y, 2)).map((message) => harness.receive(peerA, message)),
      ['new', 'new'],
    )
  })

  it('limits bytes per second as well as messages', async () => {
    // A byte bucket holds at least one largest message: here 1 KiB.
    const harness = new Harness({ publisherBytesPerSecond: 2_000, burstSeconds: 1 }, 1024)
    const publisher = new ChainPublisher()
    harness.join(publisher.streamPartId)
    const big = 'x'.repeat(600)
    const outcomes: string[] = []
    for (let i = 0; i < 5; i++) outcomes.push(harness.receive(peerA, await publisher.next({ big })))
    assert.deepEqual(outcomes.slice(0, 2), ['new', 'new'])
    assert.equal(outcomes.at(-1), 'rate-limited')
  })

  it("doesn't charge a publisher for forgeries in its name", async () => {
    const harness = new Harness({ publisherMessagesPerSecond: 2, burstSeconds: 1 })
    const publisher = new ChainPublisher()
    harness.join(publisher.streamPartId)
    for (const message of await messages(publisher, 5)) {
      const forged = new StreamMessage({
        messageId: message.messageId,
        prevMsgRef: message.prevMsgRef,
        contentType: message.contentType,
        content: encodeJsonContent({ forged: true }),
        signature: message.signature,
      })
      assert.equal(harness.receive(peerC, forged), 'invalid-signature')
    }
    assert.deepEqual(
      (await messages(publisher, 2)).map((message) => harness.receive(peerA, message)),
      ['new', 'new'],
    )
  })

  it('disconnects a neighbour that keeps sending beyond the limits, and only that one', async () => {
    const harness = new Harness({ publisherMessagesPerSecond: 2, burstSeconds: 1, maxNeighborExcess: 10 })
    const publisher = new ChainPublisher()
    harness.join(publisher.streamPartId)
    const flood = await messages(publisher, 14)
    // B relays a few of the same messages within the limits, as an honest relay would.
    harness.receive(peerB, flood[0]!)
    for (const message of flood) harness.receive(peerA, message)
    assert.deepEqual(harness.disconnected, [{ peerId: peerA, cause: 'flooding' }])
    // It is refused when it connects again, for a while.
    assert.equal(harness.dataPath.isBanned(peerA), true)
    assert.equal(harness.dataPath.isBanned(peerB), false)
    harness.time += FLOOD_BAN_MS
    assert.equal(harness.dataPath.isBanned(peerA), false)
  })

  it("by default, disconnects only a neighbour past twice what the stream part's limit lets through in a second", async () => {
    const harness = new Harness({ publisherMessagesPerSecond: 5, streamPartMessagesPerSecond: 10, burstSeconds: 1 })
    const publisher = new ChainPublisher()
    harness.join(publisher.streamPartId)
    // 2 × 10 msgs/s × (1 s + 1 s of burst) = 40 drops within a second are allowed.
    const flood = await messages(publisher, 5 + 40)
    for (const message of flood) harness.receive(peerA, message)
    assert.deepEqual(harness.disconnected, [])
    harness.receive(peerA, await publisher.next())
    assert.deepEqual(harness.disconnected, [{ peerId: peerA, cause: 'flooding' }])
  })

  it('while an inspection tallies senders, copies over the limits still count as copies, never as excess', async () => {
    const harness = new Harness({ publisherMessagesPerSecond: 2, burstSeconds: 1, maxNeighborExcess: 1 })
    const publisher = new ChainPublisher()
    const overlay = harness.join(publisher.streamPartId)
    const observed: NodeId[] = []
    overlay.senderObservers.add((senderId) => observed.push(senderId))
    const [first, second, third] = await messages(publisher, 3)
    harness.receive(peerA, first!)
    harness.receive(peerA, second!)
    assert.equal(harness.receive(peerB, first!), 'duplicate')
    assert.equal(harness.receive(peerC, second!), 'duplicate')
    assert.deepEqual(observed, [peerA, peerA, peerB, peerC])
    assert.equal(harness.receive(peerA, third!), 'rate-limited', 'a new message is still limited, after verification')
    assert.deepEqual(harness.disconnected, [])
  })

  it("counts the node's own publishes against the limits: over them, publish throws RATE_LIMITED", async () => {
    const harness = new Harness({ publisherMessagesPerSecond: 2, burstSeconds: 1 })
    const publisher = new ChainPublisher()
    const overlay = harness.join(publisher.streamPartId)
    const [first, second, third] = await messages(publisher, 3)
    harness.dataPath.publish(overlay, first!)
    harness.dataPath.publish(overlay, second!)
    assert.throws(
      () => harness.dataPath.publish(overlay, third!),
      (err: unknown) => err instanceof NetworkError && err.code === 'RATE_LIMITED',
    )
    assert.equal(harness.delivered.length, 2)
    harness.time += 500
    harness.dataPath.publish(overlay, third!)
    assert.equal(harness.delivered.length, 3, 'a refused publish can be retried: it was not marked seen')
  })

  it('keeps at most maxPublishersPerStreamPart publishers', async () => {
    const harness = new Harness({ publisherMessagesPerSecond: 1, burstSeconds: 1, maxPublishersPerStreamPart: 2 })
    const owner = new ChainPublisher()
    const publishers = [
      owner,
      new ChainPublisher('/test', 0, owner.signer),
      new ChainPublisher('/test', 0, owner.signer),
    ]
    harness.join(owner.streamPartId)
    for (const publisher of publishers) assert.equal(harness.receive(peerA, await publisher.next()), 'new')
    // The first publisher's buckets were dropped for the third's: it starts afresh, with a full bucket.
    assert.equal(harness.receive(peerA, await publishers[0]!.next()), 'new')
    assert.equal(harness.receive(peerA, await publishers[2]!.next()), 'rate-limited')
  })

  it('refuses settings that are not positive numbers, naming them', () => {
    assert.throws(
      () => resolveNetworkNodeOptions({ trackers: ['ws://127.0.0.1:1'], relayLimits: { burstSeconds: 0 } }),
      /relayLimits\.burstSeconds must be a positive number, got 0/,
    )
    assert.throws(
      () =>
        resolveNetworkNodeOptions({
          trackers: ['ws://127.0.0.1:1'],
          relayLimits: { publisherMessagesPerSecond: Number.NaN },
        }),
      /relayLimits\.publisherMessagesPerSecond/,
    )
    const resolved = resolveNetworkNodeOptions({ trackers: ['ws://127.0.0.1:1'] })
    assert.ok(resolved.relayLimits !== false && resolved.relayLimits.publisherMessagesPerSecond === 10_000)
    assert.equal(resolveNetworkNodeOptions({ trackers: ['ws://127.0.0.1:1'], relayLimits: false }).relayLimits, false)
  })
})
