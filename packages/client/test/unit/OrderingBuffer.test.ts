import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { ContentType, MessageId, MessageRef, StreamMessage, parseEthereumAddress, toStreamId } from '@runnel/protocol'
import {
  DEFAULT_GAP_TIMEOUT_MS,
  OrderingBuffer,
  type Gap,
  type OrderingBufferOptions,
  type Scheduler,
} from '../../src/ordering/OrderingBuffer.js'

const PUBLISHER_A = parseEthereumAddress('0x' + '11'.repeat(20))
const PUBLISHER_B = parseEthereumAddress('0x' + '22'.repeat(20))
const STREAM_ID = toStreamId(PUBLISHER_A, '/ordering')
const START = 1_700_000_000_000
const CONTENT = new TextEncoder().encode('{}')
// Well-formed but not genuine: the buffer takes messages that were already verified.
const SIGNATURE = new Uint8Array(65)
SIGNATURE[64] = 27

interface ChainSpec {
  readonly publisher?: string
  readonly chainId?: string
  /** Ref of the first message's predecessor; undefined makes it the start of a chain. */
  readonly firstPrev?: MessageRef
  readonly start?: number
}

/** Refs that vary in both timestamp and sequence number: three messages per millisecond. */
function refAt(index: number, start = START): MessageRef {
  return new MessageRef(start + Math.floor(index / 3), index % 3)
}

function message(ref: MessageRef, prevMsgRef: MessageRef | undefined, spec: ChainSpec = {}): StreamMessage {
  const publisher = spec.publisher ?? PUBLISHER_A
  return new StreamMessage({
    messageId: new MessageId(STREAM_ID, 0, ref.timestamp, ref.sequenceNumber, publisher, spec.chainId ?? 'chain-1'),
    prevMsgRef,
    contentType: ContentType.Json,
    content: CONTENT,
    signature: SIGNATURE,
  })
}

/** A linked chain of `n` messages. */
function chainOf(n: number, spec: ChainSpec = {}): StreamMessage[] {
  const messages: StreamMessage[] = []
  let prev = spec.firstPrev
  for (let i = 0; i < n; i++) {
    const ref = refAt(i, spec.start)
    messages.push(message(ref, prev, spec))
    prev = ref
  }
  return messages
}

/** A manual clock: timers fire only when the test advances it. */
class FakeScheduler implements Scheduler {
  private now = 0
  private nextId = 1
  private readonly timers = new Map<number, { readonly at: number; readonly callback: () => void }>()

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.nextId++
    this.timers.set(id, { at: this.now + ms, callback })
    return id
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number)
  }

  /** Moves time forward by `ms`, firing due timers in order (including ones they start). */
  advance(ms: number): void {
    const target = this.now + ms
    for (;;) {
      let due: [number, { readonly at: number; readonly callback: () => void }] | undefined
      for (const entry of this.timers) {
        if (entry[1].at <= target && (due === undefined || entry[1].at < due[1].at)) {
          due = entry
        }
      }
      if (due === undefined) {
        break
      }
      this.timers.delete(due[0])
      this.now = due[1].at
      due[1].callback()
    }
    this.now = target
  }

  get pending(): number {
    return this.timers.size
  }
}

type Output =
  { readonly kind: 'message'; readonly message: StreamMessage } | { readonly kind: 'gap'; readonly gap: Gap }

function setup(options?: OrderingBufferOptions) {
  const scheduler = new FakeScheduler()
  const output: Output[] = []
  const buffer = new OrderingBuffer(
    {
      onMessage: (message) => output.push({ kind: 'message', message }),
      onGap: (gap) => output.push({ kind: 'gap', gap }),
    },
    options,
    scheduler,
  )
  const messages = () => output.flatMap((o) => (o.kind === 'message' ? [o.message] : []))
  const gaps = () => output.flatMap((o) => (o.kind === 'gap' ? [o.gap] : []))
  return { scheduler, buffer, output, messages, gaps }
}

function refs(messages: readonly StreamMessage[]): string[] {
  return messages.map((m) => m.getMessageRef().toString())
}

