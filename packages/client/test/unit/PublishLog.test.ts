import assert from 'node:assert/strict'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { describe, it } from 'node:test'
import {
  ContentType,
  MessageFrameReader,
  MessageId,
  MessageRef,
  MessageType,
  createPureSigner,
  decodeStreamMessage,
  encodeJsonContent,
  encodeSignedReceipt,
  generatePrivateKey,
  pureSignatureVerifier,
  receiptDigest,
  signReceipt,
  signStreamMessage,
  type StreamMessage,
  type StreamPartId,
} from '@runnel/protocol'
import { PublishLog, type RetentionDropEvent, type RetentionOptions } from '../../src/publish/PublishLog.js'

const STREAM = '0x0000000000000000000000000000000000000001/log'
const PART = `${STREAM}#0` as StreamPartId
const publisher = createPureSigner(generatePrivateKey())
const storageNode = createPureSigner(generatePrivateKey())
const stranger = createPureSigner(generatePrivateKey())

/** A chain of `count` signed messages of the publisher, each pointing back to the one before. */
async function chain(count: number, chainId = 'chain', contentOffset = 0): Promise<StreamMessage[]> {
  const messages: StreamMessage[] = []
  for (let i = 0; i < count; i++) {
    messages.push(
      await signStreamMessage(
        {
          messageId: new MessageId(STREAM, 0, 1_000 + i, 0, publisher.address, chainId),
          prevMsgRef: i === 0 ? undefined : new MessageRef(1_000 + i - 1, 0),
          contentType: ContentType.Json,
          content: encodeJsonContent({ i: i + contentOffset }),
        },
        publisher,
      ),
    )
  }
  return messages
}

/** A control message of `signer`'s into the stream part. */
function control(type: MessageType, content: Uint8Array, signer = storageNode): Promise<StreamMessage> {
  const chainId = `c${Math.random().toString(16).slice(2, 10)}`
  return signStreamMessage(
    {
      messageId: new MessageId(STREAM, 0, 5_000, 0, signer.address, chainId),
      messageType: type,
      contentType: ContentType.Binary,
      content,
    },
    signer,
  )
}

/** A storage receipt for `messages` (one linked run), carried in a control message signed by `carrier`. */
async function receiptFor(
  messages: readonly StreamMessage[],
  signer = storageNode,
  carrier = signer,
): Promise<StreamMessage> {
  const first = messages[0]!
  const signed = await signReceipt(
    {
      kind: 'stored',
      streamPartId: PART,
      publisherId: first.publisherId,
      messageChainId: first.messageChainId,
      from: first.getMessageRef(),
      to: messages.at(-1)!.getMessageRef(),
      messageCount: messages.length,
      digest: receiptDigest(messages.map((message) => message.signature)),
      signedAt: 1,
    },
    signer,
  )
  return control(MessageType.StorageReceipt, encodeSignedReceipt(signed), carrier)
}

/**
 * A publish log whose chain says the stream's storage nodes are `nodes()` (undefined: no answer yet), with a clock
 * of the test's.
 */
function setup(options: RetentionOptions = {}, nodes: () => string[] | undefined = () => [storageNode.address]) {
  let listener: ((message: StreamMessage) => void) | undefined
  const sent: { type: MessageType; content: Uint8Array }[] = []
  const drops: RetentionDropEvent[] = []
  const clock = { now: 0 }
  const log = new PublishLog(
    {
      address: publisher.address,
      verifier: pureSignatureVerifier,
      storageNodes: () => Promise.resolve(nodes() ?? []),
      knownStorageNodes: nodes,
      send: (_part, type, content) => {
        sent.push({ type, content })
        return Promise.resolve()
      },
      addMessageListener: (_part, added) => {
        listener = added
        return () => (listener = undefined)
      },
      onDrop: (event) => drops.push(event),
      now: () => clock.now,
    },
    options,
  )
  /** Hands a message to the log as the network would, and lets its async handling finish. */
  const deliver = async (message: StreamMessage): Promise<void> => {
    listener?.(message)
    for (let i = 0; i < 10; i++) await nextTurn()
  }
  return { log, sent, drops, clock, deliver }
}

