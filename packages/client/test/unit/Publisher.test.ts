import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  EncryptionType,
  ManualClock,
  MessageType,
  createPureSigner,
  generatePrivateKey,
  parseJsonContent,
  pureSignatureVerifier,
  toStreamId,
  verifyStreamMessage,
  type StreamMessage,
} from '@runnel/protocol'
import { ClientError } from '../../src/errors.js'
import { Publisher, type PublisherComponents } from '../../src/publish/Publisher.js'
import { PublishLog } from '../../src/publish/PublishLog.js'
import { StreamResolver } from '../../src/streams/StreamResolver.js'

const START = 1_700_000_000_000
const signer = createPureSigner(generatePrivateKey())
const STREAM_ID = toStreamId(signer.address, '/publisher')

/**
 * A publisher over real pieces (stream resolver, message chains, publish log, signing) on a ManualClock; the chain,
 * the network and the encryption layer are stand-ins that record what they are asked.
 */
function setup({ nodes = [], ...overrides }: Partial<PublisherComponents> & { nodes?: string[] } = {}) {
  const clock = new ManualClock(START)
  const broadcasts: StreamMessage[] = []
  const joined: string[] = []
  const deposited: string[] = []
  const streams = new StreamResolver(
    {
      address: signer.address,
      registry: { getStream: (id) => Promise.resolve({ id, metadata: { partitions: 2 } }) },
      clock,
      assertAlive: () => undefined,
    },
    30_000,
  )
  const publishLog = new PublishLog({
    address: signer.address,
    verifier: pureSignatureVerifier,
    storageNodes: () => Promise.resolve(nodes),
    knownStorageNodes: () => nodes,
    send: () => Promise.resolve(),
    addMessageListener: () => () => undefined,
    onDrop: () => undefined,
    clock,
  })
  const publisher = new Publisher(
    {
      signer,
      start: () => Promise.resolve(),
      streams,
      mayPublish: () => Promise.resolve(true),
      isPublic: () => Promise.resolve(true),
      storageNodes: () => Promise.resolve(nodes),
      seal: (_part, content) =>
        Promise.resolve({ content: content.slice().reverse(), groupKeyId: 'key-1', newGroupKey: undefined }),
      deposit: (_streamId, keyId) => deposited.push(keyId),
      joins: {
        joinOnce: (streamPartId) => {
          joined.push(streamPartId)
          return Promise.resolve()
        },
        joinToPublish: (streamPartId) => {
          joined.push(streamPartId)
          return Promise.resolve()
        },
      },
      publishLog,
      broadcast: (message) => broadcasts.push(message),
      clock,
      ...overrides,
    },
    60_000,
  )
  return { publisher, clock, broadcasts, joined, deposited, publishLog }
}

