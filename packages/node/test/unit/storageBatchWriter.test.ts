import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ContentType, MessageId, StreamMessage, encodeJsonContent } from '@runnel/protocol'
import { NodeError } from '../../src/errors.js'
import { BatchWriter, type BatchTimers } from '../../src/storage/index.js'

const PUBLISHER = '0x1111111111111111111111111111111111111111'
const STREAM_ID = `${PUBLISHER}/batch-writer`
// The writer never looks inside messages: a well-formed signature that
// signs nothing is enough here.
const SIGNATURE = Uint8Array.from({ length: 65 }, (_, i) => (i === 64 ? 27 : 1))

function message(i: number): StreamMessage {
  return new StreamMessage({
    messageId: new MessageId(STREAM_ID, 0, 1_700_000_000_000 + i, 0, PUBLISHER, 'chain'),
    contentType: ContentType.Json,
    content: encodeJsonContent({ i }),
    signature: SIGNATURE,
  })
}

/** A clock that moves, and timers that fire, only when the test says so. */
class ManualTimers implements BatchTimers {
  readonly #pending = new Map<number, { at: number; callback: () => void }>()
  #next = 0
  #time = 0

  now(): number {
    return this.#time
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#next++
    this.#pending.set(id, { at: this.#time + ms, callback })
    return id
  }

  clearTimeout(handle: unknown): void {
    this.#pending.delete(handle as number)
  }

  get pending(): number {
    return this.#pending.size
  }

