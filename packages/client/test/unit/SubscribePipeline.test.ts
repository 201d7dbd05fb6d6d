import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ContentType,
  EncryptionType,
  ManualClock,
  MessageId,
  MessageRef,
  MessageType,
  StreamMessage,
  encodeJsonContent,
  parseEthereumAddress,
  toStreamId,
} from '@runnel/protocol'
import type { Gap } from '../../src/ordering/OrderingBuffer.js'
import type { GapFillTarget } from '../../src/storage/GapFiller.js'
import {
  SubscribePipeline,
  type SubscribePipelineComponents,
  type SubscribePipelineOptions,
} from '../../src/subscribe/SubscribePipeline.js'
import type { GapEvent, ReceivedMessage } from '../../src/types.js'

const PUBLISHER = parseEthereumAddress('0x' + '11'.repeat(20))
const OTHER = parseEthereumAddress('0x' + '22'.repeat(20))
const STREAM_ID = toStreamId(PUBLISHER, '/pipeline')
const START = 1_700_000_000_000
// Well-formed but not genuine: the pipeline's checks are injected, the network verified signatures before.
const SIGNATURE = new Uint8Array(65)
SIGNATURE[64] = 27

/** Message `n` of a publisher's chain (`n` 0 starts it), content `{ n }`. */
function message(n: number, options: { publisher?: string; encrypted?: boolean; type?: MessageType } = {}) {
  return new StreamMessage({
    messageId: new MessageId(STREAM_ID, 0, START + n, 0, options.publisher ?? PUBLISHER, 'chain'),
    prevMsgRef: n === 0 ? undefined : new MessageRef(START + n - 1, 0),
    messageType: options.type ?? MessageType.Data,
    contentType: ContentType.Json,
    content: encodeJsonContent({ n }),
    signature: SIGNATURE,
    ...(options.encrypted === true && { encryptionType: EncryptionType.Aes, groupKeyId: 'key-1' }),
  })
}

/** Lets the chain queues' async work run (each message takes a few promise turns). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** A stand-in feed: what a test pushes comes out as it would from history (a storage node's answer). */
async function* feedOf(messages: readonly StreamMessage[], gate?: Promise<void>): AsyncGenerator<StreamMessage> {
  await gate
  yield* messages
}

function setup(
  options: SubscribePipelineOptions = {},
  overrides: Partial<SubscribePipelineComponents> = {},
): {
  pipeline: SubscribePipeline
  clock: ManualClock
  delivered: ReceivedMessage[]
  contents: () => unknown[]
  gaps: GapEvent[]
  fills: { gap: Gap; target: GapFillTarget }[]
  dropped: () => number
  validated: StreamMessage[]
  state: { active: boolean }
} {
  const clock = new ManualClock(START + 1_000)
  const delivered: ReceivedMessage[] = []
  const gaps: GapEvent[] = []
  const fills: { gap: Gap; target: GapFillTarget }[] = []
  const validated: StreamMessage[] = []
  const state = { active: true }
  let dropped = 0
  const pipeline = new SubscribePipeline(
    {
      validate: (m) => {
        validated.push(m)
        return Promise.resolve(true)
      },
      opener: { openReporting: (m) => Promise.resolve(m) },
      gapFiller: { fill: (gap, target) => fills.push({ gap, target }) },
      deliver: (m) => delivered.push(m),
      onGap: (gap) => gaps.push(gap),
      onError: (error) => assert.fail(error),
      onDropped: () => dropped++,
      isActive: () => state.active,
      clock,
      ...overrides,
    },
    { gapTimeoutMs: 5_000, ...options },
  )
  return {
    pipeline,
    clock,
    delivered,
    contents: () => delivered.map((m) => (m.content as { n: number }).n),
    gaps,
    fills,
    dropped: () => dropped,
    validated,
    state,
  }
}