describe('Publisher', () => {
  it('stamps messages with its clock and chains them: equal times take the next sequence number', async () => {
    const { publisher, clock, broadcasts } = setup()
    const first = await publisher.publish(STREAM_ID, { n: 1 })
    const second = await publisher.publish(STREAM_ID, { n: 2 })
    clock.advance(5)
    const third = await publisher.publish(STREAM_ID, { n: 3 })
    assert.deepEqual(
      [first, second, third].map((m) => [m.timestamp, m.sequenceNumber]),
      [
        [START, 0],
        [START, 1],
        [START + 5, 0],
      ],
    )
    assert.equal(new Set([first.msgChainId, second.msgChainId, third.msgChainId]).size, 1, 'one chain per part')
    assert.equal(broadcasts[0]!.prevMsgRef, undefined)
    assert.equal(broadcasts[2]!.prevMsgRef?.toString(), `${START}:1`)
    assert.ok(broadcasts.every((m) => verifyStreamMessage(m, pureSignatureVerifier)))
    assert.deepEqual(parseJsonContent(broadcasts[2]!.content), { n: 3 })
  })

  it('refuses a timestamp further ahead of its clock than the skew allows, before anything is sent', async () => {
    const { publisher, broadcasts } = setup()
    await assert.rejects(
      publisher.publish(STREAM_ID, {}, { timestamp: START + 60_001 }),
      (err: unknown) => err instanceof ClientError && err.code === 'INVALID_ARGUMENT',
    )
    const accepted = await publisher.publish(STREAM_ID, {}, { timestamp: START + 60_000 })
    assert.equal(accepted.timestamp, START + 60_000)
    assert.equal(broadcasts.length, 1)
  })

  it('refuses without publish permission, before a place in the chain is taken', async () => {
    let allowed = false
    const { publisher, broadcasts } = setup({ mayPublish: () => Promise.resolve(allowed) })
    await assert.rejects(
      publisher.publish(STREAM_ID, {}),
      (err: unknown) => err instanceof ClientError && err.code === 'PERMISSION_DENIED',
    )
    allowed = true
    await publisher.publish(STREAM_ID, {})
    assert.equal(broadcasts[0]!.prevMsgRef, undefined, 'the refused message left no hole in the chain')
  })

  it('gives back the place in the chain of a message that could not be sent', async () => {
    let fail = true
    const { publisher, broadcasts } = setup({
      joins: {
        joinOnce: () => Promise.resolve(),
        joinToPublish: () => (fail ? Promise.reject(new Error('node stopped')) : Promise.resolve()),
      },
    })
    await publisher
      .publish(STREAM_ID, { n: 1 })
      .then(() => assert.fail('should not publish'))
      .catch((err: unknown) => assert.equal((err as Error).message, 'node stopped'))
    fail = false
    const published = await publisher.publish(STREAM_ID, { n: 2 })
    assert.equal(published.sequenceNumber, 0)
    assert.equal(broadcasts[0]!.prevMsgRef, undefined)
  })

  it('encrypts for a stream that is not public, and puts each key it uses in custody', async () => {
    const { publisher, broadcasts, deposited } = setup({ isPublic: () => Promise.resolve(false) })
    await publisher.publish(STREAM_ID, { secret: true })
    assert.equal(broadcasts[0]!.encryptionType, EncryptionType.Aes)
    assert.equal(broadcasts[0]!.groupKeyId, 'key-1')
    assert.deepEqual(deposited, ['key-1'])
    await publisher.publish(STREAM_ID, { open: true }, { encrypt: false })
    assert.equal(broadcasts[1]!.encryptionType, EncryptionType.None)
  })

  it('picks the partition by key, and refuses one the stream does not have', async () => {
    const { publisher } = setup()
    const byKey = await publisher.publish(STREAM_ID, {}, { partitionKey: 'greenhouse-1' })
    assert.ok(byKey.partition === 0 || byKey.partition === 1)
    await assert.rejects(
      publisher.publish({ id: STREAM_ID, partition: 2 }, {}),
      (err: unknown) =>
        err instanceof ClientError && err.code === 'INVALID_ARGUMENT' && /out of range/.test(err.message),
    )
  })

  it("with ack 'stored', fails with NOT_STORED once its clock passes ackTimeoutMs without a receipt", async () => {
    const { publisher, clock, broadcasts } = setup({ nodes: ['0x' + '33'.repeat(20)] })
    let accepted = false
    const stored = publisher.publish(
      STREAM_ID,
      {},
      { ack: 'stored', ackTimeoutMs: 1_000, onAccepted: () => (accepted = true) },
    )
    const outcome = stored.then(
      () => 'stored',
      (err: unknown) => (err instanceof ClientError ? err.code : String(err)),
    )
    for (let i = 0; i < 100 && broadcasts.length === 0; i++) await new Promise((resolve) => setImmediate(resolve))
    assert.ok(accepted, 'accepted before the ack')
    clock.advance(999)
    await new Promise((resolve) => setImmediate(resolve))
    clock.advance(1)
    assert.equal(await outcome, 'NOT_STORED')
  })

  it("with ack 'stored', refuses at once a stream without storage nodes", async () => {
    const { publisher, broadcasts } = setup()
    await assert.rejects(
      publisher.publish(STREAM_ID, {}, { ack: 'stored' }),
      (err: unknown) => err instanceof ClientError && err.code === 'STORAGE_UNAVAILABLE',
    )
    assert.equal(broadcasts.length, 0)
  })

  it('sends control messages on a chain of their own, stamped by its clock, and never data', async () => {
    const { publisher, clock, broadcasts } = setup()
    clock.advance(42)
    const streamPartId = `${STREAM_ID}#0` as Parameters<Publisher['publishControl']>[0]
    await publisher.publishControl(streamPartId, MessageType.CatchUpRequest, new Uint8Array([1]))
    await publisher.publishControl(streamPartId, MessageType.CatchUpRequest, new Uint8Array([2]))
    assert.equal(broadcasts[0]!.timestamp, START + 42)
    assert.notEqual(broadcasts[0]!.messageChainId, broadcasts[1]!.messageChainId)
    await assert.rejects(
      publisher.publishControl(streamPartId, MessageType.Data, new Uint8Array()),
      (err: unknown) => err instanceof ClientError && err.code === 'INVALID_ARGUMENT',
    )
  })
})
