// The parts of storage repair that need no network: the checks every fetched
// message passes (real signatures, libsecp256k1), the per-minute budget, and
// the hole filler's decisions on live messages (a real in-memory SQLite store).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ContentType,
  MessageId,
  MessageRef,
  MessageType,
  encodeJsonContent,
  encodeStreamMessage,
  signStreamMessage,
  verifyStreamMessage,
  type StreamMessage,
} from '@runnel/protocol'
import { createNativeSigner, nativeSignatureVerifier } from '@runnel/protocol/native'
import { FetchedMessageCheck } from '../../src/plugins/storage/repair/FetchedMessageCheck.js'
import { HoleFiller, type Hole } from '../../src/plugins/storage/repair/HoleFiller.js'
import { SignatureWorkers } from '../../src/plugins/storage/repair/SignatureWorkers.js'
import { WorkBudget } from '../../src/plugins/storage/repair/WorkBudget.js'
import { SqliteMessageStore } from '../../src/storage/index.js'
import { waitFor } from '../helpers.js'

const signer = createNativeSigner('0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318')
const STREAM = `${signer.address}/repair`
const NOW = 1_800_000_000_000

function sign(timestamp: number, options: { previous?: number; type?: MessageType } = {}): Promise<StreamMessage> {
  return signStreamMessage(
    {
      messageId: new MessageId(STREAM, 0, timestamp, 0, signer.address, 'chain'),
      prevMsgRef: options.previous === undefined ? undefined : new MessageRef(options.previous, 0),
      messageType: options.type ?? MessageType.Data,
      contentType: ContentType.Json,
      content: encodeJsonContent({ at: timestamp }),
    },
    signer,
  )
}

const range = {
  streamId: STREAM,
  partition: 0,
  from: { timestamp: NOW - 1_000, sequenceNumber: 0 },
  to: { timestamp: NOW, sequenceNumber: 0 },
}

describe('FetchedMessageCheck', () => {
  const check = (mayPublish = true) =>
    new FetchedMessageCheck({
      verifySignatures: (messages) =>
        Promise.resolve(messages.map((message) => verifyStreamMessage(message, nativeSignatureVerifier))),
      mayPublish: () => Promise.resolve(mayPublish),
      now: () => NOW,
      maxClockSkewMs: 0,
    })

  it('accepts valid messages in range, with their bytes as received', async () => {
    const frames = [encodeStreamMessage(await sign(NOW - 10)), encodeStreamMessage(await sign(NOW))]
    const result = await check().check(frames, range)
    assert.equal(result.accepted.length, 2)
    assert.deepEqual(result.acceptedFrames, frames)
    assert.equal(result.refused.size, 0)
  })

  it('refuses each kind of bad message with its reason, and keeps the good ones of the batch', async () => {
    const good = await sign(NOW - 5)
    const frames = [
      new Uint8Array([1, 2, 3]),
      encodeStreamMessage(await sign(NOW - 2_000)),
      encodeStreamMessage(await sign(NOW - 1, { type: MessageType.GroupKeyRequest })),
      encodeStreamMessage(good),
    ]
    const result = await check().check(frames, { ...range, to: { timestamp: NOW + 10_000, sequenceNumber: 0 } })
    assert.deepEqual(Object.fromEntries(result.refused), { malformed: 1, 'out-of-range': 1, 'not-data': 1 })
    assert.deepEqual(
      result.accepted.map((message) => message.timestamp),
      [NOW - 5],
    )
    const future = await check().check([encodeStreamMessage(await sign(NOW + 1))], {
      ...range,
      to: { timestamp: NOW + 10, sequenceNumber: 0 },
    })
    assert.deepEqual(Object.fromEntries(future.refused), { 'timestamp-in-future': 1 })
    const denied = await check(false).check([encodeStreamMessage(good)], range)
    assert.deepEqual(Object.fromEntries(denied.refused), { 'no-publish-permission': 1 })
    const otherChain = await check().check([encodeStreamMessage(good)], { ...range, msgChainId: 'other' })
    assert.deepEqual(Object.fromEntries(otherChain.refused), { 'out-of-range': 1 })
  })
})