  /** Moves the clock on by `ms` and fires the timers due by then. */
  advance(ms: number): void {
    this.#time += ms
    for (const [id, timer] of [...this.#pending]) {
      if (timer.at > this.#time) continue
      this.#pending.delete(id)
      timer.callback()
    }
  }
}

/** A store whose writes complete when the test resolves them. */
class ControlledStore {
  readonly batches: number[][] = []
  readonly #pending: { resolve: (count: number) => void; reject: (err: unknown) => void }[] = []

  write(messages: readonly StreamMessage[]): Promise<number> {
    this.batches.push(messages.map((m) => m.timestamp - 1_700_000_000_000))
    return new Promise((resolve, reject) => this.#pending.push({ resolve, reject }))
  }

  get writing(): number {
    return this.#pending.length
  }

  complete(): void {
    const write = this.#pending.shift()
    assert.ok(write, 'no write in progress')
    write.resolve(0)
  }

  fail(err: unknown): void {
    const write = this.#pending.shift()
    assert.ok(write, 'no write in progress')
    write.reject(err)
  }
}

/** Lets promise continuations run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

function track(promise: Promise<void>): { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } {
  const tracked: { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } = { state: 'pending' }
  promise.then(
    () => (tracked.state = 'resolved'),
    (err: unknown) => {
      tracked.state = 'rejected'
      tracked.error = err
    },
  )
  return tracked
}

function setUp(options: { maxBatchSize?: number; maxQueued?: number } = {}) {
  const store = new ControlledStore()
  const timers = new ManualTimers()
  const writer = new BatchWriter({ store, timers }, { maxDelayMs: 10, ...options })
  return { store, timers, writer }
}

describe('BatchWriter', () => {
  it('writes a batch as soon as maxBatchSize messages wait, without waiting for the timer', async () => {
    const { store, writer } = setUp({ maxBatchSize: 3 })
    const stored = [0, 1, 2].map((i) => track(writer.store(message(i))))
    await settle()
    assert.deepEqual(store.batches, [[0, 1, 2]])
    assert.ok(
      stored.every((s) => s.state === 'pending'),
      'resolved before the write completed',
    )
    store.complete()
    await settle()
    assert.ok(stored.every((s) => s.state === 'resolved'))
  })

  it('writes a partial batch when the delay timer fires, and not before', async () => {
    const { store, timers, writer } = setUp({ maxBatchSize: 10 })
    const stored = track(writer.store(message(0)))
    void writer.store(message(1))
    await settle()
    assert.deepEqual(store.batches, [])
    assert.equal(timers.pending, 1, 'one timer for the whole batch')
    timers.advance(9)
    assert.deepEqual(store.batches, [])
    timers.advance(1)
    assert.deepEqual(store.batches, [[0, 1]])
    store.complete()
    await settle()
    assert.equal(stored.state, 'resolved')
  })

  it('writes one batch at a time; a partial batch left over waits out its delay', async () => {
    const { store, timers, writer } = setUp({ maxBatchSize: 2 })
    const first = [0, 1].map((i) => track(writer.store(message(i))))
    const later = [2, 3, 4].map((i) => track(writer.store(message(i))))
    await settle()
    assert.deepEqual(store.batches, [[0, 1]], 'a second batch started while the first was being written')
    assert.equal(store.writing, 1)
    store.complete()
    await settle()
    assert.deepEqual(store.batches, [
      [0, 1],
      [2, 3],
    ])
    assert.ok(first.every((s) => s.state === 'resolved'))
    assert.ok(later.every((s) => s.state === 'pending'))
    store.complete()
    await settle()
    // A quick write must not turn every message that came in meanwhile into
    // a commit of its own: the leftover waits to fill a batch, for at most
    // maxDelayMs since it arrived.
    assert.deepEqual(store.batches, [
      [0, 1],
      [2, 3],
    ])
    assert.equal(timers.pending, 1)
    timers.advance(10)
    assert.deepEqual(store.batches, [[0, 1], [2, 3], [4]])
    store.complete()
    await settle()
    assert.ok(later.every((s) => s.state === 'resolved'))
  })

  it('writes a leftover right after a write that outlasted its delay', async () => {
    const { store, timers, writer } = setUp({ maxBatchSize: 2 })
    for (const i of [0, 1, 2]) void writer.store(message(i))
    await settle()
    assert.deepEqual(store.batches, [[0, 1]])
    timers.advance(15) // a slow write
    store.complete()
    await settle()
    timers.advance(0)
    assert.deepEqual(store.batches, [[0, 1], [2]])
  })

  it('rejects only the promises of a failed batch, with a NodeError that keeps the cause, and carries on', async () => {
    const { store, writer } = setUp({ maxBatchSize: 2 })
    const failed = [0, 1].map((i) => track(writer.store(message(i))))
    const next = [2, 3].map((i) => track(writer.store(message(i))))
    await settle()
    const cause = new Error('disk full')
    store.fail(cause)
    await settle()
    for (const s of failed) {
      assert.equal(s.state, 'rejected')
      assert.ok(s.error instanceof NodeError)
      assert.equal(s.error.code, 'STORAGE_FAILED')
      assert.equal(s.error.cause, cause)
      assert.match(s.error.message, /disk full/)
    }
    assert.ok(next.every((s) => s.state === 'pending'))
    store.complete()
    await settle()
    assert.ok(next.every((s) => s.state === 'resolved'))
  })

  it('passes a NodeError from the store through unchanged', async () => {
    const { store, writer } = setUp({ maxBatchSize: 1 })
    const stored = track(writer.store(message(0)))
    await settle()
    const error = new NodeError('BAD_REQUEST', 'storage: cannot encode message')
    store.fail(error)
    await settle()
    assert.equal(stored.error, error)
  })

  it('holds messages back beyond maxQueued, keeps their order, and ready() tells when there is room', async () => {
    const { store, timers, writer } = setUp({ maxBatchSize: 2, maxQueued: 3 })
    for (const i of [0, 1]) void writer.store(message(i)) // a batch: in flight
    await settle()
    for (const i of [2, 3, 4, 5, 6]) void writer.store(message(i)) // 3 queued, 2 held back
    assert.equal(writer.backlog, 7)
    const ready = track(writer.ready())
    await settle()
    assert.equal(ready.state, 'pending')
    store.complete()
    await settle()
    // [2, 3] went; 5 and 6 were admitted behind 4, in order.
    assert.deepEqual(store.batches.at(-1), [2, 3])
    assert.equal(ready.state, 'pending', 'queue is 3 again (4, 5, 6): still full')
    store.complete()
    await settle()
    assert.deepEqual(store.batches.at(-1), [4, 5])
    assert.equal(ready.state, 'resolved')
    store.complete()
    await settle()
    timers.advance(10)
    assert.deepEqual(store.batches.at(-1), [6])
    store.complete()
    await settle()
    assert.equal(writer.backlog, 0)
    assert.equal(timers.pending, 0)
  })

  it('flush() writes at once and resolves when everything queued has settled, even when a batch failed', async () => {
    const { store, timers, writer } = setUp({ maxBatchSize: 10 })
    const stored = track(writer.store(message(0)))
    const flushed = track(writer.flush())
    assert.deepEqual(store.batches, [[0]])
    assert.equal(timers.pending, 0)
    store.fail(new Error('boom'))
    await settle()
    assert.equal(stored.state, 'rejected')
    assert.equal(flushed.state, 'resolved')
  })

  it('does not strand a message stored by a continuation of the last batch', async () => {
    const { store, timers, writer } = setUp({ maxBatchSize: 1 })
    const second = writer.store(message(0)).then(() => writer.store(message(1)))
    await settle()
    store.complete()
    await settle()
    assert.deepEqual(store.batches, [[0], [1]])
    store.complete()
    await second
    assert.equal(timers.pending, 0)
  })

  it('close() writes what is queued and refuses later messages', async () => {
    const { store, writer } = setUp({ maxBatchSize: 10 })
    const stored = track(writer.store(message(0)))
    const closed = track(writer.close())
    assert.deepEqual(store.batches, [[0]])
    await assert.rejects(writer.store(message(1)), (err: unknown) => err instanceof NodeError)
    store.complete()
    await settle()
    assert.equal(stored.state, 'resolved')
    assert.equal(closed.state, 'resolved')
  })

  it('rejects invalid options as INVALID_CONFIG', () => {
    const store = new ControlledStore()
    assert.throws(
      () => new BatchWriter({ store }, { maxBatchSize: 0 }),
      (err: unknown) => err instanceof NodeError && err.code === 'INVALID_CONFIG',
    )
  })
})
