import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ContentType,
  ManualClock,
  MessageId,
  MessageRef,
  StreamMessage,
  createPureSigner,
  generatePrivateKey,
  pureSignatureVerifier,
  signStreamMessage,
  toStreamId,
  toStreamPartId,
} from '@runnel/protocol'
import { ClientEventHub } from '../../src/events/ClientEventHub.js'
import { StreamPartJoins } from '../../src/network/StreamPartJoins.js'
import type { Gap } from '../../src/ordering/OrderingBuffer.js'
import { GapFiller } from '../../src/storage/GapFiller.js'
import type { HistoryQuery } from '../../src/storage/historyRequests.js'
import { MessageValidator } from '../../src/subscribe/MessageValidator.js'
import type { InvalidMessageEvent } from '../../src/types.js'

const START = 1_700_000_000_000
const signer = createPureSigner(generatePrivateKey())
const STREAM_ID = toStreamId(signer.address, '/parts')
const STREAM_PART = toStreamPartId(STREAM_ID, 0)

function message(timestamp: number): Promise<StreamMessage> {
  return signStreamMessage(
    {
      messageId: new MessageId(STREAM_ID, 0, timestamp, 0, signer.address, 'chain'),
      contentType: ContentType.Json,
      content: new TextEncoder().encode('{}'),
    },
    signer,
  )
}

/** What a storage node answers, as the resender yields it. */
async function* feedOf(messages: readonly StreamMessage[]): AsyncGenerator<StreamMessage> {
  await Promise.resolve()
  yield* messages
}

function hubRecording(): { events: ClientEventHub; invalid: InvalidMessageEvent[]; errors: Error[] } {
  const events = new ClientEventHub()
  const invalid: InvalidMessageEvent[] = []
  const errors: Error[] = []
  events.on('invalidMessage', (event) => invalid.push(event))
  events.on('error', (error) => errors.push(error))
  return { events, invalid, errors }
}

describe('MessageValidator', () => {
  it('drops a message stamped further ahead of its clock than the skew allows, and says why', async () => {
    const clock = new ManualClock(START)
    const { events, invalid } = hubRecording()
    const validator = new MessageValidator(
      { mayPublish: () => Promise.resolve(true), verifier: pureSignatureVerifier, clock, emit: events.emit },
      1_000,
    )
    assert.equal(await validator.validate(await message(START + 1_000)), true)
    assert.equal(await validator.validate(await message(START + 1_001)), false)
    assert.deepEqual(
      invalid.map((event) => event.reason),
      ['timestamp-in-future'],
    )
    clock.advance(1)
    assert.equal(await validator.validate(await message(START + 1_001)), true, 'in time once the clock catches up')
  })

  it('asks for publish permission at the message’s time; a lookup that fails is an error, not a verdict', async () => {
    const asked: number[] = []
    let fail = false
    const { events, invalid, errors } = hubRecording()
    const validator = new MessageValidator(
      {
        mayPublish: (_stream, _publisher, at) => {
          asked.push(at)
          return fail ? Promise.reject(new Error('chain down')) : Promise.resolve(at < START + 10)
        },
        verifier: pureSignatureVerifier,
        clock: new ManualClock(START + 100),
        emit: events.emit,
      },
      60_000,
    )
    assert.equal(await validator.validate(await message(START + 5)), true)
    assert.equal(await validator.validate(await message(START + 50)), false)
    fail = true
    assert.equal(await validator.validate(await message(START + 5)), false)
    assert.deepEqual(asked, [START + 5, START + 50, START + 5])
    assert.deepEqual(
      invalid.map((event) => event.reason),
      ['no-publish-permission'],
    )
    assert.deepEqual(
      errors.map((error) => error.message),
      ['chain down'],
    )
  })

  it('checks the signature of a stored message itself', async () => {
    const { events, invalid } = hubRecording()
    const validator = new MessageValidator(
      { mayPublish: () => Promise.resolve(true), verifier: pureSignatureVerifier, emit: events.emit },
      60_000,
    )
    const genuine = await message(Date.now())
    const forged = new StreamMessage({
      messageId: genuine.messageId,
      contentType: genuine.contentType,
      content: new TextEncoder().encode('{"forged":true}'),
      signature: genuine.signature,
    })
    assert.equal(await validator.validateStored(genuine), true)
    assert.equal(await validator.validateStored(forged), false)
    assert.deepEqual(
      invalid.map((event) => event.reason),
      ['invalid-signature'],
    )
  })
})

