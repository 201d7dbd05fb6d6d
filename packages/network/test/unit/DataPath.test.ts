import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ContentType,
  MessageId,
  StreamMessage,
  addressFromBytes,
  createErc1271Signer,
  encodeJsonContent,
  encodeStreamMessage,
  signStreamMessage,
  toStreamId,
  type StreamPartId,
} from '@runnel/protocol'
import type { NodeId } from '../../src/identity.js'
import { silentLogger, type Logger, type LogFields } from '../../src/logger.js'
import { DataPath, DEPARTED_GRACE_MS, type DataPathOptions } from '../../src/overlay/DataPath.js'
import type { DeliveryContext, InvalidMessageEvent } from '../../src/overlay/delivery.js'
import { StreamPartOverlay } from '../../src/overlay/StreamPartOverlay.js'
import { encodeDataFrame } from '../../src/wire/frames.js'
import { ChainPublisher, newSigner, verifier } from '../helpers.js'

function nodeId(index: number): NodeId {
  const bytes = new Uint8Array(20)
  bytes[19] = index
  return addressFromBytes(bytes)
}

const [peerA, peerB, peerC, client] = [nodeId(1), nodeId(2), nodeId(3), nodeId(9)] as const

/** Everything the data path did through its components. */
class Harness {
  readonly sent: { peerId: NodeId; frame: Uint8Array }[] = []
  readonly disconnected: { peerId: NodeId; detail: string }[] = []
  readonly invalid: InvalidMessageEvent[] = []
  readonly delivered: { message: StreamMessage; context: DeliveryContext }[] = []
  readonly errors: { message: string; fields: LogFields | undefined }[] = []
  /** Peers whose send buffer is full: sending to them fails. */
  readonly full = new Set<NodeId>()
  readonly overlays = new Map<StreamPartId, StreamPartOverlay>()
  readonly dataPath: DataPath
  time = 0

  constructor(options: Partial<DataPathOptions> = {}) {
    const logger: Logger = { ...silentLogger, error: (message, fields) => this.errors.push({ message, fields }) }
    this.dataPath = new DataPath(
      {
        send: (peerId, frame) => {
          if (this.full.has(peerId)) return false
          this.sent.push({ peerId, frame })
          return true
        },
        disconnect: (peerId, detail) => this.disconnected.push({ peerId, detail }),
        verifier,
        logger,
        onInvalidMessage: (event) => this.invalid.push(event),
      },
      { kind: 'full', verifySignatures: true, maxMessageSize: 1 << 20, targetDegree: 2, proxyCount: 2, ...options },
      this.overlays,
    )
  }

  join(streamPartId: StreamPartId, neighbors: NodeId[] = []): StreamPartOverlay {
    const overlay = new StreamPartOverlay(
      streamPartId,
      { propagationWindowMs: 10_000, propagationBufferSize: 16, duplicateWindowSize: 100 },
      () => this.time,
    )
    for (const neighbor of neighbors) overlay.neighbors.add(neighbor)
    overlay.listeners.add((message, context) => this.delivered.push({ message, context }))
    this.overlays.set(streamPartId, overlay)
    return overlay
  }

  /** Receives a message as a neighbour would relay it. */
  receive(from: NodeId, message: StreamMessage): ReturnType<DataPath['receive']> {
    const bytes = encodeStreamMessage(message)
    return this.dataPath.receive(from, encodeDataFrame(bytes), bytes)
  }

  recipients(): NodeId[] {
    return this.sent.map(({ peerId }) => peerId)
  }
}

function forge(message: StreamMessage): StreamMessage {
  return new StreamMessage({
    messageId: message.messageId,
    prevMsgRef: message.prevMsgRef,
    contentType: message.contentType,
    content: encodeJsonContent({ forged: true }),
    signature: message.signature,
  })
}

