import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ContentType,
  EncryptionType,
  MessageId,
  StreamMessage,
  parseEthereumAddress,
  toStreamId,
} from '@runnel/protocol'
import { ClientError, type KeyUnavailableError } from '../../src/errors.js'
import { ChainQueues } from '../../src/subscribe/ChainQueues.js'
import { UndecryptableRuns, chainOf } from '../../src/subscribe/UndecryptableRuns.js'

interface Item {
  readonly chain: string
  readonly n: number
}

/** A promise with its resolve exposed: the test decides when a piece of work finishes. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

/** Lets pending promise callbacks run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('ChainQueues', () => {
  it('a chain stuck on its work holds up only itself; each chain keeps its order', async () => {
    const stuck = deferred()
    const done: string[] = []
    const queues = new ChainQueues<Item>({
      chainOf: (item) => item.chain,
      process: async (item) => {
        if (item.chain === 'a' && item.n === 0) await stuck.promise
        done.push(`${item.chain}${item.n}`)
      },
    })
    for (let n = 0; n < 3; n++) queues.push({ chain: 'a', n })
    for (let n = 0; n < 3; n++) queues.push({ chain: 'b', n })
    await settle()
    assert.deepEqual(done, ['b0', 'b1', 'b2'])
    assert.equal(queues.isIdle('b'), true)
    assert.equal(queues.isIdle('a'), false)
    stuck.resolve()
    await settle()
    assert.deepEqual(done, ['b0', 'b1', 'b2', 'a0', 'a1', 'a2'])
  })

  it('refuses items beyond maxQueuedPerChain and lets a waiting producer on once there is room', async () => {
    const gate = deferred()
    const done: number[] = []
    const idle: string[] = []
    const queues = new ChainQueues<Item>(
      {
        chainOf: (item) => item.chain,
        process: async (item) => {
          await gate.promise
          done.push(item.n)
        },
        onIdle: (chain) => idle.push(chain),
      },
      { maxQueuedPerChain: 2 },
    )
    assert.equal(queues.push({ chain: 'a', n: 0 }), true) // taken up at once
    assert.equal(queues.push({ chain: 'a', n: 1 }), true)
    assert.equal(queues.push({ chain: 'a', n: 2 }), true)
    assert.equal(queues.push({ chain: 'a', n: 3 }), false, 'two wait already')
    assert.equal(queues.push({ chain: 'b', n: 0 }), true, 'other chains have their own room')
    let roomy = false
    const room = queues.whenRoom({ chain: 'a', n: 3 }).then(() => (roomy = true))
    await settle()
    assert.equal(roomy, false)
    gate.resolve()
    await room
    assert.equal(queues.push({ chain: 'a', n: 3 }), true)
    await settle()
    assert.deepEqual(
      done.filter((_, i) => i < 5),
      [0, 0, 1, 2, 3],
    )
    assert.deepEqual(idle.sort(), ['a', 'b'])
  })

  it('goes on past work that throws, and clear() drops what waits', async () => {
    const gate = deferred()
    const done: number[] = []
    const queues = new ChainQueues<Item>({
      chainOf: (item) => item.chain,
      process: async (item) => {
        if (item.n === 0) throw new Error('boom')
        await gate.promise
        done.push(item.n)
      },
    })
    for (let n = 0; n < 4; n++) queues.push({ chain: 'a', n })
    await settle()
    queues.clear()
    gate.resolve()
    await settle()
    assert.deepEqual(done, [1], 'the item in progress finishes; the rest are dropped')
    assert.equal(queues.push({ chain: 'a', n: 9 }), false)
  })
})

describe('UndecryptableRuns', () => {
  const publisher = parseEthereumAddress('0x' + '11'.repeat(20))
  const streamId = toStreamId(publisher, '/runs')
  const signature = new Uint8Array(65)
  signature[64] = 27
  const encrypted = (sequenceNumber: number, groupKeyId: string): StreamMessage =>
    new StreamMessage({
      messageId: new MessageId(streamId, 0, 1_700_000_000_000, sequenceNumber, publisher, 'chain-1'),
      contentType: ContentType.Json,
      encryptionType: EncryptionType.Aes,
      groupKeyId,
      content: new Uint8Array(28),
      signature,
    })

  it('reports consecutive messages missing one key once, with their range, when the chain moves to another key', () => {
    const reports: KeyUnavailableError[] = []
    const runs = new UndecryptableRuns((error) => reports.push(error))
    const reason = new ClientError('KEY_UNAVAILABLE', 'nobody answered')
    const messages = [0, 1, 2].map((n) => encrypted(n, 'key-1'))
    for (const message of messages) runs.failed(chainOf(message), message, reason)
    assert.equal(reports.length, 0, 'nothing reported while the run goes on')
    const next = encrypted(3, 'key-2')
    runs.failed(chainOf(next), next, reason)
    assert.equal(reports.length, 1)
    assert.deepEqual(reports[0]!.range, {
      streamPartId: messages[0]!.streamPartId,
      publisherId: publisher,
      msgChainId: 'chain-1',
      groupKeyId: 'key-1',
      first: '1700000000000:0',
      last: '1700000000000:2',
      count: 3,
    })
    assert.equal(reports[0]!.code, 'KEY_UNAVAILABLE')
    assert.equal(reports[0]!.cause, reason)
    assert.match(
      reports[0]!.message,
      /^KEY_UNAVAILABLE: nobody answered; 3 messages from 1700000000000:0 to 1700000000000:2/,
    )
    runs.flushAll()
    assert.equal(reports.length, 2)
    assert.equal(reports[1]!.range.count, 1)
    assert.match(reports[1]!.message, /message 1700000000000:3 of/)
  })

  it('a chain that keeps failing on one key is reported at once, then at most once per quiet period', () => {
    let now = 0
    const timers: { at: number; callback: () => void }[] = []
    const reports: KeyUnavailableError[] = []
    const runs = new UndecryptableRuns((error) => reports.push(error), {
      quietMs: 1_000,
      now: () => now,
      scheduler: {
        setTimeout: (callback, ms) => timers.push({ at: now + ms, callback }),
        clearTimeout: () => undefined,
      },
    })
    const reason = new ClientError('KEY_UNAVAILABLE', 'refused')
    const fail = (n: number): void => {
      const message = encrypted(n, 'key-1')
      runs.failed(chainOf(message), message, reason)
      runs.settle(chainOf(message)) // one message at a time: the chain goes idle after each
    }
    fail(0)
    assert.equal(reports.length, 1, 'the first failure is reported at once')
    now = 100
    fail(1)
    now = 200
    fail(2)
    assert.equal(reports.length, 1, 'the next ones wait for the quiet period')
    assert.equal(timers.length, 1)
    now = timers[0]!.at
    timers[0]!.callback()
    assert.equal(reports.length, 2)
    assert.deepEqual(
      [reports[1]!.range.first, reports[1]!.range.last, reports[1]!.range.count],
      ['1700000000000:1', '1700000000000:2', 2],
    )
  })
})