describe('GapFiller', () => {
  const gap: Gap = {
    streamPartId: STREAM_PART,
    publisherId: signer.address,
    messageChainId: 'chain',
    from: new MessageRef(START, 0),
    to: new MessageRef(START + 2, 0),
  }

  it('asks storage after the delay, then after twice as long each time, while the gap lasts', async () => {
    const clock = new ManualClock(START)
    const asked: { at: number; query: HistoryQuery }[] = []
    const filler = new GapFiller(
      {
        source: {
          hasStorage: () => Promise.resolve(true),
          resend(_streamId, _partition, query) {
            asked.push({ at: clock.now(), query })
            return feedOf([])
          },
        },
        clock,
        onError: (error) => assert.fail(error),
      },
      { delayMs: 500, attempts: 3 },
    )
    filler.fill(gap, { isActive: () => true, missing: () => gap, add: () => assert.fail('nothing to add') })
    for (let i = 0; i < 4; i++) {
      await clock.advanceAsync(4_000)
    }
    assert.deepEqual(
      asked.map((ask) => ask.at - START),
      [500, 1_500, 3_500],
    )
    assert.deepEqual(asked[0]!.query, {
      from: { timestamp: START, sequenceNumber: 0 },
      to: { timestamp: START + 2, sequenceNumber: 0 },
      publisherId: signer.address,
      msgChainId: 'chain',
    })
    assert.equal(clock.pendingTimers, 0)
  })

  it('hands what storage had to the subscription, and stops asking once the gap is filled', async () => {
    const clock = new ManualClock(START)
    const stored = await message(START + 1)
    let missing: Gap | undefined = gap
    const added: StreamMessage[] = []
    let asks = 0
    const filler = new GapFiller(
      {
        source: {
          hasStorage: () => Promise.resolve(true),
          resend() {
            asks++
            return feedOf([stored])
          },
        },
        clock,
        onError: (error) => assert.fail(error),
      },
      { delayMs: 500, attempts: 3 },
    )
    filler.fill(gap, {
      isActive: () => true,
      missing: () => missing,
      add: (filled) => {
        added.push(filled)
        missing = undefined
      },
    })
    await clock.advanceAsync(10_000)
    assert.deepEqual(added, [stored])
    assert.equal(asks, 1)
  })
})

describe('StreamPartJoins', () => {
  function setup() {
    const joined: string[] = []
    const left: string[] = []
    const served: string[] = []
    const joins = new StreamPartJoins({
      node: {
        join: (streamPartId) => {
          joined.push(streamPartId)
          return Promise.resolve()
        },
        leave: (streamPartId) => left.push(streamPartId),
        flush: () => Promise.resolve(0),
      },
      start: () => Promise.resolve(),
      isDestroyed: () => false,
      clock: new ManualClock(START),
      onFirstJoin: (streamPartId) => served.push(streamPartId),
    })
    return { joins, joined, left, served }
  }

  it('joins a stream part once, and leaves it when its last subscription ends', async () => {
    const { joins, joined, left, served } = setup()
    const first = joins.joinToSubscribe(STREAM_PART)
    const second = joins.joinToSubscribe(STREAM_PART)
    await Promise.all([first.joined, second.joined])
    assert.deepEqual(joined, [STREAM_PART])
    assert.deepEqual(served, [STREAM_PART], 'key requests are answered from the first join on')
    first.release()
    assert.deepEqual(left, [])
    second.release()
    assert.deepEqual(left, [STREAM_PART])
    await joins.joinToSubscribe(STREAM_PART).joined
    assert.equal(joined.length, 2, 'joined again after leaving')
  })

  it('stays in a stream part it published to', async () => {
    const { joins, left } = setup()
    const subscribed = joins.joinToSubscribe(STREAM_PART)
    await joins.joinToPublish(STREAM_PART)
    subscribed.release()
    assert.deepEqual(left, [])
  })
})