describe('SubscribePipeline', () => {
  it('delivers a chain in order: a message that overtook its predecessor waits for it', async () => {
    const { pipeline, contents, gaps } = setup()
    for (const n of [0, 2, 1, 3]) pipeline.live(message(n))
    await settle()
    assert.deepEqual(contents(), [0, 1, 2, 3])
    assert.deepEqual(gaps, [])
  })

  it('asks the gap filler for what a chain misses, and a filled message closes the gap without a report', async () => {
    const { pipeline, clock, contents, gaps, fills } = setup()
    pipeline.live(message(0))
    pipeline.live(message(2))
    await settle()
    assert.deepEqual(contents(), [0])
    assert.equal(fills.length, 1)
    const { gap, target } = fills[0]!
    assert.equal(gap.to.timestamp, START + 1)
    assert.equal(target.missing(gap)?.to.timestamp, START + 1, 'the chain still waits for message 1')
    target.add(message(1))
    await settle()
    assert.deepEqual(contents(), [0, 1, 2])
    assert.equal(target.missing(gap), undefined)
    clock.advance(10_000)
    assert.deepEqual(gaps, [])
  })

  it('reports a gap once the clock passes the gap timeout, and goes on after it', async () => {
    const { pipeline, clock, contents, gaps } = setup({ gapTimeoutMs: 5_000 })
    pipeline.live(message(0))
    pipeline.live(message(2))
    await settle()
    clock.advance(4_999)
    assert.equal(gaps.length, 0, 'not before the timeout')
    clock.advance(1)
    assert.equal(gaps.length, 1)
    assert.equal(gaps[0]!.from, `${START}:0`)
    assert.equal(gaps[0]!.to, `${START + 1}:0`)
    assert.deepEqual(contents(), [0, 2])
  })

  it('splices history ahead of the live messages held while it was read: each message once, in order', async () => {
    const { pipeline, contents, validated } = setup({ readsHistory: true })
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const reading = pipeline.readHistory(feedOf([message(0), message(1), message(2)], gate), (error) =>
      assert.fail(error),
    )
    // Live messages overlap the history's end, and arrive before it is read.
    pipeline.live(message(2))
    pipeline.live(message(3))
    await settle()
    assert.deepEqual(contents(), [], 'live messages wait for the history')
    release()
    await reading
    await settle()
    assert.deepEqual(contents(), [0, 1, 2, 3])
    assert.deepEqual(
      validated.map((m) => m.timestamp - START),
      [3],
      'history was validated where it was read; the live copy of 2 was dropped before any work',
    )
  })

  it('goes on with live messages when the history fails, and says why', async () => {
    const { pipeline, contents } = setup({ readsHistory: true })
    const errors: Error[] = []
    async function* failing(): AsyncGenerator<StreamMessage> {
      yield* feedOf([message(0)])
      throw new Error('storage node gone')
    }
    const reading = pipeline.readHistory(failing(), (error) => errors.push(error))
    pipeline.live(message(1))
    await reading
    await settle()
    assert.deepEqual(
      errors.map((e) => e.message),
      ['storage node gone'],
    )
    assert.deepEqual(contents(), [0, 1])
  })

  it('drops live messages past the bound while history is read, and counts them', () => {
    const { pipeline, dropped } = setup({ readsHistory: true, bufferSize: 2 })
    for (const n of [0, 1, 2, 3]) pipeline.live(message(n))
    assert.equal(dropped(), 2)
  })

  it('delivers nothing that fails validation, and nothing that is not data', async () => {
    const { pipeline, contents } = setup({}, { validate: (m) => Promise.resolve(m.publisherId !== OTHER) })
    pipeline.live(message(0, { publisher: OTHER }))
    pipeline.live(message(0, { type: MessageType.GroupKeyRequest }))
    pipeline.live(message(0))
    await settle()
    assert.deepEqual(contents(), [0])
  })

  it('keeps an undecryptable message in its chain (no gap) but delivers it only when asked to', async () => {
    for (const deliverUndecryptable of [false, true]) {
      const { pipeline, clock, contents, delivered, gaps } = setup(
        { deliverUndecryptable },
        { opener: { openReporting: (m) => Promise.resolve(m.encryptionType === EncryptionType.Aes ? undefined : m) } },
      )
      pipeline.live(message(0))
      pipeline.live(message(1, { encrypted: true }))
      pipeline.live(message(2))
      await settle()
      clock.advance(10_000)
      assert.deepEqual(gaps, [])
      assert.deepEqual(
        delivered.map((m) => m.timestamp - START),
        deliverUndecryptable ? [0, 1, 2] : [0, 2],
      )
      if (!deliverUndecryptable) assert.deepEqual(contents(), [0, 2])
    }
  })

  it('unordered, delivers each live message as it arrives, with no gap detection', async () => {
    const { pipeline, clock, contents, gaps, fills } = setup({ ordered: false })
    for (const n of [3, 0, 2]) pipeline.live(message(n))
    await settle()
    clock.advance(10_000)
    assert.deepEqual(contents(), [3, 0, 2])
    assert.deepEqual(gaps, [])
    assert.equal(fills.length, 0)
  })

  it('delivers nothing after the subscription ends, and close() stops the gap timers', async () => {
    const { pipeline, clock, contents, gaps, state } = setup()
    pipeline.live(message(0))
    pipeline.live(message(2))
    await settle()
    state.active = false
    pipeline.close()
    pipeline.live(message(1))
    await settle()
    assert.equal(clock.pendingTimers, 0)
    clock.advance(10_000)
    assert.deepEqual(contents(), [0])
    assert.deepEqual(gaps, [])
  })

  it('ends readHistory only once every stored message went through decryption to the app', async () => {
    let openKey: () => void = () => {}
    const keyCame = new Promise<void>((resolve) => (openKey = resolve))
    const { pipeline, contents } = setup(
      { readsHistory: true },
      // The history's messages wait for their key: the read is through only when they are delivered.
      { opener: { openReporting: async (m) => (await keyCame, m) } },
    )
    let done = false
    const reading = pipeline.readHistory(feedOf([message(0), message(1), message(2)]), (error) => assert.fail(error))
    void reading.then(() => (done = true))
    await settle()
    assert.equal(done, false)
    assert.deepEqual(contents(), [])
    openKey()
    await reading
    assert.deepEqual(contents(), [0, 1, 2])
  })

  it('ends readHistory when the pipeline closes with history still queued', async () => {
    const { pipeline } = setup(
      { readsHistory: true },
      { opener: { openReporting: () => new Promise<StreamMessage | undefined>(() => {}) } },
    )
    const reading = pipeline.readHistory(feedOf([message(0), message(1)]), (error) => assert.fail(error))
    await settle()
    pipeline.close()
    await reading
  })
})