describe('DataPath: receiving', () => {
  it('delivers a new message once and relays the received frame to every neighbour and proxy client but the sender', async () => {
    const publisher = new ChainPublisher()
    const harness = new Harness()
    const overlay = harness.join(publisher.streamPartId, [peerA, peerB, peerC])
    overlay.proxyClients.add(client)
    const message = await publisher.next()
    const bytes = encodeStreamMessage(message)
    const frame = encodeDataFrame(bytes)
    assert.equal(harness.dataPath.receive(peerA, frame, bytes), 'new')
    assert.equal(harness.delivered.length, 1)
    assert.equal(harness.delivered[0]!.context.senderId, peerA)
    assert.deepEqual(harness.recipients().sort(), [peerB, peerC, client].sort())
    for (const { frame: sent } of harness.sent) assert.equal(sent, frame, 'relays forward the frame itself')
    assert.deepEqual(
      [
        harness.dataPath.counters.messagesIn,
        harness.dataPath.counters.messagesOut,
        harness.dataPath.counters.delivered,
      ],
      [1, 3, 1],
    )
  })

  it('drops copies of a message already seen, without delivering or relaying them again', async () => {
    const publisher = new ChainPublisher()
    const harness = new Harness()
    harness.join(publisher.streamPartId, [peerA, peerB])
    const message = await publisher.next()
    harness.receive(peerA, message)
    const sentBefore = harness.sent.length
    assert.equal(harness.receive(peerB, message), 'duplicate')
    assert.equal(harness.delivered.length, 1)
    assert.equal(harness.sent.length, sentBefore)
    assert.equal(harness.dataPath.counters.duplicates, 1)
  })

  it('recognises a copy from its header alone, before decoding the rest', async () => {
    const publisher = new ChainPublisher()
    const message = await publisher.next()
    const bytes = encodeStreamMessage(message)
    const harness = new Harness({ maxMessageSize: bytes.length + 16 })
    harness.join(publisher.streamPartId, [peerA, peerB])
    harness.receive(peerA, message)
    // The same message with an unknown 200-byte field appended (field 99, length-delimited): the header
    // still reads, but a full decode would refuse it as too large and disconnect the sender.
    const padded = new Uint8Array(bytes.length + 204)
    padded.set(bytes)
    padded.set([0x9a, 0x06, 0xc8, 0x01], bytes.length)
    assert.equal(harness.dataPath.receive(peerB, encodeDataFrame(padded), padded), 'duplicate')
    assert.deepEqual(harness.disconnected, [])
    assert.equal(harness.dataPath.receive(peerC, encodeDataFrame(padded), padded), 'malformed', 'not from a neighbour')
  })

  it('drops a message from a peer that is not a neighbour, or for a stream part not joined, and keeps the peer', async () => {
    const joined = new ChainPublisher()
    const other = new ChainPublisher()
    const harness = new Harness()
    harness.join(joined.streamPartId, [peerA])
    assert.equal(harness.receive(peerB, await joined.next()), 'unexpected')
    assert.equal(harness.receive(peerA, await other.next()), 'unexpected')
    assert.equal(harness.delivered.length, 0)
    assert.equal(harness.dataPath.counters.unexpectedMessages, 2)
    assert.deepEqual(harness.disconnected, [])
  })

  it('takes messages from a neighbour that just departed for DEPARTED_GRACE_MS, and relays them', async () => {
    const publisher = new ChainPublisher()
    const harness = new Harness()
    const overlay = harness.join(publisher.streamPartId, [peerA, peerB])
    // peerB was handed over (or left): what it sent before it learnt so still counts.
    overlay.neighbors.delete(peerB)
    overlay.noteDeparture(peerB)
    assert.equal(harness.receive(peerB, await publisher.next()), 'new')
    assert.deepEqual(
      harness.sent.map((sent) => sent.peerId),
      [peerA],
    )
    harness.time += DEPARTED_GRACE_MS + 1
    assert.equal(harness.receive(peerB, await publisher.next()), 'unexpected')
    assert.equal(harness.delivered.length, 1)
  })

  it('disconnects a peer that sends bytes that are not a message', () => {
    const harness = new Harness()
    const bytes = Uint8Array.of(1, 2, 3)
    assert.equal(harness.dataPath.receive(peerA, encodeDataFrame(bytes), bytes), 'malformed')
    assert.equal(harness.disconnected.length, 1)
    assert.equal(harness.disconnected[0]!.peerId, peerA)
    assert.match(harness.disconnected[0]!.detail, /\S/)
    assert.equal(harness.dataPath.counters.invalidMessages, 1)
  })

  it('drops a message whose signature fails, reports it, and still takes the genuine one after it', async () => {
    const publisher = new ChainPublisher()
    const harness = new Harness()
    harness.join(publisher.streamPartId, [peerA, peerB])
    const genuine = await publisher.next()
    assert.equal(harness.receive(peerA, forge(genuine)), 'invalid-signature')
    assert.deepEqual(
      harness.invalid.map(({ senderId, reason }) => [senderId, reason]),
      [[peerA, 'invalid-signature']],
    )
    assert.equal(harness.delivered.length, 0)
    assert.equal(harness.sent.length, 0)
    assert.equal(harness.receive(peerB, genuine), 'new', 'a forged copy must not shadow the genuine message')
    assert.equal(harness.dataPath.counters.invalidSignatures, 1)
  })

  it('with verifySignatures off, passes a message on without checking it', async () => {
    const publisher = new ChainPublisher()
    const harness = new Harness({ verifySignatures: false })
    harness.join(publisher.streamPartId, [peerA])
    assert.equal(harness.receive(peerA, forge(await publisher.next())), 'new')
  })

  it('a light node delivers what its proxies send and relays nothing', async () => {
    const publisher = new ChainPublisher()
    const harness = new Harness({ kind: 'light' })
    const overlay = harness.join(publisher.streamPartId)
    overlay.proxies.add(peerA).add(peerB)
    assert.equal(harness.receive(peerA, await publisher.next()), 'new')
    assert.equal(harness.delivered.length, 1)
    assert.deepEqual(harness.sent, [])
  })

  it('a throwing listener is logged and keeps neither other listeners nor relaying from their work', async () => {
    const publisher = new ChainPublisher()
    const harness = new Harness()
    const overlay = harness.join(publisher.streamPartId, [peerA, peerB])
    overlay.listeners.clear()
    overlay.listeners.add(() => {
      throw new Error('listener bug')
    })
    let heard = 0
    overlay.listeners.add(() => heard++)
    harness.receive(peerA, await publisher.next())
    assert.equal(heard, 1)
    assert.deepEqual(harness.recipients(), [peerB])
    assert.equal(harness.errors.length, 1)
    assert.equal(harness.errors[0]!.fields?.['error'], 'listener bug')
  })
})