describe('PublishLog', () => {
  it('takes a storage node’s receipt for exactly its messages: stored acks resolve and the messages are forgotten', async () => {
    const { log, deliver } = setup()
    const messages = await chain(3)
    const entries = messages.map((message) => log.add(message)!)
    const stored = log.waitStored(entries[2]!, 1, 10_000, () => 'message 3')
    await deliver(await receiptFor(messages))
    await stored
    assert.equal(log.stats().receiptsAccepted, 1)
    assert.equal(log.stats().retainedMessages, 0)
    // The same receipt again names messages already forgotten: late, not a lie.
    await deliver(await receiptFor(messages))
    assert.equal(log.stats().receiptsLate, 1)
    log.stop()
  })

  it('takes a receipt whose run reaches back over messages another receipt covered, for the ones still kept', async () => {
    // A storage node that joins again may get a neighbour's recent messages and a re-offer of the kept one in one
    // commit: its receipt's run then starts among messages the publisher forgot after an earlier receipt.
    const { log, deliver } = setup()
    const messages = await chain(5)
    const entries = messages.map((message) => log.add(message)!)
    await deliver(await receiptFor(messages.slice(0, 3)))
    assert.equal(log.stats().retainedMessages, 2)
    const stored = log.waitStored(entries[4]!, 1, 10_000, () => 'message 5')
    await deliver(await receiptFor(messages.slice(1)))
    await stored
    assert.deepEqual([log.stats().receiptsAccepted, log.stats().receiptsLate, log.stats().retainedMessages], [2, 0, 0])
    // A run over forgotten messages whose digest doesn't match what was published (other messages, same refs) is
    // refused, not taken as late.
    const others = await chain(5, 'chain', 100)
    await deliver(await receiptFor(others.slice(1)))
    assert.deepEqual([log.stats().receiptsRejected['unknown-messages'], log.stats().receiptsLate], [1, 0])
    log.stop()
  })

  it('refuses receipts by reason, and none of them makes a message look stored', async () => {
    const { log, deliver } = setup()
    const messages = await chain(2)
    const entry = messages.map((message) => log.add(message)!)[1]!
    let settled = false
    const stored = log.waitStored(entry, 1, 60_000, () => 'message 2')
    stored.then(
      () => (settled = true),
      () => undefined,
    )
    await deliver(await receiptFor(messages, stranger))
    await deliver(await receiptFor(messages, storageNode, stranger))
    await deliver(await receiptFor(messages.slice(0, 1).concat(messages.slice(0, 1))))
    await deliver(await control(MessageType.StorageReceipt, new Uint8Array([1, 2])))
    assert.deepEqual(log.stats().receiptsRejected, {
      malformed: 1,
      'signer-mismatch': 1,
      'not-storage-node': 1,
      'unknown-messages': 1,
    })
    assert.equal(settled, false)
    assert.equal(log.stats().retainedMessages, 2)
    log.stop()
    await assert.rejects(stored, { name: 'ClientError', code: 'DESTROYED' })
  })

  it('drops the oldest at the count bound and says so; drops what waited maxAgeMs at a sweep', async () => {
    const { log, drops, clock } = setup({ maxMessages: 2, maxAgeMs: 1_000 })
    for (const message of await chain(3)) log.add(message)
    assert.deepEqual(drops, [{ bound: 'count', messages: 1 }])
    assert.equal(log.stats().retainedMessages, 2)
    clock.now = 1_000
    await log.sweep()
    assert.deepEqual(drops.at(-1), { bound: 'age', messages: 2 })
    assert.equal(log.stats().retainedMessages, 0)
    log.stop()
  })

  it('forgets at the next sweep what it kept before the chain said the stream has no storage node', async () => {
    let nodes: string[] | undefined = undefined
    // The chain hasn't answered yet: kept, since losing is worse than forgetting.
    const { log } = setup({}, () => nodes)
    for (const message of await chain(2)) log.add(message)
    assert.equal(log.stats().retainedMessages, 2)
    nodes = []
    await log.sweep()
    assert.equal(log.stats().retainedMessages, 0)
    assert.deepEqual(log.stats().dropped, { count: 0, bytes: 0, age: 0 }, 'nothing was lost: nothing would store it')
    log.stop()
  })

  it('answers a storage node’s catch-up request with its unreceipted messages, framed as in binary history', async () => {
    const { log, sent, deliver } = setup()
    const messages = await chain(3)
    for (const message of messages) log.add(message)
    await deliver(await receiptFor(messages.slice(0, 1)))
    const request = await control(MessageType.CatchUpRequest, new Uint8Array(0))
    await deliver(request)
    assert.equal(sent.length, 1)
    assert.equal(sent[0]!.type, MessageType.Reoffer)
    const reader = new MessageFrameReader()
    const offered = reader.push(sent[0]!.content).map((bytes) => decodeStreamMessage(bytes))
    reader.end()
    assert.deepEqual(
      offered.map((message) => message.timestamp),
      [1_001, 1_002],
    )
    // Asked again at once: the same messages aren't sent again within 2 s.
    await deliver(request)
    assert.equal(sent.length, 1)
    log.stop()
  })
})