/** Deterministic PRNG (mulberry32), so a failing shuffle can be replayed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const result = [...items]
  for (let i = result.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[result[i], result[j]] = [result[j]!, result[i]!]
  }
  return result
}

function without<T>(items: readonly T[], ...indexes: number[]): T[] {
  return items.filter((_, i) => !indexes.includes(i))
}

function at<T>(items: readonly T[], index: number): T {
  const item = items[index]
  assert.ok(item !== undefined, `no item at ${index}`)
  return item
}

describe('OrderingBuffer', () => {
  it('passes an in-order stream straight through', () => {
    const { buffer, scheduler, messages, gaps } = setup()
    const chain = chainOf(20)
    for (const [i, m] of chain.entries()) {
      buffer.add(m)
      assert.equal(messages().length, i + 1, 'each message is released as it arrives')
    }
    assert.deepEqual(refs(messages()), refs(chain))
    assert.equal(buffer.heldCount, 0)
    assert.equal(scheduler.pending, 0)
    assert.deepEqual(gaps(), [])
  })

  it('puts 200 shuffled messages back in order without waiting', () => {
    const { buffer, scheduler, messages, gaps } = setup()
    const chain = chainOf(200)
    buffer.add(at(chain, 0))
    for (const m of shuffle(chain.slice(1), seededRandom(42))) {
      buffer.add(m)
    }
    assert.deepEqual(refs(messages()), refs(chain))
    assert.deepEqual(gaps(), [])
    assert.equal(buffer.heldCount, 0)
    assert.equal(scheduler.pending, 0)
  })

  it('drops duplicates and late messages', () => {
    const { buffer, scheduler, messages } = setup()
    const chain = chainOf(6)
    buffer.add(at(chain, 0))
    buffer.add(at(chain, 1))
    buffer.add(at(chain, 1)) // duplicate of a released message
    buffer.add(at(chain, 0)) // late
    buffer.add(at(chain, 4)) // held: 2 and 3 missing
    buffer.add(at(chain, 4)) // duplicate of a held message
    assert.equal(buffer.heldCount, 1)
    buffer.add(at(chain, 3))
    assert.equal(buffer.heldCount, 2)
    buffer.add(at(chain, 2))
    buffer.add(at(chain, 3))
    buffer.add(at(chain, 5))
    buffer.add(at(chain, 2))
    assert.deepEqual(refs(messages()), refs(chain))
    assert.equal(buffer.heldCount, 0)
    assert.equal(scheduler.pending, 0)
  })

  it('reports a missing message as one gap after the timeout, then releases the rest in order', () => {
    const { buffer, scheduler, messages, gaps, output } = setup()
    const chain = chainOf(10)
    for (const m of without(chain, 4)) {
      buffer.add(m)
    }
    assert.deepEqual(refs(messages()), refs(chain.slice(0, 4)))
    assert.equal(buffer.heldCount, 5)

    scheduler.advance(DEFAULT_GAP_TIMEOUT_MS - 1)
    assert.equal(messages().length, 4)
    assert.deepEqual(gaps(), [])

    scheduler.advance(1)
    assert.deepEqual(gaps(), [
      {
        streamPartId: at(chain, 0).streamPartId,
        publisherId: at(chain, 0).publisherId,
        messageChainId: 'chain-1',
        from: at(chain, 3).getMessageRef(),
        to: at(chain, 4).getMessageRef(),
      },
    ])
    assert.equal(output[4]?.kind, 'gap', 'the gap is reported where it is, between 3 and 5')
    assert.deepEqual(refs(messages()), refs(without(chain, 4)))
    assert.equal(buffer.heldCount, 0)
    assert.equal(scheduler.pending, 0)

    buffer.add(at(chain, 4)) // too late now
    scheduler.advance(60_000)
    assert.equal(gaps().length, 1)
    assert.equal(messages().length, 9)
  })

  it('reports no gap when the missing message arrives before the timeout', () => {
    const { buffer, scheduler, messages, gaps } = setup({ gapTimeoutMs: 1000 })
    const chain = chainOf(10)
    for (const m of without(chain, 4)) {
      buffer.add(m)
    }
    scheduler.advance(999)
    buffer.add(at(chain, 4))
    assert.deepEqual(refs(messages()), refs(chain))
    assert.equal(scheduler.pending, 0)
    scheduler.advance(60_000)
    assert.deepEqual(gaps(), [])
  })

  it('gives each further gap the full timeout, measured from the last progress', () => {
    const { buffer, scheduler, messages, gaps } = setup({ gapTimeoutMs: 1000 })
    const chain = chainOf(10)
    for (const m of without(chain, 2, 6)) {
      buffer.add(m)
    }
    scheduler.advance(900)
    buffer.add(at(chain, 2)) // fills the first gap; the one at 6 remains
    assert.deepEqual(refs(messages()), refs(chain.slice(0, 6)))
    scheduler.advance(999)
    assert.deepEqual(gaps(), [])
    scheduler.advance(1)
    assert.deepEqual(
      gaps().map((g) => [g.from?.toString(), g.to.toString()]),
      [[at(chain, 5).getMessageRef().toString(), at(chain, 6).getMessageRef().toString()]],
    )
    assert.deepEqual(refs(messages()), refs(without(chain, 6)))
  })

  it('does not let a chain waiting for a gap delay another chain', () => {
    const { buffer, scheduler, messages, gaps } = setup()
    const slow = chainOf(10, { chainId: 'slow' })
    const fast = chainOf(10, { publisher: PUBLISHER_B, chainId: 'fast' })
    const slowDelivered = without(slow, 1)
    for (let i = 0; i < 10; i++) {
      const slowMessage = slowDelivered[i]
      if (slowMessage !== undefined) {
        buffer.add(slowMessage)
      }
      buffer.add(at(fast, i))
    }
    const released = messages()
    assert.deepEqual(refs(released.filter((m) => m.messageChainId === 'fast')), refs(fast))
    assert.deepEqual(refs(released.filter((m) => m.messageChainId === 'slow')), refs(slow.slice(0, 1)))
    assert.equal(buffer.heldCount, 8)

    scheduler.advance(DEFAULT_GAP_TIMEOUT_MS)
    assert.equal(gaps().length, 1)
    assert.equal(at(gaps(), 0).messageChainId, 'slow')
    assert.deepEqual(refs(messages().filter((m) => m.messageChainId === 'slow')), refs(slowDelivered))
  })

  it('keeps chains with the same chain id but another publisher apart', () => {
    const { buffer, messages } = setup()
    const a = chainOf(3)
    const b = chainOf(3, { publisher: PUBLISHER_B })
    buffer.add(at(a, 0))
    buffer.add(at(b, 0)) // the first message of its own chain, not a duplicate
    buffer.add(at(b, 2)) // waits for b[1], not a[1]
    buffer.add(at(a, 1))
    buffer.add(at(a, 2))
    assert.equal(buffer.heldCount, 1)
    buffer.add(at(b, 1))
    assert.equal(messages().length, 6)
    assert.equal(buffer.heldCount, 0)
  })

  it('gives up the oldest gap at once when a chain holds more than maxHeldPerChain', () => {
    const { buffer, scheduler, messages, gaps } = setup({ maxHeldPerChain: 3, gapTimeoutMs: 1000 })
    const chain = chainOf(10)
    for (const m of [0, 1, 3, 4, 6].map((i) => at(chain, i))) {
      buffer.add(m)
    }
    assert.equal(buffer.heldCount, 3)
    assert.deepEqual(gaps(), [])

    buffer.add(at(chain, 7)) // a fourth held message
    assert.deepEqual(
      gaps().map((g) => [g.from?.toString(), g.to.toString()]),
      [[at(chain, 1).getMessageRef().toString(), at(chain, 2).getMessageRef().toString()]],
    )
    assert.deepEqual(refs(messages()), refs([0, 1, 3, 4].map((i) => at(chain, i))))
    assert.equal(buffer.heldCount, 2)

    scheduler.advance(1000) // the gap at 5 still gets its timeout
    assert.equal(gaps().length, 2)
    assert.deepEqual(refs(messages()), refs([0, 1, 3, 4, 6, 7].map((i) => at(chain, i))))
    assert.equal(buffer.heldCount, 0)
    assert.equal(scheduler.pending, 0)
  })

  it('releases the first message seen mid-chain after a short grace, without a gap for the history before it', () => {
    const { buffer, scheduler, messages, gaps } = setup({ startGraceMs: 100 })
    const chain = chainOf(8)
    buffer.add(at(chain, 5))
    assert.deepEqual(messages(), [], 'waits: an earlier message may still be on its way')
    buffer.add(at(chain, 4)) // a reordered earlier message arriving within the grace
    scheduler.advance(100)
    assert.deepEqual(refs(messages()), refs([at(chain, 4), at(chain, 5)]))
    buffer.add(at(chain, 3)) // history before the join point
    buffer.add(at(chain, 6))
    assert.deepEqual(refs(messages()), refs([at(chain, 4), at(chain, 5), at(chain, 6)]))
    assert.equal(scheduler.pending, 0)
    assert.deepEqual(gaps(), [])
  })

  it('releases a message that starts a chain by request (history) at once, and drops older live copies', () => {
    const { buffer, scheduler, messages, gaps } = setup({ startGraceMs: 100 })
    const chain = chainOf(8)
    buffer.add(at(chain, 5), true)
    assert.deepEqual(refs(messages()), refs([at(chain, 5)]), 'no grace: history says where the chain starts')
    buffer.add(at(chain, 2)) // a live copy replayed from before the history point
    buffer.add(at(chain, 6))
    assert.deepEqual(refs(messages()), refs([at(chain, 5), at(chain, 6)]))
    assert.equal(scheduler.pending, 0)
    assert.deepEqual(gaps(), [])
  })

  it('tells onMissing what a chain waits for, once per wait, and answers missing() until it is filled', () => {
    const scheduler = new FakeScheduler()
    const missing: Gap[] = []
    const released: StreamMessage[] = []
    const buffer = new OrderingBuffer(
      {
        onMessage: (m) => released.push(m),
        onGap: () => assert.fail('no gap expected'),
        onMissing: (gap) => missing.push(gap),
      },
      {},
      scheduler,
    )
    const chain = chainOf(10)
    for (const m of without(chain, 3, 4)) buffer.add(m)
    const key = [at(chain, 0).streamPartId, at(chain, 0).publisherId, 'chain-1'] as const
    assert.equal(missing.length, 1, 'one call for the wait, not one per held message')
    assert.deepEqual(missing[0]!.from, at(chain, 2).getMessageRef())
    assert.deepEqual(missing[0]!.to, at(chain, 4).getMessageRef())
    assert.deepEqual(buffer.missing(...key), missing[0])
    buffer.add(at(chain, 3)) // partly filled: the chain still waits for 4, and says so again
    assert.equal(missing.length, 2)
    assert.deepEqual(missing[1]!.from, at(chain, 3).getMessageRef())
    buffer.add(at(chain, 4))
    assert.equal(buffer.missing(...key), undefined)
    assert.deepEqual(refs(released), refs(chain))
    assert.equal(scheduler.pending, 0)
  })

  it('releases a chain’s very first message (no prevMsgRef) at once', () => {
    const { buffer, scheduler, messages } = setup()
    const chain = chainOf(2)
    buffer.add(at(chain, 0))
    assert.deepEqual(refs(messages()), refs([at(chain, 0)]))
    assert.equal(scheduler.pending, 0)
  })

  it('releases a chain restart (no prevMsgRef) at once', () => {
    const { buffer, scheduler, messages, gaps } = setup()
    const before = chainOf(5)
    const after = chainOf(3, { start: START + 1000 })
    for (const m of before) {
      buffer.add(m)
    }
    buffer.add(at(after, 1)) // points to the restart message, which has not arrived
    assert.equal(buffer.heldCount, 1)
    buffer.add(at(after, 0))
    buffer.add(at(after, 2))
    assert.deepEqual(refs(messages()), refs([...before, ...after]))
    assert.equal(scheduler.pending, 0)
    assert.deepEqual(gaps(), [])
  })

  it('on a restart, gives up waiting for held messages that come before it rather than dropping them', () => {
    const { buffer, scheduler, messages, gaps } = setup()
    const before = chainOf(5)
    const restart = message(new MessageRef(START + 1000, 0), undefined)
    buffer.add(at(before, 0))
    buffer.add(at(before, 2))
    buffer.add(at(before, 3))
    buffer.add(restart)
    assert.deepEqual(refs(messages()), refs([at(before, 0), at(before, 2), at(before, 3), restart]))
    assert.deepEqual(
      gaps().map((g) => [g.from?.toString(), g.to.toString()]),
      [[at(before, 0).getMessageRef().toString(), at(before, 1).getMessageRef().toString()]],
    )
    assert.equal(buffer.heldCount, 0)
    assert.equal(scheduler.pending, 0)
  })

  it('releases at once a message pointing before the last released one, as waiting cannot help', () => {
    const { buffer, scheduler, messages, gaps } = setup()
    const chain = chainOf(4)
    const forked = message(refAt(5), at(chain, 1).getMessageRef()) // its chain skips 2 and 3
    for (const m of [...chain, forked]) {
      buffer.add(m)
    }
    assert.deepEqual(refs(messages()), refs([...chain, forked]))
    assert.equal(scheduler.pending, 0)
    assert.deepEqual(gaps(), [])
  })

  it('clear() stops timers and drops held messages', () => {
    const { buffer, scheduler, messages, gaps } = setup()
    const chain = chainOf(6)
    for (const m of without(chain, 2)) {
      buffer.add(m)
    }
    assert.equal(buffer.heldCount, 3)
    assert.equal(scheduler.pending, 1)
    buffer.clear()
    assert.equal(buffer.heldCount, 0)
    assert.equal(scheduler.pending, 0)
    scheduler.advance(60_000)
    assert.equal(messages().length, 2)
    assert.deepEqual(gaps(), [])

    buffer.add(at(chain, 4)) // a cleared buffer starts afresh: after the start grace, no gap
    scheduler.advance(60_000)
    assert.deepEqual(refs(messages().slice(2)), refs([at(chain, 4)]))
    assert.deepEqual(gaps(), [])
  })

  it('can be cleared from inside onMessage', () => {
    const scheduler = new FakeScheduler()
    const released: StreamMessage[] = []
    const buffer: OrderingBuffer = new OrderingBuffer(
      {
        onMessage: (m) => {
          released.push(m)
          if (released.length === 3) buffer.clear()
        },
        onGap: () => assert.fail('no gap expected'),
      },
      {},
      scheduler,
    )
    const chain = chainOf(6)
    for (const m of [0, 2, 3, 4, 5, 1].map((i) => at(chain, i))) {
      buffer.add(m)
    }
    assert.deepEqual(refs(released), refs(chain.slice(0, 3)))
    assert.equal(buffer.heldCount, 0)
    assert.equal(scheduler.pending, 0)
  })

  it('uses the global timers by default', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] })
    const gaps: Gap[] = []
    const buffer = new OrderingBuffer({ onMessage: () => {}, onGap: (gap) => gaps.push(gap) })
    const chain = chainOf(3)
    buffer.add(at(chain, 0))
    buffer.add(at(chain, 2))
    t.mock.timers.tick(DEFAULT_GAP_TIMEOUT_MS - 1)
    assert.equal(gaps.length, 0)
    t.mock.timers.tick(1)
    assert.equal(gaps.length, 1)
    assert.equal(buffer.heldCount, 0)
  })

  it('rejects invalid options', () => {
    const events = { onMessage: () => {}, onGap: () => {} }
    assert.throws(() => new OrderingBuffer(events, { gapTimeoutMs: -1 }), RangeError)
    assert.throws(() => new OrderingBuffer(events, { gapTimeoutMs: Number.NaN }), RangeError)
    assert.throws(() => new OrderingBuffer(events, { maxHeldPerChain: 1.5 }), RangeError)
    assert.throws(() => new OrderingBuffer(events, { maxHeldPerChain: -1 }), RangeError)
  })

  describe('properties', () => {
    const chainLength = fc.integer({ min: 1, max: 50 })

    it('with no losses, a chain whose first message arrives first comes out whole without timers firing', () => {
      fc.assert(
        fc.property(
          chainLength.chain((n) => fc.tuple(fc.constant(n), fc.shuffledSubarray(range(1, n), { minLength: n - 1 }))),
          ([n, order]) => {
            const { buffer, scheduler, messages, gaps } = setup()
            const chain = chainOf(n)
            for (const i of [0, ...order]) {
              buffer.add(at(chain, i))
            }
            assert.deepEqual(refs(messages()), refs(chain))
            assert.deepEqual(gaps(), [])
            assert.equal(buffer.heldCount, 0)
            assert.equal(scheduler.pending, 0)
          },
        ),
      )
    })

    it('with losses, every delivered message comes out in order, and each run of losses is one gap', () => {
      fc.assert(
        fc.property(
          chainLength.chain((n) =>
            fc.tuple(
              fc.constant(n),
              fc.shuffledSubarray(range(1, n)), // delivered after the first, in this order
            ),
          ),
          ([n, order]) => {
            const { buffer, scheduler, output } = setup()
            const chain = chainOf(n)
            for (const i of [0, ...order]) {
              buffer.add(at(chain, i))
            }
            scheduler.advance(n * DEFAULT_GAP_TIMEOUT_MS)

            const delivered = new Set([0, ...order])
            const expected: string[] = []
            for (let i = 0; i < n; i++) {
              if (!delivered.has(i)) continue
              if (i > 0 && !delivered.has(i - 1)) {
                let from = i - 1
                while (!delivered.has(from)) from--
                expected.push(`gap ${refAt(from).toString()}..${refAt(i - 1).toString()}`)
              }
              expected.push(refAt(i).toString())
            }
            assert.deepEqual(output.map(describeOutput), expected)
            assert.equal(buffer.heldCount, 0)
            assert.equal(scheduler.pending, 0)
          },
        ),
      )
    })

    it('under any deliveries and timing, output is strictly increasing and the newest message always comes out', () => {
      const command = fc.oneof(fc.record({ add: fc.nat(49) }), fc.record({ tick: fc.integer({ min: 0, max: 3000 }) }))
      fc.assert(
        fc.property(
          chainLength,
          fc.array(command, { minLength: 1, maxLength: 120 }),
          fc.integer({ min: 0, max: 10 }),
          (n, commands, maxHeldPerChain) => {
            const { buffer, scheduler, output, messages } = setup({ maxHeldPerChain, gapTimeoutMs: 1000 })
            const chain = chainOf(n)
            const added = new Set<number>()
            for (const c of commands) {
              if ('add' in c) {
                const index = c.add % n
                added.add(index)
                buffer.add(at(chain, index))
              } else {
                scheduler.advance(c.tick)
              }
              assert.ok(buffer.heldCount <= maxHeldPerChain)
            }
            scheduler.advance(n * 1000)

            let last: MessageRef | undefined
            let gapEnd: MessageRef | undefined
            for (const o of output) {
              if (o.kind === 'message') {
                const ref = o.message.getMessageRef()
                assert.ok(last === undefined || ref.compareTo(last) > 0, 'strictly increasing')
                assert.ok(gapEnd === undefined || ref.compareTo(gapEnd) > 0, 'a gap ends before the next message')
                last = ref
                gapEnd = undefined
              } else {
                assert.ok(last !== undefined && o.gap.from?.equals(last), 'a gap starts at the last message')
                assert.ok(last.compareTo(o.gap.to) < 0, 'a gap is not empty')
                assert.equal(gapEnd, undefined, 'a message follows each gap')
                gapEnd = o.gap.to
              }
            }
            if (added.size > 0) {
              const newest = Math.max(...added)
              assert.equal(messages().at(-1)?.getMessageRef().toString(), refAt(newest).toString())
            }
            assert.equal(buffer.heldCount, 0)
            assert.equal(scheduler.pending, 0)
          },
        ),
      )
    })
  })
})

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i)
}

function describeOutput(o: Output): string {
  return o.kind === 'message'
    ? o.message.getMessageRef().toString()
    : `gap ${o.gap.from?.toString() ?? '-'}..${o.gap.to.toString()}`
}