describe('DataPath: publishing and the propagation buffer', () => {
  it('publishes an own message to every neighbour and delivers it locally with no sender', async () => {
    const publisher = new ChainPublisher()
    const harness = new Harness()
    harness.join(publisher.streamPartId, [peerA, peerB])
    const overlay = harness.overlays.get(publisher.streamPartId)!
    const message = await publisher.next()
    harness.dataPath.publish(overlay, message)
    harness.dataPath.publish(overlay, message)
    assert.deepEqual(harness.recipients().sort(), [peerA, peerB].sort(), 'the second publish is a duplicate')
    assert.equal(harness.delivered.length, 1)
    assert.equal(harness.delivered[0]!.context.senderId, undefined)
    assert.equal(harness.dataPath.counters.duplicates, 1)
    assert.equal(overlay.buffer.size, 0, 'it reached targetDegree peers')
  })

  it('keeps a message that reached fewer than targetDegree peers and gives it to a neighbour added later, once', async () => {
    const publisher = new ChainPublisher()
    const harness = new Harness()
    const overlay = harness.join(publisher.streamPartId, [peerA])
    harness.full.add(peerA)
    const message = await publisher.next()
    harness.dataPath.publish(overlay, message)
    assert.equal(harness.sent.length, 0, "peerA's send buffer is full")
    assert.equal(harness.dataPath.counters.messagesOut, 0)
    assert.equal(overlay.buffer.size, 1)
    overlay.neighbors.add(peerB)
    harness.dataPath.flush(overlay, peerB)
    harness.dataPath.flush(overlay, peerB)
    assert.deepEqual(harness.recipients(), [peerB])
    assert.deepEqual(harness.sent[0]!.frame.subarray(1), encodeStreamMessage(message))
  })

  it('does not hand a buffered message back to the neighbour it came from', async () => {
    const publisher = new ChainPublisher()
    const harness = new Harness()
    const overlay = harness.join(publisher.streamPartId, [peerA])
    harness.receive(peerA, await publisher.next())
    assert.equal(overlay.buffer.size, 1, 'relayed to nobody: fewer than targetDegree')
    harness.dataPath.flush(overlay, peerA)
    harness.dataPath.flush(overlay, peerC)
    assert.deepEqual(harness.recipients(), [peerC])
  })
})