describe('SignatureWorkers', () => {
  it('gives the same answers as verifying on this thread, for valid, forged and undecodable messages', async () => {
    const workers = new SignatureWorkers(2)
    try {
      const valid = await Promise.all(Array.from({ length: 130 }, (_, i) => sign(NOW - i)))
      const frames = valid.map((message) => encodeStreamMessage(message))
      const forged = encodeStreamMessage(valid[0]!)
      forged[forged.length - 2]! ^= 1 // inside the signature
      frames.splice(7, 0, forged, new Uint8Array([9, 9, 9]))
      const answers = await workers.verify(frames)
      assert.equal(answers.length, 132)
      assert.equal(answers[7], false, 'the forged signature')
      assert.equal(answers[8], false, 'the bytes that are no message')
      assert.equal(answers.filter(Boolean).length, 130)
    } finally {
      await workers.close()
    }
    await assert.rejects(workers.verify([new Uint8Array(1)]), /closed/)
  })
})

describe('WorkBudget', () => {
  it('grants up to a minute’s worth, refills with time, and takes back refunds', () => {
    let now = 0
    const budget = new WorkBudget(600, () => now)
    assert.equal(budget.take(1_000), 600)
    assert.equal(budget.take(1), 0)
    assert.equal(budget.msUntilAvailable(), 100)
    now += 30_000
    assert.equal(budget.take(1_000), 300)
    budget.refund(50)
    assert.equal(budget.take(1_000), 50)
    now += 3_600_000
    assert.equal(budget.take(1_000), 600)
  })
})

describe('HoleFiller', () => {
  async function setUp(stored: StreamMessage[]) {
    const store = await SqliteMessageStore.open(':memory:')
    await store.write(stored)
    const fetches: { from: number; to: number }[] = []
    const unfilled: Hole[] = []
    const filler = new HoleFiller(
      {
        store,
        fetcher: {
          fetch: (_url, wanted) => {
            fetches.push({ from: wanted.from.timestamp, to: wanted.to.timestamp })
            return Promise.resolve({ fetched: 0, repaired: 0, refused: 0 })
          },
        },
        peers: () => Promise.resolve(['http://peer.invalid']),
        windowStart: () => NOW - 60_000,
        onHole: () => {},
        onDropped: () => {},
        onPeerFailure: () => {},
        onUnfilled: (hole) => unfilled.push(hole),
      },
      { graceMs: 0, maxTrackedChains: 10, maxPendingHoles: 10 },
    )
    return { store, filler, fetches, unfilled }
  }

  it('fetches from the newest message of the chain it holds up to the previous ref, and nothing when it holds that', async () => {
    const { store, filler, fetches, unfilled } = await setUp([
      await sign(NOW - 100),
      await sign(NOW - 90, { previous: NOW - 100 }),
    ])
    // The first message of the chain since start: its predecessor is stored, no hole.
    filler.observe(await sign(NOW - 80, { previous: NOW - 90 }))
    // Then one that skips: NOW - 70 and NOW - 60 never arrived.
    filler.observe(await sign(NOW - 50, { previous: NOW - 60 }))
    await waitFor(() => unfilled.length === 1, 5_000, 'the hole to be tried')
    assert.deepEqual(fetches, [{ from: NOW - 90, to: NOW - 60 }])
    assert.equal(filler.pending, 0)
    // In order again: no look-up, no fetch.
    filler.observe(await sign(NOW - 40, { previous: NOW - 50 }))
    await filler.stop()
    assert.equal(fetches.length, 1)
    await store.close()
  })

  it('checks a message that came after a newer one of its chain: its predecessor may be missing too', async () => {
    const { store, filler, fetches, unfilled } = await setUp([await sign(NOW - 100)])
    filler.observe(await sign(NOW - 10, { previous: NOW - 20 })) // a jump: NOW - 20 is checked
    filler.observe(await sign(NOW - 40, { previous: NOW - 50 })) // late, and NOW - 50 is missing as well
    await waitFor(() => unfilled.length === 2, 5_000, 'both holes to be tried')
    assert.deepEqual(
      fetches.sort((a, b) => a.to - b.to),
      [
        { from: NOW - 100, to: NOW - 50 },
        { from: NOW - 100, to: NOW - 20 },
      ],
    )
    await filler.stop()
    await store.close()
  })
})