describe('DataPath: ERC-1271 messages (signature type 2)', () => {
  /** A wallet-signed message and a forged copy with the same ref and another signature. */
  async function walletMessages(): Promise<{
    streamPartId: StreamPartId
    genuine: StreamMessage
    forged: StreamMessage
  }> {
    const owner = newSigner()
    const wallet = newSigner().address // any address: relays never ask the wallet
    const streamId = toStreamId(wallet, '/wallet')
    const fields = {
      messageId: new MessageId(streamId, 0, Date.now(), 0, wallet, 'chain-w'),
      contentType: ContentType.Json,
      content: encodeJsonContent({ genuine: true }),
    }
    const genuine = await signStreamMessage(fields, createErc1271Signer(wallet, owner))
    const forged = await signStreamMessage(
      { ...fields, content: encodeJsonContent({ genuine: false }) },
      createErc1271Signer(wallet, newSigner()),
    )
    return { streamPartId: genuine.streamPartId, genuine, forged }
  }

  it('relays them unverified, and a forged copy sent first with the genuine ref does not shadow the genuine one', async () => {
    const { streamPartId, genuine, forged } = await walletMessages()
    const harness = new Harness()
    harness.join(streamPartId, [peerA, peerB, peerC])
    assert.equal(harness.receive(peerA, forged), 'new')
    assert.equal(
      harness.receive(peerB, genuine),
      'new',
      'the genuine message gets through after a forgery with its ref',
    )
    assert.deepEqual(
      harness.delivered.map(({ message }) => message.signature),
      [forged.signature, genuine.signature],
      'both reach local listeners, which verify against the chain',
    )
    assert.equal(harness.sent.length, 4, 'each is relayed to the two neighbours it did not come from')
    assert.deepEqual(harness.invalid, [])
    // Copies of either, recognised from the header, go no further.
    assert.equal(harness.receive(peerC, genuine), 'duplicate')
    assert.equal(harness.receive(peerC, forged), 'duplicate')
    assert.equal(harness.delivered.length, 2)
  })

  it('publishing one marks its copy seen', async () => {
    const { streamPartId, genuine } = await walletMessages()
    const harness = new Harness()
    const overlay = harness.join(streamPartId, [peerA])
    harness.dataPath.publish(overlay, genuine)
    assert.equal(harness.receive(peerA, genuine), 'duplicate')
    assert.equal(harness.delivered.length, 1)
  })
})

describe('DataPath: free riders and sender tallies', () => {
  it('with dropRelayedMessages delivers received messages locally and relays none, but still sends its own', async () => {
    const publisher = new ChainPublisher()
    const harness = new Harness({ dropRelayedMessages: true })
    const overlay = harness.join(publisher.streamPartId, [peerA, peerB])
    overlay.proxyClients.add(client)
    assert.equal(harness.receive(peerA, await publisher.next()), 'new')
    assert.equal(harness.delivered.length, 1)
    assert.deepEqual(harness.recipients(), [], 'nothing relayed to neighbours or proxy clients')
    harness.dataPath.publish(overlay, await publisher.next())
    assert.deepEqual(harness.recipients().sort(), [peerA, peerB, client].sort(), 'its own message goes out')
  })

  it('tells sender observers of every valid frame, copies included, and of no frame that fails verification', async () => {
    const publisher = new ChainPublisher()
    const harness = new Harness()
    const overlay = harness.join(publisher.streamPartId, [peerA, peerB])
    const tally = new Map<NodeId, number>()
    overlay.senderObservers.add((senderId) => tally.set(senderId, (tally.get(senderId) ?? 0) + 1))
    const first = await publisher.next()
    const second = await publisher.next()
    assert.equal(harness.receive(peerA, first), 'new')
    assert.equal(harness.receive(peerB, first), 'duplicate')
    assert.equal(harness.receive(peerB, second), 'new')
    assert.equal(harness.receive(peerA, forge(await publisher.next())), 'invalid-signature')
    // A forged copy of a message already seen (a free rider imitating relaying on the cheap) counts for no one.
    assert.equal(harness.receive(peerA, forge(second)), 'duplicate')
    assert.deepEqual(Object.fromEntries(tally), { [peerA]: 1, [peerB]: 2 })
  })
})
